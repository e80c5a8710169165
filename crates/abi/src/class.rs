//! The compiled contract classes, embedded from `artifacts/` (written by
//! `scripts/build-contracts.sh`, checked byte for byte by `--check`).

use std::sync::Arc;

use starknet_core::types::contract::SierraClass;
use starknet_core::types::{Felt, FlattenedSierraClass};

use crate::errors::AbiError;

/// Sierra JSON of the session account, as `stark-sessions-compile` (cairo-lang-starknet
/// 2.19.4, `crates/compiler`) wrote it.
pub const SESSION_ACCOUNT_SIERRA_JSON: &str =
    include_str!("../artifacts/session_account.sierra.json");
/// The compiled (CASM) class hash of the session account, hash version 2, as the Sierra
/// compiler of Starknet 0.14 (and starknet-devnet 0.10.1) makes it: what a DECLARE commits to.
/// `scripts/build-contracts.sh` changes the class; a devnet test recomputes this and fails
/// when it is stale.
pub const SESSION_ACCOUNT_COMPILED_CLASS_HASH: Felt =
    Felt::from_hex_unchecked("0x303bd3ae9fb10c3ede673b14e459dbd9041a8a4f203ac810a9ce4f09fcd0943");
/// Sierra JSON of the scoreboard target contract used by tests and the demo.
pub const SCOREBOARD_SIERRA_JSON: &str = include_str!("../artifacts/scoreboard.sierra.json");
/// Sierra JSON of the floor account: an outside execution that checks only its nonce, the
/// baseline the benchmarks measure the session checks against.
pub const FLOOR_ACCOUNT_SIERRA_JSON: &str = include_str!("../artifacts/floor_account.sierra.json");
/// Sierra JSON of the router test contract: pulls tokens by `transferFrom` on an allowance an
/// account gave it (what the loss guard catches and the selector counting does not).
pub const ROUTER_SIERRA_JSON: &str = include_str!("../artifacts/router.sierra.json");
/// The oldest Sierra version that blockifier charges in Sierra gas rather than Cairo steps;
/// every committed class carries it or a later one.
pub const MIN_SIERRA_VERSION: (u64, u64, u64) = (1, 7, 0);

/// A compiled contract class ready to be declared.
#[derive(Debug, Clone)]
pub struct CompiledClass {
    /// The class as the compiler wrote it (JSON), what a node compiles to CASM.
    pub sierra_json: &'static str,
    /// The class in the form a DECLARE transaction carries.
    pub flattened: Arc<FlattenedSierraClass>,
    /// The Sierra class hash.
    pub class_hash: Felt,
}

impl CompiledClass {
    /// Parses and hashes a Sierra JSON artifact.
    pub fn from_sierra_json(sierra_json: &'static str) -> Result<Self, AbiError> {
        let class: SierraClass = serde_json::from_str(sierra_json)
            .map_err(|e| AbiError::Class(format!("invalid Sierra JSON: {e}")))?;
        let flattened = class
            .flatten()
            .map_err(|e| AbiError::Class(format!("cannot flatten Sierra class: {e}")))?;
        let class_hash = flattened.class_hash();
        Ok(Self {
            sierra_json,
            flattened: Arc::new(flattened),
            class_hash,
        })
    }

    /// The Sierra version the class carries: the first three felts of its program.
    pub fn sierra_version(&self) -> Result<(u64, u64, u64), AbiError> {
        let part = |i: usize| -> Result<u64, AbiError> {
            let felt = self
                .flattened
                .sierra_program
                .get(i)
                .ok_or_else(|| AbiError::Class("Sierra program without a version".into()))?;
            u64::try_from(*felt).map_err(|_| AbiError::Class("Sierra version out of range".into()))
        };
        Ok((part(0)?, part(1)?, part(2)?))
    }
}

/// The session account class.
pub fn session_account() -> Result<CompiledClass, AbiError> {
    CompiledClass::from_sierra_json(SESSION_ACCOUNT_SIERRA_JSON)
}

/// The scoreboard class.
pub fn scoreboard() -> Result<CompiledClass, AbiError> {
    CompiledClass::from_sierra_json(SCOREBOARD_SIERRA_JSON)
}

/// The floor account class (benchmarks only).
pub fn floor_account() -> Result<CompiledClass, AbiError> {
    CompiledClass::from_sierra_json(FLOOR_ACCOUNT_SIERRA_JSON)
}

/// The router test contract's class (tests only).
pub fn router() -> Result<CompiledClass, AbiError> {
    CompiledClass::from_sierra_json(ROUTER_SIERRA_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_is_charged_in_sierra_gas() {
        for class in [session_account(), scoreboard(), floor_account(), router()] {
            let class = class.expect("class");
            let version = class.sierra_version().expect("version");
            assert!(
                version >= MIN_SIERRA_VERSION,
                "Sierra {version:?} is older than {MIN_SIERRA_VERSION:?}"
            );
        }
    }

    #[test]
    fn embedded_classes_parse_and_hash_differently() {
        let account = session_account().expect("session account class");
        let scoreboard = scoreboard().expect("scoreboard class");
        assert_ne!(account.class_hash, Felt::ZERO);
        assert_ne!(account.class_hash, scoreboard.class_hash);
        // The ABI names the entry points the client relies on.
        for name in [
            "execute_from_outside_v2",
            "add_or_update_session_key",
            "get_session_status",
        ] {
            assert!(account.flattened.abi.contains(name), "ABI lacks {name}");
        }
        // Every selector the client sends or reads is an external entry point of the class.
        let externals = &account.flattened.entry_points_by_type.external;
        for selector in [
            crate::constants::SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
            crate::constants::SELECTOR_REVOKE_SESSION_KEY,
            crate::constants::SELECTOR_REVOKE_ALL_SESSIONS,
            crate::constants::SELECTOR_SET_SESSION_TARGETS,
            crate::constants::SELECTOR_SET_SPENDING_POLICY,
            crate::constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
            crate::constants::SELECTOR_SUPPORTS_INTERFACE,
            crate::constants::SELECTOR_GET_SESSION_DATA,
            crate::constants::SELECTOR_GET_SESSION_STATUS,
            crate::constants::SELECTOR_GET_SESSION_ALLOWED_ENTRYPOINTS,
            crate::constants::SELECTOR_GET_SESSION_TARGETS,
            crate::constants::SELECTOR_GET_SPENDING_POLICY,
            crate::constants::SELECTOR_GET_SESSION_GENERATION,
        ] {
            assert!(
                externals.iter().any(|e| e.selector == selector),
                "{selector:#x} is not an external entry point"
            );
        }
    }
}
