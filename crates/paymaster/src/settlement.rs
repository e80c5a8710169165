//! Settlement: a transaction in a block has its actual fee split among the executions it
//! carried and booked once against their keys' budgets, replacing what was reserved.
//!
//! Before sending, each of a transaction's `n` executions reserves an equal share of its
//! maximum fee: `⌈max_fee / n⌉ + 1` FRI (the shares cover the whole maximum).
//!
//! After inclusion, each execution pays in proportion to its weight — the L2 gas its own calls
//! used, read from the transaction's trace — so the relayer's validation and the
//! transaction's fixed costs are shared in the same proportion. Shares are rounded down and
//! the few FRI left over (fewer than the number of executions) go one each to the first
//! executions, so the charges add up to the fee exactly. No execution pays more than it
//! reserved: what a capped share leaves over is spread over the others, in proportion to
//! their weights. A reverted transaction (no trace of its calls) or a node that keeps no
//! traces splits equally.

use stark_sessions_abi::Felt;
use starknet::core::types::{ExecuteInvocation, StarknetError, TransactionTrace};
use starknet::providers::{Provider, ProviderError};

use crate::engine::Core;
use crate::error::PaymasterError;
use crate::lifecycle::TxState;
use crate::store::TxRecord;

/// `a * b / c`, rounded down, without overflowing where the result fits (`c > 0`).
fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    match a.checked_mul(b) {
        Some(product) => product / c,
        None => (a / c)
            .saturating_mul(b)
            .saturating_add((a % c).saturating_mul(b) / c),
    }
}

/// Splits `fee` among items of these weights (a zero weight counts as one); the shares add
/// up to `fee`.
pub fn split_fee(fee: u128, weights: &[u128]) -> Vec<u128> {
    let total = weights
        .iter()
        .map(|w| (*w).max(1))
        .fold(0u128, u128::saturating_add);
    if total == 0 {
        return Vec::new();
    }
    let mut shares: Vec<u128> = weights
        .iter()
        .map(|w| mul_div(fee, (*w).max(1), total))
        .collect();
    let given = shares.iter().fold(0u128, |a, s| a.saturating_add(*s));
    let n = shares.len();
    for i in 0..fee.saturating_sub(given) {
        shares[(i % n as u128) as usize] += 1;
    }
    shares
}

/// [`split_fee`], with no share above its cap: a capped share's excess goes to the others in
/// proportion to their weights, round after round (each round caps at least one more item or
/// places everything). If the caps add up to less than the fee, the last item takes the rest.
pub fn split_fee_capped(fee: u128, weights: &[u128], caps: &[u128]) -> Vec<u128> {
    let n = weights.len().min(caps.len());
    let mut charges = vec![0u128; n];
    let mut remaining = fee;
    let mut open: Vec<usize> = (0..n).filter(|i| caps[*i] > 0).collect();
    while remaining > 0 && !open.is_empty() {
        let portions = split_fee(
            remaining,
            &open.iter().map(|i| weights[*i]).collect::<Vec<_>>(),
        );
        for (i, portion) in open.iter().zip(portions) {
            let take = portion.min(caps[*i] - charges[*i]);
            charges[*i] += take;
            remaining -= take;
        }
        open.retain(|i| charges[*i] < caps[*i]);
    }
    if let Some(last) = charges.last_mut() {
        *last = last.saturating_add(remaining);
    }
    charges
}

/// What each of `n` executions reserves of a transaction whose fee may reach `max_fee`.
pub fn reservation_shares(max_fee: u128, n: usize) -> Vec<u128> {
    let n = n.max(1) as u128;
    vec![max_fee.div_ceil(n).saturating_add(1); n as usize]
}

/// The L2 gas of each execution's calls in an included transaction's trace; `None` if the
/// trace does not show them (reverted, or not the expected calls).
fn weights_from_trace(trace: &TransactionTrace, calls_per_item: &[usize]) -> Option<Vec<u128>> {
    let TransactionTrace::Invoke(invoke) = trace else {
        return None;
    };
    let ExecuteInvocation::Success(execution) = &invoke.execute_invocation else {
        return None;
    };
    if execution.calls.len() != calls_per_item.iter().sum::<usize>() {
        return None;
    }
    let mut gas = execution
        .calls
        .iter()
        .map(|c| u128::from(c.execution_resources.l2_gas));
    Some(
        calls_per_item
            .iter()
            .map(|n| gas.by_ref().take(*n).sum::<u128>())
            .collect(),
    )
}

