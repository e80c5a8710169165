//! Benchmarks against the embedded devnet, each run side by side with its baseline in one run.
//!
//! `cargo run -p stark-sessions-tests --bin bench -- paymaster [--requests N] [--concurrency C]`
//!
//! Runs in the dev profile, whose dependencies (devnet, blockifier, cairo-vm) are optimised:
//! a release build would rebuild the whole dependency tree for little gain, since the time is
//! spent in the devnet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use stark_sessions_tests::paymaster::{sponsored, PaymasterHarness};
use stark_sessions_tests::{sel, Fixture, TestSession};

/// Latencies of one scenario.
struct Sample {
    name: &'static str,
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Sample {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn print(&self) {
        println!(
            "{:<44} n={:<4} {:>8.1} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            self.name,
            self.latencies.len(),
            self.per_second(),
            self.percentile(50.0).as_secs_f64() * 1e3,
            self.percentile(99.0).as_secs_f64() * 1e3,
        );
    }
}

/// Runs `op(i)` for `i` in `0..n` from `concurrency` workers; records each latency.
async fn measure<F, Fut>(name: &'static str, n: usize, concurrency: usize, op: F) -> Result<Sample>
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

async fn paymaster(requests: usize, concurrency: usize) -> Result<()> {
    let fixture = Arc::new(Fixture::new(0xbe7c).await?);
    let pm = Arc::new(PaymasterHarness::start(PaymasterHarness::config(&fixture, None)).await?);
    let user = fixture.address();
    let now = fixture.devnet.block_timestamp().await?;
    // Enough sessions and calls for every execution of both scenarios.
    let per_session = u32::try_from(requests).context("requests")?;
    let sessions: Vec<TestSession> = (0..concurrency as u64)
        .map(|i| TestSession::from_secret(9000 + i, now + 24 * 3600))
        .collect();
    let registers = sessions
        .iter()
        .map(|s| fixture.register_call(s, per_session * 2, &[sel("record_score")]))
        .collect();
    fixture.owner_execute(registers).await?.receipt()?;
    let sessions = Arc::new(sessions);

    println!("paymaster benchmark: {requests} requests per scenario, {concurrency} concurrent clients, 3 relayers, embedded devnet");
    let mut samples = Vec::new();
    for conc in [1, concurrency] {
        let pm = pm.clone();
        let play = fixture.play(1);
        let name = if conc == 1 {
            "buildTransaction (1 client)"
        } else {
            "buildTransaction (concurrent)"
        };
        samples.push(
            measure(name, requests, conc, move |_| {
                let (pm, play) = (pm.clone(), play.clone());
                async move {
                    pm.build(user, &[play], sponsored(), &pm.key())
                        .await?
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    Ok(())
                }
            })
            .await?,
        );
    }
    // Baseline: the same session-signed outside execution relayed directly by an account
    // (sign, send, wait for the receipt), without a paymaster in between.
    {
        let (fixture, sessions) = (fixture.clone(), sessions.clone());
        samples.push(
            measure(
                "baseline: direct relay, receipt (1 client)",
                requests,
                1,
                move |i| {
                    let (fixture, session) =
                        (fixture.clone(), sessions[i % sessions.len()].clone());
                    async move {
                        fixture
                            .session_execute(&session, vec![fixture.play(1)])
                            .await?
                            .receipt()?;
                        Ok(())
                    }
                },
            )
            .await?,
        );
    }
    for conc in [1, concurrency] {
        let (fixture, pm, sessions) = (fixture.clone(), pm.clone(), sessions.clone());
        let name = if conc == 1 {
            "sponsored execution, receipt (1 client)"
        } else {
            "sponsored execution, receipt (concurrent)"
        };
        samples.push(
            measure(name, requests, conc, move |i| {
                let (fixture, pm, session) = (
                    fixture.clone(),
                    pm.clone(),
                    sessions[i % sessions.len()].clone(),
                );
                async move {
                    let sent = pm
                        .sponsor(&fixture, &session, &[fixture.play(1)], &pm.key())
                        .await?
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    let hash = stark_sessions_tests::paymaster::felt(&sent["transaction_hash"])?;
                    fixture.devnet.receipt(hash).await?;
                    Ok(())
                }
            })
            .await?,
        );
    }
    for s in &samples {
        s.print();
    }
    let (baseline, sponsored_one) = (&samples[2], &samples[3]);
    println!(
        "ratio: sponsored execution / direct relay (1 client): p50 {:.2}x, throughput {:.2}x",
        sponsored_one.percentile(50.0).as_secs_f64() / baseline.percentile(50.0).as_secs_f64(),
        sponsored_one.per_second() / baseline.per_second(),
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: usize| -> Result<usize> {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .context("flag value")?
                .parse()
                .context("number"),
            None => Ok(default),
        }
    };
    let (requests, concurrency) = (flag("--requests", 200)?, flag("--concurrency", 8)?);
    match args.first().map(String::as_str) {
        Some("paymaster") | None => paymaster(requests, concurrency).await,
        Some(other) => bail!("unknown benchmark {other}; available: paymaster"),
    }
}
