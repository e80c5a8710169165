//! Benchmarks against the embedded devnet, each run side by side with its baseline in one run.
//!
//! `cargo run -p stark-sessions-tests --bin bench -- paymaster [--requests N] [--concurrency C]`
//! `cargo run -p stark-sessions-tests --bin bench -- client [--requests N]`
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

/// Median of `runs` timings of `batch` iterations of `op` (after one warm-up batch), as
/// operations per second.
fn ops_per_second(runs: usize, batch: usize, mut op: impl FnMut(usize)) -> f64 {
    let mut rates: Vec<f64> = (0..=runs)
        .map(|_| {
            let t = Instant::now();
            for i in 0..batch {
                op(i);
            }
            batch as f64 / t.elapsed().as_secs_f64()
        })
        .skip(1)
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Median duration of `runs` runs of `op` (after one warm-up run).
fn median_time(runs: usize, mut op: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..=runs)
        .map(|_| {
            let t = Instant::now();
            op();
            t.elapsed()
        })
        .skip(1)
        .collect();
    times.sort();
    times[times.len() / 2]
}

async fn client(requests: usize) -> Result<()> {
    use stark_sessions_abi::{snip12, OutsideExecution};
    use stark_sessions_client::{envelope, EnvelopeParams, SessionHandle, SessionSecret};
    use starknet::core::types::Felt;

    println!(
        "client benchmark: one thread per figure (per core), medians of 5 runs after a warm-up"
    );
    // Signatures: the SNIP-12 hash of a one-call outside execution plus the ECDSA signature,
    // against a bare starknet-crypto signature of a fixed hash.
    let secret = SessionSecret::generate();
    let scalar = Felt::from_bytes_be(&secret.to_bytes());
    let fixed = Felt::from(0x1234_5678u64);
    let bare = ops_per_second(5, 2_000, |_| {
        let k = starknet_crypto::rfc6979_generate_k(&fixed, &scalar, None);
        std::hint::black_box(starknet_crypto::sign(&scalar, &fixed, &k).ok());
    });
    let account = Felt::from(0xacc0u32);
    let chain = starknet::core::chain_id::SEPOLIA;
    let session_sig = ops_per_second(5, 2_000, |i| {
        let outside = OutsideExecution {
            caller: snip12::ANY_CALLER,
            nonce: Felt::from(i as u64),
            execute_after: 0,
            execute_before: 2_000_000_000,
            calls: vec![starknet::core::types::Call {
                to: Felt::from(0x9a3eu32),
                selector: sel("record_score"),
                calldata: vec![Felt::from(5u8)],
            }],
        };
        let hash = snip12::outside_execution_hash(&outside, account, chain);
        std::hint::black_box(secret.sign(&hash).ok());
    });
    println!(
        "{:<52} {:>10.0} /s per core",
        "bare starknet-crypto sign (baseline)", bare
    );
    println!(
        "{:<52} {:>10.0} /s per core",
        "session signature (SNIP-12 hash + sign)", session_sig
    );
    println!(
        "ratio: session signature / bare sign throughput {:.2}x",
        session_sig / bare
    );

    // Unlock at the configured iteration count, and the legacy import.
    let key = stark_sessions_client::create_session_key("4821", Duration::from_secs(3600))?;
    let unlock = median_time(5, || {
        std::hint::black_box(SessionHandle::unlock(&key, "4821").ok());
    });
    println!(
        "{:<52} {:>10.1} ms ({} PBKDF2-HMAC-SHA256 iterations)",
        "unlock (KDF + MAC check + decrypt)",
        unlock.as_secs_f64() * 1e3,
        EnvelopeParams::default().iterations
    );
    let legacy = legacy_envelope(&secret)?;
    let open_legacy = median_time(5, || {
        std::hint::black_box(envelope::open_legacy(&legacy, "correct horse").ok());
    });
    let import = median_time(5, || {
        std::hint::black_box(
            stark_sessions_client::import_legacy(
                &legacy,
                "correct horse",
                "4821",
                EnvelopeParams::default(),
            )
            .ok(),
        );
    });
    println!(
        "{:<52} {:>10.3} ms",
        "legacy CryptoJS decrypt (EVP_BytesToKey MD5)",
        open_legacy.as_secs_f64() * 1e3
    );
    println!(
        "{:<52} {:>10.1} ms",
        "legacy import (decrypt + re-encrypt)",
        import.as_secs_f64() * 1e3
    );

    // A preflighted, checked sponsored execution through the SDK against a bare one (build,
    // sign, execute, receipt: no preflight, no typed-data check), alternating, one client.
    let fixture = Arc::new(Fixture::new(0xbe7d).await?);
    let pm = Arc::new(PaymasterHarness::start(PaymasterHarness::config(&fixture, None)).await?);
    let sdk = stark_sessions_tests::client::session_client(&fixture, &pm).await?;
    let owner = stark_sessions_tests::client::owner(&fixture);
    let calls = u32::try_from(requests * 2 + 4).context("requests")?;
    let spec = stark_sessions_client::SessionSpec {
        duration: Duration::from_secs(24 * 3600),
        max_calls: calls,
        allowed_entrypoints: vec![sel("record_score")],
        targets: vec![fixture.scoreboard],
        spending_limits: vec![],
    };
    let session = sdk.create_session(&owner, "4821", &spec).await?;
    let handle = SessionHandle::unlock_for(&session.key, "4821", Duration::from_secs(3600))?;
    let bare_session = TestSession {
        key: starknet::signers::SigningKey::from_secret_scalar(Felt::from_bytes_be(
            &envelope::open(&session.key.encrypted_private_key, "4821")?.to_bytes(),
        )),
        public_key: session.public_key(),
        valid_until: session.valid_until(),
    };
    let (mut sdk_times, mut bare_times) = (Vec::new(), Vec::new());
    for i in 0..requests + 2 {
        let t = Instant::now();
        sdk.execute_and_wait(&session, &handle, &[fixture.play(1)])
            .await?;
        let sdk_time = t.elapsed();
        let t = Instant::now();
        let sent = pm
            .sponsor(&fixture, &bare_session, &[fixture.play(1)], &pm.key())
            .await?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        fixture
            .devnet
            .receipt(stark_sessions_tests::paymaster::felt(
                &sent["transaction_hash"],
            )?)
            .await?;
        // The first two pairs warm up.
        if i >= 2 {
            sdk_times.push(sdk_time);
            bare_times.push(t.elapsed());
        }
    }
    let sdk_sample = Sample {
        name: "SDK: preflight + checked sponsored execution",
        wall: sdk_times.iter().sum(),
        latencies: sdk_times,
    };
    let bare_sample = Sample {
        name: "baseline: bare sponsored execution",
        wall: bare_times.iter().sum(),
        latencies: bare_times,
    };
    bare_sample.print();
    sdk_sample.print();
    println!(
        "ratio: SDK / bare sponsored execution p50 {:.2}x (+{:.2} ms)",
        sdk_sample.percentile(50.0).as_secs_f64() / bare_sample.percentile(50.0).as_secs_f64(),
        (sdk_sample.percentile(50.0).as_secs_f64() - bare_sample.percentile(50.0).as_secs_f64())
            * 1e3,
    );
    Ok(())
}

/// A CryptoJS/OpenSSL "Salted__" envelope of `secret`, written by `openssl enc`.
fn legacy_envelope(secret: &stark_sessions_client::SessionSecret) -> Result<String> {
    use std::io::Write;
    let hex: String = secret
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut child = std::process::Command::new("openssl")
        .args([
            "enc",
            "-aes-256-cbc",
            "-md",
            "md5",
            "-a",
            "-A",
            "-pass",
            "pass:correct horse",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("openssl")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("0x{hex}").as_bytes())?;
    let out = child.wait_with_output()?;
    Ok(String::from_utf8(out.stdout)?)
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
        Some("client") => client(requests).await,
        Some(other) => bail!("unknown benchmark {other}; available: paymaster, client"),
    }
}
