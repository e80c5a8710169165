#![doc = include_str!("../README.md")]

// The starknet-rust macros expand to `::starknet_rust::…`; this crate imports the package as
// `starknet`.
extern crate starknet as starknet_rust;

pub mod api;
pub mod auth;
mod chain;
mod classes;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
mod estimates;
pub mod health;
pub mod http;
pub mod identity;
mod intake;
pub mod jwt;
pub mod lifecycle;
pub mod metrics;
pub mod node_error;
mod nonces;
mod quote;
pub mod relayer;
mod secrets;
pub mod service;
pub mod settlement;
pub mod store;

pub use config::{PaymasterConfig, RelayerConfig};
pub use engine::{Action, FailPoints, NoFailPoints, Step};
pub use error::PaymasterError;
pub use http::{PaymasterServer, API_KEY_HEADER};
pub use lifecycle::{ExecutionState, TxState};
pub use service::Paymaster;
pub use store::{Database, PostgresStore, SqliteStore, Store};
