//! A JWKS document read into the keys tokens may be verified with.
//!
//! Only signature keys for our two algorithms are kept: RSA keys of at least 2048 bits
//! (RS256) and P-256 keys (ES256). A key whose `alg` or `use` says it is for something else,
//! or that does not parse, is skipped rather than failing the whole set, since providers
//! publish encryption keys and newer key types alongside.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::Value;

use super::error::{excerpt, JwtError};
use super::token::Alg;

/// Smallest RSA modulus accepted, in bytes (2048 bits, the least RS256 verification allows).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// Length of a P-256 coordinate, in bytes.
const P256_COORDINATE_BYTES: usize = 32;

/// The usable keys of one JWKS document.
#[derive(Debug)]
pub(super) struct KeySet {
    keys: Vec<SigningKey>,
}

/// One usable key.
#[derive(Debug)]
struct SigningKey {
    kid: Option<String>,
    alg: Alg,
    key: DecodingKey,
}

/// The members of a JWK we read; the rest are ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl KeySet {
    /// Reads a JWKS document (`{"keys": [...]}`); fails if it holds no usable key.
    pub(super) fn parse(document: &[u8]) -> Result<KeySet, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document = serde_json::from_slice(document)
            .map_err(|_| "not a JWKS document (a JSON object with a keys array)".to_owned())?;
        let listed = document.keys.len();
        let keys: Vec<SigningKey> = document
            .keys
            .into_iter()
            .filter_map(|jwk| serde_json::from_value(jwk).ok())
            .filter_map(signing_key)
            .collect();
        if keys.is_empty() {
            return Err(format!(
                "none of its {listed} keys is an RS256 or ES256 signature key"
            ));
        }
        Ok(KeySet { keys })
    }

    /// How many usable keys the set holds.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key for a token with this `kid` and algorithm. A token without `kid` needs the set
    /// to hold exactly one key for its algorithm.
    pub(super) fn find(&self, kid: Option<&str>, alg: Alg) -> Result<&DecodingKey, JwtError> {
        let Some(kid) = kid else {
            let mut candidates = self.keys.iter().filter(|key| key.alg == alg);
            return match (candidates.next(), candidates.count()) {
                (Some(only), 0) => Ok(&only.key),
                (first, others) => Err(JwtError::NoKidAmbiguous {
                    alg: alg.name(),
                    count: usize::from(first.is_some()) + others,
                }),
            };
        };
        let mut named = self
            .keys
            .iter()
            .filter(|key| key.kid.as_deref() == Some(kid))
            .peekable();
        if named.peek().is_none() {
            return Err(JwtError::UnknownKid(excerpt(kid)));
        }
        named
            .find(|key| key.alg == alg)
            .map(|key| &key.key)
            .ok_or_else(|| JwtError::AlgorithmMismatch {
                alg: alg.name(),
                kid: excerpt(kid),
            })
    }
}

/// The key a JWK describes, if it is a signature key for one of our algorithms.
fn signing_key(jwk: RawJwk) -> Option<SigningKey> {
    if jwk.usage.as_deref().is_some_and(|usage| usage != "sig") {
        return None;
    }
    let (alg, key) = match jwk.kty.as_str() {
        "RSA" => (Alg::Rs256, rsa_key(&jwk)?),
        "EC" => (Alg::Es256, p256_key(&jwk)?),
        _ => return None,
    };
    if jwk
        .alg
        .is_some_and(|named| Alg::from_name(&named) != Some(alg))
    {
        return None;
    }
    Some(SigningKey {
        kid: jwk.kid,
        alg,
        key,
    })
}

/// An RSA public key of at least 2048 bits.
fn rsa_key(jwk: &RawJwk) -> Option<DecodingKey> {
    let n = URL_SAFE_NO_PAD.decode(jwk.n.as_deref()?).ok()?;
    let e = URL_SAFE_NO_PAD.decode(jwk.e.as_deref()?).ok()?;
    let significant = n.iter().skip_while(|byte| **byte == 0).count();
    (significant >= MIN_RSA_MODULUS_BYTES).then(|| DecodingKey::from_rsa_raw_components(&n, &e))
}

/// A P-256 public key (whether the point is on the curve is checked when verifying).
fn p256_key(jwk: &RawJwk) -> Option<DecodingKey> {
    if jwk.crv.as_deref() != Some("P-256") {
        return None;
    }
    let (x, y) = (jwk.x.as_deref()?, jwk.y.as_deref()?);
    let coordinate_ok = |c: &str| {
        URL_SAFE_NO_PAD
            .decode(c)
            .is_ok_and(|bytes| bytes.len() == P256_COORDINATE_BYTES)
    };
    if !(coordinate_ok(x) && coordinate_ok(y)) {
        return None;
    }
    DecodingKey::from_ec_components(x, y).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_for_other_uses_and_algorithms_are_skipped() {
        let n = URL_SAFE_NO_PAD.encode([0xC5; 256]);
        let small_n = URL_SAFE_NO_PAD.encode([0xC5; 128]);
        let coordinate = URL_SAFE_NO_PAD.encode([7; 32]);
        let document = serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB" },
            { "kty": "RSA", "kid": "ps", "alg": "PS256", "n": n, "e": "AQAB" },
            { "kty": "RSA", "kid": "small", "n": small_n, "e": "AQAB" },
            { "kty": "EC", "kid": "p384", "crv": "P-384", "x": coordinate, "y": coordinate },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": coordinate },
            "not a key",
            { "kty": "RSA", "kid": "good-rsa", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB" },
            { "kty": "EC", "kid": "good-ec", "crv": "P-256", "x": coordinate, "y": coordinate },
        ]});
        let set = KeySet::parse(document.to_string().as_bytes()).expect("two usable keys");
        assert_eq!(set.len(), 2);
        assert!(set.find(Some("good-rsa"), Alg::Rs256).is_ok());
        assert!(set.find(Some("good-ec"), Alg::Es256).is_ok());
        for skipped in ["enc", "ps", "small", "p384", "hmac", "ed"] {
            assert!(matches!(
                set.find(Some(skipped), Alg::Rs256),
                Err(JwtError::UnknownKid(_))
            ));
        }
    }

    #[test]
    fn a_document_without_usable_keys_is_refused() {
        let only_hmac = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        let error = KeySet::parse(only_hmac).expect_err("no usable key");
        assert!(error.contains("none of its 1 keys"), "{error}");
        let error = KeySet::parse(b"[]").expect_err("not a JWKS");
        assert!(error.contains("not a JWKS document"), "{error}");
    }

    #[test]
    fn a_token_without_kid_needs_exactly_one_key_of_its_algorithm() {
        let n = URL_SAFE_NO_PAD.encode([0xC5; 256]);
        let coordinate = URL_SAFE_NO_PAD.encode([7; 32]);
        let document = serde_json::json!({ "keys": [
            { "kty": "RSA", "n": n, "e": "AQAB" },
            { "kty": "RSA", "n": n, "e": "AQAB" },
            { "kty": "EC", "crv": "P-256", "x": coordinate, "y": coordinate },
        ]});
        let set = KeySet::parse(document.to_string().as_bytes()).expect("usable keys");
        assert!(set.find(None, Alg::Es256).is_ok());
        let error = set.find(None, Alg::Rs256).expect_err("two RSA keys");
        assert_eq!(
            error.to_string(),
            "JWT has no kid, and the JWKS holds 2 RS256 keys (exactly one is needed)"
        );
    }
}
