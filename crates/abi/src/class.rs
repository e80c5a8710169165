//! The compiled contract classes, embedded from `artifacts/` (written by
//! `scripts/build-contracts.sh`, checked byte for byte by `--check`).

use std::sync::Arc;

use starknet_core::types::contract::SierraClass;
use starknet_core::types::{Felt, FlattenedSierraClass};

use crate::errors::AbiError;

/// Sierra JSON of the session account, as `starknet-compile` 2.1.0 wrote it.
pub const SESSION_ACCOUNT_SIERRA_JSON: &str =
    include_str!("../artifacts/session_account.sierra.json");
/// The compiled (CASM) class hash of the session account, hash version 2, as the Sierra
/// compiler of Starknet 0.14 (and starknet-devnet 0.10.1) makes it: what a DECLARE commits to.
/// `scripts/build-contracts.sh` changes the class; a devnet test recomputes this and fails
/// when it is stale.
pub const SESSION_ACCOUNT_COMPILED_CLASS_HASH: Felt =
    Felt::from_hex_unchecked("0x13cb4167223cfd672e378e9444a808cd2724fafbfe9f595b3dc7503d156ebcd");
/// Sierra JSON of the scoreboard target contract used by tests and the demo.
pub const SCOREBOARD_SIERRA_JSON: &str = include_str!("../artifacts/scoreboard.sierra.json");

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
}

/// The session account class.
pub fn session_account() -> Result<CompiledClass, AbiError> {
    CompiledClass::from_sierra_json(SESSION_ACCOUNT_SIERRA_JSON)
}

/// The scoreboard class.
pub fn scoreboard() -> Result<CompiledClass, AbiError> {
    CompiledClass::from_sierra_json(SCOREBOARD_SIERRA_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

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
