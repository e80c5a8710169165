//! Paymaster: `buildTransaction` and full sponsored executions at several concurrencies,
//! against direct owner invokes to the same devnet.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use stark_sessions_tests::paymaster::{sponsored, PaymasterHarness};
use stark_sessions_tests::{sel, Fixture, TestSession};

use crate::report::{Sample, Section};

/// Runs `op(i)` for `i` in `0..n` from `concurrency` workers; records each latency.
async fn measure<F, Fut>(name: String, n: usize, concurrency: usize, op: F) -> Result<Sample>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t = Instant::now();
                op(i).await?;
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

fn clients_label(n: usize) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

/// Measures at each of `concurrencies`, `requests` operations per scenario and level.
pub async fn run(requests: usize, concurrencies: &[usize]) -> Result<Section> {
    let fixture = Arc::new(Fixture::new(0xbe7c).await?);
    let pm = Arc::new(PaymasterHarness::start(PaymasterHarness::config(&fixture, None)).await?);
    let user = fixture.address();
    let now = fixture.devnet.block_timestamp().await?;
    let clients = concurrencies.iter().copied().max().unwrap_or(1);
    let per_session = u32::try_from(requests * concurrencies.len() + 10).context("requests")?;
    let sessions: Vec<TestSession> = (0..clients as u64)
        .map(|i| TestSession::from_secret(9000 + i, now + 24 * 3600))
        .collect();
    let registers = sessions
        .iter()
        .map(|s| fixture.register_call(s, per_session, &[sel("record_score")]))
        .collect();
    fixture.owner_execute(registers).await?.receipt()?;
    let sessions = Arc::new(sessions);

    // Warm-up: a few of each operation, not recorded.
    for i in 0..5 {
        pm.build(user, &[fixture.play(1)], sponsored(), &pm.key())
            .await?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        pm.sponsor(
            &fixture,
            &sessions[i % sessions.len()],
            &[fixture.play(1)],
            &pm.key(),
        )
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }

    // Baseline: the owner's own INVOKE of the same call, signed, sent, receipt.
    let baseline = {
        let fixture = fixture.clone();
        measure(
            "baseline: direct owner invoke, receipt (1 client)".into(),
            requests,
            1,
            move |_| {
                let fixture = fixture.clone();
                async move {
                    fixture
                        .send(&fixture.account.account, vec![fixture.play(1)])
                        .await?
                        .receipt()?;
                    Ok(())
                }
            },
        )
        .await?
    };
    let mut rows = vec![baseline.row(None)];
    for &conc in concurrencies {
        let (pm2, play) = (pm.clone(), fixture.play(1));
        let build = measure(
            format!("buildTransaction ({})", clients_label(conc)),
            requests,
            conc,
            move |_| {
                let (pm, play) = (pm2.clone(), play.clone());
                async move {
                    pm.build(user, &[play], sponsored(), &pm.key())
                        .await?
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    Ok(())
                }
            },
        )
        .await?;
        rows.push(build.row(Some(&baseline)));
        let (fixture2, pm2, sessions2) = (fixture.clone(), pm.clone(), sessions.clone());
        let sponsored_run = measure(
            format!("sponsored execution, receipt ({})", clients_label(conc)),
            requests,
            conc,
            move |i| {
                let (fixture, pm, session) =
                    (fixture2.clone(), pm2.clone(), sessions2[i % conc].clone());
                async move {
                    pm.sponsor_and_wait(&fixture, &session, &[fixture.play(1)])
                        .await?;
                    Ok(())
                }
            },
        )
        .await?;
        rows.push(sponsored_run.row(Some(&baseline)));
    }
    Ok(Section {
        title: "Paymaster (embedded devnet, 3 relayers)".into(),
        baseline: "direct owner INVOKEs of the same call to the same devnet, one client (ratio of p50 latency)".into(),
        rows,
        summary: vec![],
        notes: vec![format!(
            "{requests} operations per row after a warm-up of 5; each client uses its own session. \
             A sponsored execution is build + typed-data check + session signature + execute \
             (simulate, estimate, send) + receipt."
        )],
    })
}
