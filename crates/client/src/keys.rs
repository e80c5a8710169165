//! Session key pairs: `create_session_key`, a new key sealed in an envelope.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stark_sessions_abi::Felt;

use crate::envelope::{seal, EnvelopeParams};
use crate::error::SessionError;
pub use crate::secret::SessionSecret;

/// How long a session lasts unless asked otherwise: six hours, as in the reference SDK.
pub const DEFAULT_SESSION_DURATION: Duration = Duration::from_secs(21_600);
/// The longest session `create_session_key` makes: thirty days. A session key is a hot key;
/// longer delegations should be renewed, not granted once.
pub const MAX_SESSION_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

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
}
