//! Identity-provider tokens: a bearer JWT verified against an API key's JWKS, issuer and
//! audience.
//!
//! An API key may carry a [`JwtPolicy`]; a [`JwtVerifier`] built from it checks a token in this
//! order, so that nothing the token says is acted on before its signature verifies:
//!
//! 1. the header: the algorithm must be RS256 or ES256 (`none`, HMAC and everything else are
//!    refused before any key is looked up, so such tokens cannot make us fetch the JWKS);
//! 2. the key: found by `kid` in the cached JWKS, and its type must match the header's
//!    algorithm (no key confusion). The set is loaded on first use and fetched again when
//!    older than [`JWKS_TTL_SECS`] or when a token names an unknown `kid`, but never more than
//!    once per [`MIN_REFRESH_INTERVAL_SECS`]; a failed fetch keeps the cached set in use;
//! 3. the signature, with `jsonwebtoken`'s crypto (backed by aws-lc-rs);
//! 4. the claims: `iss` and `aud` must match the policy, `exp` is required, `nbf` is checked
//!    when present (both with [`LEEWAY_SECS`]), and `sub` must be a non-empty string.
//!
//! The claims are parsed here rather than by `jsonwebtoken`'s `Validation`: every timestamp is
//! checked against the caller's `now`, and a claim of the wrong JSON type is refused instead of
//! being treated as absent (the type confusion of CVE-2026-25537).
//!
//! Error messages name what failed; they never contain the token, and the few token fields they
//! quote (`alg`, `kid`, `iss`) are cut short and escaped.

mod cache;
mod error;
mod fetch;
mod jwks;
mod token;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

pub use error::JwtError;

use cache::KeyCache;
use token::Token;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// Age after which the cached JWKS is fetched again, in seconds.
pub const JWKS_TTL_SECS: u64 = 10 * 60;
/// Shortest time between two JWKS fetches, in seconds, whatever asks for them (a spray of
/// tokens naming unknown `kid`s cannot make us hammer the identity provider).
pub const MIN_REFRESH_INTERVAL_SECS: u64 = 30;
/// Time limit of one JWKS fetch over HTTP.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document read (real ones are a few kilobytes).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Longest token considered, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest subject accepted, in bytes (OpenID Connect caps `sub` at 255 ASCII characters).
pub const MAX_SUBJECT_BYTES: usize = 255;

/// Where an API key's signing keys are published.
///
/// In TOML: `jwks = { url = "https://idp.example/.well-known/jwks.json" }` or
/// `jwks = { file = "/etc/paymaster/idp-jwks.json" }`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JwksSource {
    /// A JWKS document on disk, read again on every refresh.
    File(PathBuf),
    /// A JWKS URL: `https`, or `http` to a loopback address only. Up to three redirects are
    /// followed, to `https` URLs only.
    Url(Url),
}

impl std::fmt::Debug for JwksSource {
    /// As [`Display`](std::fmt::Display): a URL's credentials, query and fragment stay out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwksSource({self})")
    }
}

impl std::fmt::Display for JwksSource {
    /// The file path, or the URL without credentials, query and fragment (which may hold
    /// secrets).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::File(path) => write!(f, "{}", path.display()),
            JwksSource::Url(url) => {
                let mut shown = url.clone();
                // Both fail only for URLs that cannot have credentials, which then have none.
                let _ = shown.set_username("");
                let _ = shown.set_password(None);
                shown.set_query(None);
                shown.set_fragment(None);
                write!(f, "{shown}")
            }
        }
    }
}

/// Which identity-provider tokens an API key accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtPolicy {
    /// Where the provider's public keys are.
    pub jwks: JwksSource,
    /// The exact `iss` the tokens must carry.
    pub issuer: String,
    /// A value the tokens' `aud` (a string or an array) must contain.
    pub audience: String,
}

impl JwtPolicy {
    /// Refuses an empty issuer or audience, and a JWKS URL that is neither `https` nor `http`
    /// to a loopback address (keys fetched in clear text could be replaced on the way).
    pub fn validate(&self) -> Result<(), JwtError> {
        if self.issuer.is_empty() {
            return Err(JwtError::Config("the issuer is empty".into()));
        }
        if self.audience.is_empty() {
            return Err(JwtError::Config("the audience is empty".into()));
        }
        if let JwksSource::Url(url) = &self.jwks {
            let loopback = match url.host() {
                Some(url::Host::Domain(name)) => name == "localhost",
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            match url.scheme() {
                "https" => {}
                "http" if loopback => {}
                scheme => {
                    return Err(JwtError::Config(format!(
                        "the JWKS URL must be https (http only to a loopback address), not {scheme}"
                    )))
                }
            }
        }
        Ok(())
    }
}

/// What a verified token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The token's `sub`: the client the minted session token is bound to.
    pub subject: String,
    /// The token's `exp`, in Unix seconds.
    pub expires_at: u64,
    /// The token's `jti`, if it has one.
    pub jti: Option<String>,
    /// Every claim of the (verified) payload, for the claims a caller configures.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// Verifies identity-provider tokens for one [`JwtPolicy`], with its own key cache.
///
/// Cheap to share (`Arc<JwtVerifier>`); concurrent calls wait for at most one JWKS fetch.
#[derive(Debug)]
pub struct JwtVerifier {
    policy: JwtPolicy,
    keys: KeyCache,
}

impl JwtVerifier {
    /// A verifier for `policy`; nothing is fetched until the first token arrives.
    pub fn new(policy: JwtPolicy) -> Result<Self, JwtError> {
        policy.validate()?;
        let keys = KeyCache::new(policy.jwks.clone())?;
        Ok(JwtVerifier { policy, keys })
    }

    /// The policy this verifier enforces.
    pub fn policy(&self) -> &JwtPolicy {
        &self.policy
    }

    /// Checks `token` (the bare JWT, without `Bearer `) at `now` (Unix seconds, the wall
    /// clock; it is also the key cache's clock) and returns its subject and expiry.
    pub async fn verify(&self, token: &str, now: u64) -> Result<Verified, JwtError> {
        let token = Token::parse(token)?;
        let key = self.keys.key_for(token.kid(), token.alg(), now).await?;
        token.verify_signature(&key)?;
        token.claims()?.check(&self.policy, now)
    }
}
