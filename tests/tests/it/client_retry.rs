//! The SDK when the paymaster's answer is in doubt: a proxy between the SDK and the real
//! paymaster loses `paymaster_executeTransaction`'s answer, or the paymaster itself answers 163
//! (queued, not sent yet; stopping) or is down while it restarts; the SDK sends the same signed
//! execution again until its `execute_before` and the intent executes once.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use stark_sessions_abi::Felt;
use stark_sessions_client::paymaster::REQUEST_TIMEOUT;
use stark_sessions_client::{
    PaymasterAuth, PaymasterClient, Session, SessionClient, SessionHandle, SessionSpec,
};
use stark_sessions_paymaster::{NoFailPoints, Paymaster, PaymasterConfig, Step};
use stark_sessions_tests::client::{owner, session_client};
use stark_sessions_tests::fault_proxy::{Fault, FaultProxy};
use stark_sessions_tests::paymaster::{PaymasterHarness, ScriptedFailPoints, Turn};
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
    let (session, handle) = play_session(&fixture, &client).await;
    let proxy = counting(&pm).await;
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

    // A paymaster that stays unreachable: sent again and again until the execution's
    // execute_before (a 10-second window here), a clear error, nothing executed.
    let (plays, sent, injected) = (
        fixture.plays().await.expect("plays"),
        executions_sent(&pm),
        proxy.injected(),
    );
    proxy.inject(EXECUTE, 0, 1000, Fault::ServerErrorBeforeForward);
    let short = sdk
        .clone()
        .with_max_execution_window(Duration::from_secs(10));
    let e = short
        .execute_and_wait(&session, &handle, &[fixture.play(7)])
        .await
        .expect_err("unreachable");
    assert_eq!(e.code(), "PAYMASTER_UNREACHABLE", "{e}");
    assert!(
        e.to_string()
            .contains("until the execution's execute_before"),
        "{e}"
    );
    assert!(e.to_string().contains("sending it again is safe"), "{e}");
    let sends = proxy.injected() - injected;
    assert!(sends > 4, "more than the old fixed 4 sends: {sends}");
    assert_eq!(fixture.plays().await.expect("plays"), plays);
    assert_eq!(executions_sent(&pm), sent);
}

/// A session of `fixture`'s account allowed 10 plays, registered by the owner, and unlocked.
async fn play_session(fixture: &Fixture, client: &SessionClient) -> (Session, SessionHandle) {
    let spec = SessionSpec {
        duration: Duration::from_secs(3600),
        max_calls: 10,
        allowed_entrypoints: vec![sel("record_score")],
        targets: vec![fixture.scoreboard],
        spending_limits: vec![],
        limits: Default::default(),
    };
    let session = client
        .create_session(&owner(fixture), PIN, &spec)
        .await
        .expect("session");
    let handle = session.unlock(PIN).expect("unlock");
    (session, handle)
}

/// A paymaster configuration whose `executeTransaction` answers 163 after one second.
fn impatient(fixture: &Fixture, database: Option<std::path::PathBuf>) -> PaymasterConfig {
    let mut config = PaymasterHarness::config(fixture, database);
    config.execute_timeout_secs = 1;
    config
}

/// A proxy in front of `pm` that counts what reaches it and passes the credentials on.
async fn counting(pm: &PaymasterHarness) -> FaultProxy {
    FaultProxy::start_forwarding_headers(
        pm.server.url(),
        Duration::from_secs(600),
        &["x-paymaster-api-key", "authorization"],
    )
    .await
    .expect("proxy")
}

