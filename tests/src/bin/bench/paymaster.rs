//! Paymaster: sponsored executions (build, typed-data check, session signature, execute,
//! receipt) against direct owner invokes of the same call, both measured at every client
//! count in the same run; `buildTransaction` alone at each count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use stark_sessions_devnet::SessionAccountHandle;
use stark_sessions_tests::paymaster::{
    outside_of, session_sign_typed, sponsored, PaymasterHarness,
};
use stark_sessions_tests::{sel, Fixture, TestSession, HUNDRED_STRK};
use starknet::accounts::{Account, ConnectedAccount};
use starknet::core::types::Felt;
use starknet::signers::SigningKey;

use crate::report::{Row, Sample, Section};

/// Goals of issue 13: sponsored over direct executions per second at 8 and 32 clients, and
/// sponsored p99 over direct p99 at one client.
const GOAL_RATIO_8: f64 = 1.0;
const GOAL_RATIO_32: f64 = 1.5;
const GOAL_P99_1: f64 = 1.5;

/// Runs `op(client, i)` for `i` in `0..n` from `clients` workers (client `c` is always the same
/// worker, so it may own an account or a session); records each latency.
pub(crate) async fn measure<F, Fut>(name: String, n: usize, clients: usize, op: F) -> Result<Sample>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for client in 0..clients {
        let (op, next) = (op.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t = Instant::now();
                op(client, i).await?;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.context("worker")??);
    }
    Ok(Sample {
        name,
        latencies,
        wall: started.elapsed(),
    })
}

pub(crate) fn clients_label(n: usize) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

fn goal(name: &str, measured: f64, bound: f64, at_least: bool) -> String {
    let met = if at_least {
        measured >= bound
    } else {
        measured <= bound
    };
    let verdict = if met { "met" } else { "not met" };
    let sign = if at_least { ">=" } else { "<=" };
    format!("Goal {name} {sign} {bound:.1}: {measured:.2} — {verdict}.")
}

/// Everything both sides need: the paymaster and sessions for the sponsored side, one funded
/// account per client for the direct side.
struct Setup {
    fixture: Arc<Fixture>,
    pm: Arc<PaymasterHarness>,
    sessions: Arc<Vec<TestSession>>,
    owners: Arc<Vec<SessionAccountHandle>>,
}

async fn setup(requests: usize, clients: usize, levels: usize) -> Result<Setup> {
    let fixture = Arc::new(Fixture::new(0xbe7c).await?);
    let pm = Arc::new(PaymasterHarness::start(PaymasterHarness::config(&fixture, None)).await?);
    let now = fixture.devnet.block_timestamp().await?;
    let calls = u32::try_from(requests * levels + 100).context("requests")?;
    let sessions: Vec<TestSession> = (0..clients as u64)
        .map(|i| TestSession::from_secret(9000 + i, now + 24 * 3600))
        .collect();
    let registers = sessions
        .iter()
        .map(|s| fixture.register_call(s, calls, &[sel("record_score")]))
        .collect();
    fixture.owner_execute(registers).await?.receipt()?;
    let mut owners = Vec::new();
    for i in 0..clients as u64 {
        let owner = SigningKey::from_secret_scalar(Felt::from(0x0b0b_0000 + i));
        owners.push(
            fixture
                .devnet
                .deploy_session_account_udc(owner, Felt::from(0xd1_0000 + i), HUNDRED_STRK)
                .await?,
        );
    }
    Ok(Setup {
        fixture,
        pm,
        sessions: Arc::new(sessions),
        owners: Arc::new(owners),
    })
}

impl Setup {
    /// Direct: client `c`'s owner sends the play from its own account and waits for the receipt.
    async fn direct(&self, requests: usize, clients: usize) -> Result<Sample> {
        let (fixture, owners) = (self.fixture.clone(), self.owners.clone());
        let name = format!("direct owner invoke, receipt ({})", clients_label(clients));
        measure(name, requests, clients, move |c, _| {
            let (fixture, owners) = (fixture.clone(), owners.clone());
            async move {
                fixture
                    .send(&owners[c].account, vec![fixture.play(1)])
                    .await?
                    .receipt()?;
                Ok(())
            }
        })
        .await
    }

