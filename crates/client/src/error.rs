//! One error type for everything the SDK does, with the reference SDK's codes.

use stark_sessions_abi::{AgentLimits, ContractError, Felt};

/// The SNIP-29 error code (`UNKNOWN_ERROR`) with which a paymaster says that an execution is
/// not refused but not sent yet either — queued and not taken by the node in time, the
/// paymaster stopping, node or storage trouble — and that the client should send the same
/// signed execution again ([`SessionError::is_in_doubt`]).
pub const RESEND_CODE: i64 = 163;

/// What went wrong. [`SessionError::code`] gives a stable code to match on: the eight codes of
/// the reference session SDK, and codes of our own for the failures it has no code for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The account does not implement the session-key interface (by SRC-5).
    #[error("account {account:#x} does not support session keys (SRC-5 says no to the session interface)")]
    InvalidWalletType {
        /// The account asked about.
        account: Felt,
    },
    /// The session is past its `valid_until`.
    #[error("session expired at {valid_until} (now {now})")]
    Expired {
        /// The session's last valid second.
        valid_until: u64,
        /// The time it was checked at (block or wall clock).
        now: u64,
    },
    /// The account has no record of this session key.
    #[error("session {session_key:#x} is not registered on the account")]
    NotRegistered {
        /// The session public key.
        session_key: Felt,
    },
    /// The session was revoked, alone or by revoke-all.
    #[error("session {session_key:#x} was revoked")]
    Revoked {
        /// The session public key.
        session_key: Felt,
    },
    /// The session's registration changed (revoked and re-added, updated, new targets or
    /// limits) since the execution was signed, or since this copy of the session was made: a
    /// signature is valid for one registration only.
    #[error("session {session_key:#x} was registered again or changed since; sign anew under its current registration")]
    RegistrationChanged {
        /// The session public key.
        session_key: Felt,
    },
    /// Every call the session was allowed has been used.
    #[error("session has used all of its {max_calls} calls")]
    MaxCallsExceeded {
        /// Calls allowed in all.
        max_calls: u32,
    },
    /// A call is outside what the session may do: selector not whitelisted, an admin
    /// selector, a call to the account itself, or a target outside the target set.
    #[error("call #{call_index} (selector {selector:#x} on {to:#x}) is not allowed: {reason}")]
    EntrypointNotAllowed {
        /// Position of the call in the batch.
        call_index: usize,
        /// Its target.
        to: Felt,
        /// Its selector.
        selector: Felt,
        /// The contract rule that refuses it.
        reason: ContractError,
    },
    /// Wrong PIN, or an envelope that was altered or is not an envelope at all. Deliberately
    /// says nothing about which.
    #[error("session key could not be decrypted (wrong PIN or damaged envelope)")]
    DecryptionFailed,
    /// A session key or registration that cannot be made as asked.
    #[error("session could not be created: {0}")]
    CreationFailed(String),
    /// A spending limit of the session refuses the transfer.
    #[error("spending limit: {0}")]
    SpendingLimit(ContractError),
    /// The session's start time has not come.
    #[error("session starts at {valid_after} (now {now})")]
    NotYetActive {
        /// The session's start time (block time).
        valid_after: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// The session's rate limit allows no more executions in the current window.
    #[error("session rate limit: at most {max_executions} executions per {window_seconds} s")]
    RateLimited {
        /// Executions allowed per window.
        max_executions: u32,
        /// The window's length.
        window_seconds: u64,
    },
    /// A call's arguments break one of the session's argument rules.
    #[error(
        "call #{call_index} (selector {selector:#x} on {to:#x}) breaks an argument rule: {reason}"
    )]
    ArgumentNotAllowed {
        /// Position of the call in the batch.
        call_index: usize,
        /// Its target.
        to: Felt,
        /// Its selector.
        selector: Felt,
        /// The rule that refuses it.
        reason: ContractError,
    },
    /// A loss-guarded token's balance would fall by more than the spending limit still
    /// allows.
    #[error("loss guard: the execution would lower a guarded token's balance by more than its spending limit still allows")]
    LossGuard,
    /// The owner's grant the session carries cannot register it (expired, used, revoked,
    /// voided by revoke-all or a new owner key, or not the owner's signature).
    #[error("the session's grant is refused: {0}")]
    GrantRefused(ContractError),
    /// The chain refused the execution for another contract rule.
    #[error("contract refused the execution: {0}")]
    Contract(ContractError),
    /// The transaction reverted for a reason that names no rule of the session account.
    #[error("transaction {transaction_hash:#x} reverted: {reason}")]
    Reverted {
        /// The transaction.
        transaction_hash: Felt,
        /// The node's revert reason.
        reason: String,
    },
    /// The paymaster answered with a JSON-RPC error.
    #[error("paymaster error {code}: {message}")]
    Paymaster {
        /// The JSON-RPC error code (SNIP-29 150–163, or this project's 170–177).
        code: i64,
        /// Its message.
        message: String,
        /// Its data, if any.
        data: Option<serde_json::Value>,
    },
    /// The paymaster could not be reached or answered something that is not JSON-RPC.
    #[error("paymaster unreachable or not speaking JSON-RPC: {0}")]
    PaymasterTransport(String),
    /// The typed data the paymaster asked us to sign is not what we asked for; nothing was
    /// signed.
    #[error("refusing to sign: the paymaster's typed data {0}")]
    TypedDataMismatch(String),
    /// The node failed or could not be reached.
    #[error("node error: {0}")]
    Provider(String),
    /// The node is on another chain than the network asked for; nothing was signed.
    #[error("{0}")]
    WrongChain(String),
    /// A handle used after `release()` or after its timeout.
    #[error("session handle is {0}; unlock the session again")]
    HandleUnavailable(&'static str),
    /// The session store failed.
    #[error("session store: {0}")]
    Store(String),
    /// The store has no session for that account (or key).
    #[error("no stored session for account {account:#x}")]
    UnknownSession {
        /// The account asked about.
        account: Felt,
    },
    /// Input the SDK refuses before doing anything.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A PIN refused for a new envelope by [`crate::pin::check_new_pin`]; says which rule.
    #[error("weak PIN: {0}")]
    WeakPin(&'static str),
    /// A passphrase refused for a new owner envelope by
    /// [`crate::pin::check_owner_passphrase`]; says which rule, never the passphrase.
    #[error("weak passphrase: {0}")]
    WeakPassphrase(String),
}

impl SessionError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::InvalidWalletType { .. } => "INVALID_WALLET_TYPE_FOR_SESSION",
            SessionError::Expired { .. } => "SESSION_EXPIRED",
            SessionError::NotRegistered { .. } => "SESSION_NOT_REGISTERED",
            SessionError::Revoked { .. } => "SESSION_REVOKED",
            SessionError::MaxCallsExceeded { .. } => "SESSION_MAX_CALLS_EXCEEDED",
            SessionError::RegistrationChanged { .. } => "SESSION_REGISTRATION_CHANGED",
            SessionError::EntrypointNotAllowed { .. } => "SESSION_ENTRYPOINT_NOT_ALLOWED",
            SessionError::DecryptionFailed => "SESSION_DECRYPTION_FAILED",
            SessionError::CreationFailed(_) => "SESSION_CREATION_FAILED",
            SessionError::SpendingLimit(_) => "SPENDING_LIMIT_EXCEEDED",
            SessionError::NotYetActive { .. } => "SESSION_NOT_YET_ACTIVE",
            SessionError::RateLimited { .. } => "SESSION_RATE_LIMITED",
            SessionError::ArgumentNotAllowed { .. } => "SESSION_ARGUMENT_NOT_ALLOWED",
            SessionError::LossGuard => "SESSION_LOSS_GUARD",
            SessionError::GrantRefused(_) => "SESSION_GRANT_REFUSED",
            SessionError::Contract(_) | SessionError::Reverted { .. } => "TRANSACTION_REVERTED",
            SessionError::Paymaster { .. } => "PAYMASTER_ERROR",
            SessionError::PaymasterTransport(_) => "PAYMASTER_UNREACHABLE",
            SessionError::TypedDataMismatch(_) => "PAYMASTER_TYPED_DATA_MISMATCH",
            SessionError::Provider(_) => "PROVIDER_ERROR",
            SessionError::WrongChain(_) => "WRONG_CHAIN",
            SessionError::HandleUnavailable(_) => "SESSION_HANDLE_UNAVAILABLE",
            SessionError::Store(_) => "SESSION_STORE_ERROR",
            SessionError::UnknownSession { .. } => "SESSION_NOT_FOUND",
            SessionError::InvalidInput(_) => "INVALID_INPUT",
            SessionError::WeakPin(_) => "WEAK_PIN",
            SessionError::WeakPassphrase(_) => "WEAK_PASSPHRASE",
        }
    }

    /// Whether the paymaster may still have the execution this error answered, so that only
    /// sending the same signed execution again tells its outcome: the answer was lost (a
    /// timeout, a reset, a 5xx, a body that is not JSON-RPC) or the paymaster said to resend
    /// (SNIP-29 163, [`RESEND_CODE`]: queued but not sent yet, stopping,
    /// node or storage trouble). Resending is safe: the paymaster answers the same signed
    /// execution with its first outcome.
    pub fn is_in_doubt(&self) -> bool {
        match self {
            SessionError::PaymasterTransport(_) => true,
            SessionError::Paymaster { code, .. } => *code == RESEND_CODE,
            _ => false,
        }
    }

    /// The same error with `note` added to the paymaster's message (other errors unchanged).
    pub(crate) fn noting(self, note: &str) -> SessionError {
        match self {
            SessionError::PaymasterTransport(why) => {
                SessionError::PaymasterTransport(format!("{why}{note}"))
            }
            SessionError::Paymaster {
                code,
                message,
                data,
            } => SessionError::Paymaster {
                code,
                message: format!("{message}{note}"),
                data,
            },
            other => other,
        }
    }

    /// The error a contract rule stands for, for a session execution of `calls` by
    /// `session_key`. `max_calls` and `valid_until` fill in the details when known.
    pub fn from_contract(
        error: ContractError,
        session_key: Felt,
        calls: &[stark_sessions_abi::Call],
        details: SessionDetails,
    ) -> SessionError {
        match error {
            ContractError::SessionExpired => SessionError::Expired {
                valid_until: details.valid_until,
                now: details.now,
            },
            ContractError::SessionNotRegistered => SessionError::NotRegistered { session_key },
            ContractError::SessionRevoked => SessionError::Revoked { session_key },
            ContractError::SessionRegistrationMismatch => {
                SessionError::RegistrationChanged { session_key }
            }
            ContractError::SessionMaxCalls => SessionError::MaxCallsExceeded {
                max_calls: details.max_calls,
            },
            ContractError::SessionSelfCall
            | ContractError::SessionBlockedSelector
            | ContractError::SessionSelectorDenied
            | ContractError::SessionTargetDenied => {
                let (call_index, to, selector) =
                    details
                        .offending_call(error, calls)
                        .unwrap_or((0, Felt::ZERO, Felt::ZERO));
                SessionError::EntrypointNotAllowed {
                    call_index,
                    to,
                    selector,
                    reason: error,
                }
            }
            ContractError::SessionNotYetActive => SessionError::NotYetActive {
                valid_after: details.limits.terms.valid_after,
                now: details.now,
            },
            ContractError::SessionRateLimit => SessionError::RateLimited {
                max_executions: details.limits.terms.max_executions,
                window_seconds: details.limits.terms.window_seconds,
            },
            ContractError::RulesArgUnreadable
            | ContractError::RulesArgNotAllowed
            | ContractError::RulesArgAboveMax
            | ContractError::RulesArgBelowMin => {
                let (call_index, to, selector) =
                    details
                        .breaking_call(error, calls)
                        .unwrap_or((0, Felt::ZERO, Felt::ZERO));
                SessionError::ArgumentNotAllowed {
                    call_index,
                    to,
                    selector,
                    reason: error,
                }
            }
            ContractError::SpendingLossGuard => SessionError::LossGuard,
            ContractError::SessionInvalidConfig
            | ContractError::SpendingInvalidPolicy
            | ContractError::RulesInvalidConfig => {
                SessionError::CreationFailed(error.as_str().to_owned())
            }
            ContractError::SpendingPerCall
            | ContractError::SpendingWindow
            | ContractError::SpendingInvalidAmount => SessionError::SpendingLimit(error),
            ContractError::GrantMalformed
            | ContractError::GrantExpired
            | ContractError::GrantRevokedAll
            | ContractError::GrantRevoked
            | ContractError::GrantUsed
            | ContractError::GrantOwnerChanged
            | ContractError::GrantBadSignature => SessionError::GrantRefused(error),
            other => SessionError::Contract(other),
        }
    }

    /// Reads a revert reason (from a receipt or a paymaster's `execution_error`) back into
    /// its error, if it names a rule of the session account.
    pub fn from_revert_reason(
        reason: &str,
        session_key: Felt,
        calls: &[stark_sessions_abi::Call],
        details: SessionDetails,
    ) -> Option<SessionError> {
        ContractError::from_revert_reason(reason)
            .map(|e| SessionError::from_contract(e, session_key, calls, details))
    }
}

