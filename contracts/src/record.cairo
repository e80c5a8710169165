//! The packed records of the hot path: a session's registration (one slot read on every use)
//! and the account-wide state every outside execution reads (one slot).

use core::traits::DivRem;
use starknet::storage_access::StorePacking;

/// What is read on every session use, packed into one storage slot.
#[derive(Copy, Drop, PartialEq, Debug)]
pub struct SessionRecord {
    pub valid_until: u64,
    pub max_calls: u32,
    pub calls_used: u32,
    /// At most MAX_ENTRYPOINTS (64); stored in 16 bits.
    pub entrypoints_len: u32,
    /// At most MAX_TARGETS (64); stored in 16 bits.
    pub targets_len: u32,
    /// At most MAX_SPENDING_POLICIES (16); stored in 16 bits.
    pub policies_len: u32,
    pub epoch: u32,
    /// Bumped by every change to the session's registration; a session signature is bound to it.
    pub generation: u32,
    pub revoked: bool,
}

// Packing is felt arithmetic (every field is in range by its type); unpacking splits the two
// u128 limbs with one divmod per field.
const SHIFT_16: NonZero<u128> = 0x10000;
const SHIFT_32: NonZero<u128> = 0x100000000;
const SHIFT_64: NonZero<u128> = 0x10000000000000000;
const F_SHIFT_16: felt252 = 0x10000;
const F_SHIFT_32: felt252 = 0x100000000;
const F_SHIFT_48: felt252 = 0x1000000000000;
const F_SHIFT_64: felt252 = 0x10000000000000000;
const F_SHIFT_80: felt252 = 0x100000000000000000000;
const F_SHIFT_96: felt252 = 0x1000000000000000000000000;
const F_SHIFT_112: felt252 = 0x10000000000000000000000000000;
const F_SHIFT_128: felt252 = 0x100000000000000000000000000000000;

pub impl SessionRecordPacking of StorePacking<SessionRecord, felt252> {
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
        let (rest, valid_until) = DivRem::div_rem(value.low, SHIFT_64);
        let (calls_used, max_calls) = DivRem::div_rem(rest, SHIFT_32);
        let (rest, entrypoints_len) = DivRem::div_rem(value.high, SHIFT_16);
        let (rest, targets_len) = DivRem::div_rem(rest, SHIFT_16);
        let (rest, policies_len) = DivRem::div_rem(rest, SHIFT_16);
        let (rest, epoch) = DivRem::div_rem(rest, SHIFT_32);
        let (revoked, generation) = DivRem::div_rem(rest, SHIFT_32);
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

#[generate_trait]
pub impl SessionRecordImpl of SessionRecordTrait {
    /// What a session signature is bound to: `valid_until + 2^64 * generation`, hashed with the
    /// outside execution's message hash (`snip12::session_message_hash`).
    fn registration(self: @SessionRecord) -> felt252 {
        (*self.valid_until).into() + (*self.generation).into() * F_SHIFT_64
    }

    /// Registered at some point (or revoked since): not a key the account never saw.
    fn is_known(self: @SessionRecord) -> bool {
        *self.revoked || *self.valid_until != 0
    }

    /// A registered, unrevoked session of the current revoke-all epoch.
    fn is_live(self: @SessionRecord, epoch: u32) -> bool {
        !*self.revoked && *self.valid_until != 0 && *self.epoch == epoch
    }
}

/// The registration a signature names, for a given expiry and generation (used on the failure
/// path to tell a stale signature from a bad one).
pub fn registration_of(valid_until: u64, generation: u32) -> felt252 {
    valid_until.into() + generation.into() * F_SHIFT_64
}

/// Account-wide state, one slot read by every outside execution: the revoke-all epoch of the
/// session manager; whether a session-signed outside execution is running its calls (no outside
/// execution may start meanwhile); and the hot nonce word — the bitmap of the latest 128-nonce
/// word in use (its index below 2^80), so that consecutive nonces cost no storage access of
/// their own.
#[derive(Copy, Drop, PartialEq, Debug)]
pub struct AccountState {
    pub epoch: u32,
    pub executing: bool,
    pub hot_word: u128,
    pub hot_bits: u128,
}

const F_SHIFT_33: felt252 = 0x200000000;
const F_SHIFT_113: felt252 = 0x20000000000000000000000000000;
const TWO: NonZero<u128> = 2;
const SHIFT_15: u128 = 0x8000;
const SHIFT_80: NonZero<u128> = 0x100000000000000000000;

pub impl AccountStatePacking of StorePacking<AccountState, felt252> {
    fn pack(value: AccountState) -> felt252 {
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

    fn unpack(value: felt252) -> AccountState {
        let value: u256 = value.into();
        let (rest, epoch) = DivRem::div_rem(value.low, SHIFT_32);
        let (rest, executing) = DivRem::div_rem(rest, TWO);
        let (bits_low, hot_word) = DivRem::div_rem(rest, SHIFT_80);
        AccountState {
            epoch: epoch.try_into().unwrap(),
            executing: executing != 0,
            hot_word,
            hot_bits: bits_low + value.high * SHIFT_15,
        }
    }
}
