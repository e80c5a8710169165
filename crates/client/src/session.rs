//! A session as the client keeps it: the account, the encrypted key and what was delegated.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use stark_sessions_abi::model::check_call;
use stark_sessions_abi::{Call, Felt, SessionSnapshot, SessionStatus, SignedGrant};

use crate::error::SessionError;
use crate::handle::SessionHandle;
use crate::keys::{unix_now, SessionKeyData};
use crate::limits::AgentLimitSpec;

const SERIALIZED_PREFIX: &str = "stark-session:1:";

/// A spending limit on one ERC-20 token (amounts in the token's base unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendingLimit {
    /// The token contract.
    pub token: Felt,
    /// Largest amount one call may move.
    pub max_per_call: u128,
    /// Largest amount all calls in one window may move.
    pub max_per_window: u128,
    /// Window length in seconds.
    pub window_seconds: u64,
}

/// What a session may do, as a list of grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Authorization {
    /// Calls to this selector (or, with `None`, any selector the account does not reserve for
    /// its owner) on this target (or, with `None`, any contract but the account itself).
    Call {
        /// The contract, or any.
        target: Option<Felt>,
        /// The entry point selector, or any.
        selector: Option<Felt>,
    },
    /// Transfers and approvals of a token, within limits.
    Spend(SpendingLimit),
    /// At most this many executions in all.
    MaxCalls(u32),
    /// Until this Unix time.
    ValidUntil(u64),
}

/// A session: the account it acts for, its key (encrypted) and its grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session account.
    pub account: Felt,
    /// The chain the account lives on.
    pub chain_id: Felt,
    /// The key pair, private key encrypted.
    pub key: SessionKeyData,
    /// Executions allowed in all.
    pub max_calls: u32,
    /// Allowed selectors; empty means any the account does not reserve.
    pub allowed_entrypoints: Vec<Felt>,
    /// Allowed targets; empty means any but the account itself.
    #[serde(default)]
    pub targets: Vec<Felt>,
    /// Spending limits per token.
    #[serde(default)]
    pub spending_limits: Vec<SpendingLimit>,
    /// Its agent limits (none in a session stored before they existed).
    #[serde(default)]
    pub limits: AgentLimitSpec,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// The owner's signed grant of a session that registers itself on its first use; kept
    /// until that use lands ([`crate::SessionClient::execute_session`] drops it then), `None`
    /// for a session registered by a transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<SignedGrant>,
}

impl Session {
    /// The grant this session's next execution must carry: its grant, unless the account's
    /// `snapshot` of the key shows a live registration made since the grant was signed (its
    /// first use landed).
    pub fn pending_grant(&self, snapshot: &SessionSnapshot) -> Option<&SignedGrant> {
        let signed = self.grant.as_ref()?;
        let live = matches!(
            snapshot.status,
            SessionStatus::Active
                | SessionStatus::Expired
                | SessionStatus::Exhausted
                | SessionStatus::NotYetActive
        );
        let registered = live && snapshot.generation > signed.grant.key_generation;
        (!registered).then_some(signed)
    }

    /// The session public key.
    pub fn public_key(&self) -> Felt {
        self.key.public_key
    }

    /// The session's `valid_until`.
    pub fn valid_until(&self) -> u64 {
        self.key.valid_until
    }

    /// Whether the wall clock is past `valid_until`.
    pub fn is_expired(&self) -> bool {
        unix_now() > self.key.valid_until
    }

    /// Seconds until expiry by the wall clock (0 once expired).
    pub fn expires_in_secs(&self) -> u64 {
        self.key.valid_until.saturating_sub(unix_now())
    }

