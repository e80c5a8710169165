//! Why an identity-provider token was refused, and how that reaches a client.

use crate::error::PaymasterError;

/// Why a JWT was refused or could not be checked.
///
/// Messages never contain the token or key material; the token fields some of them quote
/// (`alg`, `kid`, `iss`) are escaped and cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is longer than [`super::MAX_TOKEN_BYTES`].
    #[error("JWT is longer than {} bytes", super::MAX_TOKEN_BYTES)]
    TooLong,
    /// The token is not three base64url parts, or a part is not the JSON it should be.
    #[error("JWT is malformed: {0}")]
    Malformed(&'static str),
    /// The header says `alg: none` (an unsigned token).
    #[error("JWT algorithm none is not accepted")]
    AlgorithmNone,
    /// The header names an algorithm other than RS256 and ES256.
    #[error("JWT algorithm {0} is not accepted (only RS256 and ES256)")]
    AlgorithmNotAccepted(String),
    /// The header lists critical extensions (`crit`), none of which we implement.
    #[error("JWT header lists critical extensions (crit), which are not supported")]
    CriticalHeader,
    /// No key in the JWKS has the token's `kid` (after the refresh the rate limit allowed).
    #[error("no key with kid {0} in the JWKS")]
    UnknownKid(String),
    /// The token has no `kid`, and the JWKS does not hold exactly one key for its algorithm.
    #[error("JWT has no kid, and the JWKS holds {count} {alg} keys (exactly one is needed)")]
    NoKidAmbiguous {
        /// The token's algorithm.
        alg: &'static str,
        /// How many keys of the JWKS could have signed it.
        count: usize,
    },
    /// The key the `kid` names is not a key for the header's algorithm.
    #[error("JWT algorithm {alg} does not match the key with kid {kid} in the JWKS")]
    AlgorithmMismatch {
        /// The token's algorithm.
        alg: &'static str,
        /// The key's id.
        kid: String,
    },
    /// The signature does not verify with the key.
    #[error("JWT signature does not verify")]
    SignatureInvalid,
    /// A required claim is absent.
    #[error("JWT claim {0} is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an unacceptable value.
    #[error("JWT claim {claim} is {problem}")]
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// `exp` is past (beyond the leeway).
    #[error("JWT expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// `nbf` is still ahead (beyond the leeway).
    #[error("JWT is not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// `iss` is not the policy's issuer.
    #[error("JWT issuer {0} is not the configured issuer")]
    IssuerMismatch(String),
    /// `aud` does not contain the policy's audience.
    #[error("JWT audience does not include the configured audience")]
    AudienceMismatch,
    /// The JWKS could not be loaded and no earlier copy is cached.
    #[error("JWKS unavailable: {0}")]
    JwksUnavailable(String),
    /// The policy is unusable (never a client's fault).
    #[error("JWT policy: {0}")]
    Config(String),
}

impl From<JwtError> for PaymasterError {
    /// A refused token is 170 UNAUTHORIZED; a JWKS that cannot be loaded is the paymaster's
    /// problem (163), and a bad policy a configuration error.
    fn from(err: JwtError) -> Self {
        match err {
            JwtError::JwksUnavailable(_) => PaymasterError::Unknown(err.to_string()),
            JwtError::Config(_) => PaymasterError::Config(err.to_string()),
            _ => PaymasterError::Unauthorized(err.to_string()),
        }
    }
}

/// Longest token field quoted in a message, in characters.
const EXCERPT_CHARS: usize = 64;

/// A token-supplied string made safe to quote: escaped, and cut after [`EXCERPT_CHARS`].
pub(super) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{:?}…", &text[..end]),
        None => format!("{text:?}"),
    }
}
