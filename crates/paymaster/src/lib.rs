#![doc = include_str!("../README.md")]

// The starknet-rust macros expand to `::starknet_rust::…`; this crate imports the package as
// `starknet`.
extern crate starknet as starknet_rust;

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod relayer;
pub mod service;
pub mod store;

pub use config::{PaymasterConfig, RelayerConfig};
pub use error::PaymasterError;
pub use http::{PaymasterServer, API_KEY_HEADER};
pub use service::Paymaster;
pub use store::{SqliteStore, Store};
