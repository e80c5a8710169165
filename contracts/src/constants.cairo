//! Selectors, interface ids, limits and SNIP-12 type hashes. The Rust crate recomputes every
//! one of them in a test (`stark_sessions_abi::constants`).

// SRC-5 interface ids.
pub const ISRC5_ID: felt252 = 0x3f918d17e5ee77373b56385708f855659a07f75997f365cf87748628532a055;
pub const ISRC6_ID: felt252 = 0x2ceccef7f994940b3962a6c67e0ba4fcd37df7d131417c604f91e03caecc1cd;
pub const ISRC9_V2_ID: felt252 = 0x1d1144bb2138366ff28d8e9ab57456b1d332ac42196230c3a602003c89872;
// XOR of the selectors of add_or_update_session_key, revoke_session_key, get_session_data.
pub const ISESSION_KEY_MANAGER_ID: felt252 =
    0x37ab4f01106526662a612eaa2926df2aa314c4144b964f183805880bbcfa55d;

// Selectors a session may never call, on any contract.
pub const SELECTOR_UPGRADE: felt252 = selector!("upgrade");
pub const SELECTOR_ADD_OR_UPDATE_SESSION_KEY: felt252 = selector!("add_or_update_session_key");
pub const SELECTOR_REVOKE_SESSION_KEY: felt252 = selector!("revoke_session_key");
pub const SELECTOR_EXECUTE: felt252 = selector!("__execute__");
pub const SELECTOR_SET_PUBLIC_KEY: felt252 = selector!("set_public_key");
pub const SELECTOR_SET_PUBLIC_KEY_CAMEL: felt252 = selector!("setPublicKey");
pub const SELECTOR_EXECUTE_FROM_OUTSIDE_V2: felt252 = selector!("execute_from_outside_v2");
pub const SELECTOR_SET_SPENDING_POLICY: felt252 = selector!("set_spending_policy");
pub const SELECTOR_REMOVE_SPENDING_POLICY: felt252 = selector!("remove_spending_policy");
pub const SELECTOR_REVOKE_ALL_SESSIONS: felt252 = selector!("revoke_all_sessions");
pub const SELECTOR_SET_SESSION_TARGETS: felt252 = selector!("set_session_targets");
pub const SELECTOR_SET_SESSION_VALID_AFTER: felt252 = selector!("set_session_valid_after");
pub const SELECTOR_SET_SESSION_RATE_LIMIT: felt252 = selector!("set_session_rate_limit");
pub const SELECTOR_SET_SESSION_ARG_RULES: felt252 = selector!("set_session_arg_rules");
pub const SELECTOR_SET_SESSION_LOSS_GUARDS: felt252 = selector!("set_session_loss_guards");

// A session's own revocation: the only call of an outside execution that session signed.
pub const SELECTOR_REVOKE_OWN_SESSION: felt252 = selector!("revoke_own_session");
// ERC-20 balance, read before and after a loss-guarded session's calls.
pub const SELECTOR_BALANCE_OF: felt252 = selector!("balance_of");

// ERC-20 selectors whose amount (calldata[1..2], a u256) counts against spending policies.
pub const SELECTOR_TRANSFER: felt252 = selector!("transfer");
pub const SELECTOR_APPROVE: felt252 = selector!("approve");
pub const SELECTOR_INCREASE_ALLOWANCE: felt252 = selector!("increase_allowance");
pub const SELECTOR_INCREASE_ALLOWANCE_CAMEL: felt252 = selector!("increaseAllowance");

// Bounds that keep every admin entry point's gas bounded.
pub const MAX_ENTRYPOINTS: u32 = 64;
pub const MAX_TARGETS: u32 = 64;
pub const MAX_SPENDING_POLICIES: u32 = 16;
// Longest spending window; keeps `window_start + window_seconds` far from u64 overflow.
pub const MAX_WINDOW_SECONDS: u64 = 0xffffffff;
// Agent limits: argument rules per (target, selector), values per one-of rule, ruled
// (target, selector) pairs per session, calldata words a rule may name, loss-guarded tokens.
pub const MAX_ARG_RULES: u32 = 4;
pub const MAX_RULE_VALUES: u32 = 4;
pub const MAX_RULED_CALLS: u32 = 8;
pub const MAX_RULE_WORDS: u32 = 256;
pub const MAX_LOSS_GUARDS: u32 = 4;
// Argument rule kinds: the word is one of the rule's values; at most its value; at least it.
pub const RULE_ONE_OF: u8 = 1;
pub const RULE_AT_MOST: u8 = 2;
pub const RULE_AT_LEAST: u8 = 3;
// The record's limit bits: a start time or a rate limit; argument rules; a loss guard.
pub const LIMIT_TERMS: u16 = 1;
pub const LIMIT_ARG_RULES: u16 = 2;
pub const LIMIT_LOSS_GUARD: u16 = 4;
// How many registrations before the current one a failing session signature is tried against,
// to refuse a stale one as such (failure path only).
pub const STALE_LOOKBACK: u32 = 8;