/// Waits (at most 60 s) until `proxy` has passed `n` requests of `method` on.
async fn forwarded(proxy: &FaultProxy, method: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while proxy.forwarded_of(method) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} {method} requests reached the paymaster",
            proxy.forwarded_of(method)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn the_sdk_waits_longer_than_the_paymaster_before_it_answers_163() {
    let config = PaymasterConfig::new("http://127.0.0.1:1/".parse().expect("url"), vec![]);
    assert!(
        REQUEST_TIMEOUT > Duration::from_secs(config.execute_timeout_secs),
        "the SDK's HTTP timeout {REQUEST_TIMEOUT:?} must exceed the paymaster's execute \
         timeout {} s, or it hears a timeout where the paymaster answers",
        config.execute_timeout_secs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_163_is_answered_by_resending_and_one_execution_lands() {
    let fixture = Fixture::new(0xc163).await.expect("fixture");
    // The engine takes the execution and holds it: executeTransaction answers 163 ("queued
    // but the node has not taken it yet") after a second, every time it is asked.
    // Occurrence 1: the first execution the engine picks is the session's registration.
    let (points, mut heard) = ScriptedFailPoints::new(vec![(Step::Picked, 1, Turn::Hold)]);
    let pm = PaymasterHarness::start_with(impatient(&fixture, None), points.clone(), u128::MAX)
        .await
        .expect("paymaster");
    let client = session_client(&fixture, &pm).await.expect("client");
    let (session, handle) = play_session(&fixture, &client).await;
    let proxy = counting(&pm).await;
    let sdk = through(&client, &proxy, &pm);
    let (plays, sent) = (fixture.plays().await.expect("plays"), executions_sent(&pm));

    let play = fixture.play(163);
    let execution =
        tokio::spawn(async move { sdk.execute_and_wait(&session, &handle, &[play]).await });
    tokio::time::timeout(Duration::from_secs(60), heard.recv())
        .await
        .expect("the engine took the execution")
        .expect("fail points alive");
    // Three sends of the same execution: each of the first two answered 163 after a second.
    forwarded(&proxy, EXECUTE, 3).await;
    assert!(!execution.is_finished(), "a 163 is not the outcome");
    points.release();
    let hash = tokio::time::timeout(Duration::from_secs(120), execution)
        .await
        .expect("bounded")
        .expect("task")
        .unwrap_or_else(|e| panic!("the one outcome, got {e}"));
    assert_eq!(
        fixture.plays().await.expect("plays"),
        plays + 1,
        "landed once"
    );
    assert_eq!(executions_sent(&pm), sent + 1, "the paymaster sent it once");
    let calldata = invoke_calldata(&client, hash).await;
    assert!(
        calldata.contains(&Felt::from(163u64)),
        "{hash:#x} carries the play"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_resends_across_a_paymaster_restart_and_one_execution_lands() {
    let fixture = Fixture::new(0xc164).await.expect("fixture");
    let dir = std::env::temp_dir().join(format!("pm-restart-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut config = impatient(&fixture, Some(dir.join("paymaster.sqlite")));
    // The first run takes the execution and never sends it, as a process about to die.
    // Occurrence 1: the first execution the engine picks is the session's registration.
    let (points, mut heard) = ScriptedFailPoints::new(vec![(Step::Picked, 1, Turn::Hold)]);
    let first = PaymasterHarness::start_with(config.clone(), points, u128::MAX)
        .await
        .expect("paymaster");
    let api_key = first.api_key.clone();
    // The second run listens where the first did, on the same SQLite file.
    config.listen = first.server.addr();
    let client = session_client(&fixture, &first).await.expect("client");
    let (session, handle) = play_session(&fixture, &client).await;
    let proxy = counting(&first).await;
    let sdk = through(&client, &proxy, &first);
    let plays = fixture.plays().await.expect("plays");

    let play = fixture.play(164);
    let execution =
        tokio::spawn(async move { sdk.execute_and_wait(&session, &handle, &[play]).await });
    tokio::time::timeout(Duration::from_secs(60), heard.recv())
        .await
        .expect("the engine took the execution")
        .expect("fail points alive");
    forwarded(&proxy, EXECUTE, 2).await;
    first.crash().await;
    // Down for longer than the SDK's old resending lasted (about 1.75 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !execution.is_finished(),
        "a paymaster that is down is not the outcome"
    );
    let paymaster = Paymaster::with_fail_points(
        config.clone(),
        stark_sessions_paymaster::store::open(config.database.as_ref()).expect("store"),
        Arc::new(NoFailPoints),
    )
    .await
    .expect("restarted on the same database");
    let second = PaymasterHarness::serve(paymaster, config.listen, api_key)
        .await
        .expect("listening where the first did");
    let hash = tokio::time::timeout(Duration::from_secs(120), execution)
        .await
        .expect("bounded")
        .expect("task")
        .unwrap_or_else(|e| panic!("the one outcome, got {e}"));
    assert_eq!(
        fixture.plays().await.expect("plays"),
        plays + 1,
        "landed once"
    );
    assert_eq!(
        executions_sent(&second),
        1,
        "the restarted paymaster sent it, once"
    );
    let calldata = invoke_calldata(&client, hash).await;
    assert!(
        calldata.contains(&Felt::from(164u64)),
        "{hash:#x} carries the play"
    );
    std::fs::remove_dir_all(&dir).ok();
}
