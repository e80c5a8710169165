#![doc = include_str!("../README.md")]

pub mod class;
pub mod constants;
pub mod errors;
pub mod grant;
pub mod limits;
pub mod model;
pub mod serde;
pub mod snip12;
pub mod typed_data;
pub mod types;

#[cfg(test)]
mod cairo_source;

pub use errors::{AbiError, ContractError};
pub use grant::{GrantCallRules, GrantSpendingLimit, SessionGrant, SignedGrant};
pub use limits::{AgentLimits, ArgRule, RuleKind, RuledCall, SessionLimits};
pub use model::{AccountModel, SessionSnapshot};
pub use serde::CairoSerde;
pub use types::{OutsideExecution, SessionData, SessionStatus, SpendingPolicy, U256};

/// Re-export of the field element type used throughout the ABI.
pub use starknet_core::types::{Call, Felt};
