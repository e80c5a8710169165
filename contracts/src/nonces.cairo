//! SNIP-9 nonces as a bitmap: 128 nonces share one word, so that an account whose nonces are
//! consecutive allocates a new storage slot (the costliest storage write) once per 128
//! executions instead of once per execution. The latest word in use (the hot word) lives in the
//! account-wide state slot that every outside execution reads and writes anyway; older words,
//! and words of nonces of 2^87 and more, in a map. Any felt is a valid nonce.

use core::traits::DivRem;

// 2^121: a nonce's high u128 limb, shifted above the low limb's 121-bit word index.
const SHIFT_121: felt252 = 0x2000000000000000000000000000000;
const WORD_BITS: NonZero<u128> = 128;
const TWO: NonZero<u128> = 2;

/// Words whose index is below this may be the account's hot word (nonces below 2^87).
pub const HOT_WORD_LIMIT: u128 = 0x100000000000000000000;

/// Where a nonce is kept.
#[derive(Copy, Drop)]
pub struct NonceSlot {
    /// The storage key of its word (`nonce / 128`, both limbs).
    pub key: felt252,
    /// Whether its word may be the hot word, and the word's index then.
    pub hot: bool,
    pub index: u128,
    /// The nonce's bit in its word: 2^(nonce % 128).
    pub bit: u128,
}

pub fn nonce_slot(nonce: felt252) -> NonceSlot {
    let value: u256 = nonce.into();
    let (index, bit) = DivRem::div_rem(value.low, WORD_BITS);
    let key: felt252 = value.high.into() * SHIFT_121 + index.into();
    NonceSlot { key, hot: value.high == 0 && index < HOT_WORD_LIMIT, index, bit: pow2(bit) }
}

/// 2^bit for bit < 128, from its seven binary digits (no loop: a fixed, small cost).
fn pow2(bit: u128) -> u128 {
    let (rest, b0) = DivRem::div_rem(bit, TWO);
    let (rest, b1) = DivRem::div_rem(rest, TWO);
    let (rest, b2) = DivRem::div_rem(rest, TWO);
    let (rest, b3) = DivRem::div_rem(rest, TWO);
    let (rest, b4) = DivRem::div_rem(rest, TWO);
    let (b6, b5) = DivRem::div_rem(rest, TWO);
    let value = factor(b0, 1)
        * factor(b1, 3)
        * factor(b2, 0xf)
        * factor(b3, 0xff)
        * factor(b4, 0xffff)
        * factor(b5, 0xffffffff)
        * factor(b6, 0xffffffffffffffff);
    value.try_into().unwrap()
}

/// 2^(2^k) for a binary digit `digit` of weight 2^k, given `power_minus_one` = 2^(2^k) - 1.
fn factor(digit: u128, power_minus_one: felt252) -> felt252 {
    let digit: felt252 = digit.into();
    1 + digit * power_minus_one
}
