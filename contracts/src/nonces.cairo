//! SNIP-9 nonces as a bitmap: 128 nonces share one word, so that an account whose nonces are
//! consecutive allocates a new storage slot (the costliest storage write) once per 128
//! executions instead of once per execution. The latest word in use (the hot word) lives in the
//! account-wide state slot that every outside execution reads and a session execution writes
//! anyway; older words, and words of nonces of 2^87 and more, in a map. Any felt is a valid
//! nonce.

use integer::{u128_safe_divmod, u128_as_non_zero};
use traits::{Into, TryInto};
use option::OptionTrait;

// 2^121: a nonce's high u128 limb, shifted above the low limb's 121-bit slot index.
const SHIFT_121: felt252 = 0x2000000000000000000000000000000;

// Words whose index is below this may be the account's hot word (nonces below 2^87).
const HOT_WORD_LIMIT: u128 = 0x100000000000000000000;

/// Where `nonce` is kept: its word `nonce / 128` (the storage key), whether that word may be
/// the hot word and its index then, and the nonce's bit in the word (`nonce % 128`).
fn nonce_slot(nonce: felt252) -> (felt252, bool, u128, u128) {
    let value: u256 = nonce.into();
    let (index, bit) = u128_safe_divmod(value.low, u128_as_non_zero(128));
    let slot: felt252 = value.high.into() * SHIFT_121 + index.into();
    let hot = value.high == 0 && index < HOT_WORD_LIMIT;
    (slot, hot, index, pow2(bit))
}

/// 2^bit for bit < 128, from its seven binary digits (no loop: a fixed, small cost).
fn pow2(bit: u128) -> u128 {
    let two = u128_as_non_zero(2);
    let (rest, b0) = u128_safe_divmod(bit, two);
    let (rest, b1) = u128_safe_divmod(rest, two);
    let (rest, b2) = u128_safe_divmod(rest, two);
    let (rest, b3) = u128_safe_divmod(rest, two);
    let (rest, b4) = u128_safe_divmod(rest, two);
    let (b6, b5) = u128_safe_divmod(rest, two);
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
