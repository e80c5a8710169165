//! The agent-limit flags of `session create` and how `session status` shows the limits:
//! `--arg-rule <token>:<entrypoint>:<rule>`, `--rate N/Ws`, `--valid-after <block time>`,
//! `--loss-guard <token>`.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use stark_sessions_abi::constants::TRACKED_SELECTORS;
use stark_sessions_abi::{AgentLimits, ArgRule, Felt, RuleKind, U256};
use stark_sessions_client::{AgentLimitSpec, CallRules, RateLimit};

use crate::opts::{parse_address, parse_selector};

/// The agent limits of a new session.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentLimitArgs {
    /// An argument rule, `<target>:<entrypoint>:<rule>` (repeat; all must hold). The rule
    /// names calldata word `i` — or `i..i+1`, the u256 of two words — and is `i=A|B|…` (one
    /// of), `i<=N` or `i>=N`; values are 0x… hex or decimal. A transfer's amount is the u256
    /// at `1..2`: `0xSTRK:transfer:0=0xA|0xB`, `0xSTRK:transfer:1..2<=50000000000000000000`.
    #[arg(long = "arg-rule", value_parser = parse_arg_rule)]
    pub arg_rules: Vec<ArgRuleFlag>,
    /// At most N executions per W seconds, `N/Ws` (e.g. `10/60s`).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<RateLimit>,
    /// Refuse the session before this block time (Unix seconds).
    #[arg(long)]
    pub valid_after: Option<u64>,
    /// A token whose balance the session may not lower by more than its spending limit on it
    /// still allows, measured around the calls (repeat; each needs a `--spending-limit`).
    #[arg(long = "loss-guard", value_parser = parse_address)]
    pub loss_guards: Vec<Felt>,
}

impl AgentLimitArgs {
    /// The limits, with the rules grouped by (target, entrypoint) in the order first given.
    pub fn spec(&self) -> AgentLimitSpec {
        let mut arg_rules: Vec<CallRules> = Vec::new();
        for flag in &self.arg_rules {
            match arg_rules
                .iter_mut()
                .find(|c| c.target == flag.target && c.selector == flag.selector)
            {
                Some(call) => call.rules.push(flag.rule.clone()),
                None => arg_rules.push(CallRules {
                    target: flag.target,
                    selector: flag.selector,
                    rules: vec![flag.rule.clone()],
                }),
            }
        }
        AgentLimitSpec {
            valid_after: self.valid_after.unwrap_or(0),
            rate_limit: self.rate,
            arg_rules,
            loss_guards: self.loss_guards.clone(),
        }
    }
}

/// One `--arg-rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgRuleFlag {
    target: Felt,
    selector: Felt,
    rule: ArgRule,
}

/// Parses `<target>:<entrypoint>:<rule>` (see [`AgentLimitArgs::arg_rules`]).
pub fn parse_arg_rule(text: &str) -> Result<ArgRuleFlag> {
    let mut parts = text.splitn(3, ':');
    let (Some(target), Some(entrypoint), Some(rule)) = (parts.next(), parts.next(), parts.next())
    else {
        bail!("malformed argument rule `{text}`: expected <target>:<entrypoint>:<rule>, e.g. 0x…:transfer:0=0xA|0xB");
    };
    let target = parse_address(target)?;
    let selector = parse_selector(entrypoint)?;
    let (words, kind, values) = split_rule(rule).with_context(|| {
        format!("malformed rule `{rule}` in `{text}`: expected i=A|B, i<=N or i>=N (i or i..i+1)")
    })?;
    let (word, wide) = parse_words(words).with_context(|| format!("in `{text}`"))?;
    let values = values
        .split('|')
        .map(parse_value)
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("in `{text}`"))?;
    if word == 1 && !wide && kind != RuleKind::OneOf && TRACKED_SELECTORS.contains(&selector) {
        bail!("`{text}` bounds only the low half of the u256 amount: write `1..2{}` to bound the amount", &rule[1..]);
    }
    let rule = match kind {
        RuleKind::OneOf => {
            if wide {
                bail!("`{text}`: a one-of rule names one word, not a u256");
            }
            ArgRule::one_of(word, values)
        }
        _ => {
            let [bound] = values.as_slice() else {
                bail!("`{text}`: a bound has one value");
            };
            ArgRule {
                word,
                kind,
                wide,
                values: vec![*bound],
            }
        }
    };
    rule.validate()
        .map_err(|e| anyhow::anyhow!("`{text}`: the account would refuse this rule ({e})"))?;
    Ok(ArgRuleFlag {
        target,
        selector,
        rule,
    })
}

