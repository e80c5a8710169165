//! The paymaster under faults: a proxy in front of the node that loses, delays, fails and
//! resets requests, and the engine stopped at each step of the life cycle and started again
//! on the same database. After each scenario the chain and the books are audited: every
//! accepted execution landed exactly once, every landed execution and every transaction is
//! charged exactly once, no budget is overspent, nothing is pending.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stark_sessions_abi::Felt;
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_paymaster::{ExecutionState, NoFailPoints, PaymasterConfig, Step, TxState};
use stark_sessions_tests::fault_proxy::{Fault, FaultProxy};
use stark_sessions_tests::paymaster::{
    audit, felt, outside_of, session_sign_typed, sponsored, Audit, PaymasterHarness, RpcError,
    ScriptedFailPoints, Turn, RELAYER_INDICES,
};
use stark_sessions_tests::{sel, Fixture, TestSession};
use starknet::core::types::{Call, StarknetError};
use starknet::providers::{Provider, ProviderError};

/// Each scenario's key: far more than a few executions cost.
const BUDGET: u128 = 100_000_000_000_000_000_000;
/// The paymaster's timeout for each request to the node.
const RPC_TIMEOUT: Duration = Duration::from_secs(3);
const SEND: &str = "starknet_addInvokeTransaction";
const RECEIPT: &str = "starknet_getTransactionReceipt";

/// A node fault: the proxy faults `times` requests of `method` after letting `skip` through.
#[derive(Debug, Clone, Copy)]
struct NodeFault {
    method: &'static str,
    skip: usize,
    times: usize,
    fault: Fault,
}

/// The totals over scenarios.
#[derive(Default)]
struct Totals {
    scenarios: usize,
    audit: Audit,
}

impl Totals {
    fn add(&mut self, name: &str, a: &Audit) {
        println!(
            "fault {name}: {} accepted, {} landed once, duplicates {}, lost {}, unbooked {}, overspend {} ({} transactions, {} reverted)",
            a.accepted, a.landed_once, a.duplicates, a.lost, a.unbooked, a.overspend, a.transactions, a.reverted
        );
        self.scenarios += 1;
        let t = &mut self.audit;
        t.accepted += a.accepted;
        t.landed_once += a.landed_once;
        t.duplicates += a.duplicates;
        t.lost += a.lost;
        t.unbooked += a.unbooked;
        t.overspend += a.overspend;
    }

    fn line(&self) -> String {
        let a = &self.audit;
        format!(
            "faults: {} scenarios, {} accepted, {} landed once, duplicates {}, lost {}, unbooked {}, overspend {}",
            self.scenarios, a.accepted, a.landed_once, a.duplicates, a.lost, a.unbooked, a.overspend
        )
    }
}

/// One scenario's world: the shared devnet, a proxy, a database, a fresh session.
struct Stage<'a> {
    fixture: &'a Fixture,
    proxy: FaultProxy,
    config: PaymasterConfig,
    session: TestSession,
    first_block: u64,
    dir: std::path::PathBuf,
}

