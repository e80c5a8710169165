//! Identity-provider tokens: `paymaster_createClientSession` authenticated by the app's auth
//! provider's JWT (`Authorization: Bearer <JWT>`) instead of an API key.
//!
//! Each configured provider names the API key whose budget and limits the minted tokens draw
//! on, and sets what one token may be given; the request only chooses within that:
//!
//! - **limits**: `max_fee_fri`, `max_executions` and `requests_per_minute` are the ceilings of
//!   every token (each also within the key's own); a request that leaves one out gets the
//!   ceiling, one asking above it is refused (-32602), as for tokens minted with an API key;
//! - **lifetime**: at most `max_ttl_secs` (refused above, like the limits), and never beyond
//!   the JWT's `exp` (cut to it: a client cannot know its JWT's remaining life to the second);
//! - **accounts**: from the JWT claim `accounts_claim` names, or, without one, from the
//!   subject's binding: its first token names the accounts (`user_addresses`) and binds them
//!   for good; later tokens cover those or some of them, never others (173). A binding says
//!   which accounts a subject's tokens cover, not who owns an account: every execution still
//!   needs the account's own signature;
//! - **one live token** per JWT (`one_token_per = "jti"`) or per subject (`"subject"`, the
//!   default): while it is live (not expired, not revoked by the API key), minting another is
//!   refused with 175 — refused rather than replacing it, so that minting again cannot renew
//!   a token's fee and execution allowance.

use serde::Deserialize;
use serde_json::Value;
use stark_sessions_abi::Felt;

use crate::api::{ClientSessionCreated, CreateClientSession};
use crate::auth::{Principal, DEFAULT_TOKEN_TTL_SECS, MAX_TOKEN_TTL_SECS};
use crate::error::PaymasterError;
use crate::jwt::{JwksSource, JwtPolicy, JwtVerifier, Verified};
use crate::service::{session_created, unix_now, Paymaster};
use crate::store::{ApiKeyRecord, IdentityBinding, SlotClaim, TokenLimits};

/// Requests per minute of a minted token when the provider's configuration sets no ceiling.
pub const DEFAULT_IDENTITY_TOKEN_RATE: u32 = 60;

fn default_rate() -> u32 {
    DEFAULT_IDENTITY_TOKEN_RATE
}

fn default_ttl() -> u64 {
    DEFAULT_TOKEN_TTL_SECS
}

/// Of what a provider allows one live token at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OneTokenPer {
    /// Each JWT (its `jti`, which the JWTs must then carry) mints one live token.
    Jti,
    /// Each subject has one live token, whatever JWT it signs in with.
    #[default]
    Subject,
}

/// One identity provider, from the configuration (`[[identity_providers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// The API key (id) whose budget, rate and allow-list the minted tokens use.
    pub api_key: String,
    /// Where the provider's signing keys are: `{ url = "https://…" }` or `{ file = "…" }`.
    pub jwks: JwksSource,
    /// The `iss` the JWTs must carry.
    pub issuer: String,
    /// The `aud` the JWTs must carry.
    pub audience: String,
    /// The most sponsored fees one minted token may spend in all, in FRI.
    #[serde(deserialize_with = "crate::api::number_or_text")]
    pub max_fee_fri: u128,
    /// The most executions one minted token may have sponsored in all.
    pub max_executions: u64,
    /// The highest rate of requests per minute a minted token may have.
    #[serde(default = "default_rate")]
    pub requests_per_minute: u32,
    /// The longest lifetime of a minted token, in seconds (it never outlives the JWT either).
    #[serde(default = "default_ttl")]
    pub max_ttl_secs: u64,
    /// The JWT claim that lists the accounts (hex addresses) a token may cover; without one,
    /// a subject's first token binds the accounts it names.
    #[serde(default)]
    pub accounts_claim: Option<String>,
    /// One live token per JWT or per subject.
    #[serde(default)]
    pub one_token_per: OneTokenPer,
}

