//! Two paymaster instances on one PostgreSQL database, one devnet and one relayer pool: 200
//! concurrent sponsored executions spread over both, one instance stopped (as a crash would)
//! in the middle. The other takes over its relayers once their leases expire — recovering
//! what was in flight first — and adopts its waiting executions; clients whose instance died
//! send the same signed request to the other. Skipped, saying why, without
//! `STARK_SESSIONS_TEST_POSTGRES` (`scripts/test.sh` starts a PostgreSQL).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stark_sessions_abi::Felt;
use stark_sessions_paymaster::store::scratch::ScratchDatabase;
use stark_sessions_paymaster::{ExecutionState, Paymaster, PaymasterConfig};
use stark_sessions_tests::paymaster::{
    audit, felt, session_sign_typed, sponsored, PaymasterHarness, RpcError,
};
use stark_sessions_tests::{Fixture, TestSession};

const CLIENTS: u64 = 20;
const PER_CLIENT: u64 = 10;
const EXECUTIONS: usize = (CLIENTS * PER_CLIENT) as usize;
/// Short leases, so that the survivor takes over within seconds.
const LEASE_MS: u64 = 2_000;
/// The key's daily budget: far more than 200 plays cost, but finite.
const BUDGET: u128 = 10_000_000_000_000_000_000_000;

/// One client's signed request and what the instances answered.
struct Request {
    typed_data: Value,
    signature: Vec<Felt>,
    /// The instance it was built on and first sent to.
    instance: usize,
}

fn config(fixture: &Fixture, db: &ScratchDatabase, name: &str) -> PaymasterConfig {
    PaymasterHarness::instance_config(fixture, db.url(), name, LEASE_MS)
}

/// Registers one session per client, each allowed `PER_CLIENT` plays.
async fn sessions(fixture: &Fixture) -> Vec<TestSession> {
    fixture
        .play_sessions(7000, CLIENTS, PER_CLIENT as u32, 3600)
        .await
        .expect("registered")
}

/// Builds and signs every play, client `c`'s on instance `c % 2`.
async fn build_all(
    fixture: &Arc<Fixture>,
    instances: &[Arc<PaymasterHarness>; 2],
    sessions: Vec<TestSession>,
) -> Vec<Request> {
    let mut builders = tokio::task::JoinSet::new();
    for (c, session) in sessions.into_iter().enumerate() {
        let (fixture, pm) = (fixture.clone(), instances[c % 2].clone());
        builders.spawn(async move {
            let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
            let mut built = Vec::new();
            for _ in 0..PER_CLIENT {
                let b = pm
                    .build(user, &[fixture.play(1)], sponsored(), &pm.key())
                    .await
                    .expect("http")
                    .expect("built");
                let signature =
                    session_sign_typed(&session, &b["typed_data"], user, chain).expect("sign");
                built.push(Request {
                    typed_data: b["typed_data"].clone(),
                    signature,
                    instance: c % 2,
                });
            }
            built
        });
    }
    let mut requests = Vec::new();
    while let Some(built) = builders.join_next().await {
        requests.extend(built.expect("builder"));
    }
    requests
}

