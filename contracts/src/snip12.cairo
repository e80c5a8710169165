//! SNIP-12 revision 1 hashing of a SNIP-9 v2 OutsideExecution, with fixed-arity Poseidon
//! sponges (no arrays, no loops) wherever the number of elements is fixed.

use array::{ArrayTrait, SpanTrait};
use poseidon::{hades_permutation, poseidon_hash_span};
use traits::Into;
use starknet::ContractAddress;
use starknet::account::Call;
use stark_sessions::constants;
use stark_sessions::interfaces::OutsideExecution;

/// poseidon_hash_span([a, b, c, d]).
fn hash_4(a: felt252, b: felt252, c: felt252, d: felt252) -> felt252 {
    let (s0, s1, s2) = hades_permutation(a, b, 0);
    let (s0, s1, s2) = hades_permutation(s0 + c, s1 + d, s2);
    let (out, _, _) = hades_permutation(s0 + 1, s1, s2);
    out
}

/// poseidon_hash_span([a, b, c, d, e]).
fn hash_5(a: felt252, b: felt252, c: felt252, d: felt252, e: felt252) -> felt252 {
    let (s0, s1, s2) = hades_permutation(a, b, 0);
    let (s0, s1, s2) = hades_permutation(s0 + c, s1 + d, s2);
    let (out, _, _) = hades_permutation(s0 + e, s1 + 1, s2);
    out
}

/// poseidon_hash_span([a, b, c, d, e, f]).
fn hash_6(a: felt252, b: felt252, c: felt252, d: felt252, e: felt252, f: felt252) -> felt252 {
    let (s0, s1, s2) = hades_permutation(a, b, 0);
    let (s0, s1, s2) = hades_permutation(s0 + c, s1 + d, s2);
    let (s0, s1, s2) = hades_permutation(s0 + e, s1 + f, s2);
    let (out, _, _) = hades_permutation(s0 + 1, s1, s2);
    out
}

// The 2.1 Sierra-to-CASM compiler cannot keep values live across a loop (poseidon_hash_span)
// evaluated as a later argument: every span hash is computed first, into its own variable.
fn hash_call(call: @Call) -> felt252 {
    let calldata_hash = poseidon_hash_span(call.calldata.span());
    hash_4(constants::CALL_TYPE_HASH, (*call.to).into(), *call.selector, calldata_hash)
}

fn hash_outside_execution(outside_execution: @OutsideExecution) -> felt252 {
    let mut call_hashes = ArrayTrait::new();
    let mut calls = *outside_execution.calls;
    loop {
        match calls.pop_front() {
            Option::Some(call) => call_hashes.append(hash_call(call)),
            Option::None => { break; },
        };
    };
    let calls_hash = poseidon_hash_span(call_hashes.span());
    hash_6(
        constants::OUTSIDE_EXECUTION_TYPE_HASH,
        (*outside_execution.caller).into(),
        *outside_execution.nonce,
        (*outside_execution.execute_after).into(),
        (*outside_execution.execute_before).into(),
        calls_hash
    )
}

/// The SNIP-9 v2 domain's hash: a constant on Starknet's public chains, computed elsewhere.
fn hash_domain(chain_id: felt252) -> felt252 {
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
        constants::SNIP12_REVISION
    )
}

/// The message an owner signs for an outside execution on `account`.
fn outside_execution_message_hash(
    outside_execution: @OutsideExecution, account: ContractAddress, chain_id: felt252
) -> felt252 {
    let struct_hash = hash_outside_execution(outside_execution);
    let domain = hash_domain(chain_id);
    hash_4(constants::STARKNET_MESSAGE, domain, account.into(), struct_hash)
}

/// What a session key signs: the message hash bound to one registration of the key. (A span
/// hash: a fixed-arity one here trips the 2.1 Sierra-to-CASM compiler in the caller.)
fn session_message_hash(message_hash: felt252, registration: felt252) -> felt252 {
    let mut signed = ArrayTrait::new();
    signed.append(message_hash);
    signed.append(registration);
    poseidon_hash_span(signed.span())
}
