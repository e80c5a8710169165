//! The wall clock, in the units the paymaster stores: Unix seconds (tokens, budgets' UTC days,
//! resubmission timers) and Unix milliseconds (instance liveness and relayer leases, which
//! instances sharing a database must agree on within a small part of the lease period).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a UTC day: a budget's day is `unix_now() / SECS_PER_DAY`.
pub const SECS_PER_DAY: u64 = 86_400;

/// Unix seconds by the wall clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix milliseconds by the wall clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Today's UTC day number, as budgets count it.
pub fn today() -> u64 {
    unix_now() / SECS_PER_DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds_tell_the_same_time() {
        let (s, ms) = (unix_now(), now_ms());
        assert!(ms / 1000 >= s && ms / 1000 <= s + 1, "{s} {ms}");
        assert_eq!(today(), unix_now() / SECS_PER_DAY);
    }
}
