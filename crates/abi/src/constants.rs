//! Selectors, interface ids, limits and SNIP-12 constants of the session account.
//!
//! The Cairo side writes these out by hand (`contracts/src/constants.cairo`); the tests below parse
//! that file and check every value against this one, and every selector against its name.

use starknet_core::types::Felt;
use starknet_macros::{felt, selector, short_string};

/// SRC-5 id of ISRC5.
pub const ISRC5_ID: Felt =
    felt!("0x3f918d17e5ee77373b56385708f855659a07f75997f365cf87748628532a055");
/// SRC-5 id of ISRC6 (accounts).
pub const ISRC6_ID: Felt =
    felt!("0x2ceccef7f994940b3962a6c67e0ba4fcd37df7d131417c604f91e03caecc1cd");
/// SRC-5 id of SNIP-9 v2 outside execution.
pub const ISRC9_V2_ID: Felt =
    felt!("0x1d1144bb2138366ff28d8e9ab57456b1d332ac42196230c3a602003c89872");
/// SRC-5 id of the session-key manager: XOR of the selectors of its three core functions.
pub const ISESSION_KEY_MANAGER_ID: Felt =
    felt!("0x37ab4f01106526662a612eaa2926df2aa314c4144b964f183805880bbcfa55d");

/// `add_or_update_session_key`.
pub const SELECTOR_ADD_OR_UPDATE_SESSION_KEY: Felt = selector!("add_or_update_session_key");
/// `revoke_session_key`.
pub const SELECTOR_REVOKE_SESSION_KEY: Felt = selector!("revoke_session_key");
/// `revoke_all_sessions`.
pub const SELECTOR_REVOKE_ALL_SESSIONS: Felt = selector!("revoke_all_sessions");
/// `set_session_targets`.
pub const SELECTOR_SET_SESSION_TARGETS: Felt = selector!("set_session_targets");
/// `set_spending_policy`.
pub const SELECTOR_SET_SPENDING_POLICY: Felt = selector!("set_spending_policy");
/// `remove_spending_policy`.
pub const SELECTOR_REMOVE_SPENDING_POLICY: Felt = selector!("remove_spending_policy");
/// `set_session_valid_after`.
pub const SELECTOR_SET_SESSION_VALID_AFTER: Felt = selector!("set_session_valid_after");
/// `set_session_rate_limit`.
pub const SELECTOR_SET_SESSION_RATE_LIMIT: Felt = selector!("set_session_rate_limit");
/// `set_session_arg_rules`.
pub const SELECTOR_SET_SESSION_ARG_RULES: Felt = selector!("set_session_arg_rules");
/// `set_session_loss_guards`.
pub const SELECTOR_SET_SESSION_LOSS_GUARDS: Felt = selector!("set_session_loss_guards");
/// `revoke_own_session`: a session's revocation of itself, the only call of an outside
/// execution it signs.
pub const SELECTOR_REVOKE_OWN_SESSION: Felt = selector!("revoke_own_session");
/// `upgrade`.
pub const SELECTOR_UPGRADE: Felt = selector!("upgrade");
/// `__execute__`.
pub const SELECTOR_EXECUTE: Felt = selector!("__execute__");
/// `set_public_key`.
pub const SELECTOR_SET_PUBLIC_KEY: Felt = selector!("set_public_key");
/// `setPublicKey`.
pub const SELECTOR_SET_PUBLIC_KEY_CAMEL: Felt = selector!("setPublicKey");
/// `execute_from_outside_v2`.
pub const SELECTOR_EXECUTE_FROM_OUTSIDE_V2: Felt = selector!("execute_from_outside_v2");
/// `transfer`.
pub const SELECTOR_TRANSFER: Felt = selector!("transfer");
/// `approve`.
pub const SELECTOR_APPROVE: Felt = selector!("approve");
/// `increase_allowance`.
pub const SELECTOR_INCREASE_ALLOWANCE: Felt = selector!("increase_allowance");
/// `increaseAllowance`.
pub const SELECTOR_INCREASE_ALLOWANCE_CAMEL: Felt = selector!("increaseAllowance");

/// ERC-20 `balance_of`: what the loss guard reads before and after a session's calls.
pub const SELECTOR_BALANCE_OF: Felt = selector!("balance_of");

