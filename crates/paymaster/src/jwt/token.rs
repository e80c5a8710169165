//! A compact JWS taken apart: the header's algorithm and key id, the signature check, and the
//! claims checked against a policy.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::error::{excerpt, JwtError};
use super::{JwtPolicy, Verified, LEEWAY_SECS, MAX_SUBJECT_BYTES, MAX_TOKEN_BYTES};

/// The two signature algorithms accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (keys of 2048 to 8192 bits).
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Alg {
    /// The JOSE name, as in a header or a JWK's `alg`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// The algorithm a JOSE name stands for, if it is one of ours.
    pub(super) fn from_name(name: &str) -> Option<Alg> {
        [Alg::Rs256, Alg::Es256]
            .into_iter()
            .find(|alg| alg.name() == name)
    }

    fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            Alg::Rs256 => Algorithm::RS256,
            Alg::Es256 => Algorithm::ES256,
        }
    }
}

/// A token whose header has been checked; its signature and claims not yet.
pub(super) struct Token<'a> {
    alg: Alg,
    kid: Option<String>,
    /// `header.payload`: what the signature covers.
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> Token<'a> {
    /// Splits `token` and checks its header: RS256 or ES256, no `crit`.
    pub(super) fn parse(token: &'a str) -> Result<Token<'a>, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::TooLong);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("not three dot-separated parts"));
        };
        let header = decode_json_object(header, "the header is not base64url JSON")?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Alg::from_name(name).ok_or_else(|| refused_alg(name))?,
            _ => return Err(JwtError::Malformed("the header has no alg string")),
        };
        if header.contains_key("crit") {
            return Err(JwtError::CriticalHeader);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(JwtError::Malformed("the header's kid is not a string")),
        };
        let signing_input = &token[..header_and_payload_len(token, signature)];
        Ok(Token {
            alg,
            kid,
            signing_input,
            payload,
            signature,
        })
    }

    /// The header's algorithm.
    pub(super) fn alg(&self) -> Alg {
        self.alg
    }

    /// The header's key id, if any.
    pub(super) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Checks the signature with `key` (a key for [`Token::alg`]).
    pub(super) fn verify_signature(&self, key: &DecodingKey) -> Result<(), JwtError> {
        match jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            key,
            self.alg.to_jsonwebtoken(),
        ) {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(JwtError::SignatureInvalid),
        }
    }

    /// The claims, to be read only once the signature has verified.
    pub(super) fn claims(&self) -> Result<Claims, JwtError> {
        let claims = decode_json_object(self.payload, "the payload is not base64url JSON")?;
        Claims::from_json(&claims)
    }
}

/// The error for a header algorithm that is not ours.
fn refused_alg(name: &str) -> JwtError {
    if name.eq_ignore_ascii_case("none") {
        JwtError::AlgorithmNone
    } else {
        JwtError::AlgorithmNotAccepted(excerpt(name))
    }
}

/// The length of `header.payload` in a token ending in `.signature`.
fn header_and_payload_len(token: &str, signature: &str) -> usize {
    token.len() - signature.len() - 1
}

/// Decodes one base64url (unpadded) part holding a JSON object.
fn decode_json_object(part: &str, problem: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(problem))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(JwtError::Malformed(problem)),
    }
}

/// The registered claims we use, each of the type RFC 7519 gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Claims {
    iss: Option<String>,
    aud: Vec<String>,
    exp: Option<u64>,
    nbf: Option<u64>,
    sub: Option<String>,
    jti: Option<String>,
    all: Map<String, Value>,
}

impl Claims {
    /// Reads the claims; one of the wrong type is refused, never taken as absent.
    fn from_json(claims: &Map<String, Value>) -> Result<Claims, JwtError> {
        Ok(Claims {
            iss: string_claim(claims, "iss")?,
            aud: audience_claim(claims)?,
            exp: date_claim(claims, "exp")?,
            nbf: date_claim(claims, "nbf")?,
            sub: string_claim(claims, "sub")?,
            jti: string_claim(claims, "jti")?,
            all: claims.clone(),
        })
    }

    /// Checks the claims against `policy` at `now`.
    pub(super) fn check(self, policy: &JwtPolicy, now: u64) -> Result<Verified, JwtError> {
        let iss = self.iss.ok_or(JwtError::MissingClaim("iss"))?;
        if iss != policy.issuer {
            return Err(JwtError::IssuerMismatch(excerpt(&iss)));
        }
        if self.aud.is_empty() {
            return Err(JwtError::MissingClaim("aud"));
        }
        if !self.aud.contains(&policy.audience) {
            return Err(JwtError::AudienceMismatch);
        }
        let exp = self.exp.ok_or(JwtError::MissingClaim("exp"))?;
        if now >= exp.saturating_add(LEEWAY_SECS) {
            return Err(JwtError::Expired { exp, now });
        }
        if let Some(nbf) = self.nbf {
            if nbf > now.saturating_add(LEEWAY_SECS) {
                return Err(JwtError::NotYetValid { nbf, now });
            }
        }
        let subject = self.sub.ok_or(JwtError::MissingClaim("sub"))?;
        check_subject(&subject)?;
        Ok(Verified {
            subject,
            expires_at: exp,
            jti: self.jti,
            claims: self.all,
        })
    }
}

/// Refuses an empty or overlong subject, or one with control characters.
fn check_subject(subject: &str) -> Result<(), JwtError> {
    let problem = if subject.is_empty() {
        "empty"
    } else if subject.len() > MAX_SUBJECT_BYTES {
        "too long"
    } else if subject.chars().any(char::is_control) {
        "not printable"
    } else {
        return Ok(());
    };
    Err(JwtError::InvalidClaim {
        claim: "sub",
        problem,
    })
}

fn string_claim(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<String>, JwtError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(JwtError::InvalidClaim {
            claim,
            problem: "not a string",
        }),
    }
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
fn audience_claim(claims: &Map<String, Value>) -> Result<Vec<String>, JwtError> {
    let invalid = JwtError::InvalidClaim {
        claim: "aud",
        problem: "neither a string nor an array of strings",
    };
    match claims.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(aud)) => Ok(vec![aud.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or(invalid.clone()))
            .collect(),
        Some(_) => Err(invalid),
    }
}

/// A NumericDate: non-negative seconds, possibly fractional (rounded down).
fn date_claim(claims: &Map<String, Value>, claim: &'static str) -> Result<Option<u64>, JwtError> {
    let Some(value) = claims.get(claim) else {
        return Ok(None);
    };
    let invalid = |problem| JwtError::InvalidClaim { claim, problem };
    let Value::Number(number) = value else {
        return Err(invalid("not a number"));
    };
    if let Some(seconds) = number.as_u64() {
        return Ok(Some(seconds));
    }
    match number.as_f64() {
        // `as` saturates: a date beyond u64 seconds is simply far in the future.
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(Some(seconds as u64)),
        _ => Err(invalid("not a non-negative number")),
    }
}
