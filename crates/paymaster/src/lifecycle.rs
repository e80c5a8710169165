//! The life cycle of a sponsored execution and of the relayer transactions that carry it.
//!
//! ```text
//!  accepted ─► queued ─► signed ─► sent ─► included ─┐
//!     │          ▲  │       │        │  └─► reverted ─┴─► settled
//!     │          │  │       └────────┴─► (transaction dropped or rejected: queued again)
//!     └──────────┴──┴─► failed (refused before anything was sent)        dropped (gave up)
//! ```
//!
//! Every state is stored before the side effect it guards: an execution is `accepted` (claimed
//! under its idempotency key, the account and its SNIP-9 nonce) before it is queued, `queued`
//! before a relayer takes it, `signed` — the relayer transaction's hash computed locally and
//! stored, with the budget reserved — before the transaction leaves the process, `included` or
//! `reverted` before the fee is booked. Start-up recovery walks every state that is not final
//! and asks the node about the stored hash.

use crate::api::TrackingStatus;

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionState {
    /// Validated and claimed under its idempotency key; nothing reserved yet.
    Accepted,
    /// Handed to the submission engine; waiting for a relayer.
    Queued,
    /// In a signed relayer transaction whose hash is stored; its share of the transaction's
    /// maximum fee is reserved. The node may or may not have the transaction.
    Signed,
    /// The node has acknowledged the transaction.
    Sent,
    /// The transaction is in a block and succeeded; its fee is not booked yet.
    Included,
    /// The transaction is in a block and reverted; its fee is not booked yet.
    Reverted,
    /// Final: the fee of the transaction it landed in (succeeded or reverted) is booked.
    Settled,
    /// Final: lost, and not sent again (resubmitted too often).
    Dropped,
    /// Final: refused before any transaction carrying it entered the chain (simulation,
    /// budget, fee cap, or its tries used up); nothing charged.
    Failed,
}

/// Every execution state, in life-cycle order.
pub const EXECUTION_STATES: [ExecutionState; 9] = [
    ExecutionState::Accepted,
    ExecutionState::Queued,
    ExecutionState::Signed,
    ExecutionState::Sent,
    ExecutionState::Included,
    ExecutionState::Reverted,
    ExecutionState::Settled,
    ExecutionState::Dropped,
    ExecutionState::Failed,
];

impl ExecutionState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Accepted => "accepted",
            ExecutionState::Queued => "queued",
            ExecutionState::Signed => "signed",
            ExecutionState::Sent => "sent",
            ExecutionState::Included => "included",
            ExecutionState::Reverted => "reverted",
            ExecutionState::Settled => "settled",
            ExecutionState::Dropped => "dropped",
            ExecutionState::Failed => "failed",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        EXECUTION_STATES
            .into_iter()
            .find(|state| state.as_str() == s)
    }

    /// Nothing more will happen to an execution in this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionState::Settled | ExecutionState::Dropped | ExecutionState::Failed
        )
    }

    /// What `paymaster_trackingIdToLatestHash` reports.
    pub fn tracking_status(self) -> TrackingStatus {
        match self {
            ExecutionState::Included | ExecutionState::Reverted | ExecutionState::Settled => {
                TrackingStatus::Accepted
            }
            ExecutionState::Dropped | ExecutionState::Failed => TrackingStatus::Dropped,
            _ => TrackingStatus::Active,
        }
    }
}

/// Where a relayer transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    /// Signed, its hash stored; not known to have reached the node.
    Signed,
    /// The node acknowledged it.
    Sent,
    /// In a block, succeeded; fee recorded, not yet split among its executions.
    Included,
    /// In a block, reverted; fee recorded, not yet split among its executions.
    Reverted,
    /// Final: its fee is booked to its executions.
    Settled,
    /// Final: it can never be included (the node refused it, or its relayer nonce was used by
    /// another transaction); its executions were queued again and its reservations released.
    Dropped,
}

/// Every transaction state, in life-cycle order.
pub const TX_STATES: [TxState; 6] = [
    TxState::Signed,
    TxState::Sent,
    TxState::Included,
    TxState::Reverted,
    TxState::Settled,
    TxState::Dropped,
];

impl TxState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            TxState::Signed => "signed",
            TxState::Sent => "sent",
            TxState::Included => "included",
            TxState::Reverted => "reverted",
            TxState::Settled => "settled",
            TxState::Dropped => "dropped",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        TX_STATES.into_iter().find(|state| state.as_str() == s)
    }

    /// Signed or sent: it may still be included.
    pub fn is_live(self) -> bool {
        matches!(self, TxState::Signed | TxState::Sent)
    }

    /// Where a transaction found in a block goes, with its executions: included or reverted.
    pub fn in_block(succeeded: bool) -> (TxState, ExecutionState) {
        if succeeded {
            (TxState::Included, ExecutionState::Included)
        } else {
            (TxState::Reverted, ExecutionState::Reverted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_stored_form() {
        for state in EXECUTION_STATES {
            assert_eq!(ExecutionState::parse(state.as_str()), Some(state));
        }
        for state in TX_STATES {
            assert_eq!(TxState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ExecutionState::parse("nope"), None);
        assert_eq!(TxState::parse("queued"), None);
    }

    #[test]
    fn only_landed_executions_report_accepted_and_only_given_up_ones_dropped() {
        let reported: Vec<_> = EXECUTION_STATES
            .iter()
            .map(|s| (s.as_str(), s.tracking_status(), s.is_final()))
            .collect();
        assert_eq!(
            reported,
            vec![
                ("accepted", TrackingStatus::Active, false),
                ("queued", TrackingStatus::Active, false),
                ("signed", TrackingStatus::Active, false),
                ("sent", TrackingStatus::Active, false),
                ("included", TrackingStatus::Accepted, false),
                ("reverted", TrackingStatus::Accepted, false),
                ("settled", TrackingStatus::Accepted, true),
                ("dropped", TrackingStatus::Dropped, true),
                ("failed", TrackingStatus::Dropped, true),
            ]
        );
    }
}
