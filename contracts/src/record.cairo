//! The packed records of the hot path: a session's registration (one slot read on every use)
//! and the account-wide state every outside execution reads (one slot).

#[feature("bounded-int-utils")]
use core::internal::bounded_int::{BoundedInt, DivRemHelper, UnitInt, div_rem, upcast};
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
    /// Which agent limits the session has (`constants::LIMIT_*` bits): a session
    /// without any reads nothing more on use (components/agent_limits.cairo).
    pub limits: u16,
}

// Packing is felt arithmetic (every field is in range by its type); unpacking splits the two
// u128 limbs with one constant-divisor division per field.
const F_SHIFT_16: felt252 = 0x10000;
const F_SHIFT_32: felt252 = 0x100000000;
const F_SHIFT_48: felt252 = 0x1000000000000;
const F_SHIFT_64: felt252 = 0x10000000000000000;
const F_SHIFT_80: felt252 = 0x100000000000000000000;
const F_SHIFT_96: felt252 = 0x1000000000000000000000000;
const F_SHIFT_112: felt252 = 0x10000000000000000000000000000;
const F_SHIFT_113: felt252 = 0x20000000000000000000000000000;
const F_SHIFT_128: felt252 = 0x100000000000000000000000000000000;

pub impl SessionRecordPacking of StorePacking<SessionRecord, felt252> {
    #[inline(always)]
    fn pack(value: SessionRecord) -> felt252 {
        let low = value.valid_until.into()
            + value.max_calls.into() * F_SHIFT_64
            + value.calls_used.into() * F_SHIFT_96;
        let revoked = if value.revoked {
            F_SHIFT_112
        } else {
            0
        };
        let limits: felt252 = value.limits.into();
        let high = value.entrypoints_len.into()
            + value.targets_len.into() * F_SHIFT_16
            + value.policies_len.into() * F_SHIFT_32
            + value.epoch.into() * F_SHIFT_48
            + value.generation.into() * F_SHIFT_80
            + revoked
            + limits * F_SHIFT_113;
        low + high * F_SHIFT_128
    }

    #[inline(always)]
    fn unpack(value: felt252) -> SessionRecord {
        // Constant divisors on bounded integers: every field comes out in its range, so it
        // widens into its type without a check.
        let value: u256 = value.into();
        let (rest, valid_until) = div_rem(value.low, NZ_POW64);
        let (calls_used, max_calls) = div_rem(rest, NZ_POW32);
        let (rest, entrypoints_len) = div_rem(value.high, NZ_POW16);
        let (rest, targets_len) = div_rem(rest, NZ_POW16);
        let (rest, policies_len) = div_rem(rest, NZ_POW16);
        let (rest, epoch) = div_rem(rest, NZ_POW32);
        let (flags, generation) = div_rem(rest, NZ_POW32);
        let (limits, revoked) = div_rem(flags, NZ_POW1);
        let revoked: felt252 = upcast(revoked);
        SessionRecord {
            valid_until: upcast(valid_until),
            max_calls: upcast(max_calls),
            calls_used: upcast(calls_used),
            entrypoints_len: upcast(entrypoints_len),
            targets_len: upcast(targets_len),
            policies_len: upcast(policies_len),
            epoch: upcast(epoch),
            generation: upcast(generation),
            revoked: revoked != 0,
            limits: upcast(limits),
        }
    }
}

// The quotient and remainder ranges of the record's divisions (bounded_int).
const POW15: felt252 = 0x8000;
const POW16: felt252 = 0x10000;
const POW32: felt252 = 0x100000000;
const POW48: felt252 = 0x1000000000000;
const POW64: felt252 = 0x10000000000000000;
const POW80: felt252 = 0x100000000000000000000;
const POW96: felt252 = 0x1000000000000000000000000;
const POW112: felt252 = 0x10000000000000000000000000000;
const NZ_POW1: NonZero<UnitInt<2>> = 2;
const NZ_POW16: NonZero<UnitInt<POW16>> = 0x10000;
const NZ_POW32: NonZero<UnitInt<POW32>> = 0x100000000;
const NZ_POW64: NonZero<UnitInt<POW64>> = 0x10000000000000000;

impl DivU128By64 of DivRemHelper<u128, UnitInt<POW64>> {
    type DivT = BoundedInt<0, { POW64 - 1 }>;
    type RemT = BoundedInt<0, { POW64 - 1 }>;
}
impl DivU64By32 of DivRemHelper<BoundedInt<0, { POW64 - 1 }>, UnitInt<POW32>> {
    type DivT = BoundedInt<0, { POW32 - 1 }>;
    type RemT = BoundedInt<0, { POW32 - 1 }>;
}
impl DivU128By16 of DivRemHelper<u128, UnitInt<POW16>> {
    type DivT = BoundedInt<0, { POW112 - 1 }>;
    type RemT = BoundedInt<0, { POW16 - 1 }>;
}
impl DivU112By16 of DivRemHelper<BoundedInt<0, { POW112 - 1 }>, UnitInt<POW16>> {
    type DivT = BoundedInt<0, { POW96 - 1 }>;
    type RemT = BoundedInt<0, { POW16 - 1 }>;
}
impl DivU96By16 of DivRemHelper<BoundedInt<0, { POW96 - 1 }>, UnitInt<POW16>> {
    type DivT = BoundedInt<0, { POW80 - 1 }>;
    type RemT = BoundedInt<0, { POW16 - 1 }>;
}
impl DivU80By32 of DivRemHelper<BoundedInt<0, { POW80 - 1 }>, UnitInt<POW32>> {
    type DivT = BoundedInt<0, { POW48 - 1 }>;
    type RemT = BoundedInt<0, { POW32 - 1 }>;
}
impl DivU48By32 of DivRemHelper<BoundedInt<0, { POW48 - 1 }>, UnitInt<POW32>> {
    type DivT = BoundedInt<0, { POW16 - 1 }>;
    type RemT = BoundedInt<0, { POW32 - 1 }>;
}
impl DivU16By1 of DivRemHelper<BoundedInt<0, { POW16 - 1 }>, UnitInt<2>> {
    type DivT = BoundedInt<0, { POW15 - 1 }>;
    type RemT = BoundedInt<0, 1>;
}

