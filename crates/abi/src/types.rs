//! The session account's ABI types.

use starknet_core::types::{Call, Felt};

use crate::errors::AbiError;
use crate::serde::{felt_at, CairoSerde};

/// A Cairo `u256`: two 128-bit limbs, ordered as numbers.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct U256 {
    // Field order gives the derived ordering: high limb first.
    /// The high 128 bits.
    pub high: u128,
    /// The low 128 bits.
    pub low: u128,
}

impl U256 {
    /// Zero.
    pub const ZERO: U256 = U256 { high: 0, low: 0 };
    /// The largest value.
    pub const MAX: U256 = U256 {
        high: u128::MAX,
        low: u128::MAX,
    };

    /// A value below 2^128.
    pub const fn from_u128(low: u128) -> Self {
        U256 { high: 0, low }
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: U256) -> Option<U256> {
        let (low, carry) = self.low.overflowing_add(other.low);
        let high = self
            .high
            .checked_add(other.high)?
            .checked_add(u128::from(carry))?;
        Some(U256 { high, low })
    }

    /// `self - other`, or `None` when `other > self`.
    pub fn checked_sub(self, other: U256) -> Option<U256> {
        let (low, borrow) = self.low.overflowing_sub(other.low);
        let high = self
            .high
            .checked_sub(other.high)?
            .checked_sub(u128::from(borrow))?;
        Some(U256 { high, low })
    }
}

impl CairoSerde for U256 {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        out.push(Felt::from(self.low));
        out.push(Felt::from(self.high));
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let (low, _) = u128::cairo_deserialize(felts, offset)?;
        let (high, _) = u128::cairo_deserialize(felts, offset + 1)?;
        Ok((U256 { high, low }, 2))
    }
}

/// A session as `get_session_data` returns it (the draft standard's struct).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionData {
    /// Last second (block timestamp) at which the session may be used.
    pub valid_until: u64,
    /// Executions allowed in all.
    pub max_calls: u32,
    /// Executions used so far.
    pub calls_used: u32,
    /// Length of the entrypoint whitelist; 0 means any selector but the blocked ones.
    pub allowed_entrypoints_len: u32,
}

impl CairoSerde for SessionData {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        self.valid_until.cairo_serialize(out);
        self.max_calls.cairo_serialize(out);
        self.calls_used.cairo_serialize(out);
        self.allowed_entrypoints_len.cairo_serialize(out);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let (valid_until, _) = u64::cairo_deserialize(felts, offset)?;
        let (max_calls, _) = u32::cairo_deserialize(felts, offset + 1)?;
        let (calls_used, _) = u32::cairo_deserialize(felts, offset + 2)?;
        let (allowed_entrypoints_len, _) = u32::cairo_deserialize(felts, offset + 3)?;
        Ok((
            SessionData {
                valid_until,
                max_calls,
                calls_used,
                allowed_entrypoints_len,
            },
            4,
        ))
    }
}

/// A spending limit of one session on one token, with its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpendingPolicy {
    /// Largest amount one call may move.
    pub max_per_call: U256,
    /// Largest amount all calls in one window may move.
    pub max_per_window: U256,
    /// Window length in seconds.
    pub window_seconds: u64,
    /// Amount moved in the current window.
    pub spent_in_window: U256,
    /// When the current window started (0: no spend yet).
    pub window_start: u64,
}

impl CairoSerde for SpendingPolicy {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        self.max_per_call.cairo_serialize(out);
        self.max_per_window.cairo_serialize(out);
        self.window_seconds.cairo_serialize(out);
        self.spent_in_window.cairo_serialize(out);
        self.window_start.cairo_serialize(out);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let (max_per_call, _) = U256::cairo_deserialize(felts, offset)?;
        let (max_per_window, _) = U256::cairo_deserialize(felts, offset + 2)?;
        let (window_seconds, _) = u64::cairo_deserialize(felts, offset + 4)?;
        let (spent_in_window, _) = U256::cairo_deserialize(felts, offset + 5)?;
        let (window_start, _) = u64::cairo_deserialize(felts, offset + 7)?;
        Ok((
            SpendingPolicy {
                max_per_call,
                max_per_window,
                window_seconds,
                spent_in_window,
                window_start,
            },
            8,
        ))
    }
}

/// SNIP-9 v2 outside execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideExecution {
    /// Who may relay it: an address, or `ANY_CALLER`.
    pub caller: Felt,
    /// A nonce used once.
    pub nonce: Felt,
    /// Valid strictly after this timestamp.
    pub execute_after: u64,
    /// Valid strictly before this timestamp.
    pub execute_before: u64,
    /// The calls, executed atomically.
    pub calls: Vec<Call>,
}

impl OutsideExecution {
    /// The relayer's call that runs this execution on `account` with `signature`
    /// (`execute_from_outside_v2(outside_execution, signature)`).
    pub fn relay_call(&self, account: Felt, signature: &[Felt]) -> Call {
        let mut calldata = Vec::new();
        self.cairo_serialize(&mut calldata);
        signature.to_vec().cairo_serialize(&mut calldata);
        Call {
            to: account,
            selector: crate::constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
            calldata,
        }
    }
}

impl CairoSerde for OutsideExecution {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        out.push(self.caller);
        out.push(self.nonce);
        self.execute_after.cairo_serialize(out);
        self.execute_before.cairo_serialize(out);
        self.calls.cairo_serialize(out);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let caller = felt_at(felts, offset)?;
        let nonce = felt_at(felts, offset + 1)?;
        let (execute_after, _) = u64::cairo_deserialize(felts, offset + 2)?;
        let (execute_before, _) = u64::cairo_deserialize(felts, offset + 3)?;
        let (calls, n) = Vec::<Call>::cairo_deserialize(felts, offset + 4)?;
        Ok((
            OutsideExecution {
                caller,
                nonce,
                execute_after,
                execute_before,
                calls,
            },
            4 + n,
        ))
    }
}

