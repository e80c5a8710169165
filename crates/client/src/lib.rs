#![doc = include_str!("../README.md")]

// One way, from the bottom up: error, pin, secret, envelope, keys, handle, session, store,
// counterfactual, paymaster, client, execution, lifecycle, deploy — each module uses only
// modules before it (the `layering` test holds them to that order).
pub mod client;
pub mod counterfactual;
pub mod deploy;
pub mod envelope;
pub mod error;
pub mod execution;
pub mod handle;
pub mod keys;
pub mod lifecycle;
pub mod limits;
pub mod paymaster;
pub mod pin;
pub mod secret;
pub mod session;
pub mod store;

#[cfg(test)]
mod layering;

pub use client::{
    ErrorContext, GrantBasis, Owner, SessionClient, SessionConfig, SessionInfo, SessionSpec,
    DEFAULT_MAX_EXECUTION_WINDOW,
};
pub use counterfactual::Deployment;
pub use deploy::{Declared, Deployed};
pub use envelope::{import_legacy, EnvelopeParams, OwnerEnvelopeParams};
pub use error::{SessionDetails, SessionError};
pub use execution::{verify_typed_data, SigningWindow};
pub use handle::{HandleInfo, SessionHandle, DEFAULT_HANDLE_TIMEOUT};
pub use keys::{create_session_key, SessionKeyData, DEFAULT_SESSION_DURATION};
pub use lifecycle::{check_grant, grant_of, grant_session};
pub use limits::{AgentLimitSpec, CallRules, RateLimit};
pub use paymaster::{ClientSessionToken, Executed, PaymasterAuth, PaymasterClient, TokenLimits};
pub use pin::{check_new_pin, check_owner_passphrase, MIN_OWNER_PASSPHRASE_SCORE, MIN_PIN_LEN};
pub use secret::SessionSecret;
pub use session::{Authorization, Session, SpendingLimit};
pub use stark_sessions_abi::{SessionGrant, SignedGrant};
pub use stark_sessions_rpc::{ChainMismatch, Network};
pub use store::SessionStore;

/// The repository README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct RepositoryReadme;
