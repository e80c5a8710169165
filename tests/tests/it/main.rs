//! Cross-crate tests against an embedded devnet: every test starts its own node (ephemeral
//! port, fixed seed) and deploys what it needs (`interop` hashes typed data with starknet.js
//! and needs no devnet).

mod account;
mod agent_limits;
mod argent;
mod classes;
mod client;
mod client_grants;
mod client_limits;
mod client_retry;
mod devnet;
mod differential;
mod faults;
mod gas;
mod grants;
mod hostile;
mod identity;
mod instances;
mod interop;
mod keys;
mod node_work;
mod onboarding;
mod ops;
mod outside;
mod paymaster;
mod paymaster_engine;
mod registration;
mod session_rules;
mod spending;
