//! Settlement: a transaction in a block has its actual fee split among the executions it
//! carried and booked once against their keys' budgets, replacing what was reserved.
//!
//! Before sending, each of a transaction's `n` executions reserves an equal share of its
//! maximum fee: `⌈max_fee / n⌉ + 1` FRI (the shares cover the whole maximum).
//!
//! After inclusion ([`Attribution::Weights`]), each execution pays in proportion to its
//! weight — the L2 gas its own calls used, read from the transaction's trace — so the relayer's
//! validation and the transaction's fixed costs are shared in the same proportion. Shares are
//! rounded down and the few FRI left over (fewer than the number of executions) go one each to
//! the first executions, so the charges add up to the fee exactly. No execution pays more than
//! it reserved: what a capped share leaves over is spread over the others, in proportion to
//! their weights. A node that keeps no traces splits equally.
//!
//! A reverted transaction ([`Attribution::Culprits`]) carried nobody: a revert rolls back every
//! execution in it. The execution that made it revert pays its whole fee — even beyond what it
//! reserved, so its key may end the day over its budget by at most that fee — and the others
//! pay nothing for it (they pay for the transaction that carries them later). Which execution
//! it was is read from the revert reason's call frames ([`failing_call`]), the part of the
//! reason the node writes before anything a user's call can produce; when that names several
//! executions (or none), the engine asks the node which of them still fails alone, and failing
//! that, those named share the fee equally.
//!
//! This module books; what it needs from the chain (traces, which execution still fails) the
//! engine's tracker reads and hands over.

use stark_sessions_abi::{CairoSerde, Call, Felt};
use starknet::core::types::{ExecuteInvocation, TransactionTrace};

use crate::error::PaymasterError;
use crate::lifecycle::TxState;
use crate::store::{Settlement, Store, TxRecord};

/// How a transaction's fee is divided among the executions it carried (by position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// In proportion to these weights (one per execution; a zero weight counts as one),
    /// capped by what each reserved.
    Weights(Vec<u128>),
    /// The transaction reverted and these executions made it revert: they pay its fee in
    /// equal parts, the others nothing. (Empty: all of them.)
    Culprits(Vec<usize>),
}

impl Attribution {
    /// Equal shares among `n` executions.
    pub fn equal(n: usize) -> Self {
        Attribution::Weights(vec![1; n])
    }
}

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

/// What each of `n` executions is charged of `fee`, given what each reserved (`caps`); the
/// charges add up to `fee`.
pub fn charges(fee: u128, attribution: &Attribution, caps: &[u128]) -> Vec<u128> {
    let n = caps.len();
    match attribution {
        Attribution::Weights(weights) => split_fee_capped(fee, weights, caps),
        Attribution::Culprits(culprits) => {
            let mut culprits: Vec<usize> = culprits.iter().copied().filter(|i| *i < n).collect();
            if culprits.is_empty() {
                culprits = (0..n).collect();
            }
            let mut out = vec![0u128; n];
            for (i, share) in culprits
                .iter()
                .zip(split_fee(fee, &vec![1; culprits.len()]))
            {
                out[*i] = share;
            }
            out
        }
    }
}

/// What each of `n` executions reserves of a transaction whose fee may reach `max_fee`.
pub fn reservation_shares(max_fee: u128, n: usize) -> Vec<u128> {
    let n = n.max(1) as u128;
    vec![max_fee.div_ceil(n).saturating_add(1); n as usize]
}

