//! A session's start time and rate limit, in one packed slot read only by sessions that have
//! either (the record's `LIMIT_TERMS` bit): valid_after, the rate (executions per window) and
//! the current window's start and count.

use core::traits::DivRem;
use starknet::storage_access::StorePacking;
use crate::errors::Errors;

const SHIFT_32: NonZero<u128> = 0x100000000;
const SHIFT_64: NonZero<u128> = 0x10000000000000000;
const F_SHIFT_32: felt252 = 0x100000000;
const F_SHIFT_64: felt252 = 0x10000000000000000;
const F_SHIFT_128: felt252 = 0x100000000000000000000000000000000;

#[derive(Copy, Drop, PartialEq, Debug, Default)]
pub struct SessionTerms {
    pub valid_after: u64,
    /// 0: no rate limit.
    pub rate_max: u32,
    /// At most MAX_WINDOW_SECONDS (32 bits).
    pub rate_window: u64,
    /// 0: no window opened since the rate was set.
    pub rate_start: u64,
    pub rate_count: u32,
}

#[generate_trait]
pub impl SessionTermsImpl of SessionTermsTrait {
    /// Whether the session has a start time or a rate limit at all.
    fn is_set(self: @SessionTerms) -> bool {
        *self.valid_after != 0 || *self.rate_max != 0
    }

    /// Refuses an execution at `now` before the start time or over the rate; counts it in the
    /// rate window (a window opens at the first execution after the previous one ended).
    /// Returns whether the terms changed (and must be written).
    fn admit(ref self: SessionTerms, now: u64) -> bool {
        assert(now >= self.valid_after, Errors::SESSION_NOT_YET_ACTIVE);
        if self.rate_max == 0 {
            return false;
        }
        if self.rate_start == 0 || now >= self.rate_start + self.rate_window {
            self.rate_start = now;
            self.rate_count = 0;
        }
        assert(self.rate_count < self.rate_max, Errors::SESSION_RATE_LIMIT);
        self.rate_count += 1;
        true
    }
}

// Layout: low = valid_after + 2^64 * rate_start; high = rate_max + 2^32 * rate_window
// + 2^64 * rate_count.
pub impl SessionTermsPacking of StorePacking<SessionTerms, felt252> {
    fn pack(value: SessionTerms) -> felt252 {
        let low = value.valid_after.into() + value.rate_start.into() * F_SHIFT_64;
        let high = value.rate_max.into()
            + value.rate_window.into() * F_SHIFT_32
            + value.rate_count.into() * F_SHIFT_64;
        low + high * F_SHIFT_128
    }

    fn unpack(value: felt252) -> SessionTerms {
        let value: u256 = value.into();
        let (rate_start, valid_after) = DivRem::div_rem(value.low, SHIFT_64);
        let (rest, rate_max) = DivRem::div_rem(value.high, SHIFT_32);
        let (rate_count, rate_window) = DivRem::div_rem(rest, SHIFT_32);
        SessionTerms {
            valid_after: valid_after.try_into().unwrap(),
            rate_max: rate_max.try_into().unwrap(),
            rate_window: rate_window.try_into().unwrap(),
            rate_start: rate_start.try_into().unwrap(),
            rate_count: rate_count.try_into().unwrap(),
        }
    }
}