    /// Sponsored: client `c` plays with its own session, through the paymaster, to the receipt.
    async fn sponsored(&self, requests: usize, clients: usize) -> Result<Sample> {
        let (fixture, pm, sessions) =
            (self.fixture.clone(), self.pm.clone(), self.sessions.clone());
        let name = format!("sponsored execution, receipt ({})", clients_label(clients));
        measure(name, requests, clients, move |c, _| {
            let (fixture, pm, sessions) = (fixture.clone(), pm.clone(), sessions.clone());
            async move {
                pm.sponsor_and_wait(&fixture, &sessions[c], &[fixture.play(1)])
                    .await?;
                Ok(())
            }
        })
        .await
    }

    async fn build(&self, requests: usize, clients: usize) -> Result<Sample> {
        let (pm, user, play) = (
            self.pm.clone(),
            self.fixture.address(),
            self.fixture.play(1),
        );
        let name = format!("buildTransaction ({})", clients_label(clients));
        measure(name, requests, clients, move |_, _| {
            let (pm, play) = (pm.clone(), play.clone());
            async move {
                pm.build(user, &[play], sponsored(), &pm.key())
                    .await?
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                Ok(())
            }
        })
        .await
    }

    async fn warm_up(&self) -> Result<()> {
        for c in 0..3.min(self.owners.len()) {
            self.fixture
                .send(&self.owners[c].account, vec![self.fixture.play(1)])
                .await?
                .receipt()?;
            self.pm
                .sponsor_and_wait(&self.fixture, &self.sessions[c], &[self.fixture.play(1)])
                .await?;
        }
        Ok(())
    }
}

/// Where the devnet's time goes: a relayer transaction carrying `n` sponsored executions, its
/// fee estimate (the engine's simulation) and its send, per execution (median of 5). Sent from
/// a predeployed account the paymaster does not use.
async fn relay_cost(s: &Setup, n: usize) -> Result<Row> {
    let (user, chain) = (s.fixture.address(), s.fixture.devnet.chain_id());
    let relayer = s.fixture.devnet.predeployed(5)?;
    let (mut estimates, mut sends) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let mut calls = Vec::with_capacity(n);
        for _ in 0..n {
            let built =
                s.pm.build(user, &[s.fixture.play(1)], sponsored(), &s.pm.key())
                    .await?
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let signature = session_sign_typed(&s.sessions[0], &built["typed_data"], user, chain)?;
            let outside = outside_of(&built["typed_data"], chain)?;
            calls.push(s.fixture.relay_call(&outside, signature));
        }
        let nonce = relayer.get_nonce().await?;
        let t = Instant::now();
        let estimate = relayer
            .execute_v3(calls.clone())
            .nonce(nonce)
            .estimate_fee()
            .await?;
        estimates.push(t.elapsed());
        let t = Instant::now();
        let sent = relayer
            .execute_v3(calls)
            .nonce(nonce)
            .l1_gas(estimate.l1_gas_consumed * 2)
            .l1_gas_price(estimate.l1_gas_price * 2)
            .l2_gas(estimate.l2_gas_consumed * 2)
            .l2_gas_price(estimate.l2_gas_price * 2)
            .l1_data_gas(estimate.l1_data_gas_consumed * 2)
            .l1_data_gas_price(estimate.l1_data_gas_price * 2)
            .tip(0)
            .send()
            .await?;
        sends.push(t.elapsed());
        s.fixture.devnet.receipt(sent.transaction_hash).await?;
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3 / n as f64
    };
    let (estimate, send) = (median(&mut estimates), median(&mut sends));
    Ok(Row {
        name: format!("devnet time per execution, relayer transaction of {n}"),
        cells: vec![
            ("fee estimate ms", format!("{estimate:.2}")),
            ("send ms", format!("{send:.2}")),
        ],
        ratio: None,
        data: json!({ "executions": n, "estimate_ms_per_execution": estimate, "send_ms_per_execution": send }),
    })
}