/// The executions' weights: from the trace, else equal. An unreachable node is an error (the
/// tracker asks again); a node that has no trace is not.
async fn weights(core: &Core, tx: &TxRecord) -> Result<Vec<u128>, PaymasterError> {
    let equal = vec![1; tx.items.len()];
    if tx.items.len() < 2 || tx.state != TxState::Included {
        return Ok(equal);
    }
    let trace = match core.provider.trace_transaction(tx.hash).await {
        Ok(trace) => trace,
        Err(ProviderError::StarknetError(e)) => {
            let e: StarknetError = e;
            tracing::info!(tx = %format_args!("{:#x}", tx.hash), error = %e, "no trace; equal shares");
            return Ok(equal);
        }
        Err(e) => return Err(PaymasterError::Unknown(format!("node: {e}"))),
    };
    let mut calls_per_item = Vec::with_capacity(tx.items.len());
    for item in &tx.items {
        let record = core.store.execution(item.tracking_id)?;
        let calls = record
            .map(|r| crate::engine::queue::Job::from_record(&r).map(|j| j.calls.len()))
            .transpose()?
            .unwrap_or(1);
        calls_per_item.push(calls);
    }
    Ok(weights_from_trace(&trace, &calls_per_item).unwrap_or(equal))
}

/// Books an included or reverted transaction (once; a second call books nothing). A reverted
/// bundle's executions are queued again, each to go alone: a revert rolls back every
/// execution in the transaction, including their SNIP-9 nonces.
pub(crate) async fn settle(core: &Core, tx: &TxRecord) -> Result<(), PaymasterError> {
    let fee = tx.actual_fee.unwrap_or_default();
    let weights = weights(core, tx).await?;
    let ledger = core.store.transaction_ledger(tx.hash)?;
    let caps: Vec<u128> = tx
        .items
        .iter()
        .map(|i| {
            ledger
                .iter()
                .find(|l| l.tracking_id == i.tracking_id)
                .map_or(0, |l| l.reserved_fri)
        })
        .collect();
    let charges: Vec<(Felt, u128)> = tx
        .items
        .iter()
        .map(|i| i.tracking_id)
        .zip(split_fee_capped(fee, &weights, &caps))
        .collect();
    let requeue = tx.state == TxState::Reverted && tx.items.len() > 1;
    let settled = core.store.settle_transaction(tx.hash, &charges, requeue)?;
    if settled.booked {
        core.metrics.add_fee(fee);
        tracing::info!(
            tx = %format_args!("{:#x}", tx.hash),
            fee,
            executions = tx.items.len(),
            reverted = tx.state == TxState::Reverted,
            "settled"
        );
    }
    core.requeue(&settled.requeued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_the_weights_and_add_up_to_the_fee() {
        assert_eq!(split_fee(100, &[1, 1, 2]), vec![25, 25, 50]);
        assert_eq!(split_fee(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(split_fee(7, &[0, 0]), vec![4, 3]);
        assert_eq!(split_fee(0, &[5, 5]), vec![0, 0]);
        assert!(split_fee(9, &[]).is_empty());
        let big = split_fee(u128::MAX / 3, &[3_000_000, 1_000_000]);
        assert_eq!(big.iter().sum::<u128>(), u128::MAX / 3);
    }

    #[test]
    fn no_share_exceeds_what_was_reserved() {
        // The heavy item would pay 80 of 100 but reserved 51: the rest goes to the others.
        let reserved = reservation_shares(150, 3);
        assert_eq!(reserved, vec![51, 51, 51]);
        let charges = split_fee_capped(100, &[8, 1, 1], &reserved);
        assert_eq!(charges, vec![51, 25, 24]);
        assert_eq!(
            split_fee_capped(100, &[1, 1, 2], &reserved),
            vec![25, 25, 50]
        );
        for fee in [0, 1, 99, 152, 153] {
            let charges = split_fee_capped(fee, &[3, 1_000, 7], &reserved);
            assert_eq!(charges.iter().sum::<u128>(), fee);
            assert!(
                charges.iter().zip(&reserved).all(|(c, r)| c <= r),
                "{fee}: {charges:?}"
            );
        }
    }

    #[test]
    fn reservations_cover_the_maximum_fee() {
        for (max, n) in [(100u128, 3usize), (1, 4), (0, 1), (4_567_890_123_457, 16)] {
            let shares = reservation_shares(max, n);
            assert_eq!(shares.len(), n);
            assert!(shares.iter().sum::<u128>() >= max);
        }
    }
}
