//! SNIP-12 revision 1 hashing of a SNIP-9 v2 OutsideExecution, with fixed-arity Poseidon
//! sponges (no arrays, no loops) wherever the number of elements is fixed.

use core::poseidon::{hades_permutation, poseidon_hash_span};
use starknet::ContractAddress;
use starknet::account::Call;
use crate::constants;
use crate::interfaces::OutsideExecution;

/// poseidon_hash_span([a, b]).
#[inline(always)]
pub fn hash_2(a: felt252, b: felt252) -> felt252 {
    let (s0, s1, s2) = hades_permutation(a, b, 0);
    let (out, _, _) = hades_permutation(s0 + 1, s1, s2);
    out
}

/// poseidon_hash_span([a, b, c, d]).
#[inline(always)]
pub fn hash_4(a: felt252, b: felt252, c: felt252, d: felt252) -> felt252 {
    let (s0, s1, s2) = hades_permutation(a, b, 0);
    let (s0, s1, s2) = hades_permutation(s0 + c, s1 + d, s2);
    let (out, _, _) = hades_permutation(s0 + 1, s1, s2);
    out
}

/// poseidon_hash_span([a, b, c, d, e]).
#[inline(always)]
pub fn hash_5(a: felt252, b: felt252, c: felt252, d: felt252, e: felt252) -> felt252 {
    let (s0, s1, s2) = hades_permutation(a, b, 0);
    let (s0, s1, s2) = hades_permutation(s0 + c, s1 + d, s2);
    let (out, _, _) = hades_permutation(s0 + e, s1 + 1, s2);
    out
}

/// poseidon_hash_span([a, b, c, d, e, f]).
#[inline(always)]
pub fn hash_6(a: felt252, b: felt252, c: felt252, d: felt252, e: felt252, f: felt252) -> felt252 {
    let (s0, s1, s2) = hades_permutation(a, b, 0);
    let (s0, s1, s2) = hades_permutation(s0 + c, s1 + d, s2);
    let (s0, s1, s2) = hades_permutation(s0 + e, s1 + f, s2);
    let (out, _, _) = hades_permutation(s0 + 1, s1, s2);
    out
}

#[inline(always)]
fn hash_call(call: @Call) -> felt252 {
    hash_4(
        constants::CALL_TYPE_HASH,
        (*call.to).into(),
        *call.selector,
        poseidon_hash_span(*call.calldata),
    )
}

/// poseidon_hash_span([a]).
#[inline(always)]
fn hash_1(a: felt252) -> felt252 {
    let (out, _, _) = hades_permutation(a, 1, 0);
    out
}

/// The SNIP-12 hash of the calls array: one call (the common case) without building an array.
#[inline(always)]
fn hash_calls(calls: Span<Call>) -> felt252 {
    if calls.len() == 1 {
        return hash_1(hash_call(calls.at(0)));
    }
    let mut call_hashes = array![];
    for call in calls {
        call_hashes.append(hash_call(call));
    }
    poseidon_hash_span(call_hashes.span())
}

/// The SNIP-12 struct hash of an outside execution.
#[inline(always)]
pub fn hash_outside_execution(outside_execution: @OutsideExecution) -> felt252 {
    hash_6(
        constants::OUTSIDE_EXECUTION_TYPE_HASH,
        (*outside_execution.caller).into(),
        *outside_execution.nonce,
        (*outside_execution.execute_after).into(),
        (*outside_execution.execute_before).into(),
        hash_calls(*outside_execution.calls),
    )
}

/// The SNIP-9 v2 domain's hash: a constant on Starknet's public chains, computed elsewhere.
#[inline(always)]
pub fn hash_domain(chain_id: felt252) -> felt252 {
    if chain_id == constants::CHAIN_ID_SN_MAIN {
        return constants::DOMAIN_HASH_SN_MAIN;
    }
    if chain_id == constants::CHAIN_ID_SN_SEPOLIA {
        return constants::DOMAIN_HASH_SN_SEPOLIA;
    }
    hash_5(
        constants::DOMAIN_TYPE_HASH,
        constants::OUTSIDE_DOMAIN_NAME,
        constants::OUTSIDE_DOMAIN_VERSION,
        chain_id,
        constants::SNIP12_REVISION,
    )
}

/// The message an owner signs for an outside execution on `account`.
#[inline(always)]
pub fn outside_execution_message_hash(
    outside_execution: @OutsideExecution, account: ContractAddress, chain_id: felt252,
) -> felt252 {
    hash_4(
        constants::STARKNET_MESSAGE,
        hash_domain(chain_id),
        account.into(),
        hash_outside_execution(outside_execution),
    )
}

/// What a session key signs: the message hash bound to one registration of the key
/// (`SessionRecordTrait::registration`).
#[inline(always)]
pub fn session_message_hash(message_hash: felt252, registration: felt252) -> felt252 {
    hash_2(message_hash, registration)
}
