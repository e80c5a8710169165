//! Backend API keys and client session tokens: their secrets, authentication, the limits a
//! key may give the tokens it mints, and request counting (in the store, so that every
//! instance sharing it counts against the same limits).
//!
//! API keys are 32 random bytes; only their SHA-256 is stored, and a key is found by its hash
//! (a fast hash suffices for uniformly random secrets). A client session token is
//! `sscs_<id>_<secret>`: the id finds the record, and the SHA-256 of the secret is compared in
//! constant time. Every request reads the key's status from the store (nothing is cached), so
//! a key disabled or revoked on one instance is refused by every instance at once, with every
//! token it minted.

use rand::RngCore;
use sha2::{Digest, Sha256};
use stark_sessions_abi::{Call, Felt};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::PaymasterError;
use crate::store::{ApiKeyRecord, ClientTokenRecord, KeyStatus, Store, TokenLimits};

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

/// Refuses a key that is not active — and with it every token it minted.
pub fn check_active(key: &ApiKeyRecord) -> Result<(), PaymasterError> {
    match key.status {
        KeyStatus::Active => Ok(()),
        status => Err(PaymasterError::Unauthorized(format!(
            "API key `{}` is {status}, with every client session token it minted",
            key.id
        ))),
    }
}

/// Resolves credentials to a principal, refusing unknown keys, keys that are not active, and
/// tokens that are unknown, expired, revoked or minted by a key that is not active.
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
            check_active(&api_key)?;
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
            check_active(&api_key)?;
            Ok(Principal {
                api_key,
                token: Some(record),
            })
        }
    }
}

/// Counts a request against its token's own rate limit (if it has one), then its key's, by
/// UTC minute (`minute` = Unix seconds / 60).
pub fn count_request(
    store: &dyn Store,
    principal: &Principal,
    minute: u64,
) -> Result<(), PaymasterError> {
    if let Some(token) = &principal.token {
        if let Some(limit) = token.limits.requests_per_minute {
            if !store.count_token_request(&token.id, minute, limit)? {
                return Err(PaymasterError::RateLimited(format!(
                    "{limit} requests per minute for this client session token"
                )));
            }
        }
    }
    let limit = principal.api_key.requests_per_minute;
    if !store.count_request(&principal.api_key.id, minute, limit)? {
        return Err(PaymasterError::RateLimited(format!(
            "{limit} requests per minute for this key"
        )));
    }
    Ok(())
}

/// The limits of a token that `key` mints, as requested: each must be at least 1 and within
/// the key's own — `requests_per_minute` within the key's rate, `max_fee_fri` within its daily
/// budget (`max_executions` has no key-wide cap). A request beyond them is refused rather than
/// clamped, so that no client holds a token weaker than it asked for without knowing.
pub fn token_limits(
    key: &ApiKeyRecord,
    requested: TokenLimits,
) -> Result<TokenLimits, PaymasterError> {
    let within = |name: &str, value: Option<u128>, cap: u128, what: &str| match value {
        Some(v) if v == 0 || v > cap => Err(PaymasterError::InvalidParams(format!(
            "{name} must be 1 to {cap} ({what})"
        ))),
        _ => Ok(()),
    };
    within(
        "requests_per_minute",
        requested.requests_per_minute.map(u128::from),
        u128::from(key.requests_per_minute),
        "this key's rate",
    )?;
    within(
        "max_fee_fri",
        requested.max_fee_fri,
        key.daily_budget_fri,
        "this key's daily budget",
    )?;
    within(
        "max_executions",
        requested.max_executions.map(u128::from),
        u128::from(u64::MAX),
        "any number",
    )?;
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    /// An expiry far ahead.
    const FAR: u64 = 4_000_000_000;

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
                status: KeyStatus::Active,
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
                limits: TokenLimits {
                    requests_per_minute: Some(2),
                    ..TokenLimits::default()
                },
                usage: Default::default(),
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
    fn a_disabled_or_revoked_key_is_refused_with_its_tokens_and_enabling_restores_both() {
        let (store, key) = setup();
        let live = token(&store, FAR, false);
        let key = Credential::ApiKey(key);
        let bearer = Credential::Bearer(live);
        let refused = |credential: &Credential| {
            authenticate(&store, Some(credential), 0)
                .map(|_| ())
                .expect_err("refused")
        };
        store
            .set_api_key_status("game", KeyStatus::Disabled)
            .expect("disable");
        for credential in [&key, &bearer] {
            let e = refused(credential);
            assert_eq!(e.code(), 170);
            assert!(e.to_string().contains("`game` is disabled"), "{e}");
        }
        store
            .set_api_key_status("game", KeyStatus::Active)
            .expect("enable");
        assert!(authenticate(&store, Some(&bearer), 0).is_ok());
        store
            .set_api_key_status("game", KeyStatus::Revoked)
            .expect("revoke");
        assert!(refused(&key).to_string().contains("is revoked"));
        assert_eq!(refused(&bearer).code(), 170);
        assert!(!store
            .set_api_key_status("game", KeyStatus::Active)
            .expect("refused"));
    }

    #[test]
    fn a_token_is_rate_limited_on_its_own_besides_its_key() {
        let (store, _) = setup();
        let mut key = store.api_key("game").expect("read").expect("key");
        key.requests_per_minute = 10;
        store.put_api_key(&key).expect("put");
        let a = authenticate(
            &store,
            Some(&Credential::Bearer(token(&store, FAR, false))),
            0,
        )
        .expect("a");
        let b = authenticate(
            &store,
            Some(&Credential::Bearer(token(&store, FAR, false))),
            0,
        )
        .expect("b");
        for _ in 0..2 {
            count_request(&store, &a, 7).expect("within a's two");
        }
        let e = count_request(&store, &a, 7).expect_err("a's third");
        assert_eq!(e.code(), 175);
        assert!(e.to_string().contains("client session token"), "{e}");
        count_request(&store, &b, 7).expect("b has its own count");
        count_request(&store, &a, 8).expect("next minute");
    }

    #[test]
    fn token_limits_above_the_keys_are_refused() {
        let key = ApiKeyRecord {
            id: "game".into(),
            name: "game".into(),
            key_hash: [0; 32],
            daily_budget_fri: 1_000,
            requests_per_minute: 60,
            allowed_targets: None,
            status: KeyStatus::Active,
        };
        let asked = |rpm, fee, executions| {
            token_limits(
                &key,
                TokenLimits {
                    requests_per_minute: rpm,
                    max_fee_fri: fee,
                    max_executions: executions,
                },
            )
        };
        assert!(asked(Some(60), Some(1_000), Some(5)).is_ok());
        assert!(asked(None, None, None).is_ok());
        for (rpm, fee, executions, name) in [
            (Some(61), None, None, "requests_per_minute"),
            (None, Some(1_001), None, "max_fee_fri"),
            (None, None, Some(0), "max_executions"),
            (Some(0), None, None, "requests_per_minute"),
        ] {
            let e = asked(rpm, fee, executions).expect_err("refused");
            assert_eq!(e.code(), -32602);
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn debug_output_never_shows_a_credential() {
        let (key, _) = new_api_key();
        let shown = format!("{:?}", Credential::ApiKey(key.clone()));
        assert!(!shown.contains(&key[5..]));
    }
}