/// `i<op>values` into its parts.
fn split_rule(rule: &str) -> Option<(&str, RuleKind, &str)> {
    for (op, kind) in [
        ("<=", RuleKind::AtMost),
        (">=", RuleKind::AtLeast),
        ("=", RuleKind::OneOf),
    ] {
        if let Some((words, values)) = rule.split_once(op) {
            return Some((words, kind, values));
        }
    }
    None
}

/// `i` (one word) or `i..i+1` (a u256).
fn parse_words(words: &str) -> Result<(u32, bool)> {
    let index = |s: &str| {
        s.trim()
            .parse::<u32>()
            .with_context(|| format!("malformed calldata word `{s}`: expected a number"))
    };
    match words.split_once("..") {
        None => Ok((index(words)?, false)),
        Some((low, high)) => {
            let (low, high) = (index(low)?, index(high)?);
            if high != low + 1 {
                bail!("a u256 is two consecutive words: `{low}..{}`", low + 1);
            }
            Ok((low, true))
        }
    }
}

fn parse_value(text: &str) -> Result<Felt> {
    let text = text.trim();
    let parsed = if text.starts_with("0x") {
        Felt::from_hex(text).ok()
    } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Felt::from_dec_str(text).ok()
    } else {
        None
    };
    parsed
        .with_context(|| format!("malformed value `{text}`: expected 0x… hex or a decimal number"))
}

/// Parses `N/Ws` (or `N/W`): N executions per W seconds.
pub fn parse_rate(text: &str) -> Result<RateLimit> {
    let malformed = || format!("malformed rate `{text}`: expected N/Ws, e.g. 10/60s");
    let (n, w) = text.split_once('/').with_context(malformed)?;
    let w = w.strip_suffix('s').unwrap_or(w);
    let rate = RateLimit {
        max_executions: n.trim().parse().with_context(malformed)?,
        window_seconds: w.trim().parse().with_context(malformed)?,
    };
    if rate.max_executions == 0 || rate.window_seconds == 0 {
        bail!("{}: both N and W must be above 0", malformed());
    }
    Ok(rate)
}

/// How a rule reads, the flags' way round: `0=0xa|0xb`, `1..2<=50`.
pub fn rule_text(rule: &ArgRule) -> String {
    let words = if rule.wide {
        format!("{}..{}", rule.word, rule.word + 1)
    } else {
        rule.word.to_string()
    };
    let op = match rule.kind {
        RuleKind::OneOf => "=",
        RuleKind::AtMost => "<=",
        RuleKind::AtLeast => ">=",
    };
    let values: Vec<String> = rule
        .values
        .iter()
        .map(|v| {
            let n = stark_sessions_abi::limits::felt_u256(*v);
            if n <= U256::from_u128(u128::MAX) && rule.kind != RuleKind::OneOf {
                n.low.to_string()
            } else {
                format!("{v:#x}")
            }
        })
        .collect();
    format!("{words}{op}{}", values.join("|"))
}

/// The limits as `session status --json` shows them.
pub fn limits_json(limits: &AgentLimits) -> Value {
    let t = &limits.terms;
    json!({
        "valid_after": t.valid_after,
        "rate_limit": (t.max_executions != 0).then(|| json!({
            "max_executions": t.max_executions,
            "window_seconds": t.window_seconds,
            "window_start": t.window_start,
            "executions_in_window": t.executions_in_window,
        })),
        "arg_rules": limits.rules.iter().flat_map(|(call, rules)| rules.iter().map(move |r| {
            format!("{:#x}:{:#x}:{}", call.target, call.selector, rule_text(r))
        })).collect::<Vec<_>>(),
        "loss_guards": limits.loss_guards.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
    })
}

