//! The paymaster under hostile input, against an embedded devnet behind a proxy that can
//! answer in the node's place: executions that poison the engine's simulation are refused
//! while the twenty executions around them land once each, a relayer transaction the node
//! refuses outright is signed again with a hash of its own, and a bundle of two tenants that
//! reverts on chain is paid by the execution that made it revert.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use stark_sessions_abi::constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2;
use stark_sessions_abi::Felt;
use stark_sessions_paymaster::settlement::failing_call;
use stark_sessions_paymaster::{ExecutionState, Step, TxState};
use stark_sessions_tests::fault_proxy::{Fault, FaultProxy};
use stark_sessions_tests::paymaster::{
    audit, felt, outside_of, session_sign_typed, sign_typed, sponsored, Auth, PaymasterHarness,
    RpcError, ScriptedFailPoints, Turn,
};
use stark_sessions_tests::{relay_call, Fixture, TestSession, HUNDRED_STRK};

const ESTIMATE: &str = "starknet_estimateFee";
const SEND: &str = "starknet_addInvokeTransaction";
const LOTS: u128 = 100_000_000_000_000_000_000;

/// The fixture's paymaster with one relayer (a sender that stalls stops it) reaching the
/// devnet through `proxy`.
async fn paymaster_behind(
    fixture: &Fixture,
    proxy: &FaultProxy,
    points: Arc<dyn stark_sessions_paymaster::FailPoints>,
) -> Arc<PaymasterHarness> {
    let mut config = PaymasterHarness::config(fixture, None);
    config.rpc_url = proxy.url().clone().into();
    config.relayers.truncate(1);
    Arc::new(
        PaymasterHarness::start_with(config, points, LOTS)
            .await
            .expect("paymaster"),
    )
}

async fn proxy(fixture: &Fixture) -> FaultProxy {
    FaultProxy::start(fixture.devnet.url(), Duration::from_secs(600))
        .await
        .expect("proxy")
}

/// A session-signed play of `user`'s account (the fixture's), built by the paymaster.
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

fn execute(
    requests: &mut tokio::task::JoinSet<(usize, Result<Value, RpcError>)>,
    pm: &Arc<PaymasterHarness>,
    user: Felt,
    (index, typed, signature, auth): (usize, Value, Vec<Felt>, Auth),
) {
    let pm = pm.clone();
    requests.spawn(async move {
        let answer = pm
            .execute(user, &typed, &signature, sponsored(), &auth)
            .await
            .expect("http");
        (index, answer)
    });
}

