//! Identity-provider tokens: `paymaster_createClientSession` authenticated by the app's auth
//! provider's JWT (`Authorization: Bearer <JWT>`) instead of an API key. Each configured
//! provider names the API key whose budget and limits the minted tokens draw on; the token is
//! bound to the JWT's subject and lives no longer than the JWT.

use serde::Deserialize;
use serde_json::Value;

use crate::api::{ClientSessionCreated, CreateClientSession};
use crate::auth::Principal;
use crate::error::PaymasterError;
use crate::jwt::{JwksSource, JwtPolicy, JwtVerifier};
use crate::service::{unix_now, Paymaster};

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
}

/// The configured providers, each with its key cache.
#[derive(Debug, Default)]
pub struct IdentityProviders {
    providers: Vec<(String, JwtVerifier)>,
}

impl IdentityProviders {
    /// Verifiers for `configs` (nothing is fetched yet); a bad policy is a configuration error.
    pub fn new(configs: &[IdentityProviderConfig]) -> Result<Self, PaymasterError> {
        let providers = configs
            .iter()
            .map(|c| {
                let policy = JwtPolicy {
                    jwks: c.jwks.clone(),
                    issuer: c.issuer.clone(),
                    audience: c.audience.clone(),
                };
                Ok((c.api_key.clone(), JwtVerifier::new(policy)?))
            })
            .collect::<Result<_, PaymasterError>>()?;
        Ok(IdentityProviders { providers })
    }

    /// The provider for `api_key`, or the only one when none is named.
    fn select(&self, api_key: Option<&str>) -> Result<&(String, JwtVerifier), PaymasterError> {
        let unauthorized = |why: &str| PaymasterError::Unauthorized(why.to_owned());
        match api_key {
            Some(id) => self
                .providers
                .iter()
                .find(|(key, _)| key == id)
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

impl Paymaster {
    /// `paymaster_createClientSession` authenticated by a JWT: verified against the chosen
    /// provider, then a token for the JWT's subject under the provider's API key, expiring no
    /// later than the JWT.
    pub async fn create_client_session_with_jwt(
        &self,
        jwt: &str,
        mut params: serde_json::Map<String, Value>,
    ) -> Result<ClientSessionCreated, PaymasterError> {
        let api_key_id = match params.remove("api_key_id") {
            Some(Value::String(id)) => Some(id),
            None => None,
            Some(_) => {
                return Err(PaymasterError::InvalidParams(
                    "api_key_id is a string".into(),
                ))
            }
        };
        let (key_id, verifier) = self.inner.identity.select(api_key_id.as_deref())?;
        let now = unix_now();
        let verified = verifier.verify(jwt, now).await?;
        match params.get("client_id") {
            Some(Value::String(id)) if *id != verified.subject => {
                return Err(PaymasterError::Unauthorized(
                    "client_id is not the JWT's subject".into(),
                ))
            }
            _ => {}
        }
        params.insert("client_id".into(), Value::String(verified.subject));
        let mut request: CreateClientSession = serde_json::from_value(Value::Object(params))
            .map_err(|e| PaymasterError::InvalidParams(e.to_string()))?;
        let jwt_left = verified.expires_at.saturating_sub(now).max(1);
        let ttl = request
            .ttl_seconds
            .unwrap_or(self.inner.config.client_token_ttl_secs);
        request.ttl_seconds = Some(ttl.min(jwt_left));
        let api_key = self.inner.store.api_key(key_id)?.ok_or_else(|| {
            PaymasterError::Unauthorized("the identity provider's API key does not exist".into())
        })?;
        let principal = Principal {
            api_key,
            token: None,
        };
        self.count_request(&principal)?;
        self.create_client_session(&principal, request)
    }
}