/// What `get_session_status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// Never registered.
    None,
    /// Usable now.
    Active,
    /// Past `valid_until`.
    Expired,
    /// Revoked, alone or by revoke-all.
    Revoked,
    /// All calls used.
    Exhausted,
    /// Registered, but its start time (`valid_after`) has not come.
    NotYetActive,
}

impl SessionStatus {
    /// The contract's code for this status.
    pub const fn code(self) -> u8 {
        match self {
            SessionStatus::None => 0,
            SessionStatus::Active => 1,
            SessionStatus::Expired => 2,
            SessionStatus::Revoked => 3,
            SessionStatus::Exhausted => 4,
            SessionStatus::NotYetActive => 5,
        }
    }
}

impl CairoSerde for SessionStatus {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        self.code().cairo_serialize(out);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let (code, _) = u8::cairo_deserialize(felts, offset)?;
        let status = match code {
            0 => SessionStatus::None,
            1 => SessionStatus::Active,
            2 => SessionStatus::Expired,
            3 => SessionStatus::Revoked,
            4 => SessionStatus::Exhausted,
            5 => SessionStatus::NotYetActive,
            _ => {
                return Err(AbiError::OutOfRange {
                    value: Felt::from(code),
                    ty: "SessionStatus",
                })
            }
        };
        Ok((status, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn round_trip<T: CairoSerde + PartialEq + std::fmt::Debug>(value: T) {
        let felts = value.to_felts();
        assert_eq!(T::from_felts(&felts).expect("decodes"), value);
        // Every strict prefix is refused, not misread.
        for cut in 0..felts.len() {
            assert!(
                T::from_felts(&felts[..cut]).is_err(),
                "prefix of {cut} felts decoded"
            );
        }
    }

    fn random_u256(rng: &mut impl Rng) -> U256 {
        U256 {
            high: rng.gen(),
            low: rng.gen(),
        }
    }

    fn random_call(rng: &mut impl Rng) -> Call {
        Call {
            to: Felt::from(rng.gen::<u128>()),
            selector: Felt::from(rng.gen::<u128>()),
            calldata: (0..rng.gen_range(0..5))
                .map(|_| Felt::from(rng.gen::<u64>()))
                .collect(),
        }
    }

    #[test]
    fn every_abi_type_round_trips() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            round_trip(rng.gen::<u64>());
            round_trip(random_u256(&mut rng));
            round_trip(SessionData {
                valid_until: rng.gen(),
                max_calls: rng.gen(),
                calls_used: rng.gen(),
                allowed_entrypoints_len: rng.gen(),
            });
            round_trip(SpendingPolicy {
                max_per_call: random_u256(&mut rng),
                max_per_window: random_u256(&mut rng),
                window_seconds: rng.gen(),
                spent_in_window: random_u256(&mut rng),
                window_start: rng.gen(),
            });
            let outside = OutsideExecution {
                caller: Felt::from(rng.gen::<u128>()),
                nonce: Felt::from(rng.gen::<u128>()),
                execute_after: rng.gen(),
                execute_before: rng.gen(),
                calls: (0..rng.gen_range(0..4))
                    .map(|_| random_call(&mut rng))
                    .collect(),
            };
            let felts = outside.to_felts();
            assert_eq!(
                OutsideExecution::from_felts(&felts).expect("decodes"),
                outside
            );
        }
        for status in [
            SessionStatus::None,
            SessionStatus::Active,
            SessionStatus::Expired,
            SessionStatus::Revoked,
            SessionStatus::Exhausted,
            SessionStatus::NotYetActive,
        ] {
            round_trip(status);
        }
        round_trip(true);
        round_trip(vec![Felt::ONE, Felt::TWO]);
    }

    #[test]
    fn malformed_values_are_refused_with_a_reason() {
        let too_big = [Felt::from(u64::MAX) + Felt::ONE];
        assert!(matches!(
            u64::from_felts(&too_big),
            Err(AbiError::OutOfRange { ty: "u64", .. })
        ));
        assert!(matches!(
            bool::from_felts(&[Felt::TWO]),
            Err(AbiError::OutOfRange { .. })
        ));
        // A length prefix far beyond the input does not allocate or panic.
        let lying_len = [Felt::from(u32::MAX), Felt::ONE];
        assert!(matches!(
            Vec::<Felt>::from_felts(&lying_len),
            Err(AbiError::CalldataTooShort { .. })
        ));
        assert!(SessionStatus::from_felts(&[Felt::from(9u8)]).is_err());
    }

    #[test]
    fn u256_arithmetic_carries_and_orders_by_high_limb() {
        let a = U256 {
            high: 0,
            low: u128::MAX,
        };
        assert_eq!(
            a.checked_add(U256::from_u128(1)),
            Some(U256 { high: 1, low: 0 })
        );
        assert_eq!(
            U256 { high: 1, low: 0 }.checked_sub(U256::from_u128(1)),
            Some(a)
        );
        assert_eq!(U256::MAX.checked_add(U256::from_u128(1)), None);
        assert_eq!(U256::ZERO.checked_sub(U256::from_u128(1)), None);
        assert!(
            U256 { high: 1, low: 0 }
                > U256 {
                    high: 0,
                    low: u128::MAX
                }
        );
    }
}
