//! Errors: the contract's revert reasons ([`ContractError`]) and this crate's own ([`AbiError`]).

use starknet_core::types::Felt;
use starknet_core::utils::cairo_short_string_to_felt;

macro_rules! contract_errors {
    ($( $(#[$doc:meta])* $variant:ident => $text:literal, )*) => {
        /// A revert reason of the session account, one per rule (`contracts/src/errors.cairo`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
        #[non_exhaustive]
        pub enum ContractError {
            $( $(#[$doc])* #[error($text)] $variant, )*
        }

        impl ContractError {
            /// Every error, in declaration order.
            pub const ALL: &'static [ContractError] = &[$(ContractError::$variant),*];

            /// The short string the contract panics with.
            pub const fn as_str(self) -> &'static str {
                match self { $(ContractError::$variant => $text,)* }
            }
        }
    };
}

contract_errors! {
    /// An owner-only entry point was called by someone other than the account itself.
    OnlySelf => "account/only-self",
    /// The owner's signature does not verify.
    InvalidSignature => "account/invalid-signature",
    /// A signature of a length the entry point does not accept.
    InvalidSignatureLength => "account/invalid-sig-length",
    /// `__execute__` called by a contract rather than the protocol.
    InvalidCaller => "account/invalid-caller",
    /// A zero owner public key.
    InvalidPublicKey => "account/invalid-public-key",
    /// The outside execution names another caller.
    OutsideInvalidCaller => "outside/invalid-caller",
    /// `execute_after` has not passed yet.
    OutsideTooEarly => "outside/too-early",
    /// `execute_before` has passed.
    OutsideExpired => "outside/expired",
    /// The outside execution nonce was used before.
    OutsideNonceUsed => "outside/nonce-used",
    /// An outside execution was started while a session execution of the account was running
    /// its calls (a called contract calling back).
    OutsideReentrant => "outside/reentrant",
    /// No session with this key was ever registered.
    SessionNotRegistered => "session/not-registered",
    /// The session was revoked, alone or by revoke-all.
    SessionRevoked => "session/revoked",
    /// The session's `valid_until` has passed.
    SessionExpired => "session/expired",
    /// The session has used all its calls.
    SessionMaxCalls => "session/max-calls",
    /// The signature names another registration of the key (`valid_until + 2^64 * generation`):
    /// it was made before a revoke, revoke-all, update or change of the session.
    SessionRegistrationMismatch => "session/registration-mismatch",
    /// A session call targets the account itself.
    SessionSelfCall => "session/self-call",
    /// A session call uses an admin selector.
    SessionBlockedSelector => "session/blocked-selector",
    /// A session call's selector is not in the whitelist.
    SessionSelectorDenied => "session/selector-denied",
    /// A session call's target is not in the target set.
    SessionTargetDenied => "session/target-denied",
    /// The session signature does not verify.
    SessionBadSignature => "session/bad-signature",
    /// A session registration or target set that the rules refuse.
    SessionInvalidConfig => "session/invalid-config",
    /// The session's start time (`valid_after`) has not come yet.
    SessionNotYetActive => "session/not-yet-active",
    /// The session's rate limit allows no more executions in the current window.
    SessionRateLimit => "session/rate-limit",
    /// A calldata word an argument rule names is missing (or, for a u256, not two 128-bit
    /// limbs).
    RulesArgUnreadable => "rules/arg-unreadable",
    /// A calldata word is not one of the values its rule allows.
    RulesArgNotAllowed => "rules/arg-not-allowed",
    /// A calldata word (or u256) is above its rule's maximum.
    RulesArgAboveMax => "rules/arg-above-max",
    /// A calldata word (or u256) is below its rule's minimum.
    RulesArgBelowMin => "rules/arg-below-min",
    /// Argument rules that the account refuses to keep.
    RulesInvalidConfig => "rules/invalid-config",
    /// A grant that does not decode (its terms, or the owner's `[r, s]` after them).
    GrantMalformed => "grant/malformed",
    /// The grant's `valid_until` has passed.
    GrantExpired => "grant/expired",
    /// The grant names an earlier revoke-all epoch.
    GrantRevokedAll => "grant/revoked-all",
    /// The key was revoked after the grant was signed.
    GrantRevoked => "grant/revoked",
    /// The key's registration moved on since the grant was signed (the grant was used, or the
    /// key was registered, updated or granted again), or the key has a live registration (a
    /// grant never replaces one).
    GrantUsed => "grant/used-or-superseded",
    /// The owner key changed since the grant was signed.
    GrantOwnerChanged => "grant/owner-changed",
    /// The owner's signature of the grant does not verify (an altered term, another signer).
    GrantBadSignature => "grant/bad-signature",
    /// One call moves more than the per-call limit.
    SpendingPerCall => "spending/per-call",
    /// The window's limit would be exceeded.
    SpendingWindow => "spending/window",
    /// A tracked ERC-20 call whose amount cannot be read.
    SpendingInvalidAmount => "spending/invalid-amount",
    /// A spending policy that the rules refuse.
    SpendingInvalidPolicy => "spending/invalid-policy",
    /// Removing a spending policy that does not exist.
    SpendingNoPolicy => "spending/no-policy",
    /// The guarded token's balance fell by more than the spending policy still allowed.
    SpendingLossGuard => "spending/loss-guard",
}

impl ContractError {
    /// The short string as a field element, as it appears in revert data.
    pub fn as_felt(self) -> Felt {
        cairo_short_string_to_felt(self.as_str()).unwrap_or(Felt::ZERO)
    }

    /// Finds the contract error named in a revert reason, as nodes print them (the short
    /// string appears in text or as its hex encoding).
    pub fn from_revert_reason(reason: &str) -> Option<Self> {
        let lower = reason.to_ascii_lowercase();
        Self::ALL
            .iter()
            .copied()
            .find(|e| reason.contains(e.as_str()) || lower.contains(&format!("{:#x}", e.as_felt())))
    }

    /// Whether the error says the signature does not authorise the execution (as opposed to
    /// the execution itself being refused): what a paymaster reports as an invalid signature.
    pub const fn is_signature_error(self) -> bool {
        matches!(
            self,
            ContractError::InvalidSignature
                | ContractError::InvalidSignatureLength
                | ContractError::SessionBadSignature
                | ContractError::SessionRegistrationMismatch
                | ContractError::GrantBadSignature
                | ContractError::GrantMalformed
        )
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AbiError {
    /// Too few felts to decode a value.
    #[error("calldata too short: needed {needed} felts at offset {offset}, have {available}")]
    CalldataTooShort {
        /// Felts needed.
        needed: usize,
        /// Where decoding was.
        offset: usize,
        /// Felts available.
        available: usize,
    },
    /// A felt that does not fit the type being decoded.
    #[error("value {value:#x} does not fit {ty}")]
    OutOfRange {
        /// The felt.
        value: Felt,
        /// The expected type.
        ty: &'static str,
    },
    /// A compiled class that cannot be used.
    #[error("contract class: {0}")]
    Class(String),
    /// Typed data that is not exactly a SNIP-9 v2 outside execution on the expected chain.
    #[error("typed_data: {0}")]
    TypedData(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cairo_source::{parse_cairo_constants, ERRORS_CAIRO};

    #[test]
    fn every_cairo_error_string_has_a_rust_variant_and_back() {
        let cairo = parse_cairo_constants(ERRORS_CAIRO);
        assert_eq!(cairo.len(), ContractError::ALL.len());
        for error in ContractError::ALL {
            assert!(
                cairo.values().any(|v| *v == error.as_felt()),
                "{} is not in errors.cairo",
                error.as_str()
            );
            assert!(
                error.as_str().len() <= 31,
                "{} is not a short string",
                error.as_str()
            );
        }
    }

    #[test]
    fn revert_reasons_map_back_to_errors_in_text_and_hex() {
        let text = "Transaction execution has failed: ... ('session/expired') ...";
        assert_eq!(
            ContractError::from_revert_reason(text),
            Some(ContractError::SessionExpired)
        );
        let hex = format!(
            "Failure reason: {:#x} ('...').",
            ContractError::SessionMaxCalls.as_felt()
        );
        assert_eq!(
            ContractError::from_revert_reason(&hex),
            Some(ContractError::SessionMaxCalls)
        );
        assert_eq!(ContractError::from_revert_reason("u256_sub Overflow"), None);
    }
}
