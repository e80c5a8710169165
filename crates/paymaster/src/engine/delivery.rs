//! Handing a signed transaction to the node, when the answer may be lost.
//!
//! A send that fails without a definite answer from the node — a timeout, a reset connection,
//! a 5xx, a body that is not JSON-RPC — is *in doubt*: the node may have the transaction. It is
//! never taken for "not sent": the node is asked about the stored hash, and the same signed
//! bytes are sent again only while the node does not know them. Sending the same bytes twice
//! cannot execute twice: they carry the same relayer nonce.

use std::time::Duration;

use stark_sessions_abi::Felt;
use starknet::core::types::{BroadcastedInvokeTransaction, StarknetError};

use super::Core;
use crate::metrics::Metrics;
use crate::node_error::NodeError;

/// Sends of one transaction before doubt is left to the tracker.
const ATTEMPTS: u32 = 4;

/// How a delivery ended.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// The node has the transaction.
    Accepted,
    /// The node refused it (and does not know its hash): it can never be included. What the
    /// refusal says of the relayer's nonce is for the caller to check against the node.
    Rejected(NodeError),
    /// No definite answer: the tracker keeps asking.
    InDoubt,
}

/// What a failed send means.
enum Judgement {
    Known,
    Refused(NodeError),
    InDoubt(String),
}

fn judge(e: NodeError) -> Judgement {
    match e {
        NodeError::Starknet(StarknetError::DuplicateTx) => Judgement::Known,
        NodeError::Starknet(
            e @ (StarknetError::UnexpectedError(_) | StarknetError::FailedToReceiveTransaction),
        ) => Judgement::InDoubt(e.to_string()),
        refused @ NodeError::Starknet(_) => Judgement::Refused(refused),
        NodeError::NoAnswer(why) => Judgement::InDoubt(why),
    }
}

/// Whether the node knows `hash`: `None` when it did not answer.
pub(crate) async fn known(core: &Core, hash: Felt) -> Option<bool> {
    match core.chain.status(hash).await {
        Ok(()) => Some(true),
        Err(NodeError::Starknet(StarknetError::TransactionHashNotFound)) => Some(false),
        Err(_) => None,
    }
}

/// Sends `request` (whose hash is `hash`) until the node has it, refuses it, or doubt remains
/// after a few tries.
pub(crate) async fn deliver(
    core: &Core,
    request: &BroadcastedInvokeTransaction,
    hash: Felt,
) -> Delivery {
    for attempt in 0..ATTEMPTS {
        let judgement = match core.chain.send(request).await {
            Ok(theirs) => {
                if theirs != hash {
                    tracing::error!(
                        ours = %format_args!("{hash:#x}"),
                        node = %format_args!("{theirs:#x}"),
                        "the node computed another transaction hash"
                    );
                }
                return Delivery::Accepted;
            }
            Err(e) => judge(e),
        };
        match judgement {
            Judgement::Known => return Delivery::Accepted,
            Judgement::Refused(error) => {
                // The same bytes may have reached the node before (a send in doubt, here or in
                // the tracker) and used the nonce: only a node that does not know the hash
                // refused the transaction.
                return match known(core, hash).await {
                    Some(true) => Delivery::Accepted,
                    Some(false) => Delivery::Rejected(error),
                    None => Delivery::InDoubt,
                };
            }
            Judgement::InDoubt(why) => {
                Metrics::bump(&core.metrics.sends_in_doubt);
                tracing::warn!(tx = %format_args!("{hash:#x}"), attempt, %why, "send in doubt; asking the node");
                if known(core, hash).await == Some(true) {
                    return Delivery::Accepted;
                }
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }
    Delivery::InDoubt
}

#[cfg(test)]
mod tests {
    use starknet::providers::ProviderError;

    use super::*;

    fn kind(e: ProviderError) -> &'static str {
        match judge(e.into()) {
            Judgement::Known => "known",
            Judgement::Refused(_) => "refused",
            Judgement::InDoubt(_) => "in doubt",
        }
    }

    #[test]
    fn only_a_definite_answer_of_the_node_counts_as_refused() {
        use StarknetError as S;
        let cases = [
            (ProviderError::StarknetError(S::DuplicateTx), "known"),
            (
                ProviderError::StarknetError(S::InvalidTransactionNonce("2 != 3".into())),
                "refused",
            ),
            (ProviderError::StarknetError(S::FeeBelowMinimum), "refused"),
            (
                ProviderError::StarknetError(S::InsufficientAccountBalance),
                "refused",
            ),
            (
                ProviderError::StarknetError(S::ValidationFailure("bad".into())),
                "refused",
            ),
            (
                ProviderError::StarknetError(S::UnexpectedError("oops".into())),
                "in doubt",
            ),
            (
                ProviderError::StarknetError(S::FailedToReceiveTransaction),
                "in doubt",
            ),
            (ProviderError::RateLimited, "in doubt"),
            (ProviderError::ArrayLengthMismatch, "in doubt"),
        ];
        for (error, expected) in cases {
            let shown = error.to_string();
            assert_eq!(kind(error), expected, "{shown}");
        }
    }
}
