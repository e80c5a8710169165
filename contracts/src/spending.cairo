//! A spending policy in two storage slots: its configuration, read on every tracked call, and
//! its current window, read and written on every tracked call. The window's ceiling is kept
//! apart (`policy_max_per_window`) and read only when a new window opens.

use starknet::storage_access::StorePacking;
use traits::{Into, TryInto};
use option::OptionTrait;

const SHIFT_32: u128 = 0x100000000;
const SHIFT_128: felt252 = 0x100000000000000000000000000000000;

/// What a policy allows; all zeros when the session has no policy on the token.
#[derive(Copy, Drop)]
struct PolicyConfig {
    max_per_call: u128,
    // Never 0 for a set policy (at most MAX_WINDOW_SECONDS, which fits 32 bits).
    window_seconds: u64,
    // Position in the session's token list, plus one.
    slot: u32,
}

/// The current window: what may still be spent in it, and when it opened (0: none yet).
#[derive(Copy, Drop)]
struct PolicyWindow {
    remaining: u128,
    window_start: u64,
}

impl PolicyConfigPacking of StorePacking<PolicyConfig, felt252> {
    fn pack(value: PolicyConfig) -> felt252 {
        let window_seconds: u128 = value.window_seconds.into();
        let slot: u128 = value.slot.into();
        let high = window_seconds + slot * SHIFT_32;
        value.max_per_call.into() + high.into() * SHIFT_128
    }

    fn unpack(value: felt252) -> PolicyConfig {
        let value: u256 = value.into();
        PolicyConfig {
            max_per_call: value.low,
            window_seconds: (value.high % SHIFT_32).try_into().unwrap(),
            slot: (value.high / SHIFT_32).try_into().unwrap(),
        }
    }
}

impl PolicyWindowPacking of StorePacking<PolicyWindow, felt252> {
    fn pack(value: PolicyWindow) -> felt252 {
        let window_start: felt252 = value.window_start.into();
        value.remaining.into() + window_start * SHIFT_128
    }

    fn unpack(value: felt252) -> PolicyWindow {
        let value: u256 = value.into();
        PolicyWindow { remaining: value.low, window_start: value.high.try_into().unwrap() }
    }
}
