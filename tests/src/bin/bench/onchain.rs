//! On-chain cost of one ERC-20 transfer along each path, from receipts, against an
//! OpenZeppelin account's direct transfer.

use anyhow::{bail, Result};
use serde_json::json;
use stark_sessions_abi::{CairoSerde, U256};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::{sel, Fixture, Relayed, TestSession};
use starknet::core::types::{Call, Felt};

use crate::report::{Row, Section};

/// Runs of each path after the warm-up; the median is reported (L2 gas is deterministic on a
/// devnet, so the runs check that rather than average noise).
const RUNS: usize = 3;

fn gas(relayed: Relayed) -> Result<u64> {
    match &relayed {
        Relayed::Ok(_) => Ok(relayed.l2_gas().unwrap_or_default()),
        Relayed::Failed(reason) => bail!("transaction failed: {reason}"),
    }
}

async fn median_gas<F, Fut>(mut op: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Relayed>>,
{
    // One warm-up: first writes to a slot cost more than later ones.
    gas(op().await?)?;
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        runs.push(gas(op().await?)?);
    }
    runs.sort_unstable();
    Ok(runs[RUNS / 2])
}

/// Measures the five paths and returns the section.
pub async fn run() -> Result<Section> {
    let f = Fixture::new(0xbe71).await?;
    let friend = f.devnet.accounts()[3].address;
    let transfer = Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![friend, Felt::from(7u8), Felt::ZERO],
    };
    let oz = f.devnet.predeployed(2)?;
    let now = f.devnet.block_timestamp().await?;
    let whitelisted = TestSession::from_secret(71, now + 24 * 3600);
    let limited = TestSession::from_secret(72, now + 24 * 3600);
    f.register(&whitelisted, 1_000, &[sel("transfer")]).await?;
    f.register(&limited, 1_000, &[sel("transfer")]).await?;
    let mut policy = vec![limited.public_key, STRK_ADDRESS];
    U256::from_u128(1_000_000).cairo_serialize(&mut policy);
    U256::from_u128(1_000_000_000).cairo_serialize(&mut policy);
    86_400u64.cairo_serialize(&mut policy);
    f.owner_execute(vec![f.self_call("set_spending_policy", policy)])
        .await?
        .receipt()?;

    let oz_gas = median_gas(|| f.send(&oz, vec![transfer.clone()])).await?;
    let owner_gas = median_gas(|| f.send(&f.account.account, vec![transfer.clone()])).await?;
    let session_gas =
        median_gas(|| f.session_execute(&whitelisted, vec![transfer.clone()])).await?;
    let limited_gas = median_gas(|| f.session_execute(&limited, vec![transfer.clone()])).await?;
    let multicall_gas =
        median_gas(|| f.session_execute(&whitelisted, vec![transfer.clone(); 5])).await?;

    let row = |name: &str, gas: u64, calls: u64| Row {
        name: name.to_owned(),
        cells: vec![
            ("L2 gas", gas.to_string()),
            ("per transfer", (gas / calls).to_string()),
        ],
        ratio: Some(gas as f64 / oz_gas as f64),
        data: json!({ "l2_gas": gas, "transfers": calls, "ratio_to_oz": gas as f64 / oz_gas as f64 }),
    };
    let session_ratio = session_gas as f64 / oz_gas as f64;
    Ok(Section {
        title: "On-chain cost of one STRK transfer (embedded devnet, from receipts)".into(),
        baseline: "(a) a predeployed OpenZeppelin account's direct transfer".into(),
        rows: vec![
            row("(a) OZ account, direct", oz_gas, 1),
            row("(b) our account's owner, direct", owner_gas, 1),
            row("(c) session, relayed outside execution, whitelist", session_gas, 1),
            row("(d) (c) with a spending limit", limited_gas, 1),
            row("(e) session, 5-call multicall", multicall_gas, 5),
        ],
        summary: vec![],
        notes: vec![
            format!(
                "Goal: session path at most 1.3x (a); the best-known session account publishes 1.61x. \
                 Measured (c): {session_ratio:.2}x — {}. The relayed figure is the whole transaction, \
                 the relayer's own validation and `execute_from_outside_v2` included.",
                if session_ratio <= 1.3 { "met" } else { "not met" }
            ),
            "Cairo steps are not reported: RPC 0.10 receipts and traces give gas, not steps.".into(),
            format!("Each figure is the median of {RUNS} runs after one warm-up run."),
        ],
    })
}