/// `supports_interface` (SRC-5).
pub const SELECTOR_SUPPORTS_INTERFACE: Felt = selector!("supports_interface");
/// `get_session_data`.
pub const SELECTOR_GET_SESSION_DATA: Felt = selector!("get_session_data");
/// `get_session_status`.
pub const SELECTOR_GET_SESSION_STATUS: Felt = selector!("get_session_status");
/// `get_session_allowed_entrypoints`.
pub const SELECTOR_GET_SESSION_ALLOWED_ENTRYPOINTS: Felt =
    selector!("get_session_allowed_entrypoints");
/// `get_session_targets`.
pub const SELECTOR_GET_SESSION_TARGETS: Felt = selector!("get_session_targets");
/// `get_spending_policy`.
pub const SELECTOR_GET_SPENDING_POLICY: Felt = selector!("get_spending_policy");
/// `get_session_limits`.
pub const SELECTOR_GET_SESSION_LIMITS: Felt = selector!("get_session_limits");
/// `get_session_ruled_calls`.
pub const SELECTOR_GET_SESSION_RULED_CALLS: Felt = selector!("get_session_ruled_calls");
/// `get_session_arg_rules`.
pub const SELECTOR_GET_SESSION_ARG_RULES: Felt = selector!("get_session_arg_rules");
/// `get_session_loss_guards`.
pub const SELECTOR_GET_SESSION_LOSS_GUARDS: Felt = selector!("get_session_loss_guards");
/// `get_session_generation`.
pub const SELECTOR_GET_SESSION_GENERATION: Felt = selector!("get_session_generation");
/// `get_sessions_epoch() -> u32`: the revoke-all epoch (a session grant names it).
pub const SELECTOR_GET_SESSIONS_EPOCH: Felt = selector!("get_sessions_epoch");
/// `get_public_key() -> felt252`: the owner's public key.
pub const SELECTOR_GET_PUBLIC_KEY: Felt = selector!("get_public_key");
/// `get_owner_key_version() -> u32` (a session grant names it).
pub const SELECTOR_GET_OWNER_KEY_VERSION: Felt = selector!("get_owner_key_version");
/// `is_valid_outside_execution_nonce` (SNIP-9 v2): whether a nonce is still unused.
pub const SELECTOR_IS_VALID_OUTSIDE_EXECUTION_NONCE: Felt =
    selector!("is_valid_outside_execution_nonce");

/// Selectors a session may never call, on any contract.
pub const BLOCKED_SELECTORS: [Felt; 15] = [
    SELECTOR_UPGRADE,
    SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
    SELECTOR_REVOKE_SESSION_KEY,
    SELECTOR_EXECUTE,
    SELECTOR_SET_PUBLIC_KEY,
    SELECTOR_SET_PUBLIC_KEY_CAMEL,
    SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
    SELECTOR_SET_SPENDING_POLICY,
    SELECTOR_REMOVE_SPENDING_POLICY,
    SELECTOR_REVOKE_ALL_SESSIONS,
    SELECTOR_SET_SESSION_TARGETS,
    SELECTOR_SET_SESSION_VALID_AFTER,
    SELECTOR_SET_SESSION_RATE_LIMIT,
    SELECTOR_SET_SESSION_ARG_RULES,
    SELECTOR_SET_SESSION_LOSS_GUARDS,
];

/// ERC-20 selectors whose amount (calldata\[1..2\], a u256) counts against spending policies.
pub const TRACKED_SELECTORS: [Felt; 4] = [
    SELECTOR_TRANSFER,
    SELECTOR_APPROVE,
    SELECTOR_INCREASE_ALLOWANCE,
    SELECTOR_INCREASE_ALLOWANCE_CAMEL,
];

