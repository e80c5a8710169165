#![doc = include_str!("../README.md")]

mod deploy;
mod node;

pub use deploy::{execution_resources, DevnetAccount, SessionAccountHandle};
pub use node::{
    Devnet, DevnetOptions, PredeployedAccount, ARGENT_ACCOUNT_CLASS_HASH, ARGENT_ACCOUNT_VERSION,
    NODE_URL_ENV,
};

use starknet::core::types::Felt;

/// The STRK token predeployed on the devnet (fee token of v3 transactions).
pub const STRK_ADDRESS: Felt = stark_sessions_abi::constants::STRK_TOKEN;
/// The ETH token predeployed on the devnet.
pub const ETH_ADDRESS: Felt =
    Felt::from_hex_unchecked("0x049d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7");

/// Errors of the devnet helpers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// The embedded devnet could not start.
    #[error("devnet failed to start: {0}")]
    Start(String),
    /// The node's JSON-RPC answered with an error or not at all.
    #[error("node request {method} failed: {reason}")]
    Rpc {
        /// The JSON-RPC method.
        method: String,
        /// What went wrong.
        reason: String,
    },
    /// A transaction was refused or reverted.
    #[error("transaction failed: {0}")]
    Transaction(String),
    /// A contract class could not be prepared.
    #[error(transparent)]
    Abi(#[from] stark_sessions_abi::AbiError),
}
