//! Unlocked sessions: a handle that holds the decrypted key for a limited time.
//!
//! The PIN runs the KDF once, at unlock; the handle then signs without it until it expires
//! (default 60 s, renewable) or is released. Release, expiry and drop wipe the key.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stark_sessions_abi::Felt;

use crate::envelope;
use crate::error::SessionError;
use crate::keys::SessionKeyData;
use crate::secret::SessionSecret;

/// How long an unlocked handle lives unless renewed.
pub const DEFAULT_HANDLE_TIMEOUT: Duration = Duration::from_secs(60);

enum State {
    Unlocked {
        secret: SessionSecret,
        expires_at: Instant,
    },
    Expired,
    Released,
}

/// A session key unlocked for a while.
pub struct SessionHandle {
    public_key: Felt,
    valid_until: u64,
    timeout: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("public_key", &self.public_key)
            .field("valid_until", &self.valid_until)
            .finish_non_exhaustive()
    }
}

/// What [`SessionHandle::info`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleInfo {
    /// The session public key.
    pub public_key: Felt,
    /// The session's own expiry (Unix seconds), which no renewal extends.
    pub session_valid_until: u64,
    /// Seconds until the handle locks again.
    pub seconds_left: u64,
}

impl SessionHandle {
    /// Decrypts `key` with `pin` into a handle that lives [`DEFAULT_HANDLE_TIMEOUT`].
    pub fn unlock(key: &SessionKeyData, pin: &str) -> Result<Self, SessionError> {
        Self::unlock_for(key, pin, DEFAULT_HANDLE_TIMEOUT)
    }

    /// Decrypts `key` with `pin` into a handle that lives `timeout`.
    pub fn unlock_for(
        key: &SessionKeyData,
        pin: &str,
        timeout: Duration,
    ) -> Result<Self, SessionError> {
        if timeout.is_zero() {
            return Err(SessionError::InvalidInput(
                "a handle timeout must be positive".into(),
            ));
        }
        let secret = envelope::open(&key.encrypted_private_key, pin)?;
        // An envelope swapped in from another session must not sign for this one.
        if secret.public_key() != key.public_key {
            return Err(SessionError::DecryptionFailed);
        }
        Ok(SessionHandle {
            public_key: key.public_key,
            valid_until: key.valid_until,
            timeout,
            state: Mutex::new(State::Unlocked {
                secret,
                expires_at: Instant::now() + timeout,
            }),
        })
    }

    /// The session public key (known even when locked).
    pub fn public_key(&self) -> Felt {
        self.public_key
    }

    /// The session's `valid_until`.
    pub fn valid_until(&self) -> u64 {
        self.valid_until
    }

    fn live(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| SessionError::HandleUnavailable("poisoned"))?;
        if let State::Unlocked { expires_at, .. } = &*state {
            if Instant::now() >= *expires_at {
                // Dropping the secret wipes it.
                *state = State::Expired;
            }
        }
        match &*state {
            State::Unlocked { .. } => Ok(state),
            State::Expired => Err(SessionError::HandleUnavailable("expired")),
            State::Released => Err(SessionError::HandleUnavailable("released")),
        }
    }

    /// The seconds left, or an error if the handle is expired or released.
    pub fn info(&self) -> Result<HandleInfo, SessionError> {
        let state = self.live()?;
        let State::Unlocked { expires_at, .. } = &*state else {
            return Err(SessionError::HandleUnavailable("released"));
        };
        Ok(HandleInfo {
            public_key: self.public_key,
            session_valid_until: self.valid_until,
            seconds_left: expires_at
                .saturating_duration_since(Instant::now())
                .as_secs(),
        })
    }

    /// Extends the handle by its timeout from now; an expired or released handle stays so.
    pub fn renew(&self) -> Result<HandleInfo, SessionError> {
        {
            let mut state = self.live()?;
            if let State::Unlocked { expires_at, .. } = &mut *state {
                *expires_at = Instant::now() + self.timeout;
            }
        }
        self.info()
    }

    /// Wipes the key now. Later use is an error.
    pub fn release(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = State::Released;
        }
    }

    /// Whether the key is still held.
    pub fn is_unlocked(&self) -> bool {
        self.live().is_ok()
    }

    /// Signs `hash` with the session key.
    pub fn sign(&self, hash: &Felt) -> Result<(Felt, Felt), SessionError> {
        let state = self.live()?;
        match &*state {
            State::Unlocked { secret, .. } => secret.sign(hash),
            _ => Err(SessionError::HandleUnavailable("released")),
        }
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::create_session_key;

    fn key() -> SessionKeyData {
        create_session_key("482193", Duration::from_secs(3600)).expect("key")
    }

    #[test]
    fn a_handle_signs_until_released() {
        let key = key();
        let handle = SessionHandle::unlock(&key, "482193").expect("unlocks");
        let info = handle.info().expect("live");
        assert_eq!(info.public_key, key.public_key);
        assert!((59..=60).contains(&info.seconds_left));
        assert!(handle.sign(&Felt::ONE).is_ok());
        handle.release();
        assert!(!handle.is_unlocked());
        let e = handle.sign(&Felt::ONE).expect_err("released");
        assert_eq!(e.code(), "SESSION_HANDLE_UNAVAILABLE");
        assert!(
            handle.renew().is_err(),
            "a released handle cannot be renewed"
        );
    }

    #[test]
    fn a_handle_expires_and_renewal_extends_it() {
        // Margins of 400 ms either way, so that a loaded machine does not decide the outcome.
        let key = key();
        let handle = SessionHandle::unlock_for(&key, "482193", Duration::from_millis(1_000))
            .expect("unlocks");
        std::thread::sleep(Duration::from_millis(600));
        handle.renew().expect("still live");
        std::thread::sleep(Duration::from_millis(600));
        assert!(handle.sign(&Felt::ONE).is_ok(), "renewal extended it");
        std::thread::sleep(Duration::from_millis(1_000));
        assert!(matches!(
            handle.sign(&Felt::ONE),
            Err(SessionError::HandleUnavailable("expired"))
        ));
    }

    #[test]
    fn wrong_pin_and_swapped_envelopes_do_not_unlock() {
        let key = key();
        assert!(matches!(
            SessionHandle::unlock(&key, "0000"),
            Err(SessionError::DecryptionFailed)
        ));
        let other = self::key();
        let swapped = SessionKeyData {
            encrypted_private_key: other.encrypted_private_key,
            ..key
        };
        assert!(matches!(
            SessionHandle::unlock(&swapped, "482193"),
            Err(SessionError::DecryptionFailed)
        ));
    }
}
