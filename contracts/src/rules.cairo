//! Argument rules: how a session's rules on one (target, selector) are kept — a header slot
//! packing each rule's kind, word, width and number of values, beside the values themselves —
//! and how one calldata word is held against a rule.

use core::traits::DivRem;
use crate::constants;
use crate::errors::Errors;
use crate::interfaces::ArgRule;

const SHIFT_4: NonZero<u128> = 0x10;
const SHIFT_16: NonZero<u128> = 0x10000;
const SHIFT_8: NonZero<u128> = 0x100;
const SHIFT_2: NonZero<u128> = 0x4;
const SHIFT_1: NonZero<u128> = 0x2;

/// One rule as the header describes it (its values are stored apart).
#[derive(Copy, Drop, PartialEq, Debug)]
pub struct RuleShape {
    pub word: u32,
    pub kind: u8,
    pub wide: bool,
    pub values_len: u32,
}

/// A header: the number of rules (low 4 bits), then 16 bits per rule:
/// `word + 2^8 * (kind + 2^2 * (wide + 2 * values_len))`. 0: no rules.
pub fn pack_header(rules: Span<ArgRule>) -> u128 {
    let mut header: u128 = 0;
    let mut i = rules.len();
    while i > 0 {
        i -= 1;
        let rule = *rules.at(i);
        let wide: u128 = if rule.wide {
            1
        } else {
            0
        };
        let shape: u128 = rule.word.into()
            + 0x100 * (rule.kind.into() + 4 * (wide + 2 * rule.values.len().into()));
        header = header * 0x10000 + shape;
    }
    header * 0x10 + rules.len().into()
}

/// The rules' count and their shapes, first rule first.
pub fn unpack_header(header: u128) -> (u32, u128) {
    let (shapes, count) = DivRem::div_rem(header, SHIFT_4);
    (count.try_into().unwrap(), shapes)
}

/// The next rule's shape off `shapes` (as `unpack_header` returns them).
pub fn next_shape(ref shapes: u128) -> RuleShape {
    let (rest, shape) = DivRem::div_rem(shapes, SHIFT_16);
    shapes = rest;
    let (rest, word) = DivRem::div_rem(shape, SHIFT_8);
    let (rest, kind) = DivRem::div_rem(rest, SHIFT_2);
    let (values_len, wide) = DivRem::div_rem(rest, SHIFT_1);
    RuleShape {
        word: word.try_into().unwrap(),
        kind: kind.try_into().unwrap(),
        wide: wide != 0,
        values_len: values_len.try_into().unwrap(),
    }
}

/// Refuses a rule the account does not keep (`rules/invalid-config`).
pub fn assert_valid_rule(rule: @ArgRule) {
    let invalid = Errors::RULES_INVALID_CONFIG;
    let kind = *rule.kind;
    let values = *rule.values;
    assert(*rule.word < constants::MAX_RULE_WORDS, invalid);
    if kind == constants::RULE_ONE_OF {
        assert(!*rule.wide, invalid);
        assert(values.len() != 0 && values.len() <= constants::MAX_RULE_VALUES, invalid);
        let mut i: u32 = 0;
        while i < values.len() {
            let mut j = i + 1;
            while j < values.len() {
                assert(*values.at(i) != *values.at(j), invalid);
                j += 1;
            }
            i += 1;
        };
    } else {
        assert(kind == constants::RULE_AT_MOST || kind == constants::RULE_AT_LEAST, invalid);
        assert(values.len() == 1, invalid);
        assert(!*rule.wide || *rule.word + 1 < constants::MAX_RULE_WORDS, invalid);
    }
}

/// The number a bound rule compares: the word as an integer, or (wide) the u256 of the word
/// and the next one; a word that is not there or a limb above 128 bits cannot be read.
pub fn rule_operand(calldata: Span<felt252>, shape: @RuleShape) -> u256 {
    let word = *shape.word;
    assert(word < calldata.len(), Errors::RULES_ARG_UNREADABLE);
    if !*shape.wide {
        return (*calldata.at(word)).into();
    }
    assert(word + 1 < calldata.len(), Errors::RULES_ARG_UNREADABLE);
    let low: u128 = (*calldata.at(word)).try_into().expect(Errors::RULES_ARG_UNREADABLE);
    let high: u128 = (*calldata.at(word + 1)).try_into().expect(Errors::RULES_ARG_UNREADABLE);
    u256 { low, high }
}

/// Holds a bound rule's operand against its bound.
pub fn assert_within_bound(kind: u8, operand: u256, bound: felt252) {
    let bound: u256 = bound.into();
    if kind == constants::RULE_AT_MOST {
        assert(operand <= bound, Errors::RULES_ARG_ABOVE_MAX);
    } else {
        assert(operand >= bound, Errors::RULES_ARG_BELOW_MIN);
    }
}
