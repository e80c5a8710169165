//! The tracker: every transaction that may have reached the node is followed here until its
//! fee is booked or its executions are queued again. Its outcomes:
//! - a receipt: the outcome and fee are stored, then booked (settlement);
//! - the node does not know the hash and the relayer's nonce is still free: the same signed
//!   bytes are sent again (not a new transaction);
//! - the node does not know the hash and the nonce was used by another transaction: it can
//!   never be included — dropped, its executions queued again (a resubmission, reserving
//!   budget like a first send);
//! - no answer: asked again later, for as long as it takes.

use std::sync::Arc;
use std::time::Duration;

use stark_sessions_abi::Felt;
use starknet::core::types::{
    BlockId, BlockTag, BroadcastedInvokeTransaction, ExecutionResult, StarknetError,
    TransactionReceipt, TransactionReceiptWithBlockInfo,
};
use starknet::providers::{Provider, ProviderError};

use super::delivery::{deliver, known, Delivery};
use super::failpoint::{pass, Step};
use super::Core;
use crate::error::PaymasterError;
use crate::lifecycle::TxState;
use crate::service::unix_now;
use crate::settlement::settle;
use crate::store::TxRecord;

const FIRST_CHECK: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_secs(2);

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
        loop {
            tokio::time::sleep(wait).await;
            match check(&task_core, hash, false).await {
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

fn node(e: ProviderError) -> PaymasterError {
    PaymasterError::Unknown(format!("node: {e}"))
}

/// Asks the node about one stored transaction and acts on the answer. `recovering`: the
/// transaction is from before a restart, so a hash the node does not know is looked into at
/// once.
pub(crate) async fn check(
    core: &Core,
    hash: Felt,
    recovering: bool,
) -> Result<Progress, PaymasterError> {
    let Some(tx) = core.store.transaction(hash)? else {
        return Ok(Progress::Done);
    };
    match tx.state {
        TxState::Included | TxState::Reverted => {
            settle(core, &tx).await?;
            return Ok(Progress::Done);
        }
        TxState::Settled | TxState::Dropped => return Ok(Progress::Done),
        TxState::Signed | TxState::Sent => {}
    }
    match core.provider.get_transaction_receipt(hash).await {
        Ok(receipt) => {
            included(core, &tx, &receipt).await?;
            Ok(Progress::Done)
        }
        Err(ProviderError::StarknetError(StarknetError::TransactionHashNotFound)) => {
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
    settle(core, &stored).await
}

/// The node does not know the hash.
async fn lost(core: &Core, tx: &TxRecord, recovering: bool) -> Result<Progress, PaymasterError> {
    let waited = unix_now().saturating_sub(tx.sent_at);
    if tx.state == TxState::Sent && !recovering && waited < core.config.resubmit_after_secs {
        // A node may take a moment to show what it accepted.
        return Ok(Progress::Pending);
    }
    let relayer = core.relayers.iter().find(|r| r.address() == tx.relayer);
    let nonce = core
        .provider
        .get_nonce(BlockId::Tag(BlockTag::PreConfirmed), tx.relayer)
        .await
        .map_err(node)?;
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
        Delivery::Rejected { error, .. } => {
            let requeued =
                core.store
                    .drop_transaction(tx.hash, &error.to_string(), false, u32::MAX)?;
            if let Some(r) = relayer {
                r.request_resync();
            }
            core.requeue(&requeued)?;
            Ok(Progress::Done)
        }
        Delivery::InDoubt => Ok(Progress::Pending),
    }
}