impl<'a> Stage<'a> {
    async fn new(fixture: &'a Fixture, secret: u64, relayers: usize) -> Stage<'a> {
        let proxy = FaultProxy::start(fixture.devnet.url(), Duration::from_secs(300))
            .await
            .expect("proxy");
        let dir = std::env::temp_dir().join(format!("pm-faults-{}", rand::random::<u64>()));
        let mut config = PaymasterHarness::config(fixture, Some(dir.join("paymaster.sqlite")));
        config.rpc_url = proxy.url().clone().into();
        config.rpc_timeout_ms = u64::try_from(RPC_TIMEOUT.as_millis()).expect("ms");
        config.resubmit_after_secs = 1;
        config.relayers.truncate(relayers);
        let now = fixture.devnet.block_timestamp().await.expect("time");
        let session = TestSession::from_secret(secret, now + 3600);
        fixture
            .register(&session, 20, &[sel("record_score")])
            .await
            .expect("register");
        let first_block = fixture.next_block().await.expect("block");
        Stage {
            fixture,
            proxy,
            config,
            session,
            first_block,
            dir,
        }
    }

    async fn start(
        &self,
        points: Arc<dyn stark_sessions_paymaster::FailPoints>,
    ) -> PaymasterHarness {
        PaymasterHarness::start_with(self.config.clone(), points, BUDGET)
            .await
            .expect("paymaster")
    }

    /// Sponsors `n` plays at once; the answers.
    async fn submit(
        &self,
        pm: &Arc<PaymasterHarness>,
        n: usize,
    ) -> tokio::task::JoinSet<Result<serde_json::Value, RpcError>> {
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (pm, session) = (pm.clone(), self.session.clone());
            let (user, chain) = (self.fixture.address(), self.fixture.devnet.chain_id());
            let play = self.fixture.play(1);
            requests.spawn(async move {
                let built = pm
                    .build(user, &[play], sponsored(), &pm.key())
                    .await
                    .expect("http")?;
                let signature =
                    session_sign_typed(&session, &built["typed_data"], user, chain).expect("sign");
                pm.execute(
                    user,
                    &built["typed_data"],
                    &signature,
                    sponsored(),
                    &pm.key(),
                )
                .await
                .expect("http")
            });
        }
        requests
    }

    async fn audit(&self, pm: &PaymasterHarness) -> Audit {
        self.audit_except(pm, &[]).await
    }

    /// Audits, leaving out transactions the test sent itself from a relayer account.
    async fn audit_except(&self, pm: &PaymasterHarness, foreign: &[Felt]) -> Audit {
        assert!(
            pm.settled(Duration::from_secs(60)).await.expect("store"),
            "something is still pending"
        );
        audit(
            &self.fixture.devnet,
            pm.paymaster.store().as_ref(),
            &pm.relayers,
            self.first_block,
            &[("backend", BUDGET)],
            foreign,
        )
        .await
        .expect("audit")
    }
}

impl Drop for Stage<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn answers(
    mut requests: tokio::task::JoinSet<Result<serde_json::Value, RpcError>>,
) -> Vec<Result<serde_json::Value, RpcError>> {
    let mut out = Vec::new();
    while let Some(answer) = requests.join_next().await {
        out.push(answer.expect("request task"));
    }
    out
}

fn assert_clean(name: &str, a: &Audit, accepted: usize) {
    assert_eq!(a.accepted, accepted, "{name}: accepted");
    assert_eq!(
        (a.landed_once, a.duplicates, a.lost, a.unbooked, a.overspend),
        (accepted, 0, 0, 0, 0),
        "{name}: {a:?}"
    );
}

/// A node fault on every execution's path; every request is still answered with its hash.
async fn node_fault(fixture: &Fixture, secret: u64, name: &str, trouble: NodeFault) -> Audit {
    const EXECUTIONS: usize = 3;
    let NodeFault {
        method,
        skip,
        times,
        fault,
    } = trouble;
    let stage = Stage::new(fixture, secret, 3).await;
    stage.proxy.inject(method, skip, times, fault);
    let pm = Arc::new(stage.start(Arc::new(NoFailPoints)).await);
    let answered = answers(stage.submit(&pm, EXECUTIONS).await).await;
    let errors: Vec<_> = answered.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{name}: node trouble reached users: {errors:?}"
    );
    let a = stage.audit(&pm).await;
    assert_eq!(stage.proxy.injected(), times, "{name}: the faults happened");
    assert_clean(name, &a, EXECUTIONS);
    assert_eq!(a.reverted, 0, "{name}: nothing sent twice");
    a
}