/// What is known about a session when an error is built, to make the message useful.
#[derive(Debug, Clone, Default)]
pub struct SessionDetails {
    /// The session's `valid_until`.
    pub valid_until: u64,
    /// The time of the check.
    pub now: u64,
    /// The session's call allowance.
    pub max_calls: u32,
    /// The session's whitelist (empty: any selector but the blocked ones).
    pub allowed_entrypoints: Vec<Felt>,
    /// The session's target set (empty: any target).
    pub targets: Vec<Felt>,
    /// The account address.
    pub account: Felt,
    /// The registration a signature must name now (`valid_until + 2^64 * generation`).
    pub registration: Felt,
    /// The session's agent limits.
    pub limits: AgentLimits,
}

impl SessionDetails {
    /// The first call whose arguments break one of the session's rules with `error`.
    fn breaking_call(
        &self,
        error: ContractError,
        calls: &[stark_sessions_abi::Call],
    ) -> Option<(usize, Felt, Felt)> {
        calls
            .iter()
            .enumerate()
            .find(|(_, call)| {
                self.limits
                    .rules_of(call.to, call.selector)
                    .iter()
                    .find_map(|rule| rule.check(&call.calldata).err())
                    == Some(error)
            })
            .map(|(i, call)| (i, call.to, call.selector))
    }

