//! The submission engine against an embedded devnet: bundling (what queues while every relayer
//! is busy goes out together, each execution keeping its tracking id and paying its share), a
//! doomed execution dropped from a bundle with its own error, budgets under a race of HTTP
//! clients, a budget reserved in every fee mode, and another execution under a claimed nonce
//! refused.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use stark_sessions_abi::Felt;
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_paymaster::settlement::split_fee_capped;
use stark_sessions_paymaster::{ExecutionState, Step, TxState};
use stark_sessions_tests::paymaster::{
    audit, felt, session_sign_typed, sign_typed, sponsored, Auth, PaymasterHarness, RpcError,
    ScriptedFailPoints, Turn,
};
use stark_sessions_tests::{sel, Fixture, TestSession};
use starknet::core::types::{ExecuteInvocation, ExecutionResult, TransactionTrace};
use starknet::providers::Provider;

const LOTS: u128 = u128::MAX;

async fn session(fixture: &Fixture, secret: u64, calls: u32) -> TestSession {
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let session = TestSession::from_secret(secret, now + 3600);
    fixture
        .register(&session, calls, &[sel("record_score")])
        .await
        .expect("register");
    session
}

/// Builds and signs a play; returns the typed data and the signature.
async fn signed_play(
    pm: &PaymasterHarness,
    fixture: &Fixture,
    session: &TestSession,
) -> (Value, Vec<Felt>) {
    let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
    let built = pm
        .build(user, &[fixture.play(1)], sponsored(), &pm.key())
        .await
        .expect("http")
        .expect("built");
    let signature = session_sign_typed(session, &built["typed_data"], user, chain).expect("sign");
    (built["typed_data"].clone(), signature)
}

fn execute_all(
    pm: &Arc<PaymasterHarness>,
    user: Felt,
    signed: Vec<(Value, Vec<Felt>)>,
) -> tokio::task::JoinSet<Result<Value, RpcError>> {
    let mut requests = tokio::task::JoinSet::new();
    for (typed, signature) in signed {
        let pm = pm.clone();
        requests.spawn(async move {
            pm.execute(user, &typed, &signature, sponsored(), &pm.key())
                .await
                .expect("http")
        });
    }
    requests
}