/// The engine stopped at `step`, the paymaster started again on the same database.
async fn crash(fixture: &Fixture, secret: u64, name: &str, step: Step) -> Audit {
    const EXECUTIONS: usize = 3;
    let stage = Stage::new(fixture, secret, 3).await;
    let (points, mut heard) = ScriptedFailPoints::new(vec![(step, 0, Turn::Halt)]);
    let pm = Arc::new(stage.start(points).await);
    let requests = stage.submit(&pm, EXECUTIONS).await;
    let reached = tokio::time::timeout(Duration::from_secs(60), heard.recv())
        .await
        .expect("the fail point was reached")
        .expect("fail points alive");
    assert_eq!(reached.0, step);
    // A request waiting for the stopped engine gets an error, never a wrong answer.
    pm.paymaster.shutdown();
    let answered = answers(requests).await;
    Arc::try_unwrap(pm).ok().expect("one handle").crash().await;
    for answer in answered.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(answer.code, 163, "{name}: {answer:?}");
    }
    let restarted = stage.start(Arc::new(NoFailPoints)).await;
    let a = stage.audit(&restarted).await;
    if step != Step::Picked {
        // The transaction whose hash was stored is the one that landed: recovery asked the
        // node about it (and sent the same bytes again if it had never left).
        let stored = restarted
            .paymaster
            .store()
            .transaction(reached.1)
            .expect("read");
        assert_eq!(stored.map(|t| t.state), Some(TxState::Settled), "{name}");
    }
    assert_clean(name, &a, EXECUTIONS);
    assert_eq!(a.reverted, 0, "{name}: nothing sent twice");
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_execution_lands_once_and_is_booked_once_under_faults() {
    let fixture = Fixture::new(0xfa17).await.expect("fixture");
    let mut totals = Totals::default();
    let late = Fault::Delay(RPC_TIMEOUT + Duration::from_secs(1));
    let node_faults = [
        (
            "send answer lost after forwarding",
            SEND,
            0,
            1,
            Fault::DropResponse,
        ),
        ("send answer delayed past the timeout", SEND, 0, 1, late),
        (
            "send 502 after forwarding",
            SEND,
            0,
            1,
            Fault::ServerErrorAfterForward,
        ),
        (
            "send reset after forwarding",
            SEND,
            0,
            1,
            Fault::ResetAfterForward,
        ),
        (
            "send reset before forwarding",
            SEND,
            0,
            1,
            Fault::ResetBeforeForward,
        ),
        (
            "sends refused with 503 for a while",
            SEND,
            0,
            6,
            Fault::ServerErrorBeforeForward,
        ),
        (
            "receipts unavailable for a while",
            RECEIPT,
            0,
            6,
            Fault::ServerErrorBeforeForward,
        ),
    ];
    for (i, (name, method, skip, times, fault)) in node_faults.into_iter().enumerate() {
        let trouble = NodeFault {
            method,
            skip,
            times,
            fault,
        };
        let a = node_fault(&fixture, 3000 + i as u64, name, trouble).await;
        totals.add(name, &a);
    }
    let crashes = [
        ("stopped after queueing, before signing", Step::Picked),
        ("stopped after signing, before sending", Step::BeforeSend),
        (
            "stopped after sending, before recording it",
            Step::AfterSend,
        ),
        (
            "stopped after inclusion, before settlement",
            Step::AfterInclusion,
        ),
    ];
    for (i, (name, step)) in crashes.into_iter().enumerate() {
        let a = crash(&fixture, 3100 + i as u64, name, step).await;
        totals.add(name, &a);
    }
    let a = dropped_while_stopped(&fixture, 3200).await;
    totals.add("dropped while stopped, resubmitted once, 50 polls", &a);
    let a = reverted_bundle(&fixture, 3300).await;
    totals.add("bundle reverted on chain, retried alone", &a);

    let line = totals.line();
    println!("{line}");
    let t = &totals.audit;
    assert_eq!(totals.scenarios, 13);
    assert!(t.accepted > 0);
    assert_eq!(
        line,
        format!(
            "faults: {} scenarios, {} accepted, {} landed once, duplicates 0, lost 0, unbooked 0, overspend 0",
            totals.scenarios, t.accepted, t.accepted
        )
    );
}