/// Most entrypoints a session may whitelist.
pub const MAX_ENTRYPOINTS: u32 = 64;
/// Most target contracts a session may be limited to.
pub const MAX_TARGETS: u32 = 64;
/// Most tokens with a spending policy per session.
pub const MAX_SPENDING_POLICIES: u32 = 16;
/// Longest spending window, in seconds.
pub const MAX_WINDOW_SECONDS: u64 = 0xffff_ffff;
/// Most argument rules on one (target, selector) of a session.
pub const MAX_ARG_RULES: u32 = 4;
/// Most values of one one-of argument rule.
pub const MAX_RULE_VALUES: u32 = 4;
/// Most (target, selector) pairs with argument rules per session.
pub const MAX_RULED_CALLS: u32 = 8;
/// Calldata words an argument rule may name: 0 to 255 (a u256 at 0 to 254).
pub const MAX_RULE_WORDS: u32 = 256;
/// Most loss-guarded tokens per session.
pub const MAX_LOSS_GUARDS: u32 = 4;
/// Argument rule kind: the word is one of the rule's values.
pub const RULE_ONE_OF: u8 = 1;
/// Argument rule kind: the word (or u256) is at most the rule's value.
pub const RULE_AT_MOST: u8 = 2;
/// Argument rule kind: the word (or u256) is at least the rule's value.
pub const RULE_AT_LEAST: u8 = 3;
/// How many registrations before the current one a session signature that does not verify is
/// tried against, so that a stale signature is refused as `session/registration-mismatch`
/// rather than `session/bad-signature` (only on the failure path).
pub const STALE_LOOKBACK: u32 = 8;

/// SNIP-9 caller value meaning "anyone may relay".
pub const ANY_CALLER: Felt = short_string!("ANY_CALLER");
/// SNIP-12 message prefix.
pub const STARKNET_MESSAGE: Felt = short_string!("StarkNet Message");
/// SNIP-12 domain name of SNIP-9 v2.
pub const OUTSIDE_DOMAIN_NAME: Felt = short_string!("Account.execute_from_outside");
/// SNIP-12 domain version of SNIP-9 v2 (an integer, not a short string).
pub const OUTSIDE_DOMAIN_VERSION: Felt = Felt::TWO;
/// SNIP-12 revision.
pub const SNIP12_REVISION: Felt = Felt::ONE;
/// Type hash of `StarknetDomain` (revision 1).
pub const DOMAIN_TYPE_HASH: Felt =
    felt!("0x1ff2f602e42168014d405a94f75e8a93d640751d71d16311266e140d8b0a210");
/// Type hash of SNIP-9 v2 `OutsideExecution`.
pub const OUTSIDE_EXECUTION_TYPE_HASH: Felt =
    felt!("0x312b56c05a7965066ddbda31c016d8d05afc305071c0ca3cdc2192c3c2f1f0f");
/// Type hash of SNIP-9 v2 `Call`.
pub const CALL_TYPE_HASH: Felt =
    felt!("0x3635c7f2a7ba93844c0d064e18e487f35ab90f7c39d00f186a781fc3f0c2ca9");

/// SNIP-12 domain name of a session grant.
pub const GRANT_DOMAIN_NAME: Felt = short_string!("stark-sessions");
/// SNIP-12 domain version of a session grant.
pub const GRANT_DOMAIN_VERSION: Felt = Felt::ONE;
/// The rev-1 type string of `SessionGrant`, with the types it references.
pub const SESSION_GRANT_TYPE: &str = concat!(
    r#""SessionGrant"("Account":"ContractAddress","Session Key":"felt","Valid Until":"timestamp","#,
    r#""Max Calls":"u128","Entrypoints":"selector*","Targets":"ContractAddress*","#,
    r#""Spending Limits":"SpendingLimit*","Valid After":"timestamp","#,
    r#""Rate Max Executions":"u128","Rate Window Seconds":"u128","#,
    r#""Argument Rules":"CallRules*","Loss Guards":"ContractAddress*","#,
    r#""Key Generation":"u128","Sessions Epoch":"u128","Owner Key Version":"u128")"#,
    r#""ArgRule"("Word":"u128","Kind":"shortstring","Wide":"bool","Values":"felt*")"#,
    r#""CallRules"("Target":"ContractAddress","Selector":"selector","Rules":"ArgRule*")"#,
    r#""SpendingLimit"("Token":"ContractAddress","Max Per Call":"u256","Max Per Window":"u256","#,
    r#""Window Seconds":"u128")"#,
    r#""u256"("low":"u128","high":"u128")"#,
);
/// Type hash of `SessionGrant` (`starknet_keccak` of [`SESSION_GRANT_TYPE`]).
pub const SESSION_GRANT_TYPE_HASH: Felt =
    felt!("0x1650574fb0d0dbfcb189ddb2a6d534db924ababc328cfa592d73d5b239f392a");
/// Type hash of a grant's `SpendingLimit`.
pub const SPENDING_LIMIT_TYPE_HASH: Felt =
    felt!("0x1313dd1315a95b0d6c91fa6ea9dbae20cc8f37049488acca1d818c2878426bf");