/// A sponsored row, with its throughput against the direct row at the same count.
fn compared(sponsored: &Sample, direct: &Sample) -> (Row, f64) {
    let ratio = sponsored.per_second() / direct.per_second();
    let mut row = sponsored.row(Some(direct));
    row.cells.push(("vs direct req/s", format!("{ratio:.2}x")));
    if let Value::Object(data) = &mut row.data {
        data.insert("ratio_per_second_to_direct".into(), json!(ratio));
    }
    (row, ratio)
}

/// Measures at each of `concurrencies`, `requests` operations per row.
pub async fn run(requests: usize, concurrencies: &[usize]) -> Result<Section> {
    let clients = concurrencies.iter().copied().max().unwrap_or(1);
    let s = setup(requests, clients, concurrencies.len() + 1).await?;
    s.warm_up().await?;
    let mut rows = Vec::new();
    let (mut ratios, mut p99_ratio_1) = (Vec::new(), None);
    for &n in concurrencies {
        let direct = s.direct(requests, n).await?;
        let sponsored = s.sponsored(requests, n).await?;
        let build = s.build(requests, n).await?;
        let (row, ratio) = compared(&sponsored, &direct);
        rows.push(direct.row(None));
        rows.push(row);
        rows.push(build.row(Some(&direct)));
        ratios.push((n, ratio));
        if n == 1 {
            let ms = |d: std::time::Duration| d.as_secs_f64();
            p99_ratio_1 = Some(ms(sponsored.percentile(99.0)) / ms(direct.percentile(99.0)));
        }
    }
    for n in [1, 16] {
        rows.push(relay_cost(&s, n).await?);
    }
    let ratio_at = |n: usize| ratios.iter().find(|(c, _)| *c == n).map(|(_, r)| *r);
    let mut notes = Vec::new();
    let mut summary = Vec::new();
    for (n, bound, key) in [
        (8, GOAL_RATIO_8, "sponsored_per_s_ratio_8"),
        (32, GOAL_RATIO_32, "sponsored_per_s_ratio_32"),
    ] {
        if let Some(r) = ratio_at(n) {
            notes.push(goal(
                &format!("sponsored / direct executions per second at {n} clients"),
                r,
                bound,
                true,
            ));
            summary.push((key, json!(r)));
        }
    }
    if let Some(r) = p99_ratio_1 {
        notes.push(goal(
            "sponsored p99 / direct p99 at 1 client",
            r,
            GOAL_P99_1,
            false,
        ));
        summary.push(("p99_ratio_1", json!(r)));
    }
    for note in &notes {
        println!("{note}");
    }
    let metrics = s.pm.paymaster.metrics();
    let (sent, executions) = (
        metrics.sent.load(Ordering::Relaxed),
        metrics.executions_sent.load(Ordering::Relaxed),
    );
    notes.push(format!(
        "{requests} operations per row after a warm-up; at every client count the direct and the \
         sponsored rows are measured one after the other on the same devnet, each client with \
         its own account (direct) or session (sponsored). A sponsored execution is \
         buildTransaction + typed-data check + session signature + executeTransaction + receipt; \
         a direct one is the owner's signed INVOKE with explicit bounds + receipt. The paymaster \
         sent {executions} executions in {sent} relayer transactions (3 relayers, bundles of up \
         to 16). The devnet executes one call at a time: a sponsored execution runs the user's \
         calls three times there (buildTransaction's simulation, the bundle's fee estimate before \
         sending, the transaction), a direct invoke with explicit bounds once; bundling saves \
         only the per-transaction part (the last two rows)."
    ));
    Ok(Section {
        title: "Paymaster (embedded devnet, 3 relayers)".into(),
        baseline: "direct owner INVOKEs of the same call to the same devnet, at the same client count (ratio of p50 latency; `vs direct req/s` compares throughput)".into(),
        rows,
        summary,
        notes,
    })
}