// SNIP-9 / SNIP-12.
pub const ANY_CALLER: felt252 = 'ANY_CALLER';
pub const STARKNET_MESSAGE: felt252 = 'StarkNet Message';
pub const OUTSIDE_DOMAIN_NAME: felt252 = 'Account.execute_from_outside';
pub const OUTSIDE_DOMAIN_VERSION: felt252 = 2;
pub const SNIP12_REVISION: felt252 = 1;
pub const DOMAIN_TYPE_HASH: felt252 = 0x1ff2f602e42168014d405a94f75e8a93d640751d71d16311266e140d8b0a210;
pub const OUTSIDE_EXECUTION_TYPE_HASH: felt252 =
    0x312b56c05a7965066ddbda31c016d8d05afc305071c0ca3cdc2192c3c2f1f0f;
// SNIP-12 domain and type hashes of a session grant (grant.cairo).
pub const GRANT_DOMAIN_NAME: felt252 = 'stark-sessions';
pub const GRANT_DOMAIN_VERSION: felt252 = 1;
pub const SESSION_GRANT_TYPE_HASH: felt252 =
    0x1650574fb0d0dbfcb189ddb2a6d534db924ababc328cfa592d73d5b239f392a;
pub const SPENDING_LIMIT_TYPE_HASH: felt252 =
    0x1313dd1315a95b0d6c91fa6ea9dbae20cc8f37049488acca1d818c2878426bf;
pub const ARG_RULE_TYPE_HASH: felt252 = 0x2ace28775edc36a66207ff0ad374ab75bf1d3fc784a0eff59f3e52f12e9433;
pub const CALL_RULES_TYPE_HASH: felt252 = 0x25901c9d2e4a8a3ed47e5759241aad2787a67f3d3c037537f4b71294f6742fc;
// How a grant's typed data names an argument rule's kind (RULE_*).
pub const RULE_NAME_ONE_OF: felt252 = 'one-of';
pub const RULE_NAME_AT_MOST: felt252 = 'at-most';
pub const RULE_NAME_AT_LEAST: felt252 = 'at-least';
pub const U256_TYPE_HASH: felt252 =
    0x3b143be38b811560b45593fb2a071ec4ddd0a020e10782be62ffe6f39e0e82c;
// The SNIP-9 v2 domain's hash on Starknet's public chains (computed once; tied by a Rust test).
pub const CHAIN_ID_SN_MAIN: felt252 = 'SN_MAIN';
pub const CHAIN_ID_SN_SEPOLIA: felt252 = 'SN_SEPOLIA';
pub const DOMAIN_HASH_SN_MAIN: felt252 =
    0x9951e1d5316915dc4436acce0a48afd57bb4b6c501687c151e869ab878a2ac;
pub const DOMAIN_HASH_SN_SEPOLIA: felt252 =
    0x2534050c42890f9cad3cf470a8b54a39c4d283a246dfceb486a8755e44a91df;
pub const CALL_TYPE_HASH: felt252 = 0x3635c7f2a7ba93844c0d064e18e487f35ab90f7c39d00f186a781fc3f0c2ca9;

// Values returned by get_session_status.
pub const STATUS_NONE: u8 = 0;
pub const STATUS_ACTIVE: u8 = 1;
pub const STATUS_EXPIRED: u8 = 2;
pub const STATUS_REVOKED: u8 = 3;
pub const STATUS_EXHAUSTED: u8 = 4;
pub const STATUS_NOT_YET_ACTIVE: u8 = 5;

pub const VALIDATED: felt252 = 'VALID';
