//! Paymaster instances: sponsored executions per second through one instance, then through
//! two instances sharing one PostgreSQL database, one relayer pool (3 relayers) and one
//! devnet — the same clients, sessions and requests, one after the other in the same run.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use stark_sessions_paymaster::store::scratch::ScratchDatabase;
use stark_sessions_paymaster::{Paymaster, PaymasterConfig};
use stark_sessions_tests::paymaster::PaymasterHarness;
use stark_sessions_tests::{Fixture, TestSession};

use crate::paymaster::{clients_label, measure};
use crate::report::{Row, Sample, Section};

/// Clients sending at once in both rows.
const CLIENTS: usize = 16;
/// Leases short enough that the second instance gets its share within seconds.
const LEASE_MS: u64 = 2_000;

fn config(fixture: &Fixture, db: &ScratchDatabase, name: &str) -> PaymasterConfig {
    PaymasterHarness::instance_config(fixture, db.url(), name, LEASE_MS)
}

/// One session per client, allowed every play of both rows.
async fn sessions(fixture: &Fixture, plays: usize) -> Result<Vec<TestSession>> {
    let calls = u32::try_from(plays + 10).context("plays")?;
    fixture
        .play_sessions(12_000, CLIENTS as u64, calls, 24 * 3600)
        .await
}

/// Waits until both instances hold a relayer lease.
async fn shared(pm: &PaymasterHarness) -> Result<()> {
    for _ in 0..600 {
        let holders: Vec<String> = pm
            .paymaster
            .store()
            .leases()?
            .into_iter()
            .map(|l| l.holder)
            .collect();
        if holders.iter().any(|h| h == "one") && holders.iter().any(|h| h == "two") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the second instance never got a relayer")
}

/// `requests` sponsored plays to the receipt from [`CLIENTS`] clients, client `c` through
/// `instances[c % instances.len()]`.
async fn sponsored(
    fixture: &Arc<Fixture>,
    instances: &[Arc<PaymasterHarness>],
    sessions: &Arc<Vec<TestSession>>,
    requests: usize,
) -> Result<Sample> {
    let name = format!(
        "sponsored execution, receipt, {} instance(s) ({})",
        instances.len(),
        clients_label(CLIENTS)
    );
    let (fixture, instances, sessions) = (fixture.clone(), instances.to_vec(), sessions.clone());
    measure(name, requests, CLIENTS, move |c, _| {
        let (fixture, pm, sessions) = (
            fixture.clone(),
            instances[c % instances.len()].clone(),
            sessions.clone(),
        );
        async move {
            pm.sponsor_and_wait(&fixture, &sessions[c], &[fixture.play(1)])
                .await?;
            Ok(())
        }
    })
    .await
}

/// Measures one instance, then two, `requests` executions each.
pub async fn run(requests: usize) -> Result<Section> {
    let Some(db) = ScratchDatabase::from_env() else {
        bail!("the instances benchmark needs STARK_SESSIONS_TEST_POSTGRES (scripts/bench.sh starts a PostgreSQL)");
    };
    let fixture = Arc::new(Fixture::new(0xbe71).await?);
    let sessions = Arc::new(sessions(&fixture, 2 * requests + CLIENTS).await?);
    let one = PaymasterHarness::start(config(&fixture, &db, "one")).await?;
    let key = one
        .paymaster
        .create_api_key("bench", u128::MAX, 1_000_000, None)?
        .to_string();
    let one = Arc::new(PaymasterHarness {
        api_key: key.clone(),
        ..one
    });
    // Warm-up: one play per client.
    sponsored(&fixture, std::slice::from_ref(&one), &sessions, CLIENTS).await?;
    let single = sponsored(&fixture, std::slice::from_ref(&one), &sessions, requests).await?;

    let two_config = config(&fixture, &db, "two");
    let listen = two_config.listen;
    let two = Paymaster::new(two_config).await?;
    let two = Arc::new(PaymasterHarness::serve(two, listen, key).await?);
    shared(&two).await?;
    let pair = sponsored(&fixture, &[one.clone(), two.clone()], &sessions, requests).await?;

    let ratio = pair.per_second() / single.per_second();
    let mut row: Row = pair.row(Some(&single));
    row.cells
        .push(("vs one instance req/s", format!("{ratio:.2}x")));
    let note = format!(
        "{requests} sponsored executions per row from {CLIENTS} clients (each its own session), \
         after a warm-up; the same 3 relayers, devnet and PostgreSQL database for both rows. With \
         two instances the relayer pool is leased 2 + 1 and each client talks to one instance. \
         Two instances on one devnet: {:.1} vs {:.1} executions/s = {ratio:.2}x. The devnet \
         executes one call at a time, so a second instance adds front-end capacity \
         (building, checking, signing) but not chain capacity: the ratio shows what the shared \
         database and leases cost, not what a real network's throughput would be.",
        pair.per_second(),
        single.per_second()
    );
    println!("{note}");
    Ok(Section {
        title: "Paymaster instances (one PostgreSQL, 3 relayers, embedded devnet)".into(),
        baseline: "one instance on the same database, relayers and devnet (ratio of p50 latency; `vs one instance req/s` compares throughput)".into(),
        rows: vec![single.row(None), row],
        summary: vec![("two_instances_per_s_ratio", json!(ratio))],
        notes: vec![note],
    })
}
