//! Agent limits: a session's start time, rate limit, argument rules and loss guard — their ABI
//! types and the rules that hold an execution against them, as the account applies them
//! (`contracts/src/components/agent_limits.cairo`). [`crate::AccountModel`] keeps them per
//! session; this module says what each one allows.

use serde::{Deserialize, Serialize};
use starknet_core::types::Felt;

use crate::constants::{MAX_RULE_VALUES, MAX_RULE_WORDS, RULE_AT_LEAST, RULE_AT_MOST, RULE_ONE_OF};
use crate::errors::{AbiError, ContractError};
use crate::serde::{felt_at, CairoSerde};
use crate::types::U256;

/// What an argument rule holds one calldata word (or u256) to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// The word is one of the rule's values.
    OneOf,
    /// The word (or u256) is at most the rule's one value.
    AtMost,
    /// The word (or u256) is at least the rule's one value.
    AtLeast,
}

impl RuleKind {
    /// The contract's code (`RULE_*` in `constants.cairo`).
    pub const fn code(self) -> u8 {
        match self {
            RuleKind::OneOf => RULE_ONE_OF,
            RuleKind::AtMost => RULE_AT_MOST,
            RuleKind::AtLeast => RULE_AT_LEAST,
        }
    }

    /// The kind of a contract code.
    pub fn from_code(code: u8) -> Option<Self> {
        [RuleKind::OneOf, RuleKind::AtMost, RuleKind::AtLeast]
            .into_iter()
            .find(|kind| kind.code() == code)
    }
}

/// A rule on calldata word `word` of a session's calls to one (target, selector)
/// (`ArgRule` in `interfaces.cairo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ArgRule {
    /// The calldata word (0-based); for a u256, its low limb (the high one follows).
    pub word: u32,
    /// What the word is held to.
    pub kind: RuleKind,
    /// A bound on the u256 of words `word` and `word + 1` rather than on one word.
    pub wide: bool,
    /// The allowed values (one-of), or the one bound.
    pub values: Vec<Felt>,
}

impl ArgRule {
    /// Word `word` is one of `values`.
    pub fn one_of(word: u32, values: Vec<Felt>) -> Self {
        ArgRule {
            word,
            kind: RuleKind::OneOf,
            wide: false,
            values,
        }
    }

    /// Word `word`, as a number, is at most `bound`.
    pub fn at_most(word: u32, bound: Felt) -> Self {
        Self::bound(word, RuleKind::AtMost, false, bound)
    }

    /// Word `word`, as a number, is at least `bound`.
    pub fn at_least(word: u32, bound: Felt) -> Self {
        Self::bound(word, RuleKind::AtLeast, false, bound)
    }

    /// The u256 at words `word`, `word + 1` is at most `bound` (`None`: a bound of 2^251 or
    /// more, which the account cannot keep).
    pub fn u256_at_most(word: u32, bound: U256) -> Option<Self> {
        Some(Self::bound(word, RuleKind::AtMost, true, u256_felt(bound)?))
    }

    /// The u256 at words `word`, `word + 1` is at least `bound`.
    pub fn u256_at_least(word: u32, bound: U256) -> Option<Self> {
        Some(Self::bound(
            word,
            RuleKind::AtLeast,
            true,
            u256_felt(bound)?,
        ))
    }

    fn bound(word: u32, kind: RuleKind, wide: bool, bound: Felt) -> Self {
        ArgRule {
            word,
            kind,
            wide,
            values: vec![bound],
        }
    }

    /// Refuses a rule the account does not keep, as `assert_valid_rule` does.
    pub fn validate(&self) -> Result<(), ContractError> {
        let invalid = ContractError::RulesInvalidConfig;
        ensure(self.word < MAX_RULE_WORDS, invalid)?;
        match self.kind {
            RuleKind::OneOf => {
                ensure(!self.wide, invalid)?;
                ensure(
                    !self.values.is_empty() && self.values.len() <= MAX_RULE_VALUES as usize,
                    invalid,
                )?;
                let mut seen = std::collections::HashSet::new();
                ensure(self.values.iter().all(|v| seen.insert(*v)), invalid)
            }
            RuleKind::AtMost | RuleKind::AtLeast => {
                ensure(self.values.len() == 1, invalid)?;
                ensure(!self.wide || self.word + 1 < MAX_RULE_WORDS, invalid)
            }
        }
    }

