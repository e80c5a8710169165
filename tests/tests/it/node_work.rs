//! The node work of a sponsored execution, counted at the node: a counting proxy in front of
//! the devnet's RPC sees every simulation, fee estimate and send the paymaster makes, and those
//! a wallet makes for the same call. Not timed: counts only.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stark_sessions_abi::Felt;
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::fault_proxy::FaultProxy;
use stark_sessions_tests::paymaster::{sign_typed, sponsored, PaymasterHarness};
use stark_sessions_tests::{sel, Fixture, TestSession};
use starknet::accounts::{Account, ExecutionEncoding, SingleOwnerAccount};
use starknet::core::types::{BlockId, BlockTag, Call};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::JsonRpcClient;
use starknet::signers::{LocalWallet, SigningKey};

/// Sponsored executions measured.
const EXECUTIONS: usize = 6;
const ESTIMATE: &str = "starknet_estimateFee";
const SEND: &str = "starknet_addInvokeTransaction";

/// A STRK transfer of `amount` (low, high) from the fixture's account to a predeployed one.
fn transfer(fixture: &Fixture, low: u128, high: u128) -> Call {
    Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![
            fixture.devnet.accounts()[1].address,
            Felt::from(low),
            Felt::from(high),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sponsored_execution_costs_the_node_no_more_executions_than_a_wallets_invoke() {
    let fixture = Fixture::new(0x0de1).await.expect("fixture");
    let node = FaultProxy::start(fixture.devnet.url(), Duration::from_secs(300))
        .await
        .expect("proxy");
    let mut config = PaymasterHarness::config(&fixture, None);
    config.rpc_url = node.url().clone().into();
    let pm = PaymasterHarness::start(config).await.expect("paymaster");
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let session = TestSession::from_secret(0x5e55, now + 3600);
    fixture
        .register(&session, 50, &[sel("record_score")])
        .await
        .expect("register");
    // The first play of its shape is simulated at buildTransaction.
    pm.sponsor_and_wait(&fixture, &session, &[fixture.play(1)])
        .await
        .expect("first play");

    let (before, estimates, sends) = (
        node.node_executions(),
        node.forwarded_of(ESTIMATE),
        node.forwarded_of(SEND),
    );
    for i in 0..EXECUTIONS as u64 {
        pm.sponsor_and_wait(&fixture, &session, &[fixture.play(2 + i)])
            .await
            .expect("play");
    }
    let used = node.node_executions() - before;
    let (estimated, sent) = (
        node.forwarded_of(ESTIMATE) - estimates,
        node.forwarded_of(SEND) - sends,
    );
    assert!(
        used <= 2 * EXECUTIONS,
        "{used} node executions for {EXECUTIONS} sponsored executions (at most 2 each)"
    );
    // One client: each execution is its own transaction, simulated before it is sent.
    assert_eq!(sent, EXECUTIONS, "one send per execution");
    assert!(estimated >= sent, "{estimated} estimates for {sent} sends");

    // A wallet's own count for the same play: its fee estimate and its send.
    let wallet = &fixture.devnet.accounts()[1];
    let mut account = SingleOwnerAccount::new(
        Arc::new(JsonRpcClient::new(HttpTransport::new(node.url().clone()))),
        LocalWallet::from_signing_key(SigningKey::from_secret_scalar(wallet.private_key)),
        wallet.address,
        fixture.devnet.chain_id(),
        ExecutionEncoding::New,
    );
    account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
    let before = node.node_executions();
    let sent = account
        .execute_v3(vec![fixture.play(99)])
        .send()
        .await
        .expect("wallet invoke");
    fixture
        .devnet
        .receipt(sent.transaction_hash)
        .await
        .expect("landed");
    assert_eq!(
        node.node_executions() - before,
        2,
        "a wallet: estimate and send"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_from_a_known_shape_never_lets_a_doomed_call_be_sent() {
    let fixture = Fixture::new(0x0de2).await.expect("fixture");
    let node = FaultProxy::start(fixture.devnet.url(), Duration::from_secs(300))
        .await
        .expect("proxy");
    let mut config = PaymasterHarness::config(&fixture, None);
    config.rpc_url = node.url().clone().into();
    let pm = PaymasterHarness::start(config).await.expect("paymaster");
    let (user, chain, owner) = (
        fixture.address(),
        fixture.devnet.chain_id(),
        fixture.account.owner.clone(),
    );
    let owner_signed = |calls: Vec<Call>| {
        let (pm, owner) = (&pm, owner.clone());
        async move {
            let built = pm
                .build(user, &calls, sponsored(), &pm.key())
                .await
                .expect("http")
                .expect("quoted");
            let signature = sign_typed(&owner, &built["typed_data"], user, chain).expect("sign");
            pm.execute(
                user,
                &built["typed_data"],
                &signature,
                sponsored(),
                &pm.key(),
            )
            .await
            .expect("http")
        }
    };
    // A transfer the account can pay: simulated at build (a new shape), sent.
    let sent = owner_signed(vec![transfer(&fixture, 1, 0)])
        .await
        .expect("a transfer of 1 FRI");
    assert!(sent["transaction_hash"].is_string(), "{sent}");
    // The same shape for more STRK than exists: quoted without a node execution, then refused
    // by the engine's simulation before anything is sent.
    let (before, sends) = (node.node_executions(), node.forwarded_of(SEND));
    let e = owner_signed(vec![transfer(&fixture, u128::MAX, 1)])
        .await
        .expect_err("doomed");
    assert_eq!(e.code, 156, "{e:?}");
    assert_eq!(node.forwarded_of(SEND), sends, "nothing sent");
    assert!(
        node.node_executions() - before >= 1,
        "the engine simulated it"
    );
    assert_eq!(
        pm.paymaster
            .metrics()
            .executions_sent
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "{}",
        json!(e.data)
    );
}