/// The JSON form of a felt as the node's requests carry it, quoted: a needle for the proxy.
fn json_felt(v: &Value) -> String {
    format!("\"{:#x}\"", felt(v).expect("felt"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_executions_are_refused_while_twenty_around_them_land_once_each() {
    const AROUND: usize = 20;
    let (poisoned, failing) = (7, 15);
    let fixture = Fixture::new(0x9015).await.expect("fixture");
    let session = fixture.play_session(5000, 40).await.expect("session");
    let proxy = proxy(&fixture).await;
    let first_block = fixture.next_block().await.expect("block");
    let pm = paymaster_behind(
        &fixture,
        &proxy,
        Arc::new(stark_sessions_paymaster::NoFailPoints),
    )
    .await;
    let mut signed = Vec::new();
    for _ in 0..AROUND + 2 {
        signed.push(signed_play(&pm, &fixture, &session).await);
    }
    // One execution's call panics with text a stale relayer nonce shows too (as a node answers
    // any call that panics with it); the node never answers estimates of another.
    let panic = "Transaction execution has failed:\nExecution failed. Failure reason:\n\
                 0x4163636f756e74207472616e73616374696f6e206e6f6e6365 \
                 ('Account transaction nonce').\n";
    proxy.answer_matching(
        ESTIMATE,
        &json_felt(&signed[poisoned].0["message"]["Nonce"]),
        json!({ "code": 41, "message": "Transaction execution error",
                "data": { "transaction_index": 0, "execution_error": panic } }),
    );
    proxy.inject_matching(
        ESTIMATE,
        &json_felt(&signed[failing].0["message"]["Nonce"]),
        Fault::ServerErrorBeforeForward,
    );

    let mut requests = tokio::task::JoinSet::new();
    for (i, (typed, signature)) in signed.into_iter().enumerate() {
        execute(
            &mut requests,
            &pm,
            fixture.address(),
            (i, typed, signature, pm.key()),
        );
    }
    let mut refused = Vec::new();
    let mut landed = 0;
    while let Some(answer) = requests.join_next().await {
        match answer.expect("request") {
            (_, Ok(a)) => {
                felt(&a["transaction_hash"]).expect("hash");
                landed += 1;
            }
            (i, Err(e)) => refused.push((i, e.code, e.data.to_string())),
        }
    }
    refused.sort_by_key(|(i, _, _)| *i);
    let codes: Vec<(usize, i64)> = refused.iter().map(|(i, c, _)| (*i, *c)).collect();
    println!("poison: {landed} landed around them, refused {codes:?}");
    assert_eq!(codes, vec![(poisoned, 156), (failing, 178)], "{refused:?}");
    assert!(
        refused[0].2.contains("transaction nonce"),
        "its own error: {refused:?}"
    );
    assert_eq!(landed, AROUND);

    assert!(pm.settled(Duration::from_secs(60)).await.expect("store"));
    let store = pm.paymaster.store();
    let failed = store
        .executions_in(&[ExecutionState::Failed])
        .expect("read");
    let mut tries: Vec<u32> = failed.iter().map(|r| r.tries).collect();
    tries.sort_unstable();
    assert_eq!(
        tries,
        vec![0, stark_sessions_paymaster::engine::MAX_TRIES],
        "the poison at once, the one the node kept failing after its tries"
    );
    assert!(
        failed.iter().all(|r| r.attempts == 0),
        "neither was ever sent"
    );
    let a = audit(
        &fixture.devnet,
        store.as_ref(),
        &pm.relayers,
        first_block,
        &[("backend", LOTS)],
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
        (AROUND, AROUND, 0, 0, 0, 0),
        "{a:?}"
    );
    assert_eq!(fixture.plays().await.expect("plays"), AROUND as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_node_refuses_outright_is_signed_again_with_a_hash_of_its_own() {
    let fixture = Fixture::new(0x9016).await.expect("fixture");
    let session = fixture.play_session(5100, 5).await.expect("session");
    let proxy = proxy(&fixture).await;
    let first_block = fixture.next_block().await.expect("block");
    let pm = paymaster_behind(
        &fixture,
        &proxy,
        Arc::new(stark_sessions_paymaster::NoFailPoints),
    )
    .await;
    // The node refuses the first send outright: the relayer's nonce stays unused, and the
    // chain is quiet — the same jobs at the same nonce and prices again.
    proxy.answer(
        SEND,
        0,
        1,
        json!({ "code": 53, "message": "The transaction's resources don't cover validation or the minimal transaction fee" }),
    );
    let (typed, signature) = signed_play(&pm, &fixture, &session).await;
    let sent = pm
        .execute(
            fixture.address(),
            &typed,
            &signature,
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("sent after the refusal");
    let hash = felt(&sent["transaction_hash"]).expect("hash");
    fixture.devnet.receipt(hash).await.expect("landed");
    assert!(pm.settled(Duration::from_secs(60)).await.expect("store"));
    let store = pm.paymaster.store();
    let refused = store.transactions_in(&[TxState::Dropped]).expect("read");
    let landed = store.transactions_in(&[TxState::Settled]).expect("read");
    assert_eq!((refused.len(), landed.len()), (1, 1));
    assert_eq!(landed[0].hash, hash);
    assert_ne!(refused[0].hash, hash, "a hash of its own");
    assert_eq!(
        refused[0].nonce, landed[0].nonce,
        "at the same relayer nonce"
    );
    let id = felt(&sent["tracking_id"]).expect("id");
    let record = store.execution(id).expect("read").expect("record");
    assert_eq!(
        (record.state, record.attempts),
        (ExecutionState::Settled, 2)
    );
    let a = audit(
        &fixture.devnet,
        store.as_ref(),
        &pm.relayers,
        first_block,
        &[("backend", LOTS)],
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
        (1, 1, 0, 0, 0, 0),
        "{a:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverted_bundle_of_two_tenants_is_paid_by_the_execution_that_made_it_revert() {
    let fixture = Fixture::new(0x9017).await.expect("fixture");
    let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
    let session = fixture.play_session(5200, 5).await.expect("session");
    // Bob: a second account, owner-signed, sponsored by another tenant.
    let bob = fixture
        .devnet
        .deploy_session_account_udc(
            starknet::signers::SigningKey::from_secret_scalar(Felt::from(0xb0b_u32)),
            Felt::from(0xb0b_u32),
            HUNDRED_STRK,
        )
        .await
        .expect("bob");
    let proxy = proxy(&fixture).await;
    let (points, mut heard) = ScriptedFailPoints::new(vec![
        (Step::BeforeSend, 0, Turn::Hold),
        (Step::BeforeSend, 1, Turn::Hold),
    ]);
    let first_block = fixture.next_block().await.expect("block");
    let pm = paymaster_behind(&fixture, &proxy, points.clone()).await;
    let tenant_a = Auth::ApiKey(
        pm.paymaster
            .create_api_key("tenant-a", LOTS, 1_000, None)
            .expect("key")
            .to_string(),
    );
    let tenant_b = Auth::ApiKey(
        pm.paymaster
            .create_api_key("tenant-b", LOTS, 1_000, None)
            .expect("key")
            .to_string(),
    );
    let mut requests = tokio::task::JoinSet::new();
    // The relayer is busy with a first execution (the backend's) while three queue.
    let (typed, signature) = signed_play(&pm, &fixture, &session).await;
    execute(&mut requests, &pm, user, (0, typed, signature, pm.key()));
    heard.recv().await.expect("first transaction held");

    let alice_play = |pm: Arc<PaymasterHarness>| {
        let (fixture, session, auth) = (&fixture, &session, tenant_a.clone());
        async move {
            let built = pm
                .build(user, &[fixture.play(1)], sponsored(), &auth)
                .await
                .expect("http")
                .expect("built");
            let signature =
                session_sign_typed(session, &built["typed_data"], user, chain).expect("sign");
            (built["typed_data"].clone(), signature, auth)
        }
    };
    let bob_built = pm
        .build(bob.address, &[fixture.play(1)], sponsored(), &tenant_b)
        .await
        .expect("http")
        .expect("built");
    let bob_typed = bob_built["typed_data"].clone();
    let bob_signature = sign_typed(&bob.owner, &bob_typed, bob.address, chain).expect("sign");
    let (a1, s1, auth1) = alice_play(pm.clone()).await;
    let (a2, s2, auth2) = alice_play(pm.clone()).await;
    let queue_in_order = [
        (user, a1, s1, auth1),
        (
            bob.address,
            bob_typed.clone(),
            bob_signature.clone(),
            tenant_b.clone(),
        ),
        (user, a2, s2, auth2),
    ];
    for (n, (account, typed, signature, auth)) in queue_in_order.into_iter().enumerate() {
        execute(&mut requests, &pm, account, (n + 1, typed, signature, auth));
        let queued = pm
            .reached(&[ExecutionState::Queued], n + 1, Duration::from_secs(60))
            .await;
        assert!(queued.expect("read"), "never queued");
    }
    points.release();
    let (_, bundle_hash, bundle) = heard.recv().await.expect("bundle held");
    assert_eq!(bundle.len(), 3, "what queued went out together");
    // Bob's account changes before the bundle lands: his execution is relayed elsewhere, so
    // in the bundle it reverts (its nonce is used) and takes the others with it.
    let outside = outside_of(&bob_typed, chain).expect("outside");
    fixture
        .send(
            &fixture.relayer,
            vec![relay_call(bob.address, &outside, bob_signature)],
        )
        .await
        .expect("relay")
        .receipt()
        .expect("relayed elsewhere");
    points.release();
    while let Some(answer) = requests.join_next().await {
        let (i, answer) = answer.expect("request");
        assert!(answer.is_ok(), "{i}: {answer:?}");
    }
    assert!(pm.settled(Duration::from_secs(60)).await.expect("store"));

    let store = pm.paymaster.store();
    let reverted = store
        .transaction(bundle_hash)
        .expect("read")
        .expect("bundle");
    let fee = reverted.actual_fee.expect("fee");
    // The node's revert reason names bob's call in the frames it writes before the failure
    // reason: that is how the engine knew.
    let reason = reverted.reason.as_deref().expect("the bundle reverted");
    assert_eq!(
        failing_call(reason, pm.relayers[0]),
        Some((bob.address, Some(SELECTOR_EXECUTE_FROM_OUTSIDE_V2))),
        "{reason}"
    );
    let ledger = store.ledger(false).expect("ledger");
    let charged = |key: &str, tx: Option<Felt>| -> u128 {
        ledger
            .iter()
            .filter(|l| l.api_key_id == key && (tx.is_none() || l.tx_hash == tx))
            .filter_map(|l| l.charged_fri)
            .sum()
    };
    println!(
        "reverted bundle: fee {fee} FRI; tenant-b charged {}, tenant-a {} for it",
        charged("tenant-b", Some(bundle_hash)),
        charged("tenant-a", Some(bundle_hash))
    );
    assert_eq!(
        charged("tenant-b", Some(bundle_hash)),
        fee,
        "bob's execution pays the revert"
    );
    assert_eq!(
        charged("tenant-a", Some(bundle_hash)),
        0,
        "alice's pay nothing for it"
    );
    let alone: Vec<Felt> = ledger
        .iter()
        .filter(|l| l.api_key_id == "tenant-a" && l.tx_hash != Some(bundle_hash))
        .filter_map(|l| l.tx_hash)
        .collect();
    assert_eq!(alone.len(), 2, "each of alice's executions landed alone");
    let mut alone_fees = 0;
    for hash in &alone {
        let tx = store.transaction(*hash).expect("read").expect("tx");
        assert_eq!((tx.state, tx.items.len()), (TxState::Settled, 1));
        alone_fees += tx.actual_fee.expect("fee");
    }
    let day = stark_sessions_paymaster::service::unix_now() / 86_400;
    assert_eq!(store.spent_on("tenant-a", day).expect("spent"), alone_fees);
    assert_eq!(store.spent_on("tenant-b", day).expect("spent"), fee);
    let bob_record = store
        .executions_in(&[ExecutionState::Failed])
        .expect("read");
    assert_eq!(
        bob_record
            .iter()
            .map(|r| r.user_address)
            .collect::<Vec<_>>(),
        vec![bob.address],
        "bob's execution, its nonce used, is refused when retried alone"
    );
    let a = audit(
        &fixture.devnet,
        store.as_ref(),
        &pm.relayers,
        first_block,
        &[("backend", LOTS), ("tenant-a", LOTS), ("tenant-b", LOTS)],
        &[],
    )
    .await
    .expect("audit");
    // Accepted: the backend's, alice's two, and bob's (sent once, landed by the other relay).
    assert_eq!(
        (
            a.accepted,
            a.landed_once,
            a.duplicates,
            a.lost,
            a.unbooked,
            a.overspend
        ),
        (4, 4, 0, 0, 0, 0),
        "{a:?}"
    );
    assert_eq!(a.reverted, 1, "only the bundle reverted");
}
