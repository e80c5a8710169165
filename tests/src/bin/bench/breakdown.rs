//! Where the L2 gas of a relayed session transfer goes: each invocation of its trace, the
//! data the transaction carries, and what the protocol charges per transaction.

use anyhow::{bail, Context, Result};
use stark_sessions_tests::onchain::Paths;
use stark_sessions_tests::Relayed;
use starknet::core::types::{
    ExecuteInvocation, Felt, FunctionInvocation, InvokeTransaction, Transaction, TransactionTrace,
};
use starknet::providers::Provider;

// Starknet 0.14 versioned constants (blockifier `archival_data_gas_costs`, `allocation_cost`):
// what one felt of calldata, signature or event data costs, and the weight of an event key.
const GAS_PER_DATA_FELT: u64 = 5_120;
const EVENT_KEY_FACTOR: u64 = 2;
/// What a storage slot written for the first time (zero to non-zero) costs.
pub const NEW_SLOT_GAS: u64 = 402_000;

fn walk(inv: &FunctionInvocation, depth: usize, names: &[(Felt, &str)], out: &mut Vec<String>) {
    let name = names
        .iter()
        .find(|(s, _)| *s == inv.entry_point_selector)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or_else(|| format!("{:#x}", inv.entry_point_selector));
    out.push(format!(
        "{:indent$}- {name} on {:#x}: {}",
        "",
        inv.contract_address,
        inv.execution_resources.l2_gas,
        indent = depth * 2
    ));
    for call in &inv.calls {
        walk(call, depth + 1, names, out);
    }
}

fn selector_names() -> Vec<(Felt, &'static str)> {
    use starknet::core::utils::get_selector_from_name as s;
    [
        "__validate__",
        "__execute__",
        "execute_from_outside_v2",
        "transfer",
    ]
    .into_iter()
    .filter_map(|n| s(n).ok().map(|sel| (sel, n)))
    .collect()
}

/// The breakdown of one relayed session transfer (row (e)), as a note.
pub async fn session_transfer(paths: &Paths) -> Result<String> {
    let relayed = paths.session_relayed().await?;
    of(paths, "(e)", &relayed).await
}

/// The breakdown of a granted session's first transfer (row (s)), as a note.
pub async fn granted_first_use(paths: &Paths) -> Result<String> {
    let (first_use, _) = paths.grant_then_use().await?;
    of(paths, "(s)", &first_use).await
}

/// The breakdown of the relayed transaction `relayed` of row `label`.
async fn of(paths: &Paths, label: &str, relayed: &Relayed) -> Result<String> {
    let Relayed::Ok(receipt) = relayed else {
        bail!("the {label} transaction failed: {relayed:?}");
    };
    let hash = *receipt.receipt.transaction_hash();
    let provider = paths.fixture.devnet.provider();
    let trace = provider.trace_transaction(hash).await.context("trace")?;
    let TransactionTrace::Invoke(trace) = trace else {
        bail!("not an invoke trace");
    };
    let names = selector_names();
    let mut lines = Vec::new();
    let mut invoked = 0;
    let top = [
        trace.validate_invocation.as_ref(),
        match &trace.execute_invocation {
            ExecuteInvocation::Success(inv) => Some(inv),
            ExecuteInvocation::Reverted(_) => None,
        },
        trace.fee_transfer_invocation.as_ref(),
    ];
    for inv in top.into_iter().flatten() {
        invoked += inv.execution_resources.l2_gas;
        walk(inv, 1, &names, &mut lines);
    }
    let Transaction::Invoke(InvokeTransaction::V3(tx)) =
        provider.get_transaction_by_hash(hash, None).await?
    else {
        bail!("not an INVOKE v3");
    };
    let data = (tx.calldata.len() + tx.signature.len()) as u64 * GAS_PER_DATA_FELT;
    let events: u64 = receipt
        .receipt
        .events()
        .iter()
        .map(|e| (e.keys.len() as u64 * EVENT_KEY_FACTOR + e.data.len() as u64) * GAS_PER_DATA_FELT)
        .sum();
    let total = relayed.l2_gas().unwrap_or_default();
    let rest = total.saturating_sub(invoked + data + events);
    Ok(format!(
        "Breakdown of {label}, L2 gas {total} (trace invocations, then what the transaction carries):\n\n{}\n\
         - calldata {} felts + signature {} felts at {GAS_PER_DATA_FELT} each: {data}\n\
         - events (keys x{EVENT_KEY_FACTOR} + data, at {GAS_PER_DATA_FELT} a felt): {events}\n\
         - the rest, the protocol's per-transaction work (OS steps, new storage slots at \
         {NEW_SLOT_GAS} each): {rest}",
        lines.join("\n"),
        tx.calldata.len(),
        tx.signature.len(),
    ))
}