/// Sends one request to its instance, then — while that instance does not answer with a
/// hash — to the other. Returns the tracking id and hash, and every error seen on the way.
async fn execute(
    fixture: Arc<Fixture>,
    instances: [Arc<PaymasterHarness>; 2],
    request: Request,
) -> (Option<(Felt, Felt)>, Vec<String>) {
    let user = fixture.address();
    let mut errors = Vec::new();
    for attempt in 0..8 {
        let pm = &instances[(request.instance + attempt) % 2];
        let answer = pm
            .execute(
                user,
                &request.typed_data,
                &request.signature,
                sponsored(),
                &pm.key(),
            )
            .await;
        match answer {
            Ok(Ok(a)) => {
                let ids = (felt(&a["tracking_id"]), felt(&a["transaction_hash"]));
                if let (Ok(id), Ok(hash)) = ids {
                    return (Some((id, hash)), errors);
                }
                errors.push(format!("malformed answer {a}"));
            }
            Ok(Err(RpcError {
                code,
                message,
                data,
            })) => errors.push(format!("{code} {message} {data}")),
            Err(e) => errors.push(format!("http: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (None, errors)
}

/// Waits until both instances hold a share of the relayer pool.
async fn wait_shared(pm: &PaymasterHarness) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut holders: Vec<String> = pm
            .paymaster
            .store()
            .leases()
            .expect("leases")
            .into_iter()
            .map(|l| l.holder)
            .collect();
        holders.sort();
        if holders.len() == pm.relayers.len()
            && holders.contains(&"a".into())
            && holders.contains(&"b".into())
        {
            return holders;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never shared: {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `n` executions have reached the node (sent or further).
async fn wait_sent(pm: &PaymasterHarness, n: usize) {
    let on_the_way = [
        ExecutionState::Sent,
        ExecutionState::Included,
        ExecutionState::Reverted,
        ExecutionState::Settled,
    ];
    let sent = pm.reached(&on_the_way, n, Duration::from_secs(120)).await;
    assert!(sent.expect("read"), "never sent {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_a_relayer_pool_and_one_takes_over_when_the_other_dies() {
    let Some(db) = ScratchDatabase::from_env() else {
        return;
    };
    let fixture = Arc::new(Fixture::new(0x2a1b).await.expect("fixture"));
    let sessions = sessions(&fixture).await;
    let a = PaymasterHarness::start(config(&fixture, &db, "a"))
        .await
        .expect("instance a");
    let key = a
        .paymaster
        .create_api_key("shared", BUDGET, 100_000, None)
        .expect("key")
        .to_string();
    let b_config = config(&fixture, &db, "b");
    let b_listen = b_config.listen;
    let b = Paymaster::new(b_config).await.expect("instance b");
    let b = PaymasterHarness::serve(b, b_listen, key.clone())
        .await
        .expect("serve b");
    let a = PaymasterHarness { api_key: key, ..a };
    let instances = [Arc::new(a), Arc::new(b)];
    // The pool is shared out before the clients start: a holds two relayers, b one.
    let shared = wait_shared(&instances[1]).await;

    let first_block = fixture.next_block().await.expect("block");
    let requests = build_all(&fixture, &instances, sessions).await;
    assert_eq!(requests.len(), EXECUTIONS);
    let mut clients = tokio::task::JoinSet::new();
    for request in requests {
        clients.spawn(execute(fixture.clone(), instances.clone(), request));
    }
    // In the middle: instance a stops as a crash would, its leases left to expire.
    wait_sent(&instances[0], EXECUTIONS / 3).await;
    instances[0].paymaster.shutdown();
    let stopped_at = instances[0]
        .paymaster
        .store()
        .executions_in(&[ExecutionState::Settled])
        .expect("read")
        .len();

    let (mut answered, mut nonce_errors, mut retried) = (0, 0, 0);
    while let Some(outcome) = clients.join_next().await {
        let (answer, errors) = outcome.expect("client");
        answered += usize::from(answer.is_some());
        retried += usize::from(!errors.is_empty());
        nonce_errors += errors
            .iter()
            .filter(|e| e.to_ascii_lowercase().contains("nonce"))
            .count();
    }
    let b = &instances[1];
    assert!(
        b.settled(Duration::from_secs(120)).await.expect("store"),
        "never settled"
    );
    let store = b.paymaster.store();
    let a_ = audit(
        &fixture.devnet,
        store.as_ref(),
        &b.relayers,
        first_block,
        &[("shared", BUDGET)],
        &[],
    )
    .await
    .expect("audit");
    let leases = store.leases().expect("leases");
    println!(
        "instances: 2, executions: {}, landed once: {}, duplicates: {}, nonce errors: {nonce_errors}, lost: {}, overspend: {}",
        a_.accepted, a_.landed_once, a_.duplicates, a_.lost, a_.overspend
    );
    println!(
        "takeover: leases held by {shared:?}, then a stopped after {stopped_at} settled; \
         {retried} clients sent again to b; {} transactions ({} reverted), unbooked {}; \
         leases now held by {:?}",
        a_.transactions,
        a_.reverted,
        a_.unbooked,
        leases.iter().map(|l| l.holder.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(answered, EXECUTIONS, "every client got a hash");
    assert_eq!(
        (
            a_.accepted,
            a_.landed_once,
            a_.duplicates,
            nonce_errors,
            a_.lost,
            a_.overspend
        ),
        (EXECUTIONS, EXECUTIONS, 0, 0, 0, 0),
        "{a_:?}"
    );
    assert_eq!(a_.unbooked, 0, "{a_:?}");
    assert_eq!(fixture.plays().await.expect("plays"), EXECUTIONS as u64);
    assert!(
        leases.len() == b.relayers.len() && leases.iter().all(|l| l.holder == "b"),
        "b holds every relayer: {leases:?}"
    );
}
