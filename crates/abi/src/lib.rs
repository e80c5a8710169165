#![doc = include_str!("../README.md")]

// The starknet-rust macros (`selector!`, `felt!`) expand to `::starknet_rust::…`; this crate
// imports the package under the name `starknet`, so make the original name resolvable too.
extern crate starknet as starknet_rust;

pub mod class;
pub mod constants;
pub mod errors;
pub mod model;
pub mod serde;
pub mod snip12;
pub mod typed_data;
pub mod types;

#[cfg(test)]
mod cairo_source;

pub use errors::{AbiError, ContractError};
pub use model::{AccountModel, SessionSnapshot};
pub use serde::CairoSerde;
pub use types::{OutsideExecution, SessionData, SessionStatus, SpendingPolicy, U256};

/// Re-export of the field element type used throughout the ABI.
pub use starknet::core::types::{Call, Felt};
