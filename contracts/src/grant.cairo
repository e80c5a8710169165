//! SNIP-12 revision 1 hashing of a `SessionGrant`: the typed data an owner signs to grant a
//! session that registers itself on its first use. Only the grant path runs this code, so it
//! favours plain arrays over fixed-arity sponges.

use core::poseidon::poseidon_hash_span;
use starknet::ContractAddress;
use crate::constants;
use crate::interfaces::{ArgRule, GrantCallRules, GrantSpendingLimit, SessionGrant};
use crate::snip12::{hash_4, hash_5};

/// The rev-1 preset `u256`: `poseidon(U256_TYPE_HASH, low, high)`.
fn hash_u256(value: u256) -> felt252 {
    poseidon_hash_span(array![constants::U256_TYPE_HASH, value.low.into(), value.high.into()].span())
}

fn hash_limit(limit: @GrantSpendingLimit) -> felt252 {
    hash_5(
        constants::SPENDING_LIMIT_TYPE_HASH,
        (*limit.token).into(),
        hash_u256(*limit.max_per_call),
        hash_u256(*limit.max_per_window),
        (*limit.window_seconds).into(),
    )
}

fn hash_limits(limits: Span<GrantSpendingLimit>) -> felt252 {
    let mut hashes = array![];
    for limit in limits {
        hashes.append(hash_limit(limit));
    }
    poseidon_hash_span(hashes.span())
}

/// A rule's kind as the typed data names it (`one-of`, `at-most`, `at-least`); a kind the
/// account does not know hashes as its number (and is refused when the grant registers).
fn kind_name(kind: u8) -> felt252 {
    if kind == constants::RULE_ONE_OF {
        constants::RULE_NAME_ONE_OF
    } else if kind == constants::RULE_AT_MOST {
        constants::RULE_NAME_AT_MOST
    } else if kind == constants::RULE_AT_LEAST {
        constants::RULE_NAME_AT_LEAST
    } else {
        kind.into()
    }
}

fn hash_arg_rule(rule: @ArgRule) -> felt252 {
    let wide = if *rule.wide {
        1
    } else {
        0
    };
    hash_5(
        constants::ARG_RULE_TYPE_HASH,
        (*rule.word).into(),
        kind_name(*rule.kind),
        wide,
        poseidon_hash_span(*rule.values),
    )
}

fn hash_call_rules(all: Span<GrantCallRules>) -> felt252 {
    let mut hashes = array![];
    for call_rules in all {
        let mut rules = array![];
        for rule in *call_rules.rules {
            rules.append(hash_arg_rule(rule));
        }
        hashes
            .append(
                hash_4(
                    constants::CALL_RULES_TYPE_HASH,
                    (*call_rules.target).into(),
                    *call_rules.selector,
                    poseidon_hash_span(rules.span()),
                ),
            );
    }
    poseidon_hash_span(hashes.span())
}

fn hash_targets(targets: Span<ContractAddress>) -> felt252 {
    let mut felts = array![];
    for target in targets {
        felts.append((*target).into());
    }
    poseidon_hash_span(felts.span())
}

/// The struct hash of the grant of `session_key` until `valid_until` on `account`.
fn hash_grant(
    grant: @SessionGrant, account: ContractAddress, session_key: felt252, valid_until: u64,
) -> felt252 {
    let fields = array![
        constants::SESSION_GRANT_TYPE_HASH, account.into(), session_key, valid_until.into(),
        (*grant.max_calls).into(), poseidon_hash_span(*grant.entrypoints),
        hash_targets(*grant.targets), hash_limits(*grant.spending_limits),
        (*grant.valid_after).into(), (*grant.rate_max_executions).into(),
        (*grant.rate_window_seconds).into(), hash_call_rules(*grant.arg_rules),
        hash_targets(*grant.loss_guards), (*grant.key_generation).into(), (*grant.sessions_epoch).into(),
        (*grant.owner_key_version).into(),
    ];
    poseidon_hash_span(fields.span())
}

fn hash_grant_domain(chain_id: felt252) -> felt252 {
    hash_5(
        constants::DOMAIN_TYPE_HASH,
        constants::GRANT_DOMAIN_NAME,
        constants::GRANT_DOMAIN_VERSION,
        chain_id,
        constants::SNIP12_REVISION,
    )
}

/// The message the owner signs to grant `session_key` on `account`.
pub fn grant_message_hash(
    grant: @SessionGrant,
    account: ContractAddress,
    session_key: felt252,
    valid_until: u64,
    chain_id: felt252,
) -> felt252 {
    hash_4(
        constants::STARKNET_MESSAGE,
        hash_grant_domain(chain_id),
        account.into(),
        hash_grant(grant, account, session_key, valid_until),
    )
}