    /// The grants of this session.
    pub fn authorizations(&self) -> Vec<Authorization> {
        let targets: Vec<Option<Felt>> = if self.targets.is_empty() {
            vec![None]
        } else {
            self.targets.iter().copied().map(Some).collect()
        };
        let selectors: Vec<Option<Felt>> = if self.allowed_entrypoints.is_empty() {
            vec![None]
        } else {
            self.allowed_entrypoints.iter().copied().map(Some).collect()
        };
        let mut grants: Vec<Authorization> = targets
            .iter()
            .flat_map(|target| {
                selectors.iter().map(|selector| Authorization::Call {
                    target: *target,
                    selector: *selector,
                })
            })
            .collect();
        grants.extend(
            self.spending_limits
                .iter()
                .copied()
                .map(Authorization::Spend),
        );
        grants.push(Authorization::MaxCalls(self.max_calls));
        grants.push(Authorization::ValidUntil(self.key.valid_until));
        grants
    }

    /// Whether the session's grants cover `call` (by the account's own rule, without looking
    /// at the chain: revocation and used calls are not known here).
    pub fn allows(&self, call: &Call) -> bool {
        check_call(self.account, &self.allowed_entrypoints, &self.targets, call).is_ok()
    }

    /// Unlocks the key with `pin` into a handle.
    pub fn unlock(&self, pin: &str) -> Result<SessionHandle, SessionError> {
        SessionHandle::unlock(&self.key, pin)
    }

    /// The session as one line of text, to restore elsewhere with [`Session::from_session`].
    /// It holds the encrypted key only.
    pub fn serialize(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{SERIALIZED_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Restores a session written by [`Session::serialize`].
    pub fn from_session(text: &str) -> Result<Session, SessionError> {
        let invalid = |why: &str| SessionError::InvalidInput(format!("serialized session: {why}"));
        let body = text
            .trim()
            .strip_prefix(SERIALIZED_PREFIX)
            .ok_or_else(|| invalid("does not start with stark-session:1:"))?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| invalid("not base64url"))?;
        let session: Session =
            serde_json::from_slice(&json).map_err(|e| invalid(&format!("not a session ({e})")))?;
        if crate::envelope::iterations_of(&session.key.encrypted_private_key).is_none() {
            return Err(invalid("the key is not in an encryption envelope"));
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::create_session_key;
    use std::time::Duration;

    pub(crate) fn game_session(account: Felt) -> Session {
        Session {
            account,
            chain_id: starknet::core::chain_id::SEPOLIA,
            key: create_session_key("482193", Duration::from_secs(3600)).expect("key"),
            max_calls: 10,
            allowed_entrypoints: vec![Felt::from(0x11u8)],
            targets: vec![Felt::from(0x9a3eu32)],
            spending_limits: vec![],
            limits: Default::default(),
            created_at: unix_now(),
            grant: None,
        }
    }

    #[test]
    fn a_session_round_trips_through_text_and_refuses_garbage() {
        let session = game_session(Felt::from(0xaccu32));
        let text = session.serialize();
        assert_eq!(Session::from_session(&text).expect("restores"), session);
        for bad in [
            "",
            "stark-session:1:!!",
            "stark-session:2:e30",
            &text[..text.len() - 8],
        ] {
            assert_eq!(
                Session::from_session(bad).expect_err("refused").code(),
                "INVALID_INPUT"
            );
        }
        assert!(!session.is_expired());
        assert!((3590..=3600).contains(&session.expires_in_secs()));
    }

    #[test]
    fn grants_follow_the_account_rules() {
        let session = game_session(Felt::from(0xaccu32));
        let play = Call {
            to: Felt::from(0x9a3eu32),
            selector: Felt::from(0x11u8),
            calldata: vec![],
        };
        assert!(session.allows(&play));
        assert!(!session.allows(&Call {
            selector: Felt::TWO,
            ..play.clone()
        }));
        assert!(!session.allows(&Call {
            to: Felt::from(0xbadu32),
            ..play.clone()
        }));
        assert_eq!(
            session.authorizations()[0],
            Authorization::Call {
                target: Some(play.to),
                selector: Some(play.selector)
            }
        );
        assert!(session
            .authorizations()
            .contains(&Authorization::MaxCalls(10)));
    }
}