impl IdentityProviderConfig {
    /// Refuses ceilings of 0, a lifetime beyond [`MAX_TOKEN_TTL_SECS`] and an empty claim name.
    fn validate(&self) -> Result<(), PaymasterError> {
        let bad = |why: String| {
            PaymasterError::Config(format!("identity provider for `{}`: {why}", self.api_key))
        };
        if self.max_fee_fri == 0 || self.max_executions == 0 || self.requests_per_minute == 0 {
            return Err(bad(
                "max_fee_fri, max_executions and requests_per_minute must be at least 1".into(),
            ));
        }
        if self.max_ttl_secs == 0 || self.max_ttl_secs > MAX_TOKEN_TTL_SECS {
            return Err(bad(format!(
                "max_ttl_secs must be 1 to {MAX_TOKEN_TTL_SECS}"
            )));
        }
        if self.accounts_claim.as_deref().is_some_and(str::is_empty) {
            return Err(bad("accounts_claim is empty".into()));
        }
        Ok(())
    }

    /// The limits of a token asked for `asked`: each within this provider's ceiling and the
    /// key's own, the ceiling when not asked.
    fn limits(
        &self,
        key: &ApiKeyRecord,
        asked: &CreateClientSession,
    ) -> Result<TokenLimits, PaymasterError> {
        let rate = self.requests_per_minute.min(key.requests_per_minute);
        let fee = self.max_fee_fri.min(key.daily_budget_fri);
        Ok(TokenLimits {
            requests_per_minute: Some(within(
                "requests_per_minute",
                asked.requests_per_minute,
                rate,
            )?),
            max_fee_fri: Some(within("max_fee_fri", asked.max_fee_fri, fee)?),
            max_executions: Some(within(
                "max_executions",
                asked.max_executions,
                self.max_executions,
            )?),
        })
    }

    /// The lifetime of a token asked for `asked` seconds under a JWT that expires at
    /// `jwt_expires_at`.
    fn ttl(
        &self,
        asked: Option<u64>,
        jwt_expires_at: u64,
        now: u64,
    ) -> Result<u64, PaymasterError> {
        let ttl = within("ttl_seconds", asked, self.max_ttl_secs)?;
        Ok(ttl.min(jwt_expires_at.saturating_sub(now).max(1)))
    }