/// The limits as `session status` prints them, one line each.
pub fn limits_text(limits: &AgentLimits) -> String {
    let t = &limits.terms;
    let mut lines = vec![format!(
        "valid_after      {}",
        if t.valid_after == 0 {
            "none".to_owned()
        } else {
            t.valid_after.to_string()
        }
    )];
    lines.push(if t.max_executions == 0 {
        "rate             none".to_owned()
    } else {
        format!(
            "rate             {}/{}s ({} in the window opened at {})",
            t.max_executions, t.window_seconds, t.executions_in_window, t.window_start
        )
    });
    for (call, rules) in &limits.rules {
        for rule in rules {
            lines.push(format!(
                "arg_rule         {:#x}:{:#x}:{}",
                call.target,
                call.selector,
                rule_text(rule)
            ));
        }
    }
    let guards: Vec<String> = limits
        .loss_guards
        .iter()
        .map(|f| format!("{f:#x}"))
        .collect();
    lines.push(format!(
        "loss_guards      {}",
        if guards.is_empty() {
            "none".to_owned()
        } else {
            guards.join(", ")
        }
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use starknet::core::utils::get_selector_from_name;

    #[test]
    fn the_issues_rules_parse_into_the_accounts_rules() {
        let recipients = parse_arg_rule("0x70c:transfer:0=0xa|0xb").expect("parses");
        assert_eq!(
            recipients.selector,
            get_selector_from_name("transfer").expect("ascii")
        );
        assert_eq!(
            recipients.rule,
            ArgRule::one_of(0, vec![Felt::from(0xau8), Felt::from(0xbu8)])
        );
        let cap = parse_arg_rule("0x70c:transfer:1..2<=50000000000000000000").expect("parses");
        assert_eq!(
            cap.rule,
            ArgRule::u256_at_most(1, U256::from_u128(50_000_000_000_000_000_000)).expect("fits")
        );
        assert_eq!(rule_text(&cap.rule), "1..2<=50000000000000000000");
        let floor = parse_arg_rule("0x9a3e:record_score:0>=3").expect("parses");
        assert_eq!(floor.rule, ArgRule::at_least(0, Felt::THREE));
    }

    #[test]
    fn malformed_rules_and_rates_are_refused_with_a_reason() {
        for bad in [
            "0x70c:transfer",
            "0x70c:transfer:0~1",
            "0x70c:transfer:x=1",
            "0x70c:transfer:1..3<=5",
            "0x70c:transfer:0..1=5",
            "0x70c:transfer:0<=1|2",
            "0x70c:transfer:0=1|1",
            "0x70c:transfer:0=zz",
            "0x70c:transfer:300=1",
        ] {
            assert!(parse_arg_rule(bad).is_err(), "{bad}");
        }
        // The amount's low half alone would let a high half through: refused with the fix.
        let e = parse_arg_rule("0x70c:transfer:1<=50").expect_err("refused");
        assert!(e.to_string().contains("1..2<=50"), "{e}");
        assert_eq!(
            parse_rate("10/60s").expect("parses"),
            RateLimit {
                max_executions: 10,
                window_seconds: 60
            }
        );
        for bad in ["10", "0/60s", "10/0s", "a/60s", "10/60m"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_given_one_by_one_are_grouped_per_entrypoint() {
        let args = AgentLimitArgs {
            arg_rules: vec![
                parse_arg_rule("0x70c:transfer:0=0xa").expect("parses"),
                parse_arg_rule("0x9a3e:record_score:0<=5").expect("parses"),
                parse_arg_rule("0x70c:transfer:1..2<=9").expect("parses"),
            ],
            rate: None,
            valid_after: Some(7),
            loss_guards: vec![Felt::from(0x70cu32)],
        };
        let spec = args.spec();
        assert_eq!(spec.arg_rules.len(), 2);
        assert_eq!(spec.arg_rules[0].rules.len(), 2);
        assert_eq!(spec.valid_after, 7);
        assert_eq!(spec.loss_guards, vec![Felt::from(0x70cu32)]);
    }
}