#[generate_trait]
pub impl SessionRecordImpl of SessionRecordTrait {
    /// What a session signature is bound to: `valid_until + 2^64 * generation`, hashed with the
    /// outside execution's message hash (`snip12::session_message_hash`).
    #[inline(always)]
    fn registration(self: @SessionRecord) -> felt252 {
        (*self.valid_until).into() + (*self.generation).into() * F_SHIFT_64
    }

    /// Registered at some point (or revoked since): not a key the account never saw.
    #[inline(always)]
    fn is_known(self: @SessionRecord) -> bool {
        *self.revoked || *self.valid_until != 0
    }

    /// A registered, unrevoked session of the current revoke-all epoch.
    #[inline(always)]
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
/// session manager; the tag of the last transaction in which a session-signed outside
/// execution started (an outside execution of that same transaction that does not come straight
/// from its sender is nested, and refused); and the hot nonce word — the bitmap of the latest
/// 128-nonce word in use (its index below 2^73, nonces below 2^80), so that consecutive nonces
/// cost no storage access of their own.
#[derive(Copy, Drop, PartialEq, Debug)]
pub struct AccountState {
    pub epoch: u32,
    /// 1 to 2^18 - 1; 0 before the first session execution (`tx_tag`).
    pub session_tag: u32,
    pub hot_word: u128,
    pub hot_bits: u128,
}

// Layout: epoch [0, 32), session_tag [32, 50), hot_word [50, 123), hot_bits [123, 251).
const F_SHIFT_50: felt252 = 0x4000000000000;
const F_SHIFT_123: felt252 = 0x8000000000000000000000000000000;
const SHIFT_18: NonZero<u128> = 0x40000;
const SHIFT_5: u128 = 0x20;

pub impl AccountStatePacking of StorePacking<AccountState, felt252> {
    #[inline(always)]
    fn pack(value: AccountState) -> felt252 {
        value.epoch.into()
            + value.session_tag.into() * F_SHIFT_32
            + value.hot_word.into() * F_SHIFT_50
            + value.hot_bits.into() * F_SHIFT_123
    }

    #[inline(always)]
    fn unpack(value: felt252) -> AccountState {
        let value: u256 = value.into();
        let (rest, epoch) = div_rem(value.low, NZ_POW32);
        let (rest, session_tag) = div_rem(rest, NZ_POW18);
        let (bits_low, hot_word) = div_rem(rest, NZ_POW73);
        let bits_low: u128 = upcast(bits_low);
        AccountState {
            epoch: upcast(epoch),
            session_tag: upcast(session_tag),
            hot_word: upcast(hot_word),
            hot_bits: bits_low + value.high * SHIFT_5,
        }
    }
}

const POW18: felt252 = 0x40000;
const POW73: felt252 = 0x2000000000000000000;
const POW78: felt252 = 0x40000000000000000000;
const NZ_POW18: NonZero<UnitInt<POW18>> = 0x40000;
const NZ_POW73: NonZero<UnitInt<POW73>> = 0x2000000000000000000;

impl DivU128By32 of DivRemHelper<u128, UnitInt<POW32>> {
    type DivT = BoundedInt<0, { POW96 - 1 }>;
    type RemT = BoundedInt<0, { POW32 - 1 }>;
}
impl DivU96By18 of DivRemHelper<BoundedInt<0, { POW96 - 1 }>, UnitInt<POW18>> {
    type DivT = BoundedInt<0, { POW78 - 1 }>;
    type RemT = BoundedInt<0, { POW18 - 1 }>;
}
impl DivU78By73 of DivRemHelper<BoundedInt<0, { POW78 - 1 }>, UnitInt<POW73>> {
    type DivT = BoundedInt<0, 31>;
    type RemT = BoundedInt<0, { POW73 - 1 }>;
}

/// A transaction's tag: its hash's low 18 bits, never 0. Two transactions share one with
/// probability 2^-18; that can only refuse an execution relayed by a forwarder (not the
/// transaction's sender) after a session execution in an earlier transaction, never let a
/// nested one through.
#[inline(always)]
pub fn tx_tag(transaction_hash: felt252) -> u32 {
    let hash: u256 = transaction_hash.into();
    let (_, tag) = DivRem::div_rem(hash.low, SHIFT_18);
    if tag == 0 {
        return 1;
    }
    tag.try_into().unwrap()
}
