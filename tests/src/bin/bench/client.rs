//! Client: session signatures per core, unlock, legacy import, and the SDK's overhead over a
//! bare sponsored execution.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use stark_sessions_abi::{snip12, OutsideExecution};
use stark_sessions_client::{envelope, EnvelopeParams, SessionHandle, SessionSecret};
use stark_sessions_tests::paymaster::PaymasterHarness;
use stark_sessions_tests::{sel, Fixture, TestSession};
use starknet::core::types::Felt;

use crate::report::{Row, Sample, Section};

const RUNS: usize = 5;

/// Median of `RUNS` timings of `batch` iterations of `op` (after one warm-up batch), as
/// operations per second.
fn ops_per_second(batch: usize, mut op: impl FnMut(usize)) -> f64 {
    let mut rates: Vec<f64> = (0..=RUNS)
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

/// Median duration of `RUNS` runs of `op` (after one warm-up run).
fn median_time(mut op: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..=RUNS)
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

fn rate_row(name: &str, rate: f64, baseline: Option<f64>) -> Row {
    Row {
        name: name.into(),
        cells: vec![("", format!("{rate:.0} /s per core"))],
        ratio: baseline.map(|b| rate / b),
        data: json!({ "per_second_per_core": rate, "ratio_to_baseline": baseline.map(|b| rate / b) }),
    }
}

fn time_row(name: &str, time: Duration) -> Row {
    Row {
        name: name.into(),
        cells: vec![("", format!("{:.3} ms", time.as_secs_f64() * 1e3))],
        ratio: None,
        data: json!({ "median_ms": time.as_secs_f64() * 1e3 }),
    }
}

/// The outside execution both signing paths sign (nonce `i`).
fn sample_outside(i: usize) -> OutsideExecution {
    OutsideExecution {
        caller: snip12::ANY_CALLER,
        nonce: Felt::from(i as u64),
        execute_after: 0,
        execute_before: 2_000_000_000,
        calls: vec![starknet::core::types::Call {
            to: Felt::from(0x9a3eu32),
            selector: sel("record_score"),
            calldata: vec![Felt::from(5u8)],
        }],
    }
}

/// The session message hash written out with `starknet_crypto::poseidon_hash_many` alone.
fn raw_session_hash(o: &OutsideExecution, account: Felt, chain: Felt, registration: Felt) -> Felt {
    use stark_sessions_abi::constants as c;
    use starknet_crypto::poseidon_hash_many as h;
    let calls: Vec<Felt> = o
        .calls
        .iter()
        .map(|call| h(&[c::CALL_TYPE_HASH, call.to, call.selector, h(&call.calldata)]))
        .collect();
    let domain = h(&[
        c::DOMAIN_TYPE_HASH,
        c::OUTSIDE_DOMAIN_NAME,
        c::OUTSIDE_DOMAIN_VERSION,
        chain,
        c::SNIP12_REVISION,
    ]);
    let body = h(&[
        c::OUTSIDE_EXECUTION_TYPE_HASH,
        o.caller,
        o.nonce,
        Felt::from(o.execute_after),
        Felt::from(o.execute_before),
        h(&calls),
    ]);
    h(&[
        h(&[c::STARKNET_MESSAGE, domain, account, body]),
        registration,
    ])
}

/// Measures the client figures; `requests` executions per side for the SDK overhead.
pub async fn run(requests: usize) -> Result<Section> {
    let secret = SessionSecret::generate();
    let scalar = Felt::from_bytes_be(&secret.to_bytes());
    let fixed = Felt::from(0x1234_5678u64);
    let bare = ops_per_second(2_000, |_| {
        let k = starknet_crypto::rfc6979_generate_k(&fixed, &scalar, None);
        std::hint::black_box(starknet_crypto::sign(&scalar, &fixed, &k).ok());
    });
    let (account, chain) = (Felt::from(0xacc0u32), starknet::core::chain_id::SEPOLIA);
    let registration = snip12::session_registration(2_000_000_000, 1);
    // The SDK's signing path: SNIP-12 hash, bound to the registration, signed.
    let session_sig = ops_per_second(2_000, |i| {
        let hash = snip12::outside_execution_hash(&sample_outside(i), account, chain);
        let bound = snip12::session_message_hash(hash, registration);
        std::hint::black_box(secret.sign(&bound).ok());
    });
    // The same work with raw starknet-crypto: the same poseidon hashes, then an RFC 6979 sign.
    let raw_sig = ops_per_second(2_000, |i| {
        let bound = raw_session_hash(&sample_outside(i), account, chain, registration);
        let k = starknet_crypto::rfc6979_generate_k(&bound, &scalar, None);
        std::hint::black_box(starknet_crypto::sign(&scalar, &bound, &k).ok());
    });

    let key = stark_sessions_client::create_session_key("482193", Duration::from_secs(3600))?;
    let unlock = median_time(|| {
        std::hint::black_box(SessionHandle::unlock(&key, "482193").ok());
    });
    let legacy = stark_sessions_tests::client::openssl_legacy_envelope(&secret, "correct horse")?;
    let open_legacy = median_time(|| {
        std::hint::black_box(envelope::open_legacy(&legacy, "correct horse").ok());
    });
    let import = median_time(|| {
        std::hint::black_box(
            stark_sessions_client::import_legacy(
                &legacy,
                "correct horse",
                "482193",
                EnvelopeParams::default(),
            )
            .ok(),
        );
    });

    // SDK (preflight + typed-data check + sign + execute + receipt) against a bare sponsored
    // execution (build + sign + execute + receipt), alternating, one client.
    let fixture = Fixture::new(0xbe7d).await?;
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None)).await?;
    let sdk = stark_sessions_tests::client::session_client(&fixture, &pm).await?;
    let owner = stark_sessions_tests::client::owner(&fixture);
    let spec = stark_sessions_client::SessionSpec {
        duration: Duration::from_secs(24 * 3600),
        max_calls: u32::try_from(requests * 2 + 10).context("requests")?,
        allowed_entrypoints: vec![sel("record_score")],
        targets: vec![fixture.scoreboard],
        spending_limits: vec![],
        limits: Default::default(),
    };
    let session = sdk.create_session(&owner, "482193", &spec).await?;
    let handle = SessionHandle::unlock_for(&session.key, "482193", Duration::from_secs(3600))?;
    let mut bare_session = TestSession {
        key: starknet::signers::SigningKey::from_secret_scalar(Felt::from_bytes_be(
            &envelope::open(&session.key.encrypted_private_key, "482193")?.to_bytes(),
        )),
        public_key: session.public_key(),
        valid_until: session.valid_until(),
        generation: 0,
    };
    fixture.refresh(&mut bare_session).await?;
    let (mut sdk_times, mut bare_times) = (Vec::new(), Vec::new());
    for i in 0..requests + 3 {
        let t = Instant::now();
        sdk.execute_and_wait(&session, &handle, &[fixture.play(1)])
            .await?;
        let sdk_time = t.elapsed();
        let t = Instant::now();
        pm.sponsor_and_wait(&fixture, &bare_session, &[fixture.play(1)])
            .await?;
        if i >= 3 {
            sdk_times.push(sdk_time);
            bare_times.push(t.elapsed());
        }
    }
    let sample = |name: &str, latencies: Vec<Duration>| Sample {
        name: name.into(),
        wall: latencies.iter().sum(),
        latencies,
    };
    let bare_exec = sample("baseline: bare sponsored execution, receipt", bare_times);
    let sdk_exec = sample(
        "SDK: preflighted, checked sponsored execution, receipt",
        sdk_times,
    );

    Ok(Section {
        title: "Client SDK".into(),
        baseline: "the same SNIP-12 hash + binding + sign written with raw starknet-crypto (signatures); a bare sponsored execution (SDK overhead)".into(),
        rows: vec![
            rate_row("raw starknet-crypto: the same hashes + sign (baseline)", raw_sig, None),
            rate_row("session signature: SNIP-12 hash + registration + sign", session_sig, Some(raw_sig)),
            rate_row("bare starknet-crypto sign of a fixed hash (for reference)", bare, Some(raw_sig)),
            time_row(
                &format!("unlock at {} PBKDF2 iterations", EnvelopeParams::default().iterations),
                unlock,
            ),
            time_row("legacy CryptoJS decrypt", open_legacy),
            time_row("legacy import (decrypt + re-encrypt)", import),
            bare_exec.row(None),
            sdk_exec.row(Some(&bare_exec)),
        ],
        summary: vec![("client_sign_ratio_to_raw", json!(session_sig / raw_sig))],
        notes: vec![format!(
            "Goal: session signing >= 0.90x the same work in raw starknet-crypto: {:.2}x — {}. ",
            session_sig / raw_sig,
            if session_sig / raw_sig >= 0.9 { "met" } else { "not met" }
        ) + &format!(
            "Rates and times: median of {RUNS} runs after a warm-up, one thread. Executions: {requests} \
             of each, alternating, after 3 warm-up pairs."
        )],
    })
}
