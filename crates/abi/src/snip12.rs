//! SNIP-12 revision 1 hashing of SNIP-9 v2 outside executions, exactly as the contract does it.

use starknet_core::types::{Call, Felt};
use starknet_crypto::poseidon_hash_many;

pub use crate::constants::ANY_CALLER;
use crate::constants::{
    CALL_TYPE_HASH, DOMAIN_TYPE_HASH, OUTSIDE_DOMAIN_NAME, OUTSIDE_DOMAIN_VERSION,
    OUTSIDE_EXECUTION_TYPE_HASH, SNIP12_REVISION, STARKNET_MESSAGE,
};
use crate::types::OutsideExecution;

/// `poseidon(CALL_TYPE_HASH, to, selector, poseidon(calldata))`.
pub fn call_hash(call: &Call) -> Felt {
    poseidon_hash_many(&[
        CALL_TYPE_HASH,
        call.to,
        call.selector,
        poseidon_hash_many(&call.calldata),
    ])
}

/// The struct hash of an outside execution.
pub fn outside_execution_struct_hash(outside: &OutsideExecution) -> Felt {
    let call_hashes: Vec<Felt> = outside.calls.iter().map(call_hash).collect();
    poseidon_hash_many(&[
        OUTSIDE_EXECUTION_TYPE_HASH,
        outside.caller,
        outside.nonce,
        Felt::from(outside.execute_after),
        Felt::from(outside.execute_before),
        poseidon_hash_many(&call_hashes),
    ])
}

/// The hash of the SNIP-9 v2 domain on a chain.
pub fn domain_hash(chain_id: Felt) -> Felt {
    poseidon_hash_many(&[
        DOMAIN_TYPE_HASH,
        OUTSIDE_DOMAIN_NAME,
        OUTSIDE_DOMAIN_VERSION,
        chain_id,
        SNIP12_REVISION,
    ])
}

/// The registration a session signature is bound to: `valid_until + 2^64 * generation`,
/// hashed with the message ([`session_message_hash`]). The signature itself is
/// `[session_key, r, s, valid_until]`, as the reference SDK documents it.
pub fn session_registration(valid_until: u64, generation: u32) -> Felt {
    Felt::from(valid_until) + Felt::from(generation) * Felt::TWO.pow(64u8)
}

/// The `valid_until` and generation of a registration made by [`session_registration`]; the
/// generation is `None` when the value has bits above the 96 that registration uses.
pub fn split_registration(registration: Felt) -> (u64, Option<u32>) {
    let bytes = registration.to_bytes_be();
    let valid_until = u64::from_be_bytes(bytes[24..32].try_into().unwrap_or_default());
    let generation = u32::from_be_bytes(bytes[20..24].try_into().unwrap_or_default());
    let fits = bytes[..20].iter().all(|b| *b == 0);
    (valid_until, fits.then_some(generation))
}

/// What a session key signs: the outside execution's message hash bound to one registration
/// of the key, `poseidon(message_hash, registration)`. A signature made under one registration
/// is refused under every later one (revoke and re-add, revoke-all and re-add, any update).
pub fn session_message_hash(message_hash: Felt, registration: Felt) -> Felt {
    poseidon_hash_many(&[message_hash, registration])
}

/// A session signature as the account reads it: `[session_key, r, s, valid_until]` (the
/// reference SDK's layout), where `(r, s)` signs [`session_message_hash`] of the message and
/// the key's current registration.
pub fn session_signature(session_key: Felt, r: Felt, s: Felt, valid_until: u64) -> Vec<Felt> {
    vec![session_key, r, s, Felt::from(valid_until)]
}

/// The message an owner signs for an outside execution on `account` (a session key signs it
/// bound to its registration: [`session_message_hash`]).
pub fn outside_execution_hash(outside: &OutsideExecution, account: Felt, chain_id: Felt) -> Felt {
    poseidon_hash_many(&[
        STARKNET_MESSAGE,
        domain_hash(chain_id),
        account,
        outside_execution_struct_hash(outside),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_hash_matches_an_independent_computation() {
        // Expected value computed outside this crate (Python, poseidon over the same fields),
        // for: account 0xacc0, chain SN_SEPOLIA, caller ANY_CALLER, nonce 7, window (0, 2e9),
        // one call to 0x1234 `record_score` with calldata [10].
        let outside = OutsideExecution {
            caller: ANY_CALLER,
            nonce: Felt::from(7u8),
            execute_after: 0,
            execute_before: 2_000_000_000,
            calls: vec![Call {
                to: Felt::from(0x1234u32),
                selector: starknet_macros::selector!("record_score"),
                calldata: vec![Felt::from(10u8)],
            }],
        };
        let chain = starknet_macros::short_string!("SN_SEPOLIA");
        let hash = outside_execution_hash(&outside, Felt::from(0xacc0u32), chain);
        assert_eq!(hash, Felt::from_hex_unchecked(EXPECTED_HASH));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = OutsideExecution {
            caller: ANY_CALLER,
            nonce: Felt::ONE,
            execute_after: 1,
            execute_before: 2,
            calls: vec![Call {
                to: Felt::TWO,
                selector: Felt::THREE,
                calldata: vec![Felt::ONE],
            }],
        };
        let h = |o: &OutsideExecution, account: u8, chain: u8| {
            outside_execution_hash(o, Felt::from(account), Felt::from(chain))
        };
        let reference = h(&base, 9, 9);
        let mut variants = vec![h(&base, 8, 9), h(&base, 9, 8)];
        let mut edit = |f: &dyn Fn(&mut OutsideExecution)| {
            let mut o = base.clone();
            f(&mut o);
            variants.push(h(&o, 9, 9));
        };
        edit(&|o| o.caller = Felt::ZERO);
        edit(&|o| o.nonce = Felt::TWO);
        edit(&|o| o.execute_after = 0);
        edit(&|o| o.execute_before = 3);
        edit(&|o| o.calls[0].to = Felt::ONE);
        edit(&|o| o.calls[0].selector = Felt::ONE);
        edit(&|o| o.calls[0].calldata.push(Felt::ZERO));
        edit(&|o| o.calls.push(o.calls[0].clone()));
        for v in variants {
            assert_ne!(v, reference);
        }
    }

    const EXPECTED_HASH: &str = "0x2978002b0fb67e0f0153203c56422384687a7616686a942075d654d16da1396";
}
