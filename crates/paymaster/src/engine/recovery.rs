//! Start-up recovery: every state a previous run left unfinished is walked before the senders
//! start.
//!
//! - `accepted` / `queued` executions: reservations that no transaction uses are released and
//!   the executions queued again;
//! - `signed` / `sent` transactions: the node is asked about the stored hash — a receipt is
//!   booked; an unknown hash whose relayer nonce is free is sent again with the same bytes; an
//!   unknown hash whose nonce was used by another transaction is dropped and its executions
//!   queued again; no answer leaves it to the tracker;
//! - `included` / `reverted` transactions: their fee is booked.

use std::sync::Arc;

use stark_sessions_abi::Felt;

use super::queue::Job;
use super::tracker::{self, Progress};
use super::Core;
use crate::error::PaymasterError;
use crate::lifecycle::{ExecutionState, TxState};
use crate::service::unix_now;

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

pub(crate) async fn recover(core: &Arc<Core>) -> Result<RecoveryReport, PaymasterError> {
    let mut report = RecoveryReport::default();
    // Waiting executions first: transactions dropped below queue theirs themselves.
    let waiting = core
        .store
        .executions_in(&[ExecutionState::Accepted, ExecutionState::Queued])?;
    let ids: Vec<Felt> = waiting.iter().map(|r| r.id).collect();
    core.store.release_unlinked(&ids)?;
    for record in &waiting {
        if record.state == ExecutionState::Accepted {
            core.store.mark_queued(record.id, unix_now())?;
        }
        core.queue.push(Job::from_record(record)?);
    }
    report.requeued = waiting.len();

    let unfinished = core.store.transactions_in(&[
        TxState::Signed,
        TxState::Sent,
        TxState::Included,
        TxState::Reverted,
    ])?;
    for tx in unfinished {
        report.transactions += 1;
        match tracker::check(core, tx.hash, true).await {
            Ok(Progress::Done) => {}
            Ok(Progress::Pending) | Err(_) => {
                report.still_pending += 1;
                tracker::watch(core, tx.hash);
            }
        }
    }
    if report != RecoveryReport::default() {
        tracing::info!(
            requeued = report.requeued,
            transactions = report.transactions,
            still_pending = report.still_pending,
            "recovered"
        );
    }
    Ok(report)
}
