//! Session key pairs: generation, the secret's in-memory form, and `create_session_key`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stark_sessions_abi::Felt;
use starknet::core::crypto::ecdsa_sign;
use starknet::signers::SigningKey;
use starknet_curve::curve_params::EC_ORDER;
use zeroize::Zeroizing;

use crate::envelope::{seal, EnvelopeParams};
use crate::error::SessionError;

/// How long a session lasts unless asked otherwise: six hours, as in the reference SDK.
pub const DEFAULT_SESSION_DURATION: Duration = Duration::from_secs(21_600);
/// The longest session `create_session_key` makes: thirty days. A session key is a hot key;
/// longer delegations should be renewed, not granted once.
pub const MAX_SESSION_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A session private key in memory. Its bytes are wiped on drop; it never prints.
pub struct SessionSecret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

impl SessionSecret {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let key = SigningKey::from_random();
        SessionSecret(Zeroizing::new(key.secret_scalar().to_bytes_be()))
    }

    /// A key from its 32 big-endian bytes; refuses zero and anything not below the curve order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SessionError::InvalidInput("a session key is 32 bytes".into()))?;
        let bytes = Zeroizing::new(bytes);
        let scalar = Felt::from_bytes_be(&bytes);
        if scalar == Felt::ZERO || scalar >= EC_ORDER || scalar.to_bytes_be() != *bytes {
            return Err(SessionError::InvalidInput(
                "not a valid Stark-curve private key".into(),
            ));
        }
        Ok(SessionSecret(bytes))
    }

    /// A key from `0x…` hex (the form the reference SDK encrypts).
    pub fn from_hex(text: &str) -> Result<Self, SessionError> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        if digits.is_empty() || digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(SessionError::InvalidInput("not a hex private key".into()));
        }
        let padded = Zeroizing::new(format!("{digits:0>64}"));
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(padded.as_bytes(), bytes.as_mut())
            .map_err(|_| SessionError::InvalidInput("not a hex private key".into()))?;
        Self::from_bytes(bytes.as_ref())
    }

    /// The 32 big-endian bytes (wiped when the returned value drops).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    fn scalar(&self) -> Felt {
        Felt::from_bytes_be(&self.0)
    }

    /// The session public key: what the account registers.
    pub fn public_key(&self) -> Felt {
        starknet_crypto::get_public_key(&self.scalar())
    }

    /// `(r, s)` of an ECDSA signature of `hash` (RFC 6979 nonces).
    pub fn sign(&self, hash: &Felt) -> Result<(Felt, Felt), SessionError> {
        let signature = ecdsa_sign(&self.scalar(), hash)
            .map_err(|e| SessionError::InvalidInput(format!("cannot sign: {e}")))?;
        Ok((signature.r, signature.s))
    }
}

/// What `create_session_key` returns: everything a session needs, the private key encrypted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionKeyData {
    /// The session public key.
    pub public_key: Felt,
    /// The private key in an encryption envelope (see [`crate::envelope`]).
    pub encrypted_private_key: String,
    /// Unix time after which the session is invalid.
    pub valid_until: u64,
}

/// Seconds since the Unix epoch by the wall clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Creates a session key pair, valid for `duration` from now, its private key encrypted under
/// `encrypt_key` (a PIN or passphrase that passes [`crate::pin::check_new_pin`]). Nothing is
/// stored or sent.
pub fn create_session_key(
    encrypt_key: &str,
    duration: Duration,
) -> Result<SessionKeyData, SessionError> {
    create_session_key_with(encrypt_key, duration, EnvelopeParams::default())
}

/// [`create_session_key`] with explicit envelope parameters.
pub fn create_session_key_with(
    encrypt_key: &str,
    duration: Duration,
    params: EnvelopeParams,
) -> Result<SessionKeyData, SessionError> {
    crate::pin::check_new_pin(encrypt_key)?;
    if duration.as_secs() == 0 {
        return Err(SessionError::CreationFailed(
            "the session duration must be at least one second".into(),
        ));
    }
    if duration > MAX_SESSION_DURATION {
        return Err(SessionError::CreationFailed(format!(
            "the session duration must not exceed {} s",
            MAX_SESSION_DURATION.as_secs()
        )));
    }
    let secret = SessionSecret::generate();
    Ok(SessionKeyData {
        public_key: secret.public_key(),
        encrypted_private_key: seal(&secret, encrypt_key, params)?,
        valid_until: unix_now() + duration.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_opens_to_its_public_key_and_lasts_six_hours_by_default() {
        let before = unix_now();
        let data = create_session_key("482193", DEFAULT_SESSION_DURATION).expect("created");
        assert!((before + 21_600..=unix_now() + 21_600).contains(&data.valid_until));
        let secret = crate::envelope::open(&data.encrypted_private_key, "482193").expect("opens");
        assert_eq!(secret.public_key(), data.public_key);
        assert!(!format!("{secret:?}").contains(&format!("{:x}", secret.scalar())));
    }

    #[test]
    fn zero_and_overlong_durations_fail_creation() {
        for duration in [
            Duration::ZERO,
            MAX_SESSION_DURATION + Duration::from_secs(1),
        ] {
            let e = create_session_key("482193", duration).expect_err("refused");
            assert_eq!(e.code(), "SESSION_CREATION_FAILED");
        }
    }

    #[test]
    fn a_weak_pin_fails_creation_with_its_own_code() {
        for pin in ["4821", "999999", "123456", "654321"] {
            let e = create_session_key(pin, DEFAULT_SESSION_DURATION).expect_err(pin);
            assert_eq!(e.code(), "WEAK_PIN", "{pin}");
        }
    }

    #[test]
    fn invalid_scalars_are_refused() {
        assert!(SessionSecret::from_bytes(&[0u8; 32]).is_err());
        assert!(SessionSecret::from_bytes(&EC_ORDER.to_bytes_be()).is_err());
        assert!(SessionSecret::from_bytes(&[1u8; 31]).is_err());
        assert!(SessionSecret::from_hex("0xzz").is_err());
        assert!(SessionSecret::from_hex("0x1").is_ok());
    }

    #[test]
    fn signatures_verify_under_the_public_key() {
        let secret = SessionSecret::generate();
        let hash = Felt::from(0xabcdefu32);
        let (r, s) = secret.sign(&hash).expect("signs");
        assert!(starknet::core::crypto::ecdsa_verify(
            &secret.public_key(),
            &hash,
            &starknet::core::crypto::Signature { r, s }
        )
        .expect("verifies"));
    }
}