    /// The accounts the JWT's claim lists, if this provider names a claim.
    fn claimed_accounts(&self, jwt: &Verified) -> Result<Option<Vec<Felt>>, PaymasterError> {
        let Some(claim) = &self.accounts_claim else {
            return Ok(None);
        };
        let refused =
            |problem: &str| PaymasterError::Unauthorized(format!("JWT claim {claim} {problem}"));
        let addresses: Vec<&Value> = match jwt.claims.get(claim) {
            None => return Err(refused("is missing")),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one @ Value::String(_)) => vec![one],
            Some(_) => return Err(refused("is not a list of account addresses")),
        };
        if addresses.is_empty() {
            return Err(refused("names no account"));
        }
        addresses
            .into_iter()
            .map(|a| {
                a.as_str()
                    .and_then(|hex| Felt::from_hex(hex).ok())
                    .ok_or_else(|| refused("holds something that is not a hex address"))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// The slot the token takes: the one live token of its JWT or subject, under this
    /// provider's key and issuer.
    fn slot(&self, jwt: &Verified) -> Result<String, PaymasterError> {
        let (kind, value) = match self.one_token_per {
            OneTokenPer::Subject => ("sub", jwt.subject.as_str()),
            OneTokenPer::Jti => (
                "jti",
                jwt.jti.as_deref().ok_or_else(|| {
                    PaymasterError::Unauthorized(
                        "JWT claim jti is missing (this provider allows one token per JWT)".into(),
                    )
                })?,
            ),
        };
        serde_json::to_string(&[&self.api_key, &self.issuer, kind, value])
            .map_err(|e| PaymasterError::Unknown(e.to_string()))
    }
}

/// `asked`, or `cap` when not asked; refused when 0 or above `cap`.
fn within<T>(name: &str, asked: Option<T>, cap: T) -> Result<T, PaymasterError>
where
    T: Copy + PartialOrd + From<u8> + std::fmt::Display,
{
    match asked {
        None => Ok(cap),
        Some(v) if v >= T::from(1) && v <= cap => Ok(v),
        Some(_) => Err(PaymasterError::InvalidParams(format!(
            "{name} must be 1 to {cap} (this identity provider's ceiling)"
        ))),
    }
}

/// The accounts a token covers: those asked, each of which must be `allowed`; all of
/// `allowed` when none are asked.
fn covered(asked: Option<Vec<Felt>>, allowed: &[Felt]) -> Result<Vec<Felt>, PaymasterError> {
    let Some(asked) = asked else {
        return Ok(allowed.to_vec());
    };
    if asked.is_empty() {
        return Err(PaymasterError::InvalidParams(
            "user_addresses is empty".into(),
        ));
    }
    match asked.iter().find(|a| !allowed.contains(a)) {
        Some(other) => Err(PaymasterError::OutOfScope(format!(
            "this identity does not cover {other:#x}"
        ))),
        None => Ok(asked),
    }
}

/// A provider and its key cache.
#[derive(Debug)]
struct Provider {
    config: IdentityProviderConfig,
    verifier: JwtVerifier,
}

/// The configured providers, each with its key cache.
#[derive(Debug, Default)]
pub struct IdentityProviders {
    providers: Vec<Provider>,
}

impl IdentityProviders {
    /// Verifiers for `configs` (nothing is fetched yet); a bad policy or ceiling is a
    /// configuration error.
    pub fn new(configs: &[IdentityProviderConfig]) -> Result<Self, PaymasterError> {
        let providers = configs
            .iter()
            .map(|c| {
                c.validate()?;
                let policy = JwtPolicy {
                    jwks: c.jwks.clone(),
                    issuer: c.issuer.clone(),
                    audience: c.audience.clone(),
                };
                Ok(Provider {
                    config: c.clone(),
                    verifier: JwtVerifier::new(policy)?,
                })
            })
            .collect::<Result<_, PaymasterError>>()?;
        Ok(IdentityProviders { providers })
    }

    /// The provider for `api_key`, or the only one when none is named.
    fn select(&self, api_key: Option<&str>) -> Result<&Provider, PaymasterError> {
        let unauthorized = |why: &str| PaymasterError::Unauthorized(why.to_owned());
        match api_key {
            Some(id) => self
                .providers
                .iter()
                .find(|p| p.config.api_key == id)
                .ok_or_else(|| {
                    unauthorized("no identity provider is configured for that api_key_id")
                }),
            None => match self.providers.as_slice() {
                [only] => Ok(only),
                [] => Err(unauthorized(
                    "this paymaster accepts no identity-provider tokens; use an API key",
                )),
                _ => Err(unauthorized(
                    "several identity providers are configured: name one with api_key_id",
                )),
            },
        }
    }
}

/// Whether a bearer credential is a JWT (three dot-separated parts) rather than one of our
/// client session tokens.
pub fn looks_like_jwt(bearer: &str) -> bool {
    !bearer.starts_with(crate::auth::TOKEN_PREFIX) && bearer.split('.').count() == 3
}

/// Takes `api_key_id` out of the request's parameters.
fn take_api_key_id(
    params: &mut serde_json::Map<String, Value>,
) -> Result<Option<String>, PaymasterError> {
    match params.remove("api_key_id") {
        Some(Value::String(id)) => Ok(Some(id)),
        None => Ok(None),
        Some(_) => Err(PaymasterError::InvalidParams(
            "api_key_id is a string".into(),
        )),
    }
}

/// The request, for the JWT's subject (a `client_id` naming another is refused).
fn request_for(
    jwt: &Verified,
    mut params: serde_json::Map<String, Value>,
) -> Result<CreateClientSession, PaymasterError> {
    match params.get("client_id") {
        Some(Value::String(id)) if *id != jwt.subject => {
            return Err(PaymasterError::Unauthorized(
                "client_id is not the JWT's subject".into(),
            ))
        }
        _ => {}
    }
    params.insert("client_id".into(), Value::String(jwt.subject.clone()));
    serde_json::from_value(Value::Object(params))
        .map_err(|e| PaymasterError::InvalidParams(e.to_string()))
}

impl Paymaster {
    /// `paymaster_createClientSession` authenticated by a JWT: verified against the chosen
    /// provider, then a token for the JWT's subject under the provider's API key, with the
    /// limits, lifetime and accounts the provider and the JWT allow (see the module's
    /// documentation).
    pub async fn create_client_session_with_jwt(
        &self,
        jwt: &str,
        mut params: serde_json::Map<String, Value>,
    ) -> Result<ClientSessionCreated, PaymasterError> {
        let api_key_id = take_api_key_id(&mut params)?;
        let provider = self.inner.identity.select(api_key_id.as_deref())?;
        let now = unix_now();
        let verified = provider.verifier.verify(jwt, now).await?;
        let mut request = request_for(&verified, params)?;
        let config = &provider.config;
        let api_key = self.inner.store.api_key(&config.api_key)?.ok_or_else(|| {
            PaymasterError::Unauthorized("the identity provider's API key does not exist".into())
        })?;
        let principal = Principal {
            api_key,
            token: None,
        };
        self.count_request(&principal)?;
        let limits = config.limits(&principal.api_key, &request)?;
        request.requests_per_minute = limits.requests_per_minute;
        request.max_fee_fri = limits.max_fee_fri;
        request.max_executions = limits.max_executions;
        request.ttl_seconds = Some(config.ttl(request.ttl_seconds, verified.expires_at, now)?);
        let slot = config.slot(&verified)?;
        let asked = request.user_addresses.take();
        // Every other check first: a refused request binds nothing.
        let (mut record, token) = self.new_client_token(&principal, request)?;
        record.user_addresses = Some(self.identity_accounts(config, &verified, asked)?);
        match self
            .inner
            .store
            .put_slotted_client_token(&record, &slot, now)?
        {
            SlotClaim::Minted => Ok(session_created(&record, &token)),
            SlotClaim::Held { expires_at } => Err(PaymasterError::RateLimited(format!(
                "one live client session token per JWT {}: the one minted before is live until \
                 {expires_at}",
                match config.one_token_per {
                    OneTokenPer::Jti => "(jti)",
                    OneTokenPer::Subject => "subject",
                }
            ))),
        }
    }

    /// The accounts a token for `jwt` covers: of those its claim lists, or of those its
    /// subject is bound to (the first request binds what it names).
    fn identity_accounts(
        &self,
        config: &IdentityProviderConfig,
        jwt: &Verified,
        asked: Option<Vec<Felt>>,
    ) -> Result<Vec<Felt>, PaymasterError> {
        if let Some(claimed) = config.claimed_accounts(jwt)? {
            return covered(asked, &claimed);
        }
        let bound = self.inner.store.bind_identity(
            &IdentityBinding {
                api_key_id: config.api_key.clone(),
                issuer: config.issuer.clone(),
                subject: jwt.subject.clone(),
                user_addresses: asked.clone().unwrap_or_default(),
            },
            unix_now(),
        )?;
        if bound.is_empty() {
            return Err(PaymasterError::InvalidParams(
                "user_addresses: a subject's first token names the accounts its tokens cover \
                 (they are bound to it for good)"
                    .into(),
            ));
        }
        covered(asked, &bound)
    }
}

#[cfg(test)]
mod tests;
