//! Public types and interfaces of the session account.

use starknet::account::Call;
use starknet::{ClassHash, ContractAddress};

/// A session as the draft standard returns it. All zeros when the session is absent, revoked,
/// or was registered before the last `revoke_all_sessions`.
#[derive(Copy, Drop, Serde, PartialEq, Debug)]
pub struct SessionData {
    pub valid_until: u64,
    pub max_calls: u32,
    pub calls_used: u32,
    pub allowed_entrypoints_len: u32,
}

/// A spending limit of one session on one ERC-20 token, with its current window.
#[derive(Copy, Drop, Serde, PartialEq, Debug)]
pub struct SpendingPolicy {
    pub max_per_call: u256,
    pub max_per_window: u256,
    pub window_seconds: u64,
    pub spent_in_window: u256,
    pub window_start: u64,
}

/// A spending limit as a grant carries it: the terms of `set_spending_policy`.
#[derive(Copy, Drop, Serde, PartialEq, Debug)]
pub struct GrantSpendingLimit {
    pub token: ContractAddress,
    pub max_per_call: u256,
    pub max_per_window: u256,
    pub window_seconds: u64,
}

/// The argument rules a grant sets on one (target, selector): `set_session_arg_rules`'s terms.
#[derive(Copy, Drop, Serde, Debug)]
pub struct GrantCallRules {
    pub target: ContractAddress,
    pub selector: felt252,
    pub rules: Span<ArgRule>,
}

/// The owner-signed terms of a session that registers itself on its first use (SNIP-12 typed
/// data `SessionGrant`, see grant.cairo). It follows the four elements of that first outside
/// execution's session signature, and the owner's `[r, s]` follows it. The session key and
/// `valid_until` are the signature's own; the last three fields make it single-use: it is valid
/// only while the key's registration generation, the revoke-all epoch and the owner key's
/// version are the ones it names.
#[derive(Copy, Drop, Serde, Debug)]
pub struct SessionGrant {
    pub max_calls: u32,
    pub entrypoints: Span<felt252>,
    pub targets: Span<ContractAddress>,
    pub spending_limits: Span<GrantSpendingLimit>,
    /// The agent limits (components/agent_limits.cairo): 0 and empty for none.
    pub valid_after: u64,
    pub rate_max_executions: u32,
    pub rate_window_seconds: u64,
    pub arg_rules: Span<GrantCallRules>,
    pub loss_guards: Span<ContractAddress>,
    pub key_generation: u32,
    pub sessions_epoch: u32,
    pub owner_key_version: u32,
}

/// SNIP-9 v2 outside execution.
#[derive(Copy, Drop, Serde)]
pub struct OutsideExecution {
    pub caller: ContractAddress,
    pub nonce: felt252,
    pub execute_after: u64,
    pub execute_before: u64,
    pub calls: Span<Call>,
}

#[starknet::interface]
pub trait IAccount<TContractState> {
    fn __validate__(ref self: TContractState, calls: Array<Call>) -> felt252;
    fn __execute__(ref self: TContractState, calls: Array<Call>) -> Array<Span<felt252>>;
    fn __validate_declare__(self: @TContractState, class_hash: felt252) -> felt252;
    fn __validate_deploy__(
        self: @TContractState,
        class_hash: felt252,
        contract_address_salt: felt252,
        public_key: felt252,
    ) -> felt252;
    fn is_valid_signature(
        self: @TContractState, hash: felt252, signature: Array<felt252>,
    ) -> felt252;
}

#[starknet::interface]
pub trait ISRC5<TContractState> {
    fn supports_interface(self: @TContractState, interface_id: felt252) -> bool;
}

#[starknet::interface]
pub trait IOwner<TContractState> {
    fn get_public_key(self: @TContractState) -> felt252;
    fn set_public_key(ref self: TContractState, new_public_key: felt252);
    /// How many times the owner key changed: a session grant names it, so a change of owner
    /// key voids every grant signed before it.
    fn get_owner_key_version(self: @TContractState) -> u32;
    fn upgrade(ref self: TContractState, new_class_hash: ClassHash);
}

#[starknet::interface]
pub trait IOutsideExecutionV2<TContractState> {
    fn execute_from_outside_v2(
        ref self: TContractState, outside_execution: OutsideExecution, signature: Span<felt252>,
    ) -> Array<Span<felt252>>;
    fn is_valid_outside_execution_nonce(self: @TContractState, nonce: felt252) -> bool;
}

