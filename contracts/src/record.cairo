//! The session record: what every session use reads, packed into one storage slot.

use starknet::storage_access::StorePacking;
use traits::{Into, TryInto};
use option::OptionTrait;
use integer::{u128_safe_divmod, u128_as_non_zero};

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

// Field offsets. Packing is felt arithmetic (no overflow checks: every field is in range by
// its type); unpacking splits the two u128 limbs with one divmod per field.
const SHIFT_16: u128 = 0x10000;
const SHIFT_32: u128 = 0x100000000;
const SHIFT_64: u128 = 0x10000000000000000;
const F_SHIFT_16: felt252 = 0x10000;
const F_SHIFT_32: felt252 = 0x100000000;
const F_SHIFT_48: felt252 = 0x1000000000000;
const F_SHIFT_64: felt252 = 0x10000000000000000;
const F_SHIFT_80: felt252 = 0x100000000000000000000;
const F_SHIFT_96: felt252 = 0x1000000000000000000000000;
const F_SHIFT_112: felt252 = 0x10000000000000000000000000000;
const F_SHIFT_128: felt252 = 0x100000000000000000000000000000000;

impl SessionRecordPacking of StorePacking<SessionRecord, felt252> {
    fn pack(value: SessionRecord) -> felt252 {
        let low = value.valid_until.into()
            + value.max_calls.into() * F_SHIFT_64
            + value.calls_used.into() * F_SHIFT_96;
        let revoked = if value.revoked {
            F_SHIFT_112
        } else {
            0
        };
        let high = value.entrypoints_len.into()
            + value.targets_len.into() * F_SHIFT_16
            + value.policies_len.into() * F_SHIFT_32
            + value.epoch.into() * F_SHIFT_48
            + value.generation.into() * F_SHIFT_80
            + revoked;
        low + high * F_SHIFT_128
    }

    fn unpack(value: felt252) -> SessionRecord {
        let value: u256 = value.into();
        let (rest, valid_until) = u128_safe_divmod(value.low, u128_as_non_zero(SHIFT_64));
        let (calls_used, max_calls) = u128_safe_divmod(rest, u128_as_non_zero(SHIFT_32));
        let (rest, entrypoints_len) = u128_safe_divmod(value.high, u128_as_non_zero(SHIFT_16));
        let (rest, targets_len) = u128_safe_divmod(rest, u128_as_non_zero(SHIFT_16));
        let (rest, policies_len) = u128_safe_divmod(rest, u128_as_non_zero(SHIFT_16));
        let (rest, epoch) = u128_safe_divmod(rest, u128_as_non_zero(SHIFT_32));
        let (revoked, generation) = u128_safe_divmod(rest, u128_as_non_zero(SHIFT_32));
        SessionRecord {
            valid_until: valid_until.try_into().unwrap(),
            max_calls: max_calls.try_into().unwrap(),
            calls_used: calls_used.try_into().unwrap(),
            entrypoints_len: entrypoints_len.try_into().unwrap(),
            targets_len: targets_len.try_into().unwrap(),
            policies_len: policies_len.try_into().unwrap(),
            epoch: epoch.try_into().unwrap(),
            generation: generation.try_into().unwrap(),
            revoked: revoked != 0,
        }
    }
}

/// The registration a session signature is bound to: `valid_until + 2^64 * generation`, the
/// fourth element of `[session_key, r, s, registration]`.
fn registration_of(record: SessionRecord) -> felt252 {
    record.valid_until.into() + record.generation.into() * F_SHIFT_64
}

/// Whether a record is a registered, unrevoked session of the current revoke-all epoch.
fn is_live(record: SessionRecord, epoch: u32) -> bool {
    !record.revoked && record.valid_until != 0 && record.epoch == epoch
}

/// Account-wide state, one slot read by every outside execution: the revoke-all epoch;
/// whether a session-signed outside execution is running its calls (no outside execution may
/// start meanwhile); and the hot nonce word — the bitmap of the latest 128-nonce word in use
/// (its index below 2^80), so that consecutive nonces cost no storage access of their own.
#[derive(Copy, Drop)]
struct SessionsState {
    epoch: u32,
    executing: bool,
    hot_word: u128,
    hot_bits: u128,
}

const F_SHIFT_33: felt252 = 0x200000000;
const F_SHIFT_113: felt252 = 0x20000000000000000000000000000;
const SHIFT_15: u128 = 0x8000;
const SHIFT_80: u128 = 0x100000000000000000000;

impl SessionsStatePacking of StorePacking<SessionsState, felt252> {
    fn pack(value: SessionsState) -> felt252 {
        let executing = if value.executing {
            F_SHIFT_32
        } else {
            0
        };
        value.epoch.into()
            + executing
            + value.hot_word.into() * F_SHIFT_33
            + value.hot_bits.into() * F_SHIFT_113
    }

    fn unpack(value: felt252) -> SessionsState {
        let value: u256 = value.into();
        let (rest, epoch) = u128_safe_divmod(value.low, u128_as_non_zero(SHIFT_32));
        let (rest, executing) = u128_safe_divmod(rest, u128_as_non_zero(2));
        let (bits_low, hot_word) = u128_safe_divmod(rest, u128_as_non_zero(SHIFT_80));
        SessionsState {
            epoch: epoch.try_into().unwrap(),
            executing: executing != 0,
            hot_word,
            hot_bits: bits_low + value.high * SHIFT_15,
        }
    }
}
