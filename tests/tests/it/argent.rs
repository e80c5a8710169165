//! Argent account 0.4.0's own session path on the embedded devnet: a session-signed STRK
//! transfer relayed as a SNIP-9 v2 outside execution, its L2 gas, and a forged signature
//! refused.

use stark_sessions_abi::{snip12, OutsideExecution};
use stark_sessions_devnet::{
    execution_resources, Devnet, DevnetAccount, DevnetOptions, ETH_ADDRESS, STRK_ADDRESS,
};
use stark_sessions_tests::argent::{AllowedMethod, ArgentSession, ArgentSessionAccount};
use stark_sessions_tests::{sel, HUNDRED_STRK};
use starknet::core::types::{Call, Felt};

const AMOUNT: u8 = 7;
const METADATA: &str = r#"{"metadata":"stark-sessions test","max_fee":0}"#;

/// One STRK transfer of `AMOUNT` to `recipient`.
fn transfer(recipient: Felt) -> Call {
    Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![recipient, Felt::from(AMOUNT), Felt::ZERO],
    }
}

/// An outside execution of `calls` for anyone to relay, valid for a day.
fn outside(now: u64, nonce: u64, calls: Vec<Call>) -> OutsideExecution {
    OutsideExecution {
        caller: snip12::ANY_CALLER,
        nonce: Felt::from(nonce),
        execute_after: 0,
        execute_before: now + 24 * 3600,
        calls,
    }
}

/// Relays `outside` signed with `signature`; the L2 gas of the successful transaction.
async fn relay(
    devnet: &Devnet,
    relayer: &DevnetAccount,
    account: &ArgentSessionAccount,
    outside: &OutsideExecution,
    signature: Vec<Felt>,
) -> anyhow::Result<u64> {
    let call = account.relay_call(outside, signature);
    let receipt = devnet.invoke(relayer, vec![call]).await?;
    Ok(execution_resources(&receipt.receipt).l2_gas)
}

/// Relays one session-signed transfer and checks the recipient got exactly `AMOUNT`.
async fn relay_transfer(
    devnet: &Devnet,
    relayer: &DevnetAccount,
    account: &ArgentSessionAccount,
    outside: &OutsideExecution,
) -> u64 {
    let recipient = outside.calls[0].calldata[0];
    let before = devnet.strk_balance(recipient).await.expect("balance");
    let signature = account
        .session_signature(outside)
        .expect("session signature");
    let gas = relay(devnet, relayer, account, outside, signature)
        .await
        .expect("relayed session transfer");
    let after = devnet.strk_balance(recipient).await.expect("balance");
    assert_eq!(after - before, u128::from(AMOUNT));
    gas
}

/// A devnet that predeclares Argent's account class.
async fn argent_devnet() -> Devnet {
    Devnet::start_embedded(DevnetOptions {
        predeclare_argent: true,
        ..Default::default()
    })
    .await
    .expect("devnet")
}

/// Argent account number `n` (its own owner, guardian and salt) holding `session`, funded.
async fn deploy_funded(devnet: &Devnet, n: u64, session: ArgentSession) -> ArgentSessionAccount {
    let account = ArgentSessionAccount::deploy(
        devnet,
        Felt::from(0xa11ce0 + n),
        Felt::from(0x9a4d0 + n),
        Felt::from(n),
        session,
    )
    .await
    .expect("deploy Argent account");
    devnet
        .mint_strk(account.address, HUNDRED_STRK)
        .await
        .expect("fund");
    account
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argent_session_transfer_relays_on_devnet() {
    let devnet = argent_devnet().await;
    let now = devnet.block_timestamp().await.expect("time");
    let recipient = devnet.accounts()[3].address;
    let relayer = devnet.predeployed(1).expect("relayer");
    let session = ArgentSession::new(
        Felt::from(0x5e551u64),
        now + 3600,
        vec![AllowedMethod::new(STRK_ADDRESS, "transfer")],
        METADATA,
    );
    let account = deploy_funded(&devnet, 1, session).await;

    let first = outside(now, 1, vec![transfer(recipient)]);
    assert_eq!(
        account.message_hash(&first),
        account
            .onchain_message_hash(&devnet, &first)
            .await
            .expect("view"),
        "our SNIP-9 v2 hash is the account's"
    );

    // A flipped session-key r is refused, and nothing moves.
    let before = devnet.strk_balance(recipient).await.expect("balance");
    let mut forged = account.session_token(&first).expect("token");
    forged.session_signature.r += Felt::ONE;
    let refused = relay(&devnet, &relayer, &account, &first, forged.to_signature())
        .await
        .expect_err("a forged session signature must be refused");
    let reason = format!("{refused:#}");
    assert!(
        reason.contains("session/invalid-session-sig")
            || reason.contains("73657373696f6e2f696e76616c69642d73657373696f6e2d736967"),
        "refused for another reason: {reason}"
    );
    assert_eq!(
        devnet.strk_balance(recipient).await.expect("balance"),
        before
    );

    // The same outside execution, honestly signed, goes through; then a second one.
    let first_gas = relay_transfer(&devnet, &relayer, &account, &first).await;
    let second = outside(now, 2, vec![transfer(recipient)]);
    let gas = relay_transfer(&devnet, &relayer, &account, &second).await;
    println!(
        "L2 gas, one STRK transfer by Argent {} session (relayed outside execution, one allowed \
         method, uncached authorization): {gas} (first use {first_gas})",
        stark_sessions_devnet::ARGENT_ACCOUNT_VERSION
    );
    assert!(gas > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argent_session_with_three_methods_and_a_cached_authorization() {
    let devnet = argent_devnet().await;
    let now = devnet.block_timestamp().await.expect("time");
    let recipient = devnet.accounts()[3].address;
    let relayer = devnet.predeployed(1).expect("relayer");
    // The transfer is the third leaf: its proof has two levels, the first sibling being 0.
    let session = ArgentSession::new(
        Felt::from(0x5e552u64),
        now + 3600,
        vec![
            AllowedMethod::new(STRK_ADDRESS, "approve"),
            AllowedMethod::new(ETH_ADDRESS, "transfer"),
            AllowedMethod::new(STRK_ADDRESS, "transfer"),
        ],
        METADATA,
    );
    let mut account = deploy_funded(&devnet, 2, session).await;
    let proofs = account
        .session()
        .proofs(&[transfer(recipient)])
        .expect("proofs");
    assert_eq!(proofs[0].len(), 2);
    assert_eq!(proofs[0][0], Felt::ZERO);

    let uncached = relay_transfer(
        &devnet,
        &relayer,
        &account,
        &outside(now, 1, vec![transfer(recipient)]),
    )
    .await;
    account.cache_authorization = true;
    let caching = relay_transfer(
        &devnet,
        &relayer,
        &account,
        &outside(now, 2, vec![transfer(recipient)]),
    )
    .await;
    let cached = devnet
        .call(
            account.address,
            sel("is_session_authorization_cached"),
            vec![account.session_hash()],
        )
        .await
        .expect("view");
    assert_eq!(cached, [Felt::ONE], "the account cached the authorization");
    account.omit_authorization = true;
    let from_cache = relay_transfer(
        &devnet,
        &relayer,
        &account,
        &outside(now, 3, vec![transfer(recipient)]),
    )
    .await;
    println!(
        "L2 gas, Argent session transfer with three allowed methods: uncached {uncached}, \
         caching {caching}, from cache (empty authorization) {from_cache}"
    );
}
