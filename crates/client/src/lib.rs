#![doc = include_str!("../README.md")]

pub mod client;
pub mod deploy;
pub mod envelope;
pub mod error;
pub mod handle;
pub mod keys;
pub mod paymaster;
pub mod pin;
pub mod session;
pub mod store;

pub use client::{
    verify_typed_data, ErrorContext, Owner, SessionClient, SessionConfig, SessionInfo, SessionSpec,
    SigningWindow, DEFAULT_MAX_EXECUTION_WINDOW,
};
pub use deploy::{Declared, Deployed, Deployment};
pub use envelope::{import_legacy, EnvelopeParams, OwnerEnvelopeParams};
pub use error::{SessionDetails, SessionError};
pub use handle::{HandleInfo, SessionHandle, DEFAULT_HANDLE_TIMEOUT};
pub use keys::{create_session_key, SessionKeyData, SessionSecret, DEFAULT_SESSION_DURATION};
pub use paymaster::{ClientSessionToken, Executed, PaymasterAuth, PaymasterClient, TokenLimits};
pub use pin::{check_new_pin, check_owner_passphrase, MIN_OWNER_PASSPHRASE_SCORE, MIN_PIN_LEN};
pub use session::{Authorization, Session, SpendingLimit};
pub use stark_sessions_rpc::{ChainMismatch, Network};
pub use store::SessionStore;

/// The repository README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct RepositoryReadme;
