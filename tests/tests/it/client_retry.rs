//! The SDK after an ambiguous paymaster failure: a proxy between the SDK and the real paymaster
//! forwards `paymaster_executeTransaction` and loses the answer; the SDK sends the same signed
//! execution again and the intent executes once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use stark_sessions_abi::Felt;
use stark_sessions_client::{PaymasterAuth, PaymasterClient, SessionClient, SessionSpec};
use stark_sessions_tests::client::{owner, session_client};
use stark_sessions_tests::fault_proxy::{Fault, FaultProxy};
use stark_sessions_tests::paymaster::PaymasterHarness;
use stark_sessions_tests::{sel, Fixture};
use starknet::core::types::{InvokeTransaction, Transaction};
use starknet::providers::Provider;

const PIN: &str = "482193";
const EXECUTE: &str = "paymaster_executeTransaction";

fn executions_sent(pm: &PaymasterHarness) -> u64 {
    pm.paymaster
        .metrics()
        .executions_sent
        .load(Ordering::SeqCst)
}

/// A client whose paymaster requests go through `proxy`.
fn through(client: &SessionClient, proxy: &FaultProxy, pm: &PaymasterHarness) -> SessionClient {
    client.clone().with_paymaster(PaymasterClient::new(
        proxy.url().clone(),
        PaymasterAuth::api_key(pm.api_key.clone()),
    ))
}

/// The calldata of the invoke transaction `hash`.
async fn invoke_calldata(client: &SessionClient, hash: Felt) -> Vec<Felt> {
    match client
        .provider()
        .get_transaction_by_hash(hash, None)
        .await
        .expect("transaction")
    {
        Transaction::Invoke(InvokeTransaction::V3(tx)) => tx.calldata,
        other => panic!("not an invoke v3: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_resubmitted_and_the_intent_executes_once() {
    let fixture = Fixture::new(0xc17e).await.expect("fixture");
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .expect("paymaster");
    let client = session_client(&fixture, &pm).await.expect("client");
    let spec = SessionSpec {
        duration: Duration::from_secs(3600),
        max_calls: 10,
        allowed_entrypoints: vec![sel("record_score")],
        targets: vec![fixture.scoreboard],
        spending_limits: vec![],
    };
    let session = client
        .create_session(&owner(&fixture), PIN, &spec)
        .await
        .expect("session");
    let handle = session.unlock(PIN).expect("unlock");
    let proxy = FaultProxy::start_forwarding_headers(
        pm.server.url(),
        Duration::from_secs(600),
        &["x-paymaster-api-key", "authorization"],
    )
    .await
    .expect("proxy");
    let sdk = through(&client, &proxy, &pm);

    // Each way of losing the answer after the paymaster got the request: the connection
    // closed, reset, or a 502 that is not JSON-RPC.
    let faults = [
        Fault::DropResponse,
        Fault::ResetAfterForward,
        Fault::ServerErrorAfterForward,
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        let points = 1000 + i as u64;
        let (plays, sent, injected) = (
            fixture.plays().await.expect("plays"),
            executions_sent(&pm),
            proxy.injected(),
        );
        proxy.inject(EXECUTE, 0, 1, fault);
        let hash = sdk
            .execute_and_wait(&session, &handle, &[fixture.play(points)])
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: the one outcome, got {e}"));
        assert_eq!(proxy.injected(), injected + 1, "{fault:?}: one answer lost");
        assert_eq!(
            fixture.plays().await.expect("plays"),
            plays + 1,
            "{fault:?}: the intent executed once on chain"
        );
        assert_eq!(
            executions_sent(&pm),
            sent + 1,
            "{fault:?}: the paymaster sent one execution"
        );
        // The hash returned is the transaction that carried this very play.
        let calldata = invoke_calldata(&client, hash).await;
        assert!(
            calldata.contains(&Felt::from(points)) && calldata.contains(&fixture.address()),
            "{fault:?}: {hash:#x} is not the transaction of the play"
        );
    }

    // A paymaster that stays unreachable: a bounded number of sends, a clear error, nothing
    // executed.
    let (plays, sent, injected) = (
        fixture.plays().await.expect("plays"),
        executions_sent(&pm),
        proxy.injected(),
    );
    proxy.inject(EXECUTE, 0, 100, Fault::ServerErrorBeforeForward);
    let e = sdk
        .execute_and_wait(&session, &handle, &[fixture.play(7)])
        .await
        .expect_err("unreachable");
    assert_eq!(e.code(), "PAYMASTER_UNREACHABLE", "{e}");
    assert!(e.to_string().contains("after 4 attempts"), "{e}");
    assert!(e.to_string().contains("sending it again is safe"), "{e}");
    assert_eq!(proxy.injected(), injected + 4, "one send and three retries");
    assert_eq!(fixture.plays().await.expect("plays"), plays);
    assert_eq!(executions_sent(&pm), sent);
}
