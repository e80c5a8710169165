//! The tracker: every transaction that may have reached the node is followed here until its
//! fee is booked or its executions are queued again. Its outcomes:
//! - a receipt: the outcome and fee are stored, then booked ([`crate::settlement`]) — a
//!   succeeded bundle by the L2 gas of each execution in its trace, a reverted one to the
//!   execution that made it revert;
//! - the node does not know the hash and the relayer's nonce is still free: the same signed
//!   bytes are sent again (not a new transaction);
//! - the node does not know the hash and the nonce was used by another transaction: it can
//!   never be included — dropped, its executions queued again (a resubmission, reserving
//!   budget like a first send);
//! - no answer: asked again later. Reads for booking (the trace, which execution still fails)
//!   are asked [`PATIENCE`] times, then booked without them (equal shares; a revert to every
//!   execution the revert reason names). Whether a transaction is in a block is asked for as
//!   long as the node does not answer: giving up could leave a fee paid and never booked, and
//!   a transaction followed holds nothing but its own reservations.

use std::sync::Arc;
use std::time::Duration;

use stark_sessions_abi::{Call, Felt};
use starknet::core::types::{
    BroadcastedInvokeTransaction, ExecutionResult, StarknetError, TransactionReceipt,
    TransactionReceiptWithBlockInfo,
};

use super::delivery::{deliver, known, Delivery};
use super::failpoint::{pass, Step};
use super::Core;
use crate::clock::unix_now;
use crate::error::PaymasterError;
use crate::lifecycle::TxState;
use crate::node_error::NodeError;
use crate::settlement::{self, Attribution};
use crate::store::TxRecord;

const FIRST_CHECK: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_secs(2);
/// Checks of one transaction during which the reads for booking it wait for the node.
pub(crate) const PATIENCE: u32 = 8;

/// Where following a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Nothing more to do for it.
    Done,
    /// Ask again later.
    Pending,
}

/// Follows `hash` in the background until it is done.
pub(crate) fn watch(core: &Arc<Core>, hash: Felt) {
    let task_core = core.clone();
    core.spawn(async move {
        let mut wait = FIRST_CHECK;
        for round in 0u32.. {
            tokio::time::sleep(wait).await;
            match check(&task_core, hash, false, round < PATIENCE).await {
                Ok(Progress::Done) => return,
                Ok(Progress::Pending) => {}
                Err(e) => {
                    tracing::warn!(tx = %format_args!("{hash:#x}"), error = %e, "will ask again")
                }
            }
            wait = (wait * 2).min(LONGEST_WAIT);
        }
    });
}

fn node(e: NodeError) -> PaymasterError {
    PaymasterError::Unknown(format!("node: {e}"))
}

/// Asks the node about one stored transaction and acts on the answer. `recovering`: the
/// transaction is from before a restart, so a hash the node does not know is looked into at
/// once. `patient`: reads for booking it may wait for the node.
pub(crate) async fn check(
    core: &Core,
    hash: Felt,
    recovering: bool,
    patient: bool,
) -> Result<Progress, PaymasterError> {
    let Some(tx) = core.store.transaction(hash)? else {
        return Ok(Progress::Done);
    };
    match tx.state {
        TxState::Included | TxState::Reverted => {
            settle(core, &tx, patient).await?;
            return Ok(Progress::Done);
        }
        TxState::Settled | TxState::Dropped => return Ok(Progress::Done),
        TxState::Signed | TxState::Sent => {}
    }
    match core.chain.receipt(hash).await {
        Ok(receipt) => {
            included(core, &tx, &receipt, patient).await?;
            Ok(Progress::Done)
        }
        Err(NodeError::Starknet(StarknetError::TransactionHashNotFound)) => {
            lost(core, &tx, recovering).await
        }
        Err(e) => Err(node(e)),
    }
}

/// Stores the outcome and fee, then books them.
async fn included(
    core: &Core,
    tx: &TxRecord,
    receipt: &TransactionReceiptWithBlockInfo,
    patient: bool,
) -> Result<(), PaymasterError> {
    let ids: Vec<Felt> = tx.items.iter().map(|i| i.tracking_id).collect();
    pass(&*core.hooks, Step::AfterInclusion, tx.hash, &ids).await;
    let fee = match &receipt.receipt {
        TransactionReceipt::Invoke(r) => u128::try_from(r.actual_fee.amount).unwrap_or(u128::MAX),
        _ => 0,
    };
    let (succeeded, reason) = match receipt.receipt.execution_result() {
        ExecutionResult::Succeeded => (true, None),
        ExecutionResult::Reverted { reason } => (false, Some(reason.as_str())),
    };
    core.store.record_outcome(tx.hash, succeeded, fee, reason)?;
    let Some(stored) = core.store.transaction(tx.hash)? else {
        return Ok(());
    };
    if stored.state == TxState::Dropped {
        tracing::error!(tx = %format_args!("{:#x}", tx.hash), "a transaction taken for dropped was included");
    }
    settle(core, &stored, patient).await
}