    /// The first call the account's rule refuses with `error`, by the account's own check.
    fn offending_call(
        &self,
        error: ContractError,
        calls: &[stark_sessions_abi::Call],
    ) -> Option<(usize, Felt, Felt)> {
        calls
            .iter()
            .enumerate()
            .find(|(_, call)| {
                stark_sessions_abi::model::check_call(
                    self.account,
                    &self.allowed_entrypoints,
                    &self.targets,
                    call,
                ) == Err(error)
            })
            .map(|(i, call)| (i, call.to, call.selector))
    }
}

impl From<starknet::providers::ProviderError> for SessionError {
    fn from(e: starknet::providers::ProviderError) -> Self {
        SessionError::Provider(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_rule_maps_to_its_reference_code() {
        let key = Felt::from(7u8);
        let d = SessionDetails::default;
        let code = |e| SessionError::from_contract(e, key, &[], d()).code();
        assert_eq!(code(ContractError::SessionExpired), "SESSION_EXPIRED");
        assert_eq!(
            code(ContractError::SessionNotRegistered),
            "SESSION_NOT_REGISTERED"
        );
        assert_eq!(code(ContractError::SessionRevoked), "SESSION_REVOKED");
        assert_eq!(
            code(ContractError::SessionMaxCalls),
            "SESSION_MAX_CALLS_EXCEEDED"
        );
        for e in [
            ContractError::SessionSelectorDenied,
            ContractError::SessionBlockedSelector,
            ContractError::SessionSelfCall,
            ContractError::SessionTargetDenied,
        ] {
            assert_eq!(code(e), "SESSION_ENTRYPOINT_NOT_ALLOWED");
        }
        assert_eq!(
            code(ContractError::SessionInvalidConfig),
            "SESSION_CREATION_FAILED"
        );
        assert_eq!(
            code(ContractError::SpendingWindow),
            "SPENDING_LIMIT_EXCEEDED"
        );
        assert_eq!(
            code(ContractError::OutsideNonceUsed),
            "TRANSACTION_REVERTED"
        );
        // Each agent limit has a code of its own.
        assert_eq!(
            code(ContractError::SessionNotYetActive),
            "SESSION_NOT_YET_ACTIVE"
        );
        assert_eq!(
            code(ContractError::SessionRateLimit),
            "SESSION_RATE_LIMITED"
        );
        for e in [
            ContractError::RulesArgUnreadable,
            ContractError::RulesArgNotAllowed,
            ContractError::RulesArgAboveMax,
            ContractError::RulesArgBelowMin,
        ] {
            assert_eq!(code(e), "SESSION_ARGUMENT_NOT_ALLOWED");
        }
        assert_eq!(code(ContractError::SpendingLossGuard), "SESSION_LOSS_GUARD");
        assert_eq!(
            code(ContractError::RulesInvalidConfig),
            "SESSION_CREATION_FAILED"
        );
        let reverted = SessionError::from_revert_reason(
            "Transaction execution has failed: ... 'session/max-calls' ...",
            key,
            &[],
            d(),
        )
        .expect("names a rule");
        assert_eq!(reverted.code(), "SESSION_MAX_CALLS_EXCEEDED");
    }
}