/// The first transaction is signed and stored, then the paymaster stops before sending it;
/// 50 concurrent polls read its hash and send nothing. While it is down another transaction
/// uses the relayer's nonce. After the restart the engine finds the stored hash unknown and
/// its nonce used: dropped, and resubmitted once under the same tracking id.
async fn dropped_while_stopped(fixture: &Fixture, secret: u64) -> Audit {
    let name = "dropped while stopped";
    let stage = Stage::new(fixture, secret, 1).await;
    let (points, mut heard) = ScriptedFailPoints::new(vec![(Step::BeforeSend, 0, Turn::Halt)]);
    let pm = Arc::new(stage.start(points).await);
    let requests = stage.submit(&pm, 1).await;
    let (_, lost_hash, ids) = tokio::time::timeout(Duration::from_secs(60), heard.recv())
        .await
        .expect("reached")
        .expect("alive");
    let id = ids[0];
    let polls = poll_concurrently(&pm, id, 50).await;
    assert!(polls
        .iter()
        .all(|(hash, status)| *hash == lost_hash && status == "active"));
    assert_eq!(
        pm.paymaster
            .metrics()
            .sent
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let unknown = fixture
        .devnet
        .provider()
        .get_transaction_status(lost_hash)
        .await;
    assert!(
        matches!(
            unknown,
            Err(ProviderError::StarknetError(
                StarknetError::TransactionHashNotFound
            ))
        ),
        "polling sent the transaction: {unknown:?}"
    );
    pm.paymaster.shutdown();
    drop(answers(requests).await);
    Arc::try_unwrap(pm).ok().expect("one handle").crash().await;

    // Someone else uses the relayer's nonce meanwhile.
    let relayer = fixture
        .devnet
        .predeployed(RELAYER_INDICES[0])
        .expect("relayer");
    let transfer = Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![Felt::ONE, Felt::ONE, Felt::ZERO],
    };
    let foreign = fixture
        .devnet
        .invoke(&relayer, vec![transfer])
        .await
        .expect("nonce used")
        .receipt
        .transaction_hash()
        .to_owned();

    let restarted = Arc::new(stage.start(Arc::new(NoFailPoints)).await);
    let a = stage.audit_except(&restarted, &[foreign]).await;
    let record = restarted
        .paymaster
        .store()
        .execution(id)
        .expect("read")
        .expect("record");
    assert_eq!(
        (record.state, record.resubmissions),
        (ExecutionState::Settled, 1),
        "{name}"
    );
    let dropped = restarted
        .paymaster
        .store()
        .transaction(lost_hash)
        .expect("read")
        .expect("tx");
    assert_eq!(dropped.state, TxState::Dropped);
    let metrics = restarted.paymaster.metrics();
    let sent = metrics.sent.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        (
            metrics
                .resubmissions
                .load(std::sync::atomic::Ordering::Relaxed),
            sent
        ),
        (1, 1)
    );
    // Polls after the fact: the new hash, accepted, and still nothing sent.
    let polls = poll_concurrently(&restarted, id, 50).await;
    assert!(polls
        .iter()
        .all(|(h, s)| Some(*h) == record.latest_hash && s == "accepted"));
    assert_eq!(
        metrics.sent.load(std::sync::atomic::Ordering::Relaxed),
        sent
    );
    assert_clean(name, &a, 1);
    a
}

/// `n` concurrent `trackingIdToLatestHash` polls: each answer's hash and status.
async fn poll_concurrently(pm: &Arc<PaymasterHarness>, id: Felt, n: usize) -> Vec<(Felt, String)> {
    let mut polls = tokio::task::JoinSet::new();
    for _ in 0..n {
        let pm = pm.clone();
        polls.spawn(async move {
            pm.client
                .call(
                    "paymaster_trackingIdToLatestHash",
                    json!({ "tracking_id": format!("{id:#x}") }),
                    &pm.key(),
                )
                .await
                .expect("http")
                .expect("answered")
        });
    }
    let mut out = Vec::new();
    while let Some(answer) = polls.join_next().await {
        let answer = answer.expect("poll");
        let status = answer["status"].as_str().unwrap_or_default().to_owned();
        out.push((felt(&answer["transaction_hash"]).expect("hash"), status));
    }
    assert_eq!(out.len(), n);
    out
}