async fn wait_queued(pm: &PaymasterHarness, n: usize) {
    let queued = pm
        .reached(&[ExecutionState::Queued], n, Duration::from_secs(60))
        .await;
    assert!(queued.expect("read"), "never queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_that_queue_while_the_relayer_is_busy_go_out_together_and_pay_their_shares() {
    let fixture = Fixture::new(0xb0d1).await.expect("fixture");
    let user = fixture.address();
    let session = session(&fixture, 4000, 20).await;
    let mut config = PaymasterHarness::config(&fixture, None);
    config.relayers.truncate(1);
    config.max_bundle_size = 3;
    let (points, mut heard) = ScriptedFailPoints::new(vec![(Step::BeforeSend, 0, Turn::Hold)]);
    let pm = Arc::new(
        PaymasterHarness::start_with(config, points.clone(), LOTS)
            .await
            .expect("paymaster"),
    );

    // An idle relayer sends a lone execution at once, in a transaction of its own.
    let lone = signed_play(&pm, &fixture, &session).await;
    let mut first = execute_all(&pm, user, vec![lone]);
    let (_, lone_hash, lone_ids) = heard.recv().await.expect("held");
    assert_eq!(lone_ids.len(), 1);

    // Five more queue while it is busy: they go out three, then two (the bundle size).
    let mut signed = Vec::new();
    for _ in 0..5 {
        signed.push(signed_play(&pm, &fixture, &session).await);
    }
    let mut queued = execute_all(&pm, user, signed);
    wait_queued(&pm, 5).await;
    points.release();
    let mut answers = vec![first.join_next().await.expect("one").expect("task")];
    while let Some(answer) = queued.join_next().await {
        answers.push(answer.expect("task"));
    }
    let answers: Vec<(Felt, Felt)> = answers
        .into_iter()
        .map(|a| {
            let a = a.expect("sponsored");
            (
                felt(&a["tracking_id"]).expect("id"),
                felt(&a["transaction_hash"]).expect("hash"),
            )
        })
        .collect();
    assert_eq!(answers[0].1, lone_hash);
    let mut sizes: std::collections::BTreeMap<Felt, usize> = Default::default();
    for (_, hash) in &answers {
        *sizes.entry(*hash).or_default() += 1;
    }
    let mut counts: Vec<usize> = sizes.values().copied().collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        vec![1, 2, 3],
        "one alone, then bundles of three and two"
    );
    let ids: std::collections::HashSet<Felt> = answers.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 6, "each execution keeps its own tracking id");
    assert!(pm.settled(Duration::from_secs(60)).await.expect("store"));
    assert_eq!(fixture.plays().await.expect("plays"), 6);

    // Each pays its share: in proportion to the L2 gas of its call in the trace, never more
    // than it reserved, adding up to the fee.
    let store = pm.paymaster.store();
    let ledger = store.ledger(false).expect("ledger");
    for hash in sizes.keys() {
        let receipt = fixture.devnet.receipt(*hash).await.expect("receipt");
        assert!(matches!(
            receipt.receipt.execution_result(),
            ExecutionResult::Succeeded
        ));
        let tx = store.transaction(*hash).expect("read").expect("tx");
        let fee = tx.actual_fee.expect("fee");
        let entries: Vec<_> = tx
            .items
            .iter()
            .map(|i| {
                ledger
                    .iter()
                    .find(|l| l.tracking_id == i.tracking_id && l.tx_hash == Some(*hash))
                    .expect("charged")
            })
            .collect();
        let charged: Vec<u128> = entries
            .iter()
            .map(|e| e.charged_fri.expect("settled"))
            .collect();
        let reserved: Vec<u128> = entries.iter().map(|e| e.reserved_fri).collect();
        let weights: Vec<u128> = match fixture.devnet.provider().trace_transaction(*hash).await {
            Ok(TransactionTrace::Invoke(trace)) => match trace.execute_invocation {
                ExecuteInvocation::Success(run) => run
                    .calls
                    .iter()
                    .map(|c| u128::from(c.execution_resources.l2_gas))
                    .collect(),
                ExecuteInvocation::Reverted(_) => panic!("reverted"),
            },
            other => panic!("no trace: {other:?}"),
        };
        assert_eq!(charged, split_fee_capped(fee, &weights, &reserved));
        assert_eq!(charged.iter().sum::<u128>(), fee);
        assert!(charged.iter().zip(&reserved).all(|(c, r)| c <= r && *c > 0));
        if tx.items.len() > 1 {
            let each = fee / tx.items.len() as u128;
            assert!(
                charged.iter().all(|c| c.abs_diff(each) < each / 5),
                "{charged:?}"
            );
        }
    }
    let sent = pm
        .paymaster
        .metrics()
        .bundles
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "bundling: 6 executions in {} transactions, {sent} bundles",
        sizes.len()
    );
    assert_eq!(sent, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doomed_execution_is_dropped_from_its_bundle_with_its_own_error() {
    let fixture = Fixture::new(0xb0d2).await.expect("fixture");
    let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
    let session = session(&fixture, 4100, 20).await;
    let mut config = PaymasterHarness::config(&fixture, None);
    config.relayers.truncate(1);
    let (points, mut heard) = ScriptedFailPoints::new(vec![(Step::BeforeSend, 0, Turn::Hold)]);
    let pm = Arc::new(
        PaymasterHarness::start_with(config, points.clone(), LOTS)
            .await
            .expect("paymaster"),
    );
    let relayer_before = fixture
        .devnet
        .strk_balance(pm.relayers[0])
        .await
        .expect("balance");
    let mut first = execute_all(&pm, user, vec![signed_play(&pm, &fixture, &session).await]);
    heard.recv().await.expect("held");
    let mut signed = Vec::new();
    for _ in 0..3 {
        signed.push(signed_play(&pm, &fixture, &session).await);
    }
    // The middle one is signed by a stranger.
    let stranger = starknet::signers::SigningKey::from_secret_scalar(Felt::from(0xbad_u32));
    signed[1].1 = sign_typed(&stranger, &signed[1].0, user, chain).expect("sign");
    let doomed = felt(&signed[1].0["message"]["Nonce"]).expect("nonce");
    let mut queued = execute_all(&pm, user, signed);
    wait_queued(&pm, 3).await;
    points.release();
    first
        .join_next()
        .await
        .expect("one")
        .expect("task")
        .expect("sent");
    let mut refused = Vec::new();
    let mut hashes = Vec::new();
    while let Some(answer) = queued.join_next().await {
        match answer.expect("task") {
            Ok(a) => hashes.push(felt(&a["transaction_hash"]).expect("hash")),
            Err(e) => refused.push(e),
        }
    }
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].code, 153, "its own error: {:?}", refused[0]);
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes[0], hashes[1], "the other two still go together");
    assert!(pm.settled(Duration::from_secs(60)).await.expect("store"));
    assert_eq!(fixture.plays().await.expect("plays"), 3);
    // The doomed one cost nothing and holds nothing; its nonce is unused.
    let failed = pm
        .paymaster
        .store()
        .executions_in(&[ExecutionState::Failed])
        .expect("read");
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].outside_nonce, failed[0].attempts), (doomed, 0));
    assert!(pm
        .paymaster
        .store()
        .ledger(false)
        .expect("ledger")
        .iter()
        .all(|l| l.tracking_id != failed[0].id));
    let paid: u128 = pm
        .paymaster
        .store()
        .transactions_in(&[TxState::Settled])
        .expect("read")
        .iter()
        .filter_map(|t| t.actual_fee)
        .sum();
    let relayer_after = fixture
        .devnet
        .strk_balance(pm.relayers[0])
        .await
        .expect("balance");
    assert_eq!(
        relayer_before - relayer_after,
        paid,
        "every FRI paid is booked"
    );
}

