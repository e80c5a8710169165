//! What the node's answers mean to the paymaster: [`NodeError`] (a definite answer of the
//! node, or none) and its mapping to the error a client sees.
//!
//! A client sees 153 for a signature its account refuses, 156 for any other refusal by the
//! node's execution (with the execution error), and 163 for node trouble. What the engine does
//! with a refusal is decided from the node's error *code* and facts it reads again (the
//! relayer's nonce), never from an error's text: that text may come from a user's call.

use stark_sessions_abi::ContractError;
use starknet::accounts::AccountError;
use starknet::core::types::{ContractExecutionError, StarknetError};
use starknet::providers::ProviderError;

use crate::error::PaymasterError;

/// A node request that did not give the answer asked for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A definite answer: one of the Starknet JSON-RPC errors.
    #[error("{0}")]
    Starknet(StarknetError),
    /// No definite answer (timeout, reset, 5xx, a body that is not JSON-RPC, rate limiting),
    /// or a local failure before the request was made.
    #[error("{0}")]
    NoAnswer(String),
}

impl From<ProviderError> for NodeError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::StarknetError(e) => NodeError::Starknet(e),
            // The transport's words may carry the node's URL and its key: scrubbed.
            other => NodeError::NoAnswer(crate::secrets::node_error_text(&other)),
        }
    }
}

impl<S: std::fmt::Display> From<AccountError<S>> for NodeError {
    fn from(e: AccountError<S>) -> Self {
        match e {
            AccountError::Provider(e) => e.into(),
            other => NodeError::NoAnswer(other.to_string()),
        }
    }
}

impl NodeError {
    /// The node ran the transaction (or its validation, or a call) and refused it: a fact
    /// about what was asked, not about the node's health.
    pub fn is_execution_refusal(&self) -> bool {
        matches!(
            self,
            NodeError::Starknet(
                StarknetError::TransactionExecutionError(_)
                    | StarknetError::ValidationFailure(_)
                    | StarknetError::ContractError(_)
            )
        )
    }

    /// The node's error code for a transaction nonce that is not the account's
    /// (`INVALID_TRANSACTION_NONCE`, 52).
    pub fn is_invalid_nonce(&self) -> bool {
        matches!(
            self,
            NodeError::Starknet(StarknetError::InvalidTransactionNonce(_))
        )
    }

    /// The error a client sees for it: 153 for a signature refusal, 156 for another refusal
    /// (with the execution error), 163 for node trouble.
    pub fn to_paymaster(&self) -> PaymasterError {
        let reason = match self {
            NodeError::Starknet(StarknetError::TransactionExecutionError(data)) => {
                execution_error_text(&data.execution_error)
            }
            NodeError::Starknet(StarknetError::ValidationFailure(m)) => m.clone(),
            NodeError::Starknet(StarknetError::ContractError(data)) => {
                execution_error_text(&data.revert_error)
            }
            NodeError::Starknet(StarknetError::InsufficientAccountBalance) => {
                return PaymasterError::Unknown("the relayer cannot pay this fee".into());
            }
            NodeError::Starknet(other) => {
                return PaymasterError::TransactionExecution(other.to_string());
            }
            NodeError::NoAnswer(_) => return no_answer(),
        };
        classify_reason(reason)
    }
}

/// The text a client is told when the node did not answer. The transport's own words stay
/// out: they may name the node's URL, which carries a provider's key.
const NO_ANSWER: &str = "node: no answer (timeout, reset, 5xx or a malformed reply)";

fn no_answer() -> PaymasterError {
    PaymasterError::Unknown(NO_ANSWER.into())
}

/// A failed node request as the error a client sees (163).
pub fn node_error(e: ProviderError) -> PaymasterError {
    match NodeError::from(e) {
        NodeError::NoAnswer(why) => {
            tracing::debug!(%why, "the node did not answer");
            no_answer()
        }
        NodeError::Starknet(e) => PaymasterError::Unknown(format!("node: {e}")),
    }
}

/// Maps a failed estimate or send to the paymaster error a client should see
/// ([`NodeError::to_paymaster`]).
pub fn classify<S: std::fmt::Display>(e: AccountError<S>) -> PaymasterError {
    NodeError::from(e).to_paymaster()
}

/// The innermost message of a contract execution error.
pub fn execution_error_text(e: &ContractExecutionError) -> String {
    match e {
        ContractExecutionError::Message(m) => m.clone(),
        ContractExecutionError::Nested(inner) => execution_error_text(&inner.error),
    }
}

/// 153 for a signature refusal named in `reason`, else 156. (The text only chooses which of
/// the two refusals a client sees; nothing the engine does depends on it.)
pub fn classify_reason(reason: String) -> PaymasterError {
    let lower = reason.to_ascii_lowercase();
    let signature = ContractError::from_revert_reason(&reason)
        .is_some_and(ContractError::is_signature_error)
        || lower.contains("invalid signature")
        || lower.contains("invalid_sig");
    if signature {
        PaymasterError::InvalidSignature(reason)
    } else {
        PaymasterError::TransactionExecution(reason)
    }
}

#[cfg(test)]
mod tests {
    use starknet::core::types::TransactionExecutionErrorData;

    use super::*;

    fn execution_error(text: &str) -> NodeError {
        NodeError::Starknet(StarknetError::TransactionExecutionError(
            TransactionExecutionErrorData {
                transaction_index: 0,
                execution_error: ContractExecutionError::Message(text.into()),
            },
        ))
    }

    #[test]
    fn a_nonce_is_judged_by_the_error_code_never_by_the_text() {
        let poison = execution_error("Account transaction nonce is invalid.");
        assert!(!poison.is_invalid_nonce(), "text a user's call can produce");
        assert!(poison.is_execution_refusal());
        let stale = NodeError::Starknet(StarknetError::InvalidTransactionNonce("2 != 3".into()));
        assert!(stale.is_invalid_nonce() && !stale.is_execution_refusal());
        let gone = NodeError::from(ProviderError::RateLimited);
        assert!(!gone.is_invalid_nonce() && !gone.is_execution_refusal());
    }

    #[test]
    fn refusals_map_to_their_client_errors() {
        assert_eq!(execution_error("boom").to_paymaster().code(), 156);
        assert_eq!(
            execution_error("account/invalid-signature")
                .to_paymaster()
                .code(),
            153
        );
        let balance = NodeError::Starknet(StarknetError::InsufficientAccountBalance);
        assert_eq!(balance.to_paymaster().code(), 163);
        let gone = NodeError::NoAnswer("error sending request for url (https://node/KEY)".into());
        assert_eq!(
            gone.to_paymaster(),
            PaymasterError::Unknown(NO_ANSWER.into()),
            "the transport's words, which may name the node's URL, stay out"
        );
        assert_eq!(node_error(ProviderError::RateLimited).code(), 163);
    }
}