/// One relayer: while it holds its first transaction, three executions queue and go out as
/// one bundle. Before the bundle is sent, one of its executions is relayed by someone else, so
/// the bundle reverts on chain; the revert is charged to that execution alone (all three are
/// the same account's: the one the node still refuses alone is found), and all are retried
/// alone — the two still valid land, the third is refused (its nonce is used).
async fn reverted_bundle(fixture: &Fixture, secret: u64) -> Audit {
    let name = "reverted bundle";
    let stage = Stage::new(fixture, secret, 1).await;
    let (points, mut heard) = ScriptedFailPoints::new(vec![
        (Step::BeforeSend, 0, Turn::Hold),
        (Step::BeforeSend, 1, Turn::Hold),
    ]);
    let pm = Arc::new(stage.start(points.clone()).await);
    let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
    let first = stage.submit(&pm, 1).await;
    heard.recv().await.expect("first transaction held");
    // Three more, signed here so that one can be relayed elsewhere.
    let mut signed = Vec::new();
    for _ in 0..3 {
        let built = pm
            .build(user, &[fixture.play(1)], sponsored(), &pm.key())
            .await
            .expect("http")
            .expect("built");
        let signature =
            session_sign_typed(&stage.session, &built["typed_data"], user, chain).expect("sign");
        signed.push((built["typed_data"].clone(), signature));
    }
    let mut bundled = tokio::task::JoinSet::new();
    for (typed, signature) in signed.clone() {
        let pm = pm.clone();
        bundled.spawn(async move {
            pm.execute(user, &typed, &signature, sponsored(), &pm.key())
                .await
                .expect("http")
        });
    }
    let queued = pm
        .reached(&[ExecutionState::Queued], 3, Duration::from_secs(60))
        .await;
    assert!(queued.expect("read"), "{name}: never queued");
    let store = pm.paymaster.store().clone();
    points.release();
    let (_, bundle_hash, bundle) = heard.recv().await.expect("bundle held");
    assert_eq!(bundle.len(), 3, "{name}: what queued went out together");
    let (typed, signature) = &signed[1];
    let outside = outside_of(typed, chain).expect("outside");
    fixture
        .relay(&outside, signature.clone())
        .await
        .expect("relay")
        .receipt()
        .expect("relayed elsewhere");
    points.release();
    let mut answered = answers(first).await;
    answered.extend(answers(bundled).await);
    assert!(answered.iter().all(Result::is_ok), "{name}: {answered:?}");
    let a = stage.audit(&pm).await;
    let reverted = store
        .transaction(bundle_hash)
        .expect("read")
        .expect("bundle");
    assert_eq!(
        (reverted.state, reverted.items.len()),
        (TxState::Settled, 3)
    );
    let culprit = outside.nonce;
    let charges: Vec<(Felt, u128)> = store
        .ledger(false)
        .expect("ledger")
        .iter()
        .filter(|l| l.tx_hash == Some(bundle_hash))
        .filter_map(|l| {
            let r = store
                .execution(l.tracking_id)
                .expect("read")
                .expect("record");
            l.charged_fri.map(|c| (r.outside_nonce, c))
        })
        .collect();
    let fee = reverted.actual_fee.expect("fee");
    assert_eq!(charges.len(), 3, "{name}: {charges:?}");
    assert!(
        charges
            .iter()
            .all(|(nonce, c)| *c == if *nonce == culprit { fee } else { 0 }),
        "{name}: the revert is paid by the execution that made it: {charges:?}"
    );
    let states: Vec<(ExecutionState, u32)> = bundle
        .iter()
        .map(|id| {
            let r = store.execution(*id).expect("read").expect("record");
            (r.state, r.attempts)
        })
        .collect();
    let settled_alone = states
        .iter()
        .filter(|s| **s == (ExecutionState::Settled, 2))
        .count();
    let refused = states
        .iter()
        .filter(|(s, _)| *s == ExecutionState::Failed)
        .count();
    assert_eq!((settled_alone, refused), (2, 1), "{name}: {states:?}");
    assert_eq!(a.reverted, 1, "{name}: only the bundle reverted");
    assert_clean(name, &a, 4);
    a
}