/// 32 HTTP clients race for a budget that covers exactly five sponsorships. Settlement is
/// held during the race, so what the budget covers is what it reserves: five go through, 27
/// are refused with 174; after settlement the charges stay within the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_racing_for_a_budget_get_exactly_what_it_covers() {
    const CLIENTS: usize = 32;
    const COVERED: u128 = 5;
    let fixture = Arc::new(Fixture::new(0xb0d3).await.expect("fixture"));
    let mut config = PaymasterHarness::config(&fixture, None);
    // One execution per transaction, so that every sponsorship reserves the same amount.
    config.max_bundle_size = 1;
    let holds = (0..64)
        .map(|n| (Step::AfterInclusion, n, Turn::Hold))
        .collect();
    let (points, _heard) = ScriptedFailPoints::new(holds);
    let pm = PaymasterHarness::start_with(config, points.clone(), LOTS)
        .await
        .expect("paymaster");
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let sessions: Vec<TestSession> = (0..CLIENTS as u64 + 2)
        .map(|i| TestSession::from_secret(4200 + i, now + 3600))
        .collect();
    let registers = sessions
        .iter()
        .map(|s| fixture.register_call(s, 5, &[sel("record_score")]))
        .collect();
    fixture
        .owner_execute(registers)
        .await
        .expect("send")
        .receipt()
        .expect("registered");

    let first_block = fixture.next_block().await.expect("block");

    // What one sponsorship reserves, from warm-ups with another key (the first play of the
    // account writes new storage and costs more than the others).
    for warm_up in &sessions[CLIENTS..] {
        pm.sponsor(&fixture, warm_up, &[fixture.play(1)], &pm.key())
            .await
            .expect("http")
            .expect("warm-up");
    }
    let reserved = pm.paymaster.store().ledger(true).expect("ledger")[1].reserved_fri;
    let budget = COVERED * reserved + reserved / 2;
    let racer = pm
        .paymaster
        .create_api_key("race", budget, 100_000, None)
        .expect("key");
    let auth = Auth::ApiKey(racer.to_string());

    let pm = Arc::new(pm);
    let mut clients = tokio::task::JoinSet::new();
    for session in sessions.into_iter().take(CLIENTS) {
        let (pm, fixture, auth) = (pm.clone(), fixture.clone(), auth.clone());
        clients.spawn(async move {
            pm.sponsor(&fixture, &session, &[fixture.play(1)], &auth)
                .await
                .expect("http")
        });
    }
    let (mut sponsored_ids, mut refusals) = (Vec::new(), Vec::new());
    while let Some(answer) = clients.join_next().await {
        match answer.expect("client") {
            Ok(a) => sponsored_ids.push(felt(&a["tracking_id"]).expect("id")),
            Err(e) => refusals.push(e.code),
        }
    }
    let store = pm.paymaster.store();
    let reservations: Vec<u128> = store
        .ledger(true)
        .expect("ledger")
        .iter()
        .filter(|l| l.api_key_id == "race")
        .map(|l| l.reserved_fri)
        .collect();
    println!(
        "budget race: {CLIENTS} clients, budget {budget} FRI ({COVERED}.5 sponsorships of {reserved} FRI): {} sponsored, {} refused",
        sponsored_ids.len(),
        refusals.len()
    );
    assert!(
        reservations.iter().all(|r| *r == reserved),
        "{reservations:?}"
    );
    assert_eq!(sponsored_ids.len() as u128, COVERED);
    assert_eq!(refusals.len(), CLIENTS - COVERED as usize);
    assert!(refusals.iter().all(|c| *c == 174), "{refusals:?}");

    // Settlement: the charges replace the reservations, within the budget.
    for _ in 0..64 {
        points.release();
    }
    assert!(pm.settled(Duration::from_secs(60)).await.expect("store"));
    let day = stark_sessions_paymaster::service::unix_now() / 86_400;
    let charged = store.spent_on("race", day).expect("spent");
    assert!(charged > 0 && charged <= budget, "{charged} of {budget}");
    let a = audit(
        &fixture.devnet,
        store.as_ref(),
        &pm.relayers,
        first_block,
        &[("race", budget), ("backend", LOTS)],
        &[],
    )
    .await
    .expect("audit");
    assert_eq!(
        (
            a.accepted,
            a.landed_once,
            a.duplicates,
            a.lost,
            a.unbooked,
            a.overspend
        ),
        (COVERED as usize + 2, COVERED as usize + 2, 0, 0, 0, 0),
        "{a:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fee_mode_reserves_the_budget_before_sending() {
    let fixture = Fixture::new(0xb0d4).await.expect("fixture");
    let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .expect("paymaster");
    let strk_mode = json!({ "version": "0x1", "fee_mode": { "mode": "default", "gas_token": format!("{STRK_ADDRESS:#x}") } });
    let pay = |auth: Auth| {
        let (pm, fixture, strk_mode) = (&pm, &fixture, strk_mode.clone());
        async move {
            let built = pm
                .build(user, &[fixture.play(1)], strk_mode.clone(), &auth)
                .await
                .expect("http")
                .expect("built");
            let signature = sign_typed(&fixture.account.owner, &built["typed_data"], user, chain)
                .expect("sign");
            pm.execute(user, &built["typed_data"], &signature, strk_mode, &auth)
                .await
                .expect("http")
        }
    };
    // The user pays in STRK, but the relayer pays the gas: the key's budget still bounds it.
    let poor = pm
        .paymaster
        .create_api_key("poor", 1, 100, None)
        .expect("key");
    let e = pay(Auth::ApiKey(poor.to_string()))
        .await
        .expect_err("over budget");
    assert_eq!(e.code, 174);
    let before = fixture.devnet.strk_balance(user).await.expect("balance");
    let sent = pay(pm.key()).await.expect("paid by the user");
    let hash = felt(&sent["transaction_hash"]).expect("hash");
    fixture.devnet.receipt(hash).await.expect("receipt");
    assert!(pm.settled(Duration::from_secs(60)).await.expect("store"));
    assert!(fixture.devnet.strk_balance(user).await.expect("balance") < before);
    let day = stark_sessions_paymaster::service::unix_now() / 86_400;
    let tx = pm
        .paymaster
        .store()
        .transaction(hash)
        .expect("read")
        .expect("tx");
    assert_eq!(
        pm.paymaster
            .store()
            .spent_on("backend", day)
            .expect("spent"),
        tx.actual_fee.expect("fee"),
        "booked once, at the actual fee"
    );
}