/// Books an included or reverted transaction (once), then queues a reverted bundle's
/// executions again.
async fn settle(core: &Core, tx: &TxRecord, patient: bool) -> Result<(), PaymasterError> {
    if !matches!(tx.state, TxState::Included | TxState::Reverted) {
        return Ok(());
    }
    let calls = settlement::calls_of(core.store.as_ref(), tx)?;
    let attribution = if tx.state == TxState::Included {
        weights(core, tx, &calls, patient).await?
    } else {
        Attribution::Culprits(culprits(core, tx, &calls, patient).await?)
    };
    let settled = settlement::book(core.store.as_ref(), tx, &attribution)?;
    if settled.booked {
        let fee = tx.actual_fee.unwrap_or_default();
        core.metrics.add_fee(fee);
        tracing::info!(
            tx = %format_args!("{:#x}", tx.hash),
            fee,
            executions = tx.items.len(),
            reverted = tx.state == TxState::Reverted,
            ?attribution,
            "settled"
        );
    }
    core.requeue(&settled.requeued)
}

/// The executions' weights: from the trace, else equal. A node that does not answer is an
/// error while `patient` (the tracker asks again); a node that has no trace is not.
async fn weights(
    core: &Core,
    tx: &TxRecord,
    calls: &[Vec<Call>],
    patient: bool,
) -> Result<Attribution, PaymasterError> {
    if tx.items.len() < 2 {
        return Ok(Attribution::equal(tx.items.len()));
    }
    let trace = match core.chain.trace(tx.hash).await {
        Ok(trace) => trace,
        Err(e @ NodeError::NoAnswer(_)) if patient => return Err(node(e)),
        Err(e) => {
            tracing::info!(tx = %format_args!("{:#x}", tx.hash), error = %e, "no trace; equal shares");
            return Ok(Attribution::equal(tx.items.len()));
        }
    };
    let per_item: Vec<usize> = calls.iter().map(Vec::len).collect();
    Ok(settlement::weights_from_trace(&trace, &per_item)
        .map_or_else(|| Attribution::equal(tx.items.len()), Attribution::Weights))
}

/// The executions that made a reverted transaction revert: those its revert reason names;
/// of several, the first that the node still refuses alone now; if none is, all of them. A
/// node that does not answer is an error while `patient` (the tracker asks again).
async fn culprits(
    core: &Core,
    tx: &TxRecord,
    calls: &[Vec<Call>],
    patient: bool,
) -> Result<Vec<usize>, PaymasterError> {
    let failing = settlement::failing_call(tx.reason.as_deref().unwrap_or_default(), tx.relayer);
    let suspects = settlement::suspects(calls, failing);
    if suspects.len() < 2 {
        return Ok(suspects);
    }
    let Some(relayer) = core.relayers.iter().find(|r| r.address() == tx.relayer) else {
        return Ok(suspects);
    };
    let nonce = match core.chain.nonce(relayer.address()).await {
        Ok(nonce) => nonce,
        Err(e) if patient => return Err(node(e)),
        Err(_) => return Ok(suspects),
    };
    for &i in &suspects {
        match core.chain.estimate(relayer, nonce, calls[i].clone()).await {
            Err(e) if e.is_execution_refusal() => return Ok(vec![i]),
            Err(e @ NodeError::NoAnswer(_)) if patient => return Err(node(e)),
            Ok(_) | Err(_) => {}
        }
    }
    Ok(suspects)
}

/// The node does not know the hash.
async fn lost(core: &Core, tx: &TxRecord, recovering: bool) -> Result<Progress, PaymasterError> {
    let waited = unix_now().saturating_sub(tx.sent_at);
    if tx.state == TxState::Sent && !recovering && waited < core.config.resubmit_after_secs {
        // A node may take a moment to show what it accepted.
        return Ok(Progress::Pending);
    }
    let relayer = core.relayers.iter().find(|r| r.address() == tx.relayer);
    let nonce = core.chain.nonce(tx.relayer).await.map_err(node)?;
    if nonce > tx.nonce {
        // Used by another transaction — unless ours landed between the two questions.
        if known(core, tx.hash).await != Some(false) {
            return Ok(Progress::Pending);
        }
        let reason = "its relayer nonce was used by another transaction";
        let requeued =
            core.store
                .drop_transaction(tx.hash, reason, true, core.config.max_resubmissions)?;
        if let Some(r) = relayer {
            r.request_resync();
        }
        core.metrics
            .resubmissions
            .fetch_add(requeued.len() as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(tx = %format_args!("{:#x}", tx.hash), executions = requeued.len(), "dropped; resubmitting");
        core.requeue(&requeued)?;
        return Ok(Progress::Done);
    }
    let request: BroadcastedInvokeTransaction = serde_json::from_str(&tx.request)
        .map_err(|e| PaymasterError::Unknown(format!("storage: transaction: {e}")))?;
    match deliver(core, &request, tx.hash).await {
        Delivery::Accepted => {
            tracing::info!(tx = %format_args!("{:#x}", tx.hash), "sent the same transaction again");
            core.store.mark_sent(tx.hash, unix_now())?;
            Ok(Progress::Pending)
        }
        Delivery::Rejected(error) => {
            let why = error.to_paymaster();
            let requeued =
                core.store
                    .drop_transaction(tx.hash, &why.to_string(), false, u32::MAX)?;
            if let Some(r) = relayer {
                r.request_resync();
            }
            // A refused transaction counts a try for its executions, as in the sender.
            core.requeue(&core.count_tries(&requeued, &why))?;
            Ok(Progress::Done)
        }
        Delivery::InDoubt => Ok(Progress::Pending),
    }
}
