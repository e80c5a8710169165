//! The session record: what every session use reads, packed into one storage slot.

use starknet::storage_access::StorePacking;
use traits::{Into, TryInto};
use option::OptionTrait;

/// What is read on every session use, packed into one storage slot.
#[derive(Copy, Drop)]
struct SessionRecord {
    valid_until: u64,
    max_calls: u32,
    calls_used: u32,
    // At most MAX_ENTRYPOINTS (64); stored in 16 bits.
    entrypoints_len: u32,
    // At most MAX_TARGETS (64); stored in 16 bits.
    targets_len: u32,
    // At most MAX_SPENDING_POLICIES (16); stored in 16 bits.
    policies_len: u32,
    epoch: u32,
    // Bumped by every change to the session's registration; a session signature names it.
    generation: u32,
    revoked: bool,
}

const SHIFT_16: u128 = 0x10000;
const SHIFT_32: u128 = 0x100000000;
const SHIFT_48: u128 = 0x1000000000000;
const SHIFT_64: u128 = 0x10000000000000000;
const SHIFT_80: u128 = 0x100000000000000000000;
const SHIFT_96: u128 = 0x1000000000000000000000000;
const SHIFT_112: u128 = 0x10000000000000000000000000000;
const SHIFT_128: felt252 = 0x100000000000000000000000000000000;

impl SessionRecordPacking of StorePacking<SessionRecord, felt252> {
    fn pack(value: SessionRecord) -> felt252 {
        let valid_until: u128 = value.valid_until.into();
        let max_calls: u128 = value.max_calls.into();
        let calls_used: u128 = value.calls_used.into();
        let low = valid_until + max_calls * SHIFT_64 + calls_used * SHIFT_96;
        let entrypoints_len: u128 = value.entrypoints_len.into();
        let targets_len: u128 = value.targets_len.into();
        let policies_len: u128 = value.policies_len.into();
        let epoch: u128 = value.epoch.into();
        let generation: u128 = value.generation.into();
        let revoked: u128 = if value.revoked {
            1
        } else {
            0
        };
        let high = entrypoints_len
            + targets_len * SHIFT_16
            + policies_len * SHIFT_32
            + epoch * SHIFT_48
            + generation * SHIFT_80
            + revoked * SHIFT_112;
        low.into() + high.into() * SHIFT_128
    }

    fn unpack(value: felt252) -> SessionRecord {
        let value: u256 = value.into();
        let low = value.low;
        let high = value.high;
        SessionRecord {
            valid_until: (low % SHIFT_64).try_into().unwrap(),
            max_calls: ((low / SHIFT_64) % SHIFT_32).try_into().unwrap(),
            calls_used: (low / SHIFT_96).try_into().unwrap(),
            entrypoints_len: (high % SHIFT_16).try_into().unwrap(),
            targets_len: ((high / SHIFT_16) % SHIFT_16).try_into().unwrap(),
            policies_len: ((high / SHIFT_32) % SHIFT_16).try_into().unwrap(),
            epoch: ((high / SHIFT_48) % SHIFT_32).try_into().unwrap(),
            generation: ((high / SHIFT_80) % SHIFT_32).try_into().unwrap(),
            revoked: (high / SHIFT_112) != 0,
        }
    }
}

/// The registration a session signature is bound to: `valid_until + 2^64 * generation`, the
/// fourth element of `[session_key, r, s, registration]`.
fn registration_of(record: SessionRecord) -> felt252 {
    let valid_until: felt252 = record.valid_until.into();
    let generation: felt252 = record.generation.into();
    valid_until + generation * SHIFT_64.into()
}

/// Whether a record is a registered, unrevoked session of the current revoke-all epoch.
fn is_live(record: SessionRecord, epoch: u32) -> bool {
    !record.revoked && record.valid_until != 0 && record.epoch == epoch
}

/// Account-wide session state, one slot: the revoke-all epoch, and whether a session-signed
/// outside execution is running its calls (no outside execution may start meanwhile).
#[derive(Copy, Drop)]
struct SessionsState {
    epoch: u32,
    executing: bool,
}

impl SessionsStatePacking of StorePacking<SessionsState, felt252> {
    fn pack(value: SessionsState) -> felt252 {
        let executing: felt252 = if value.executing {
            1
        } else {
            0
        };
        value.epoch.into() + executing * SHIFT_32.into()
    }

    fn unpack(value: felt252) -> SessionsState {
        let value: u256 = value.into();
        SessionsState {
            epoch: (value.low % SHIFT_32).try_into().unwrap(), executing: value.low / SHIFT_32 != 0
        }
    }
}
