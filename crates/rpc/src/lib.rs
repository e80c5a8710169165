//! The one JSON-RPC helper for Starknet node calls, shared by the stark-sessions client and
//! paymaster: a node handle whose requests time out, views and the latest block's time at the
//! tags both use, and the networks with the chain id each must answer before anything is
//! signed for it.

mod network;
mod node;

pub use network::{chain_name, ChainMismatch, Network};
pub use node::{block_timestamp, chain_id, connect, view, Node, DEFAULT_TIMEOUT};