#[starknet::interface]
pub trait ISessionKeyManager<TContractState> {
    fn add_or_update_session_key(
        ref self: TContractState,
        session_key: felt252,
        valid_until: u64,
        max_calls: u32,
        allowed_entrypoints: Array<felt252>,
    );
    fn revoke_session_key(ref self: TContractState, session_key: felt252);
    fn revoke_all_sessions(ref self: TContractState);
    fn get_session_data(self: @TContractState, session_key: felt252) -> SessionData;
    fn get_session_allowed_entrypoints(
        self: @TContractState, session_key: felt252,
    ) -> Array<felt252>;
    fn get_session_status(self: @TContractState, session_key: felt252) -> u8;
    fn set_session_targets(
        ref self: TContractState, session_key: felt252, targets: Array<ContractAddress>,
    );
    fn get_session_targets(self: @TContractState, session_key: felt252) -> Array<ContractAddress>;
    fn get_sessions_epoch(self: @TContractState) -> u32;
    /// The session's registration generation: bumped by every add, update, revoke, target or
    /// policy change. A session signature is bound to `valid_until + 2^64 * generation`.
    fn get_session_generation(self: @TContractState, session_key: felt252) -> u32;
}

#[starknet::interface]
pub trait ISpendingPolicies<TContractState> {
    fn set_spending_policy(
        ref self: TContractState,
        session_key: felt252,
        token: ContractAddress,
        max_per_call: u256,
        max_per_window: u256,
        window_seconds: u64,
    );
    fn get_spending_policy(
        self: @TContractState, session_key: felt252, token: ContractAddress,
    ) -> SpendingPolicy;
    fn remove_spending_policy(
        ref self: TContractState, session_key: felt252, token: ContractAddress,
    );
}

/// A rule on one calldata word of a session's calls to one (target, selector). `kind` is
/// `RULE_ONE_OF` (the word is one of `values`, 1 to MAX_RULE_VALUES of them), `RULE_AT_MOST` or
/// `RULE_AT_LEAST` (against `values[0]`, the only value). `wide`: the bound compares the u256 of
/// words `word` (low) and `word + 1` (high) rather than the one word as a number.
#[derive(Copy, Drop, Serde, PartialEq, Debug)]
pub struct ArgRule {
    pub word: u32,
    pub kind: u8,
    pub wide: bool,
    pub values: Span<felt252>,
}

/// A (target, selector) pair a session has argument rules for.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store)]
pub struct RuledCall {
    pub target: ContractAddress,
    pub selector: felt252,
}

/// A session's start time and rate limit, with the rate window's current count. All zeros when
/// the session has none (or is not live).
#[derive(Copy, Drop, Serde, PartialEq, Debug)]
pub struct SessionLimits {
    /// The session is refused before this block time (0: from its registration).
    pub valid_after: u64,
    /// Executions allowed per window (0: no rate limit).
    pub max_executions: u32,
    pub window_seconds: u64,
    /// When the current window opened (0: none since the limit was set).
    pub window_start: u64,
    pub executions_in_window: u32,
}

/// Limits for sessions an autonomous agent holds: a start time, a rate, argument rules and a
/// loss guard (owner only), and a session's revocation of itself.
#[starknet::interface]
pub trait ISessionLimits<TContractState> {
    fn set_session_valid_after(ref self: TContractState, session_key: felt252, valid_after: u64);
    fn set_session_rate_limit(
        ref self: TContractState, session_key: felt252, max_executions: u32, window_seconds: u64,
    );
    /// Replaces the rules of the session's calls to `target.selector` (none: removes them).
    fn set_session_arg_rules(
        ref self: TContractState,
        session_key: felt252,
        target: ContractAddress,
        selector: felt252,
        rules: Array<ArgRule>,
    );
    /// Replaces the tokens whose balance the session may not lower by more than its spending
    /// policy on them still allows (each needs a policy).
    fn set_session_loss_guards(
        ref self: TContractState, session_key: felt252, tokens: Array<ContractAddress>,
    );
    fn get_session_limits(self: @TContractState, session_key: felt252) -> SessionLimits;
    fn get_session_ruled_calls(self: @TContractState, session_key: felt252) -> Array<RuledCall>;
    fn get_session_arg_rules(
        self: @TContractState, session_key: felt252, target: ContractAddress, selector: felt252,
    ) -> Array<ArgRule>;
    fn get_session_loss_guards(
        self: @TContractState, session_key: felt252,
    ) -> Array<ContractAddress>;
}

/// A session key's revocation of itself.
#[starknet::interface]
pub trait ISelfRevocation<TContractState> {
    /// Revokes the session that signed the running outside execution, of which it must be the
    /// only call. On any other path (the owner's, a paymaster simulating the calls as the
    /// account's own) it changes nothing; in a session's multicall it is a self-call, refused.
    fn revoke_own_session(ref self: TContractState);
}
