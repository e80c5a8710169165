//! Recovery: every state a previous holder left unfinished is walked before it is used again.
//!
//! - waiting (`accepted` / `queued`) executions that no live instance holds — at start, also
//!   those this instance held in a previous run — are adopted: reservations that no
//!   transaction uses are released and the executions queued here;
//! - when this instance takes a relayer (at start, or over from an instance whose lease
//!   expired), that relayer's unfinished transactions, before its sender uses it:
//!   - `signed` / `sent`: the node is asked about the stored hash — a receipt is booked; an
//!     unknown hash whose relayer nonce is free is sent again with the same bytes; an unknown
//!     hash whose nonce was used by another transaction is dropped and its executions queued
//!     again; no answer leaves it to the tracker;
//!   - `included` / `reverted`: their fee is booked.

use std::sync::Arc;

use stark_sessions_abi::Felt;

use super::queue::Job;
use super::tracker::{self, Progress};
use super::Core;
use crate::clock::now_ms;
use crate::error::PaymasterError;
use crate::lifecycle::TxState;

/// What recovery found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Executions queued again that had no live transaction.
    pub requeued: usize,
    /// Transactions looked into (signed, sent, or in a block but not booked).
    pub transactions: usize,
    /// Of those, the ones the node gave no final answer about yet (left to the tracker).
    pub still_pending: usize,
}

impl RecoveryReport {
    /// Adds what another recovery found.
    pub fn add(&mut self, other: RecoveryReport) {
        self.requeued += other.requeued;
        self.transactions += other.transactions;
        self.still_pending += other.still_pending;
    }

    /// Logs it, unless nothing was found.
    pub(crate) fn log(&self) {
        if *self != RecoveryReport::default() {
            tracing::info!(
                requeued = self.requeued,
                transactions = self.transactions,
                still_pending = self.still_pending,
                "recovered"
            );
        }
    }
}

/// Adopts the waiting executions that no live instance holds (`at_start`: also those this
/// instance held before it started again) and queues them; returns how many.
pub(crate) fn adopt(core: &Core, at_start: bool) -> Result<usize, PaymasterError> {
    let adopted = core
        .store
        .adopt_waiting(&core.instance, now_ms(), at_start)?;
    for record in &adopted {
        core.queue.push(Job::from_record(record)?);
    }
    Ok(adopted.len())
}

/// Looks into `relayer`'s unfinished transactions.
pub(crate) async fn recover_relayer(
    core: &Arc<Core>,
    relayer: Felt,
) -> Result<RecoveryReport, PaymasterError> {
    let mut report = RecoveryReport::default();
    let unfinished = core.store.transactions_in(&[
        TxState::Signed,
        TxState::Sent,
        TxState::Included,
        TxState::Reverted,
    ])?;
    for tx in unfinished.into_iter().filter(|t| t.relayer == relayer) {
        report.transactions += 1;
        match tracker::check(core, tx.hash, true, true).await {
            Ok(Progress::Done) => {}
            Ok(Progress::Pending) | Err(_) => {
                report.still_pending += 1;
                tracker::watch(core, tx.hash);
            }
        }
    }
    Ok(report)
}