    /// Holds a call's calldata to the rule, as `check_arguments` does.
    pub fn check(&self, calldata: &[Felt]) -> Result<(), ContractError> {
        let word = self.word as usize;
        let unreadable = ContractError::RulesArgUnreadable;
        let first = *calldata.get(word).ok_or(unreadable)?;
        if self.kind == RuleKind::OneOf {
            return ensure(
                self.values.contains(&first),
                ContractError::RulesArgNotAllowed,
            );
        }
        let operand = if self.wide {
            let high = *calldata.get(word + 1).ok_or(unreadable)?;
            U256 {
                low: u128::try_from(first).map_err(|_| unreadable)?,
                high: u128::try_from(high).map_err(|_| unreadable)?,
            }
        } else {
            felt_u256(first)
        };
        let bound = felt_u256(self.values[0]);
        if self.kind == RuleKind::AtMost {
            ensure(operand <= bound, ContractError::RulesArgAboveMax)
        } else {
            ensure(operand >= bound, ContractError::RulesArgBelowMin)
        }
    }
}

impl CairoSerde for ArgRule {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        self.word.cairo_serialize(out);
        self.kind.code().cairo_serialize(out);
        self.wide.cairo_serialize(out);
        self.values.cairo_serialize(out);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let (word, _) = u32::cairo_deserialize(felts, offset)?;
        let (code, _) = u8::cairo_deserialize(felts, offset + 1)?;
        let kind = RuleKind::from_code(code).ok_or(AbiError::OutOfRange {
            value: Felt::from(code),
            ty: "RuleKind",
        })?;
        let (wide, _) = bool::cairo_deserialize(felts, offset + 2)?;
        let (values, n) = Vec::<Felt>::cairo_deserialize(felts, offset + 3)?;
        Ok((
            ArgRule {
                word,
                kind,
                wide,
                values,
            },
            3 + n,
        ))
    }
}

/// A (target, selector) pair a session has argument rules for (`RuledCall`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuledCall {
    /// The contract called.
    pub target: Felt,
    /// The entry point called.
    pub selector: Felt,
}

impl CairoSerde for RuledCall {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        out.push(self.target);
        out.push(self.selector);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let target = felt_at(felts, offset)?;
        let selector = felt_at(felts, offset + 1)?;
        Ok((RuledCall { target, selector }, 2))
    }
}

/// A session's start time and rate limit with its current window, as `get_session_limits`
/// returns them (`SessionLimits`); all zeros when it has neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionLimits {
    /// The session is refused before this block time (0: none).
    pub valid_after: u64,
    /// Executions allowed per window (0: no rate limit).
    pub max_executions: u32,
    /// The rate window's length, seconds.
    pub window_seconds: u64,
    /// When the current window opened (0: none since the limit was set).
    pub window_start: u64,
    /// Executions counted in that window.
    pub executions_in_window: u32,
}

impl SessionLimits {
    /// Refuses an execution at `now` before the start time or over the rate, and counts it
    /// (a window opens at the first execution after the previous one ended), as
    /// `SessionTerms::admit` does.
    pub fn admit(&mut self, now: u64) -> Result<(), ContractError> {
        ensure(now >= self.valid_after, ContractError::SessionNotYetActive)?;
        if self.max_executions == 0 {
            return Ok(());
        }
        if self.window_start == 0 || now >= self.window_start + self.window_seconds {
            self.window_start = now;
            self.executions_in_window = 0;
        }
        ensure(
            self.executions_in_window < self.max_executions,
            ContractError::SessionRateLimit,
        )?;
        self.executions_in_window += 1;
        Ok(())
    }
}

impl CairoSerde for SessionLimits {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        self.valid_after.cairo_serialize(out);
        self.max_executions.cairo_serialize(out);
        self.window_seconds.cairo_serialize(out);
        self.window_start.cairo_serialize(out);
        self.executions_in_window.cairo_serialize(out);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let (valid_after, _) = u64::cairo_deserialize(felts, offset)?;
        let (max_executions, _) = u32::cairo_deserialize(felts, offset + 1)?;
        let (window_seconds, _) = u64::cairo_deserialize(felts, offset + 2)?;
        let (window_start, _) = u64::cairo_deserialize(felts, offset + 3)?;
        let (executions_in_window, _) = u32::cairo_deserialize(felts, offset + 4)?;
        Ok((
            SessionLimits {
                valid_after,
                max_executions,
                window_seconds,
                window_start,
                executions_in_window,
            },
            5,
        ))
    }
}