/// The L2 gas of each execution's calls in an included transaction's trace; `None` if the
/// trace does not show them (reverted, or not the expected calls).
pub fn weights_from_trace(trace: &TransactionTrace, calls_per_item: &[usize]) -> Option<Vec<u128>> {
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

/// The relayer calls of each execution a transaction carried, from the store (an execution
/// the store no longer has counts as one call to nothing).
pub(crate) fn calls_of(store: &dyn Store, tx: &TxRecord) -> Result<Vec<Vec<Call>>, PaymasterError> {
    tx.items
        .iter()
        .map(|item| match store.execution(item.tracking_id)? {
            Some(record) => Vec::<Call>::from_felts(&record.calls)
                .map_err(|e| PaymasterError::Unknown(format!("storage: calls: {e}"))),
            None => Ok(vec![Call {
                to: Felt::ZERO,
                selector: Felt::ZERO,
                calldata: Vec::new(),
            }]),
        })
        .collect()
}

/// The lines a node writes before the call frames of a revert reason.
const HEADERS: [&str; 2] = [
    "Transaction execution has failed:",
    "Execution failed. Failure reason:",
];

/// The contract address and selector of one call-frame line of a revert reason, in either of
/// the two forms nodes write (`0: Error in the called contract (…):` and
/// `Error in contract (…):`); `None` for any other line.
fn frame(line: &str) -> Option<(Felt, Option<Felt>)> {
    let unnumbered = match line.split_once(": ") {
        Some((depth, rest)) if !depth.is_empty() && depth.bytes().all(|b| b.is_ascii_digit()) => {
            rest
        }
        _ => line,
    };
    let inside = [
        "Error in contract (",
        "Error in the called contract (",
        "Error in a library call (",
        "Error in the contract class constructor (",
    ]
    .iter()
    .find_map(|p| unnumbered.strip_prefix(p))?
    .strip_suffix("):")?;
    let mut fields = inside.split(", ");
    let address = fields.next()?.strip_prefix("contract address: ")?;
    let class = fields.next()?.strip_prefix("class hash: ")?;
    let selector = fields.next()?.strip_prefix("selector: ")?;
    if fields.next().is_some() || (class != "_" && hex_felt(class).is_none()) {
        return None;
    }
    let selector = match selector {
        "UNKNOWN" => None,
        s => Some(hex_felt(s)?),
    };
    Some((hex_felt(address)?, selector))
}

fn hex_felt(s: &str) -> Option<Felt> {
    let digits = s.strip_prefix("0x")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Felt::from_hex(s).ok()
}

/// The call that made a relayer transaction revert, read from its revert reason: the
/// contract address (and selector, if written) of the first call frame that is not the
/// relayer's own. Only the lines before anything else are read — the headers and call frames
/// the node writes from the transaction's call stack; the failure reason that follows (which
/// a user's call chooses) never is. `None` if those lines name no such call.
pub fn failing_call(reason: &str, relayer: Felt) -> Option<(Felt, Option<Felt>)> {
    for line in reason.lines().map(str::trim_end) {
        if HEADERS.contains(&line) {
            continue;
        }
        let (address, selector) = frame(line)?;
        if address != relayer {
            return Some((address, selector));
        }
    }
    None
}

/// The executions (by position) that may have made a transaction revert: those with a call to
/// the failing call's contract; all of them when it is unknown or matches none.
pub fn suspects(calls: &[Vec<Call>], failing: Option<(Felt, Option<Felt>)>) -> Vec<usize> {
    let all = || (0..calls.len()).collect();
    let Some((address, selector)) = failing else {
        return all();
    };
    let named: Vec<usize> = (0..calls.len())
        .filter(|i| {
            calls[*i]
                .iter()
                .any(|c| c.to == address && selector.is_none_or(|s| s == c.selector))
        })
        .collect();
    if named.is_empty() {
        all()
    } else {
        named
    }
}

/// Books an included or reverted transaction by `attribution` (once; a second call books
/// nothing). A reverted bundle's executions are queued again, each to go alone: a revert rolls
/// back every execution in the transaction, including their SNIP-9 nonces.
pub(crate) fn book(
    store: &dyn Store,
    tx: &TxRecord,
    attribution: &Attribution,
) -> Result<Settlement, PaymasterError> {
    let fee = tx.actual_fee.unwrap_or_default();
    let ledger = store.transaction_ledger(tx.hash)?;
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
    let charged: Vec<(Felt, u128)> = tx
        .items
        .iter()
        .map(|i| i.tracking_id)
        .zip(charges(fee, attribution, &caps))
        .collect();
    let requeue = tx.state == TxState::Reverted && tx.items.len() > 1;
    store.settle_transaction(tx.hash, &charged, requeue)
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

    #[test]
    fn a_revert_is_paid_by_the_execution_that_made_it_and_by_nobody_else() {
        let reserved = reservation_shares(150, 3);
        // More than the culprit reserved: it pays all the same, the others nothing.
        assert_eq!(
            charges(120, &Attribution::Culprits(vec![1]), &reserved),
            vec![0, 120, 0]
        );
        assert_eq!(
            charges(7, &Attribution::Culprits(vec![0, 2]), &reserved),
            vec![4, 0, 3]
        );
        // Nobody named (or out of range): all of them, equally.
        for unknown in [vec![], vec![9]] {
            let shares = charges(10, &Attribution::Culprits(unknown), &reserved);
            assert_eq!(shares, vec![4, 3, 3]);
        }
        let weighted = charges(100, &Attribution::Weights(vec![8, 1, 1]), &reserved);
        assert_eq!(weighted, vec![51, 25, 24]);
    }

    fn frame_line(address: Felt, selector: Felt) -> String {
        format!(
            "Error in contract (contract address: {address:#066x}, class hash: {:#066x}, selector: {selector:#066x}):",
            Felt::from(0xc1a55u32)
        )
    }

    /// A revert reason as a node writes it: the relayer's entry point, then the call stack
    /// down to the failing call, then the failure reason.
    fn revert_reason(relayer: Felt, stack: &[(Felt, Felt)], failure: &str) -> String {
        let mut lines = vec![
            "Transaction execution has failed:".to_owned(),
            format!(
                "0: Error in the called contract (contract address: {relayer:#066x}, class hash: {:#066x}, selector: {:#066x}):",
                Felt::from(0xc1a55u32),
                Felt::from(0xe7u8)
            ),
            "Execution failed. Failure reason:".to_owned(),
            frame_line(relayer, Felt::from(0xe7u8)),
        ];
        lines.extend(stack.iter().map(|(a, s)| frame_line(*a, *s)));
        lines.push(failure.to_owned());
        lines.join("\n") + ".\n"
    }

    #[test]
    fn the_failing_call_is_read_from_the_frames_the_node_writes_not_from_the_failure_reason() {
        let (relayer, alice, bob, target) = (
            Felt::from(0x4e1u32),
            Felt::from(0xa11cu32),
            Felt::from(0xb0bu32),
            Felt::from(0x7a4u32),
        );
        let outside = Felt::from(0x0e0u32);
        let reason = revert_reason(
            relayer,
            &[(alice, outside), (target, Felt::ONE)],
            "0x6f7574736964652f6e6f6e63652d75736564 ('outside/nonce-used')",
        );
        assert_eq!(failing_call(&reason, relayer), Some((alice, Some(outside))));

        // A failure reason that imitates a frame naming bob: the frames above it still name
        // alice, and a reason without frames (too long, or ambiguous) names nobody.
        let forged = format!("\"\n{}\"", frame_line(bob, outside));
        let reason = revert_reason(relayer, &[(alice, outside)], &forged);
        assert_eq!(failing_call(&reason, relayer), Some((alice, Some(outside))));
        let frameless = format!(
            "Transaction execution has failed:\nExecution failed. Failure reason:\n{forged}.\n"
        );
        assert_eq!(failing_call(&frameless, relayer), None);
        assert_eq!(failing_call("Insufficient max L2Gas", relayer), None);
        assert_eq!(failing_call("", relayer), None);
    }

    #[test]
    fn suspects_are_the_executions_calling_the_failing_contract() {
        let call = |to: u32, selector: u32| Call {
            to: Felt::from(to),
            selector: Felt::from(selector),
            calldata: vec![],
        };
        let calls = vec![
            vec![call(0xa, 0xe0)],
            vec![call(0xb, 0xe0)],
            vec![call(0xd, 0xde), call(0xa, 0xe0)],
        ];
        let failing = |to: u32| Some((Felt::from(to), Some(Felt::from(0xe0u32))));
        assert_eq!(suspects(&calls, failing(0xb)), vec![1]);
        assert_eq!(suspects(&calls, failing(0xa)), vec![0, 2]);
        assert_eq!(suspects(&calls, failing(0xf)), vec![0, 1, 2]);
        assert_eq!(suspects(&calls, None), vec![0, 1, 2]);
        assert_eq!(
            suspects(&calls, Some((Felt::from(0xdu8), None))),
            vec![2],
            "a frame without a selector matches by address"
        );
    }
}