/// Type hash of a grant's `ArgRule`.
pub const ARG_RULE_TYPE_HASH: Felt =
    felt!("0x2ace28775edc36a66207ff0ad374ab75bf1d3fc784a0eff59f3e52f12e9433");
/// Type hash of a grant's `CallRules`.
pub const CALL_RULES_TYPE_HASH: Felt =
    felt!("0x25901c9d2e4a8a3ed47e5759241aad2787a67f3d3c037537f4b71294f6742fc");
/// How a grant's typed data names [`RULE_ONE_OF`].
pub const RULE_NAME_ONE_OF: Felt = short_string!("one-of");
/// How a grant's typed data names [`RULE_AT_MOST`].
pub const RULE_NAME_AT_MOST: Felt = short_string!("at-most");
/// How a grant's typed data names [`RULE_AT_LEAST`].
pub const RULE_NAME_AT_LEAST: Felt = short_string!("at-least");
/// Type hash of the rev-1 preset `u256`.
pub const U256_TYPE_HASH: Felt =
    felt!("0x3b143be38b811560b45593fb2a071ec4ddd0a020e10782be62ffe6f39e0e82c");

/// STRK's contract address: the fee token of v3 transactions, the same on mainnet, Sepolia
/// and starknet-devnet.
pub const STRK_TOKEN: Felt =
    Felt::from_hex_unchecked("0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d");

/// Starknet mainnet's chain id.
pub const CHAIN_ID_SN_MAIN: Felt = short_string!("SN_MAIN");
/// Starknet Sepolia's chain id.
pub const CHAIN_ID_SN_SEPOLIA: Felt = short_string!("SN_SEPOLIA");
/// The SNIP-9 v2 domain hash on mainnet (the contract's shortcut; a test recomputes it).
pub const DOMAIN_HASH_SN_MAIN: Felt =
    felt!("0x9951e1d5316915dc4436acce0a48afd57bb4b6c501687c151e869ab878a2ac");
/// The SNIP-9 v2 domain hash on Sepolia (the contract's shortcut; a test recomputes it).
pub const DOMAIN_HASH_SN_SEPOLIA: Felt =
    felt!("0x2534050c42890f9cad3cf470a8b54a39c4d283a246dfceb486a8755e44a91df");

/// What `is_valid_signature` returns for a valid owner signature.
pub const VALIDATED: Felt = short_string!("VALID");

