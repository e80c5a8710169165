//! Settlement: a transaction in a block has its actual fee split among the executions it
//! carried and booked once against their keys' budgets, replacing what was reserved.
//!
//! The split rule: each execution pays in proportion to its weight — the L2 gas its own calls
//! used in the transaction's simulation — so the relayer's validation and the transaction's
//! fixed costs are shared in the same proportion. Shares are rounded down and the few FRI left
//! over (fewer than the number of executions) go one each to the first executions, so the
//! shares add up to the fee exactly. A reservation is the same proportion of the maximum fee,
//! rounded up, plus one FRI: no share of a fee within the bounds can exceed it.

use stark_sessions_abi::Felt;

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

fn total_weight(weights: &[u128]) -> u128 {
    weights
        .iter()
        .map(|w| (*w).max(1))
        .fold(0u128, u128::saturating_add)
}

/// Splits `fee` among items of these weights (a zero weight counts as one); the shares add
/// up to `fee`.
pub fn split_fee(fee: u128, weights: &[u128]) -> Vec<u128> {
    let total = total_weight(weights);
    if total == 0 {
        return Vec::new();
    }
    let mut shares: Vec<u128> = weights
        .iter()
        .map(|w| mul_div(fee, (*w).max(1), total))
        .collect();
    let mut left = fee.saturating_sub(shares.iter().fold(0u128, |a, s| a.saturating_add(*s)));
    let n = shares.len();
    let mut i = 0;
    while left > 0 {
        shares[i % n] += 1;
        left -= 1;
        i += 1;
    }
    shares
}

/// What to reserve for each item of a transaction whose fee may reach `max_fee`: never less
/// than the item's [`split_fee`] share of any fee up to `max_fee`.
pub fn reservation_shares(max_fee: u128, weights: &[u128]) -> Vec<u128> {
    let total = total_weight(weights);
    weights
        .iter()
        .map(|w| {
            let w = (*w).max(1);
            let floor = mul_div(max_fee, w, total);
            let exact = floor.saturating_mul(total) == max_fee.saturating_mul(w);
            floor.saturating_add(u128::from(!exact)).saturating_add(1)
        })
        .collect()
}

/// Books an included or reverted transaction (once; a second call books nothing). A reverted
/// bundle's executions are queued again, each to go alone: a revert rolls back every
/// execution in the transaction, including their SNIP-9 nonces.
pub(crate) fn settle(core: &Core, tx: &TxRecord) -> Result<(), PaymasterError> {
    let fee = tx.actual_fee.unwrap_or_default();
    let weights: Vec<u128> = tx.items.iter().map(|i| i.weight).collect();
    let charges: Vec<(Felt, u128)> = tx
        .items
        .iter()
        .map(|i| i.tracking_id)
        .zip(split_fee(fee, &weights))
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
    fn a_reservation_covers_the_share_of_any_fee_within_the_bounds() {
        let weights = [1_523_001, 1_499_870, 2_010_555, 7];
        let max = 4_567_890_123_457u128;
        let reserved = reservation_shares(max, &weights);
        for fee in [0, 1, max / 3, max - 1, max] {
            for (share, cap) in split_fee(fee, &weights).iter().zip(&reserved) {
                assert!(share <= cap, "fee {fee}: share {share} over {cap}");
            }
        }
        // Never much more than the proportional share.
        let total: u128 = reserved.iter().sum();
        assert!(total <= max + 2 * weights.len() as u128);
    }
}
