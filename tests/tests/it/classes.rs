//! Which accounts the paymaster serves: by default only the stark-sessions account class;
//! another class only when the operator opts in — by listing it (here the devnet's predeployed
//! OpenZeppelin account), or by allowing any account that declares SNIP-9 v2 by SRC-5 (here an
//! Argent 0.4 account, which does; the OpenZeppelin one does not declare it).

use serde_json::Value;
use stark_sessions_abi::constants::{SELECTOR_TRANSFER, STRK_TOKEN};
use stark_sessions_devnet::DevnetOptions;
use stark_sessions_tests::argent::{AllowedMethod, ArgentSession, ArgentSessionAccount};
use stark_sessions_tests::paymaster::{
    felt, outside_of, sign_typed, sponsored, PaymasterHarness, RpcError,
};
use stark_sessions_tests::{Fixture, HUNDRED_STRK};
use starknet::core::types::{BlockId, BlockTag, Call, Felt};
use starknet::providers::Provider;
use starknet::signers::SigningKey;

/// A predeployed account no test relays from.
const OZ_INDEX: usize = 7;

/// A sponsored build of `calls` on `user`.
async fn build(pm: &PaymasterHarness, user: Felt, calls: &[Call]) -> Result<Value, RpcError> {
    pm.build(user, calls, sponsored(), &pm.key())
        .await
        .expect("http")
}

/// Executes `built` signed with `signature` and waits for it to land.
async fn execute(
    fixture: &Fixture,
    pm: &PaymasterHarness,
    user: Felt,
    built: &Value,
    signature: &[Felt],
) {
    let sent = pm
        .execute(
            user,
            &built["typed_data"],
            signature,
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("executed");
    let hash = felt(&sent["transaction_hash"]).expect("hash");
    fixture.devnet.receipt(hash).await.expect("it landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_of_another_class_is_refused_by_default_and_served_when_opted_in() {
    let options = DevnetOptions {
        predeclare_argent: true,
        ..Default::default()
    };
    let fixture = Fixture::with_options(0xc1a5, options)
        .await
        .expect("fixture");
    let chain = fixture.devnet.chain_id();
    let oz = fixture.devnet.accounts()[OZ_INDEX].clone();
    let transfer = [Call {
        to: STRK_TOKEN,
        selector: SELECTOR_TRANSFER,
        calldata: vec![fixture.devnet.accounts()[0].address, Felt::ONE, Felt::ZERO],
    }];
    let oz_class = fixture
        .devnet
        .provider()
        .get_class_hash_at(BlockId::Tag(BlockTag::Latest), oz.address)
        .await
        .expect("class");

    let now = fixture.devnet.block_timestamp().await.expect("time");
    let session = ArgentSession::new(
        Felt::from(0x5e551u64),
        now + 2 * 24 * 3600,
        vec![AllowedMethod::new(STRK_TOKEN, "transfer")],
        r#"{"metadata":"stark-sessions classes test","max_fee":0}"#,
    );
    let argent = ArgentSessionAccount::deploy(
        &fixture.devnet,
        Felt::from(0xa11ce1u64),
        Felt::from(0x9a4d1u64),
        Felt::ONE,
        session,
    )
    .await
    .expect("deploy Argent account");
    fixture
        .devnet
        .mint_strk(argent.address, HUNDRED_STRK)
        .await
        .expect("fund");

    // Default: ours is served; neither the OpenZeppelin account nor the Argent one, though
    // the Argent account declares SNIP-9 v2.
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .expect("paymaster");
    build(&pm, fixture.address(), &[fixture.play(1)])
        .await
        .expect("our account is served");
    for user in [oz.address, argent.address] {
        let e = build(&pm, user, &transfer)
            .await
            .expect_err("another class is refused");
        assert_eq!(e.code, 155, "{e:?}");
        let why = e.data.as_str().unwrap_or_default();
        assert!(why.contains("supported_account_classes"), "{why}");
    }
    let e = build(&pm, oz.address, &transfer)
        .await
        .expect_err("refused");
    assert!(
        e.data
            .as_str()
            .unwrap_or_default()
            .contains(&format!("{oz_class:#x}")),
        "{e:?}"
    );
    pm.server.stop().await;

    // Listed by its class hash: built, signed by the account's own key, executed.
    let mut listed = PaymasterHarness::config(&fixture, None);
    listed.supported_account_classes = vec![oz_class];
    let pm = PaymasterHarness::start(listed).await.expect("paymaster");
    let built = build(&pm, oz.address, &transfer)
        .await
        .expect("a listed class is served");
    let key = SigningKey::from_secret_scalar(oz.private_key);
    let signature = sign_typed(&key, &built["typed_data"], oz.address, chain).expect("signed");
    execute(&fixture, &pm, oz.address, &built, &signature).await;
    pm.server.stop().await;

    // Any SNIP-9 v2 account: the Argent account (it declares SNIP-9 v2 by SRC-5) is served,
    // the OpenZeppelin account (it does not) and the scoreboard (no account) are not.
    let mut any = PaymasterHarness::config(&fixture, None);
    any.allow_any_account_class = true;
    let pm = PaymasterHarness::start(any).await.expect("paymaster");
    let built = build(&pm, argent.address, &transfer)
        .await
        .expect("an account declaring SNIP-9 v2 is served");
    let outside = outside_of(&built["typed_data"], chain).expect("typed data");
    let signature = argent
        .session_signature(&outside)
        .expect("session signature");
    execute(&fixture, &pm, argent.address, &built, &signature).await;
    for user in [oz.address, fixture.scoreboard] {
        let e = build(&pm, user, &transfer)
            .await
            .expect_err("declares no SNIP-9 v2");
        assert_eq!(e.code, 155, "{e:?}");
        assert!(
            e.data.as_str().unwrap_or_default().contains("SRC-5"),
            "{e:?}"
        );
    }
}
