//! Cross-crate tests against an embedded devnet: every test starts its own node (ephemeral
//! port, fixed seed) and deploys what it needs.

mod account;
mod argent;
mod client;
mod client_retry;
mod devnet;
mod differential;
mod faults;
mod gas;
mod identity;
mod instances;
mod keys;
mod node_work;
mod onboarding;
mod outside;
mod paymaster;
mod paymaster_engine;
mod registration;
mod session_rules;
mod spending;