/// Two different executions under one account and SNIP-9 nonce (instances sharing a database
/// draw their nonce prefixes apart, but only by chance): while the first waits to be sent, the
/// second is refused with 156 rather than answered with the first's tracking id; only the first
/// runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_execution_under_a_claimed_nonce_is_refused() {
    let fixture = Fixture::new(0xb0d5).await.expect("fixture");
    let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
    let session = session(&fixture, 4300, 5).await;
    let mut config = PaymasterHarness::config(&fixture, None);
    config.relayers.truncate(1);
    let (points, mut heard) = ScriptedFailPoints::new(vec![(Step::BeforeSend, 0, Turn::Hold)]);
    let pm = Arc::new(
        PaymasterHarness::start_with(config, points.clone(), LOTS)
            .await
            .expect("paymaster"),
    );
    let (typed, signature) = signed_play(&pm, &fixture, &session).await;
    let mut first = execute_all(&pm, user, vec![(typed.clone(), signature)]);
    heard.recv().await.expect("held");

    let other = pm
        .build(user, &[fixture.play(2)], sponsored(), &pm.key())
        .await
        .expect("http")
        .expect("built");
    let mut other_typed = other["typed_data"].clone();
    other_typed["message"]["Nonce"] = typed["message"]["Nonce"].clone();
    let other_signature = session_sign_typed(&session, &other_typed, user, chain).expect("sign");
    let refused = pm
        .execute(user, &other_typed, &other_signature, sponsored(), &pm.key())
        .await
        .expect("http")
        .expect_err("refused");
    assert_eq!(refused.code, 156, "{refused:?}");
    assert!(
        refused.data.to_string().contains("already used"),
        "{refused:?}"
    );

    points.release();
    first
        .join_next()
        .await
        .expect("one")
        .expect("task")
        .expect("sent");
    assert!(pm.settled(Duration::from_secs(60)).await.expect("store"));
    assert_eq!(fixture.plays().await.expect("plays"), 1);
}