/// Every constant written in `contracts/src/constants.cairo`, by its Cairo name.
pub const CAIRO_CONSTANTS: &[(&str, Felt)] = &[
    ("ISRC5_ID", ISRC5_ID),
    ("ISRC6_ID", ISRC6_ID),
    ("ISRC9_V2_ID", ISRC9_V2_ID),
    ("ISESSION_KEY_MANAGER_ID", ISESSION_KEY_MANAGER_ID),
    ("SELECTOR_UPGRADE", SELECTOR_UPGRADE),
    (
        "SELECTOR_ADD_OR_UPDATE_SESSION_KEY",
        SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
    ),
    ("SELECTOR_REVOKE_SESSION_KEY", SELECTOR_REVOKE_SESSION_KEY),
    ("SELECTOR_EXECUTE", SELECTOR_EXECUTE),
    ("SELECTOR_SET_PUBLIC_KEY", SELECTOR_SET_PUBLIC_KEY),
    (
        "SELECTOR_SET_PUBLIC_KEY_CAMEL",
        SELECTOR_SET_PUBLIC_KEY_CAMEL,
    ),
    (
        "SELECTOR_EXECUTE_FROM_OUTSIDE_V2",
        SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
    ),
    ("SELECTOR_SET_SPENDING_POLICY", SELECTOR_SET_SPENDING_POLICY),
    (
        "SELECTOR_REMOVE_SPENDING_POLICY",
        SELECTOR_REMOVE_SPENDING_POLICY,
    ),
    ("SELECTOR_REVOKE_ALL_SESSIONS", SELECTOR_REVOKE_ALL_SESSIONS),
    ("SELECTOR_SET_SESSION_TARGETS", SELECTOR_SET_SESSION_TARGETS),
    (
        "SELECTOR_SET_SESSION_VALID_AFTER",
        SELECTOR_SET_SESSION_VALID_AFTER,
    ),
    (
        "SELECTOR_SET_SESSION_RATE_LIMIT",
        SELECTOR_SET_SESSION_RATE_LIMIT,
    ),
    (
        "SELECTOR_SET_SESSION_ARG_RULES",
        SELECTOR_SET_SESSION_ARG_RULES,
    ),
    (
        "SELECTOR_SET_SESSION_LOSS_GUARDS",
        SELECTOR_SET_SESSION_LOSS_GUARDS,
    ),
    ("SELECTOR_REVOKE_OWN_SESSION", SELECTOR_REVOKE_OWN_SESSION),
    ("SELECTOR_BALANCE_OF", SELECTOR_BALANCE_OF),
    ("SELECTOR_TRANSFER", SELECTOR_TRANSFER),
    ("SELECTOR_APPROVE", SELECTOR_APPROVE),
    ("SELECTOR_INCREASE_ALLOWANCE", SELECTOR_INCREASE_ALLOWANCE),
    (
        "SELECTOR_INCREASE_ALLOWANCE_CAMEL",
        SELECTOR_INCREASE_ALLOWANCE_CAMEL,
    ),
    ("MAX_ENTRYPOINTS", Felt::from_hex_unchecked("0x40")),
    ("MAX_TARGETS", Felt::from_hex_unchecked("0x40")),
    ("MAX_SPENDING_POLICIES", Felt::from_hex_unchecked("0x10")),
    ("MAX_WINDOW_SECONDS", Felt::from_hex_unchecked("0xffffffff")),
    ("MAX_ARG_RULES", Felt::from_hex_unchecked("0x4")),
    ("MAX_RULE_VALUES", Felt::from_hex_unchecked("0x4")),
    ("MAX_RULED_CALLS", Felt::from_hex_unchecked("0x8")),
    ("MAX_RULE_WORDS", Felt::from_hex_unchecked("0x100")),
    ("MAX_LOSS_GUARDS", Felt::from_hex_unchecked("0x4")),
    ("RULE_ONE_OF", Felt::ONE),
    ("RULE_AT_MOST", Felt::TWO),
    ("RULE_AT_LEAST", Felt::THREE),
    // The record's limit bits (Cairo only: the model keeps the limits themselves).
    ("LIMIT_TERMS", Felt::ONE),
    ("LIMIT_ARG_RULES", Felt::TWO),
    ("LIMIT_LOSS_GUARD", Felt::from_hex_unchecked("0x4")),
    ("STALE_LOOKBACK", Felt::from_hex_unchecked("0x8")),
    ("ANY_CALLER", ANY_CALLER),
    ("STARKNET_MESSAGE", STARKNET_MESSAGE),
    ("OUTSIDE_DOMAIN_NAME", OUTSIDE_DOMAIN_NAME),
    ("OUTSIDE_DOMAIN_VERSION", OUTSIDE_DOMAIN_VERSION),
    ("SNIP12_REVISION", SNIP12_REVISION),
    ("DOMAIN_TYPE_HASH", DOMAIN_TYPE_HASH),
    ("OUTSIDE_EXECUTION_TYPE_HASH", OUTSIDE_EXECUTION_TYPE_HASH),
    ("GRANT_DOMAIN_NAME", GRANT_DOMAIN_NAME),
    ("GRANT_DOMAIN_VERSION", GRANT_DOMAIN_VERSION),
    ("SESSION_GRANT_TYPE_HASH", SESSION_GRANT_TYPE_HASH),
    ("SPENDING_LIMIT_TYPE_HASH", SPENDING_LIMIT_TYPE_HASH),
    ("ARG_RULE_TYPE_HASH", ARG_RULE_TYPE_HASH),
    ("CALL_RULES_TYPE_HASH", CALL_RULES_TYPE_HASH),
    ("RULE_NAME_ONE_OF", RULE_NAME_ONE_OF),
    ("RULE_NAME_AT_MOST", RULE_NAME_AT_MOST),
    ("RULE_NAME_AT_LEAST", RULE_NAME_AT_LEAST),
    ("U256_TYPE_HASH", U256_TYPE_HASH),
    ("CHAIN_ID_SN_MAIN", CHAIN_ID_SN_MAIN),
    ("CHAIN_ID_SN_SEPOLIA", CHAIN_ID_SN_SEPOLIA),
    ("DOMAIN_HASH_SN_MAIN", DOMAIN_HASH_SN_MAIN),
    ("DOMAIN_HASH_SN_SEPOLIA", DOMAIN_HASH_SN_SEPOLIA),
    ("CALL_TYPE_HASH", CALL_TYPE_HASH),
    ("STATUS_NONE", Felt::ZERO),
    ("STATUS_ACTIVE", Felt::ONE),
    ("STATUS_EXPIRED", Felt::TWO),
    ("STATUS_REVOKED", Felt::THREE),
    ("STATUS_EXHAUSTED", Felt::from_hex_unchecked("0x4")),
    ("STATUS_NOT_YET_ACTIVE", Felt::from_hex_unchecked("0x5")),
    ("VALIDATED", VALIDATED),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cairo_source::{parse_cairo_constants, CONSTANTS_CAIRO};
    use starknet_core::utils::{get_selector_from_name, starknet_keccak};

    #[test]
    fn the_public_chains_domain_hashes_are_the_computed_ones() {
        for (chain, expected) in [
            (CHAIN_ID_SN_MAIN, DOMAIN_HASH_SN_MAIN),
            (CHAIN_ID_SN_SEPOLIA, DOMAIN_HASH_SN_SEPOLIA),
        ] {
            assert_eq!(
                crate::snip12::domain_hash(chain),
                expected,
                "{:#x}",
                crate::snip12::domain_hash(chain)
            );
        }
    }

    #[test]
    fn every_cairo_constant_equals_its_rust_twin() {
        let cairo = parse_cairo_constants(CONSTANTS_CAIRO);
        assert_eq!(
            cairo.len(),
            CAIRO_CONSTANTS.len(),
            "constants.cairo and CAIRO_CONSTANTS differ in size"
        );
        for (name, value) in CAIRO_CONSTANTS {
            let cairo_value = cairo
                .get(*name)
                .unwrap_or_else(|| panic!("{name} missing in constants.cairo"));
            assert_eq!(cairo_value, value, "{name} differs between Cairo and Rust");
        }
    }

    #[test]
    fn selectors_match_their_entrypoint_names() {
        let names = [
            ("upgrade", SELECTOR_UPGRADE),
            (
                "add_or_update_session_key",
                SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
            ),
            ("revoke_session_key", SELECTOR_REVOKE_SESSION_KEY),
            ("__execute__", SELECTOR_EXECUTE),
            ("set_public_key", SELECTOR_SET_PUBLIC_KEY),
            ("setPublicKey", SELECTOR_SET_PUBLIC_KEY_CAMEL),
            ("execute_from_outside_v2", SELECTOR_EXECUTE_FROM_OUTSIDE_V2),
            ("set_spending_policy", SELECTOR_SET_SPENDING_POLICY),
            ("remove_spending_policy", SELECTOR_REMOVE_SPENDING_POLICY),
            ("revoke_all_sessions", SELECTOR_REVOKE_ALL_SESSIONS),
            ("set_session_targets", SELECTOR_SET_SESSION_TARGETS),
            ("set_session_valid_after", SELECTOR_SET_SESSION_VALID_AFTER),
            ("set_session_rate_limit", SELECTOR_SET_SESSION_RATE_LIMIT),
            ("set_session_arg_rules", SELECTOR_SET_SESSION_ARG_RULES),
            ("set_session_loss_guards", SELECTOR_SET_SESSION_LOSS_GUARDS),
            ("revoke_own_session", SELECTOR_REVOKE_OWN_SESSION),
            ("balance_of", SELECTOR_BALANCE_OF),
            ("get_session_limits", SELECTOR_GET_SESSION_LIMITS),
            ("get_session_ruled_calls", SELECTOR_GET_SESSION_RULED_CALLS),
            ("get_session_arg_rules", SELECTOR_GET_SESSION_ARG_RULES),
            ("get_session_loss_guards", SELECTOR_GET_SESSION_LOSS_GUARDS),
            ("transfer", SELECTOR_TRANSFER),
            ("approve", SELECTOR_APPROVE),
            ("increase_allowance", SELECTOR_INCREASE_ALLOWANCE),
            ("increaseAllowance", SELECTOR_INCREASE_ALLOWANCE_CAMEL),
            ("supports_interface", SELECTOR_SUPPORTS_INTERFACE),
            ("get_session_data", SELECTOR_GET_SESSION_DATA),
            ("get_session_status", SELECTOR_GET_SESSION_STATUS),
            (
                "get_session_allowed_entrypoints",
                SELECTOR_GET_SESSION_ALLOWED_ENTRYPOINTS,
            ),
            ("get_session_targets", SELECTOR_GET_SESSION_TARGETS),
            ("get_spending_policy", SELECTOR_GET_SPENDING_POLICY),
            ("get_session_generation", SELECTOR_GET_SESSION_GENERATION),
            ("get_sessions_epoch", SELECTOR_GET_SESSIONS_EPOCH),
            ("get_owner_key_version", SELECTOR_GET_OWNER_KEY_VERSION),
            ("get_public_key", SELECTOR_GET_PUBLIC_KEY),
            (
                "is_valid_outside_execution_nonce",
                SELECTOR_IS_VALID_OUTSIDE_EXECUTION_NONCE,
            ),
        ];
        for (name, value) in names {
            assert_eq!(
                get_selector_from_name(name).expect("ascii name"),
                value,
                "{name}"
            );
        }
    }

    #[test]
    fn session_manager_interface_id_is_the_xor_of_its_selectors() {
        let xor = |a: Felt, b: Felt| {
            let (a, b) = (a.to_bytes_be(), b.to_bytes_be());
            Felt::from_bytes_be(&std::array::from_fn(|i| a[i] ^ b[i]))
        };
        let id = xor(
            xor(
                SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
                SELECTOR_REVOKE_SESSION_KEY,
            ),
            get_selector_from_name("get_session_data").expect("ascii name"),
        );
        assert_eq!(id, ISESSION_KEY_MANAGER_ID);
    }

    #[test]
    fn snip12_type_hashes_match_their_type_strings() {
        let call = r#""Call"("To":"ContractAddress","Selector":"selector","Calldata":"felt*")"#;
        let outside = format!(
            r#""OutsideExecution"("Caller":"ContractAddress","Nonce":"felt","Execute After":"u128","Execute Before":"u128","Calls":"Call*"){call}"#
        );
        let domain = r#""StarknetDomain"("name":"shortstring","version":"shortstring","chainId":"shortstring","revision":"shortstring")"#;
        assert_eq!(starknet_keccak(call.as_bytes()), CALL_TYPE_HASH);
        assert_eq!(
            starknet_keccak(outside.as_bytes()),
            OUTSIDE_EXECUTION_TYPE_HASH
        );
        assert_eq!(starknet_keccak(domain.as_bytes()), DOMAIN_TYPE_HASH);
    }

    #[test]
    fn grant_type_hashes_match_their_type_strings() {
        let u256 = r#""u256"("low":"u128","high":"u128")"#;
        let from = |name: &str| {
            SESSION_GRANT_TYPE
                .find(&format!("\"{name}\"("))
                .map(|at| &SESSION_GRANT_TYPE[at..])
                .expect("the type is referenced")
        };
        let limit = from("SpendingLimit");
        let arg_rule =
            r#""ArgRule"("Word":"u128","Kind":"shortstring","Wide":"bool","Values":"felt*")"#;
        let call_rules =
            from("CallRules").replace(&from("SpendingLimit").to_string(), "") + arg_rule;
        let computed = [
            (
                "ARG_RULE_TYPE_HASH",
                starknet_keccak(arg_rule.as_bytes()),
                ARG_RULE_TYPE_HASH,
            ),
            (
                "CALL_RULES_TYPE_HASH",
                starknet_keccak(call_rules.as_bytes()),
                CALL_RULES_TYPE_HASH,
            ),
            (
                "SESSION_GRANT_TYPE_HASH",
                starknet_keccak(SESSION_GRANT_TYPE.as_bytes()),
                SESSION_GRANT_TYPE_HASH,
            ),
            (
                "SPENDING_LIMIT_TYPE_HASH",
                starknet_keccak(limit.as_bytes()),
                SPENDING_LIMIT_TYPE_HASH,
            ),
            (
                "U256_TYPE_HASH",
                starknet_keccak(u256.as_bytes()),
                U256_TYPE_HASH,
            ),
        ];
        let wrong: Vec<String> = computed
            .iter()
            .filter(|(_, hash, constant)| hash != constant)
            .map(|(name, hash, _)| format!("{name} is {hash:#x}"))
            .collect();
        assert!(wrong.is_empty(), "{wrong:?}");
    }
}
