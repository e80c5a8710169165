//! Agent limits as a session carries them — a start time, a rate limit, argument rules, loss
//! guards — the owner's self-calls that set them, and their check against the account's rules
//! before anything is signed.

use serde::{Deserialize, Serialize};
use stark_sessions_abi::constants::{
    SELECTOR_SET_SESSION_ARG_RULES, SELECTOR_SET_SESSION_LOSS_GUARDS,
    SELECTOR_SET_SESSION_RATE_LIMIT, SELECTOR_SET_SESSION_VALID_AFTER,
};
use stark_sessions_abi::{AccountModel, ArgRule, CairoSerde, Call, ContractError, Felt};

/// At most `max_executions` executions per window of `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Executions allowed per window.
    pub max_executions: u32,
    /// The window's length, seconds.
    pub window_seconds: u64,
}

/// The argument rules of a session's calls to one entry point of one contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRules {
    /// The contract called.
    pub target: Felt,
    /// The entry point's selector.
    pub selector: Felt,
    /// Every rule must hold (at most `MAX_ARG_RULES`).
    pub rules: Vec<ArgRule>,
}

/// The limits to give a session held by an autonomous agent (README, "Agent limits"); the
/// default has none, and costs nothing on chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLimitSpec {
    /// Refused before this block time (0: from registration).
    #[serde(default)]
    pub valid_after: u64,
    /// At most so many executions per window.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Rules on calldata words, per (target, selector).
    #[serde(default)]
    pub arg_rules: Vec<CallRules>,
    /// Tokens whose balance may not fall by more than the session's spending limit on them
    /// still allows (each needs a spending limit), measured around the calls.
    #[serde(default)]
    pub loss_guards: Vec<Felt>,
}

impl AgentLimitSpec {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == AgentLimitSpec::default()
    }

    /// The owner's self-calls on `account` that give `session_key` these limits (after its
    /// registration and spending limits).
    pub fn registration_calls(&self, account: Felt, session_key: Felt) -> Vec<Call> {
        let call = |selector: Felt, calldata: Vec<Felt>| Call {
            to: account,
            selector,
            calldata,
        };
        let mut calls = Vec::new();
        if self.valid_after != 0 {
            calls.push(call(
                SELECTOR_SET_SESSION_VALID_AFTER,
                vec![session_key, Felt::from(self.valid_after)],
            ));
        }
        if let Some(rate) = self.rate_limit {
            calls.push(call(
                SELECTOR_SET_SESSION_RATE_LIMIT,
                vec![
                    session_key,
                    Felt::from(rate.max_executions),
                    Felt::from(rate.window_seconds),
                ],
            ));
        }
        for rules in &self.arg_rules {
            let mut calldata = vec![session_key, rules.target, rules.selector];
            rules.rules.cairo_serialize(&mut calldata);
            calls.push(call(SELECTOR_SET_SESSION_ARG_RULES, calldata));
        }
        if !self.loss_guards.is_empty() {
            let mut calldata = vec![session_key];
            self.loss_guards.cairo_serialize(&mut calldata);
            calls.push(call(SELECTOR_SET_SESSION_LOSS_GUARDS, calldata));
        }
        calls
    }

    /// Sets these limits on `session_key` in `model` as the calls would on chain: the rule
    /// that refuses one, if any.
    pub fn apply(&self, model: &mut AccountModel, session_key: Felt) -> Result<(), ContractError> {
        if self.valid_after != 0 {
            model.set_session_valid_after(session_key, self.valid_after)?;
        }
        if let Some(rate) = self.rate_limit {
            model.set_session_rate_limit(session_key, rate.max_executions, rate.window_seconds)?;
        }
        for rules in &self.arg_rules {
            model.set_session_arg_rules(session_key, rules.target, rules.selector, &rules.rules)?;
        }
        if !self.loss_guards.is_empty() {
            model.set_session_loss_guards(session_key, &self.loss_guards)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stark_sessions_abi::U256;

    fn spec() -> AgentLimitSpec {
        AgentLimitSpec {
            valid_after: 50,
            rate_limit: Some(RateLimit {
                max_executions: 3,
                window_seconds: 60,
            }),
            arg_rules: vec![CallRules {
                target: Felt::from(0x70cu32),
                selector: Felt::from(0x7u8),
                rules: vec![
                    ArgRule::one_of(0, vec![Felt::from(0xau8)]),
                    ArgRule::u256_at_most(1, U256::from_u128(9)).expect("fits"),
                ],
            }],
            loss_guards: vec![Felt::from(0x70cu32)],
        }
    }

    #[test]
    fn every_limit_becomes_one_owner_call_in_the_accounts_encoding() {
        let account = Felt::from(0xaccu32);
        let key = Felt::from(0x5e55u32);
        let calls = spec().registration_calls(account, key);
        assert_eq!(calls.len(), 4);
        assert!(calls
            .iter()
            .all(|c| c.to == account && c.calldata[0] == key));
        assert_eq!(
            calls[1].calldata,
            [0x5e55u32, 3, 60].map(Felt::from).to_vec()
        );
        // key, target, selector, 2 rules: [0, one-of, narrow, [0xa]], [1, at-most, wide, [9]].
        let expected = [0x5e55u32, 0x70c, 7, 2, 0, 1, 0, 1, 0xa, 1, 2, 1, 1, 9];
        assert_eq!(calls[2].calldata, expected.map(Felt::from).to_vec());
        assert!(AgentLimitSpec::default()
            .registration_calls(account, key)
            .is_empty());
    }

    #[test]
    fn a_spec_round_trips_through_json_and_an_old_session_has_none() {
        let json = serde_json::to_string(&spec()).expect("serializes");
        let back: AgentLimitSpec = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, spec());
        let old: AgentLimitSpec = serde_json::from_str("{}").expect("parses");
        assert!(old.is_empty());
    }
}
