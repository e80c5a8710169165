//! A spending policy in two storage slots: its configuration, read on every tracked call, and
//! its current window, read and written on every tracked call. The window's ceiling is kept
//! apart and read only when a new window opens.

use starknet::storage_access::StorePacking;
use core::traits::DivRem;

const SHIFT_32: NonZero<u128> = 0x100000000;
const F_SHIFT_32: felt252 = 0x100000000;
const F_SHIFT_128: felt252 = 0x100000000000000000000000000000000;

/// What a policy allows; all zeros when the session has no policy on the token.
#[derive(Copy, Drop, PartialEq, Debug)]
pub struct PolicyConfig {
    pub max_per_call: u128,
    /// Never 0 for a set policy (at most MAX_WINDOW_SECONDS, which fits 32 bits).
    pub window_seconds: u64,
    /// Position in the session's token list, plus one.
    pub slot: u32,
}

/// The current window: what may still be spent in it, and when it opened (0: none opened since
/// the policy was set).
#[derive(Copy, Drop, PartialEq, Debug)]
pub struct PolicyWindow {
    pub remaining: u128,
    pub window_start: u64,
}

#[generate_trait]
pub impl PolicyWindowImpl of PolicyWindowTrait {
    /// Whether this window still runs at `now`. A window never opened (start 0) does not,
    /// however long the policy's windows are.
    fn is_open(self: @PolicyWindow, window_seconds: u64, now: u64) -> bool {
        *self.window_start != 0 && now < *self.window_start + window_seconds
    }
}

pub impl PolicyConfigPacking of StorePacking<PolicyConfig, felt252> {
    fn pack(value: PolicyConfig) -> felt252 {
        let high = value.window_seconds.into() + value.slot.into() * F_SHIFT_32;
        value.max_per_call.into() + high * F_SHIFT_128
    }

    fn unpack(value: felt252) -> PolicyConfig {
        let value: u256 = value.into();
        let (slot, window_seconds) = DivRem::div_rem(value.high, SHIFT_32);
        PolicyConfig {
            max_per_call: value.low,
            window_seconds: window_seconds.try_into().unwrap(),
            slot: slot.try_into().unwrap(),
        }
    }
}

pub impl PolicyWindowPacking of StorePacking<PolicyWindow, felt252> {
    fn pack(value: PolicyWindow) -> felt252 {
        value.remaining.into() + value.window_start.into() * F_SHIFT_128
    }

    fn unpack(value: felt252) -> PolicyWindow {
        let value: u256 = value.into();
        PolicyWindow { remaining: value.low, window_start: value.high.try_into().unwrap() }
    }
}
