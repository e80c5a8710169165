//! Backend API keys and client session tokens (per-key rate limits are counted in the store).
//!
//! API keys are 32 random bytes; only their SHA-256 is stored, and a key is found by its hash
//! (a fast hash suffices for uniformly random secrets). A client session token is
//! `sscs_<id>_<secret>`: the id finds the record, and the SHA-256 of the secret is compared in
//! constant time.

use rand::RngCore;
use sha2::{Digest, Sha256};
use stark_sessions_abi::{Call, Felt};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::PaymasterError;
use crate::store::{ApiKeyRecord, ClientTokenRecord, Store};

const API_KEY_PREFIX: &str = "sspk_";
pub(crate) const TOKEN_PREFIX: &str = "sscs_";

/// Default lifetime of a client session token: 15 minutes.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 15 * 60;
/// Longest lifetime a client session token may be given: one day.
pub const MAX_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// The credentials a request carried.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// `x-paymaster-api-key`.
    ApiKey(Zeroizing<String>),
    /// `Authorization: Bearer <client session token>`.
    Bearer(Zeroizing<String>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Credential::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Who a request acts as: an API key, possibly through one of its client session tokens.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The API key whose budget, rate and allow-list apply.
    pub api_key: ApiKeyRecord,
    /// The client session token used, if any.
    pub token: Option<ClientTokenRecord>,
}

impl Principal {
    /// Refuses a user address outside the token's scope.
    pub fn check_user(&self, user_address: Felt) -> Result<(), PaymasterError> {
        match self.token.as_ref().and_then(|t| t.user_addresses.as_ref()) {
            Some(allowed) if !allowed.contains(&user_address) => Err(PaymasterError::OutOfScope(
                format!("the client session token does not cover {user_address:#x}"),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses a call to a contract outside the key's allow-list.
    pub fn check_targets(&self, calls: &[Call]) -> Result<(), PaymasterError> {
        if let Some(allowed) = &self.api_key.allowed_targets {
            if let Some(call) = calls.iter().find(|c| !allowed.contains(&c.to)) {
                return Err(PaymasterError::TargetNotAllowed(format!(
                    "{:#x} is not on this key's allow-list",
                    call.to
                )));
            }
        }
        Ok(())
    }

    /// A label for logs and the ledger (never a secret).
    pub fn label(&self) -> String {
        match &self.token {
            Some(t) => format!("{}/{}", self.api_key.id, t.client_id),
            None => self.api_key.id.clone(),
        }
    }
}

/// SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn random_hex(bytes: usize) -> Zeroizing<String> {
    let mut buf = Zeroizing::new(vec![0u8; bytes]);
    rand::rngs::OsRng.fill_bytes(&mut buf);
    Zeroizing::new(hex::encode(&*buf))
}

/// A fresh API key and its hash.
pub fn new_api_key() -> (Zeroizing<String>, [u8; 32]) {
    let key = Zeroizing::new(format!("{API_KEY_PREFIX}{}", *random_hex(32)));
    let hash = hash_secret(&key);
    (key, hash)
}

/// A fresh client session token: `(id, token, hash of its secret)`.
pub fn new_client_token() -> (String, Zeroizing<String>, [u8; 32]) {
    let id = random_hex(8).to_string();
    let secret = random_hex(32);
    let hash = hash_secret(&secret);
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{id}_{}", *secret));
    (id, token, hash)
}

/// Resolves credentials to a principal, refusing unknown keys and unknown, expired or revoked
/// tokens.
pub fn authenticate(
    store: &dyn Store,
    credential: Option<&Credential>,
    now: u64,
) -> Result<Principal, PaymasterError> {
    let unknown = || PaymasterError::Unauthorized("unknown API key or token".into());
    match credential {
        None => Err(PaymasterError::Unauthorized(
            "send x-paymaster-api-key or Authorization: Bearer <client session token>".into(),
        )),
        Some(Credential::ApiKey(key)) => {
            let api_key = store
                .api_key_by_hash(&hash_secret(key))?
                .ok_or_else(unknown)?;
            Ok(Principal {
                api_key,
                token: None,
            })
        }
        Some(Credential::Bearer(token)) => {
            let (id, secret) = token
                .strip_prefix(TOKEN_PREFIX)
                .and_then(|rest| rest.split_once('_'))
                .ok_or_else(unknown)?;
            let record = store.client_token(id)?.ok_or_else(unknown)?;
            let matches: bool = hash_secret(secret).ct_eq(&record.secret_hash).into();
            if !matches {
                return Err(unknown());
            }
            if record.revoked {
                return Err(PaymasterError::TokenRevoked);
            }
            if now >= record.expires_at {
                return Err(PaymasterError::TokenExpired);
            }
            let api_key = store.api_key(&record.api_key_id)?.ok_or_else(unknown)?;
            Ok(Principal {
                api_key,
                token: Some(record),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn setup() -> (SqliteStore, Zeroizing<String>) {
        let store = SqliteStore::in_memory().expect("store");
        let (key, hash) = new_api_key();
        store
            .put_api_key(&ApiKeyRecord {
                id: "game".into(),
                name: "game".into(),
                key_hash: hash,
                daily_budget_fri: 1,
                requests_per_minute: 1,
                allowed_targets: None,
            })
            .expect("put");
        (store, key)
    }

    fn token(store: &SqliteStore, expires_at: u64, revoked: bool) -> Zeroizing<String> {
        let (id, token, hash) = new_client_token();
        store
            .put_client_token(&ClientTokenRecord {
                id,
                api_key_id: "game".into(),
                client_id: "player-1".into(),
                secret_hash: hash,
                user_addresses: None,
                expires_at,
                revoked,
            })
            .expect("put");
        token
    }

    #[test]
    fn keys_and_tokens_authenticate_and_bad_ones_are_refused_by_kind() {
        let (store, key) = setup();
        let ok = authenticate(&store, Some(&Credential::ApiKey(key)), 0).expect("key");
        assert_eq!(ok.api_key.id, "game");
        let err = authenticate(
            &store,
            Some(&Credential::ApiKey("sspk_00".to_string().into())),
            0,
        );
        assert_eq!(err.map(|_| ()).expect_err("unknown").code(), 170);
        assert_eq!(
            authenticate(&store, None, 0)
                .map(|_| ())
                .expect_err("none")
                .code(),
            170
        );

        let live = token(&store, 100, false);
        let p = authenticate(&store, Some(&Credential::Bearer(live.clone())), 99).expect("live");
        assert_eq!(p.label(), "game/player-1");
        let expired = authenticate(&store, Some(&Credential::Bearer(live.clone())), 100);
        assert_eq!(expired.map(|_| ()), Err(PaymasterError::TokenExpired));
        let revoked = token(&store, 100, true);
        let refused = authenticate(&store, Some(&Credential::Bearer(revoked)), 0);
        assert_eq!(refused.map(|_| ()), Err(PaymasterError::TokenRevoked));
        // Right id, wrong secret.
        let mut forged = live.to_string();
        forged.pop();
        forged.push(if live.ends_with('0') { '1' } else { '0' });
        let err = authenticate(&store, Some(&Credential::Bearer(forged.into())), 0);
        assert_eq!(err.map(|_| ()).expect_err("forged").code(), 170);
    }

    #[test]
    fn debug_output_never_shows_a_credential() {
        let (key, _) = new_api_key();
        let shown = format!("{:?}", Credential::ApiKey(key.clone()));
        assert!(!shown.contains(&key[5..]));
    }
}