/// Every agent limit of one session: what the model keeps, and what a client reads back from
/// the views to restore it ([`crate::AccountModel::restore_limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentLimits {
    /// `get_session_limits`.
    pub terms: SessionLimits,
    /// `get_session_ruled_calls`, each with its `get_session_arg_rules`, in the account's
    /// order.
    pub rules: Vec<(RuledCall, Vec<ArgRule>)>,
    /// `get_session_loss_guards`.
    pub loss_guards: Vec<Felt>,
}

impl AgentLimits {
    /// The rules on calls to `target.selector` (none: empty).
    pub fn rules_of(&self, target: Felt, selector: Felt) -> &[ArgRule] {
        self.rules
            .iter()
            .find(|(call, _)| call.target == target && call.selector == selector)
            .map(|(_, rules)| rules.as_slice())
            .unwrap_or(&[])
    }
}

/// A u256 as the felt the account keeps a bound in (`None` from 2^251 on).
pub fn u256_felt(value: U256) -> Option<Felt> {
    (value.high < 1 << 123)
        .then(|| Felt::from(value.high) * Felt::TWO.pow(128u8) + Felt::from(value.low))
}

/// A felt as the number it stands for.
pub fn felt_u256(value: Felt) -> U256 {
    let bytes = value.to_bytes_be();
    let limb = |half: &[u8]| {
        half.iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
    };
    U256 {
        high: limb(&bytes[..16]),
        low: limb(&bytes[16..]),
    }
}

fn ensure(condition: bool, error: ContractError) -> Result<(), ContractError> {
    if condition {
        Ok(())
    } else {
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_hold_words_and_u256s_as_numbers() {
        let to = |v: u64| Felt::from(v);
        let set = ArgRule::one_of(0, vec![to(0xa), to(0xb)]);
        assert_eq!(set.check(&[to(0xb)]), Ok(()));
        assert_eq!(
            set.check(&[to(0xc)]),
            Err(ContractError::RulesArgNotAllowed)
        );
        assert_eq!(set.check(&[]), Err(ContractError::RulesArgUnreadable));
        let cap = ArgRule::u256_at_most(1, U256::from_u128(50)).expect("fits");
        assert_eq!(cap.check(&[to(1), to(50), to(0)]), Ok(()));
        assert_eq!(
            cap.check(&[to(1), to(0), to(1)]),
            Err(ContractError::RulesArgAboveMax)
        );
        assert_eq!(
            cap.check(&[to(1), to(50)]),
            Err(ContractError::RulesArgUnreadable)
        );
        assert_eq!(
            cap.check(&[to(1), Felt::TWO.pow(128u8), to(0)]),
            Err(ContractError::RulesArgUnreadable)
        );
        let floor = ArgRule::at_least(0, to(7));
        assert_eq!(floor.check(&[to(6)]), Err(ContractError::RulesArgBelowMin));
        assert_eq!(floor.check(&[Felt::MAX]), Ok(()));
    }

    #[test]
    fn invalid_rules_are_refused_and_bounds_round_trip() {
        let invalid = Err(ContractError::RulesInvalidConfig);
        assert_eq!(ArgRule::one_of(0, vec![]).validate(), invalid);
        assert_eq!(
            ArgRule::one_of(0, vec![Felt::ONE, Felt::ONE]).validate(),
            invalid
        );
        assert_eq!(ArgRule::one_of(256, vec![Felt::ONE]).validate(), invalid);
        let wide_last = ArgRule::u256_at_most(255, U256::from_u128(1)).expect("fits");
        assert_eq!(wide_last.validate(), invalid);
        assert_eq!(ArgRule::at_most(255, Felt::ONE).validate(), Ok(()));
        assert!(ArgRule::u256_at_most(0, U256::MAX).is_none());
        let big = U256 { high: 5, low: 9 };
        assert_eq!(felt_u256(u256_felt(big).expect("fits")), big);
        let rule = ArgRule::u256_at_least(3, big).expect("fits");
        assert_eq!(
            ArgRule::from_felts(&rule.to_felts()).expect("decodes"),
            rule
        );
    }

    #[test]
    fn the_rate_window_opens_at_the_first_execution_after_the_last_one_ended() {
        let mut limits = SessionLimits {
            valid_after: 100,
            max_executions: 2,
            window_seconds: 60,
            ..Default::default()
        };
        assert_eq!(limits.admit(99), Err(ContractError::SessionNotYetActive));
        assert_eq!(limits.admit(100), Ok(()));
        assert_eq!(limits.admit(159), Ok(()));
        assert_eq!(limits.admit(159), Err(ContractError::SessionRateLimit));
        assert_eq!(limits.admit(160), Ok(()));
        assert_eq!((limits.window_start, limits.executions_in_window), (160, 1));
    }
}
