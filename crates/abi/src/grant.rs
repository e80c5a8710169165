//! Session grants: the SNIP-12 revision 1 typed data `SessionGrant` an owner signs off-chain so
//! that a session registers itself on its first use (`contracts/src/grant.cairo`), its hash,
//! its JSON for wallets, and the signature layout of that first use.
//!
//! A grant is single-use: it names the key's registration generation, the revoke-all epoch and
//! the owner key's version it was signed under, and the account refuses it once any of them
//! moved on (its own use moves the generation).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use starknet_core::types::Felt;
use starknet_crypto::{poseidon_hash_many, verify};

use crate::constants::{
    ARG_RULE_TYPE_HASH, CALL_RULES_TYPE_HASH, DOMAIN_TYPE_HASH, GRANT_DOMAIN_NAME,
    GRANT_DOMAIN_VERSION, RULE_NAME_AT_LEAST, RULE_NAME_AT_MOST, RULE_NAME_ONE_OF,
    SESSION_GRANT_TYPE_HASH, SNIP12_REVISION, SPENDING_LIMIT_TYPE_HASH, STARKNET_MESSAGE,
    U256_TYPE_HASH,
};
use crate::limits::{ArgRule, RuleKind};
use crate::serde::CairoSerde;
use crate::snip12::session_registration;
use crate::typed_data::hex;
use crate::types::U256;

/// A spending limit a grant sets: the terms of `set_spending_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantSpendingLimit {
    /// The ERC-20 token.
    pub token: Felt,
    /// Most one call may move.
    pub max_per_call: U256,
    /// Most a window may move.
    pub max_per_window: U256,
    /// The window's length.
    pub window_seconds: u64,
}

/// The argument rules a grant sets on one (target, selector).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantCallRules {
    /// The contract called.
    pub target: Felt,
    /// The entry point.
    pub selector: Felt,
    /// Its rules, all of which must hold (at least one).
    pub rules: Vec<ArgRule>,
}

/// Every term of a session registration, and what makes the grant single-use.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionGrant {
    /// The account that grants.
    pub account: Felt,
    /// The session's public key.
    pub session_key: Felt,
    /// Last block timestamp at which the session (and the grant) may be used.
    pub valid_until: u64,
    /// The session's call budget.
    pub max_calls: u32,
    /// Entry point whitelist (selectors); empty: any entry point not always refused.
    pub entrypoints: Vec<Felt>,
    /// Target set; empty: any contract but the account.
    pub targets: Vec<Felt>,
    /// Spending limits by token.
    pub spending_limits: Vec<GrantSpendingLimit>,
    /// Refused before this block time (0: none).
    #[serde(default)]
    pub valid_after: u64,
    /// At most so many executions per rate window (0 and 0: no rate limit).
    #[serde(default)]
    pub rate_max_executions: u32,
    /// The rate window's length.
    #[serde(default)]
    pub rate_window_seconds: u64,
    /// Argument rules per (target, selector).
    #[serde(default)]
    pub arg_rules: Vec<GrantCallRules>,
    /// Tokens under the loss guard (each needs a spending limit).
    #[serde(default)]
    pub loss_guards: Vec<Felt>,
    /// `get_session_generation` of the key when the grant was signed (0 for a new key).
    pub key_generation: u32,
    /// `get_sessions_epoch` when the grant was signed.
    pub sessions_epoch: u32,
    /// `get_owner_key_version` when the grant was signed.
    pub owner_key_version: u32,
}

/// A grant and the owner's `(r, s)` over [`SessionGrant::message_hash`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedGrant {
    /// The terms.
    pub grant: SessionGrant,
    /// The owner's signature `[r, s]`.
    pub owner_signature: [Felt; 2],
}

fn hash_u256(value: U256) -> Felt {
    poseidon_hash_many(&[
        U256_TYPE_HASH,
        Felt::from(value.low),
        Felt::from(value.high),
    ])
}

fn hash_limit(limit: &GrantSpendingLimit) -> Felt {
    poseidon_hash_many(&[
        SPENDING_LIMIT_TYPE_HASH,
        limit.token,
        hash_u256(limit.max_per_call),
        hash_u256(limit.max_per_window),
        Felt::from(limit.window_seconds),
    ])
}

/// How the typed data names a rule's kind.
fn kind_name(kind: RuleKind) -> Felt {
    match kind {
        RuleKind::OneOf => RULE_NAME_ONE_OF,
        RuleKind::AtMost => RULE_NAME_AT_MOST,
        RuleKind::AtLeast => RULE_NAME_AT_LEAST,
    }
}

fn hash_arg_rule(rule: &ArgRule) -> Felt {
    poseidon_hash_many(&[
        ARG_RULE_TYPE_HASH,
        Felt::from(rule.word),
        kind_name(rule.kind),
        Felt::from(u8::from(rule.wide)),
        poseidon_hash_many(&rule.values),
    ])
}

fn hash_call_rules(call_rules: &GrantCallRules) -> Felt {
    let rules: Vec<Felt> = call_rules.rules.iter().map(hash_arg_rule).collect();
    poseidon_hash_many(&[
        CALL_RULES_TYPE_HASH,
        call_rules.target,
        call_rules.selector,
        poseidon_hash_many(&rules),
    ])
}

/// The grant domain's hash on a chain.
pub fn grant_domain_hash(chain_id: Felt) -> Felt {
    poseidon_hash_many(&[
        DOMAIN_TYPE_HASH,
        GRANT_DOMAIN_NAME,
        GRANT_DOMAIN_VERSION,
        chain_id,
        SNIP12_REVISION,
    ])
}

impl SessionGrant {
    /// The SNIP-12 struct hash of the grant.
    pub fn struct_hash(&self) -> Felt {
        let limits: Vec<Felt> = self.spending_limits.iter().map(hash_limit).collect();
        let arg_rules: Vec<Felt> = self.arg_rules.iter().map(hash_call_rules).collect();
        poseidon_hash_many(&[
            SESSION_GRANT_TYPE_HASH,
            self.account,
            self.session_key,
            Felt::from(self.valid_until),
            Felt::from(self.max_calls),
            poseidon_hash_many(&self.entrypoints),
            poseidon_hash_many(&self.targets),
            poseidon_hash_many(&limits),
            Felt::from(self.valid_after),
            Felt::from(self.rate_max_executions),
            Felt::from(self.rate_window_seconds),
            poseidon_hash_many(&arg_rules),
            poseidon_hash_many(&self.loss_guards),
            Felt::from(self.key_generation),
            Felt::from(self.sessions_epoch),
            Felt::from(self.owner_key_version),
        ])
    }

    /// The message the owner signs (`typedData.getMessageHash(grant, account)` in starknet.js).
    pub fn message_hash(&self, chain_id: Felt) -> Felt {
        poseidon_hash_many(&[
            STARKNET_MESSAGE,
            grant_domain_hash(chain_id),
            self.account,
            self.struct_hash(),
        ])
    }

    /// The registration the grant creates, which the session key signs its first use under:
    /// `valid_until` at the generation after the one the grant names.
    pub fn registration(&self) -> Felt {
        session_registration(self.valid_until, self.key_generation + 1)
    }

    /// The agent limits the grant sets, as the account's views will report them once it
    /// registers.
    pub fn agent_limits(&self) -> crate::limits::AgentLimits {
        crate::limits::AgentLimits {
            terms: crate::limits::SessionLimits {
                valid_after: self.valid_after,
                max_executions: self.rate_max_executions,
                window_seconds: self.rate_window_seconds,
                window_start: 0,
                executions_in_window: 0,
            },
            rules: self
                .arg_rules
                .iter()
                .map(|c| {
                    let call = crate::limits::RuledCall {
                        target: c.target,
                        selector: c.selector,
                    };
                    (call, c.rules.clone())
                })
                .collect(),
            loss_guards: self.loss_guards.clone(),
        }
    }

    /// Whether `signature` is `owner_key`'s over the grant on `chain_id`.
    pub fn verify(&self, chain_id: Felt, owner_key: Felt, signature: &[Felt; 2]) -> bool {
        let hash = self.message_hash(chain_id);
        verify(&owner_key, &hash, &signature[0], &signature[1]).unwrap_or(false)
    }

    /// The Cairo serialization of the contract's `SessionGrant` struct (the terms after the
    /// session signature's four elements; the key and `valid_until` are those elements).
    pub fn terms_felts(&self) -> Vec<Felt> {
        let mut out = vec![Felt::from(self.max_calls)];
        self.entrypoints.cairo_serialize(&mut out);
        self.targets.cairo_serialize(&mut out);
        out.push(Felt::from(self.spending_limits.len()));
        for limit in &self.spending_limits {
            out.push(limit.token);
            limit.max_per_call.cairo_serialize(&mut out);
            limit.max_per_window.cairo_serialize(&mut out);
            out.push(Felt::from(limit.window_seconds));
        }
        out.push(Felt::from(self.valid_after));
        out.push(Felt::from(self.rate_max_executions));
        out.push(Felt::from(self.rate_window_seconds));
        out.push(Felt::from(self.arg_rules.len()));
        for call_rules in &self.arg_rules {
            out.extend([call_rules.target, call_rules.selector]);
            call_rules.rules.cairo_serialize(&mut out);
        }
        self.loss_guards.cairo_serialize(&mut out);
        out.extend([
            Felt::from(self.key_generation),
            Felt::from(self.sessions_epoch),
            Felt::from(self.owner_key_version),
        ]);
        out
    }

    /// The SNIP-12 rev-1 typed data a wallet shows and signs, as JSON.
    pub fn typed_data(&self, chain_id: Felt) -> Value {
        json!({
            "types": grant_types(),
            "primaryType": "SessionGrant",
            "domain": {
                "name": "stark-sessions",
                "version": GRANT_DOMAIN_VERSION.to_string(),
                "chainId": hex(chain_id),
                "revision": SNIP12_REVISION.to_string(),
            },
            "message": self.typed_message(),
        })
    }

    fn typed_message(&self) -> Value {
        let hexes = |felts: &[Felt]| felts.iter().map(|f| hex(*f)).collect::<Vec<_>>();
        let u256 =
            |v: U256| json!({ "low": hex(Felt::from(v.low)), "high": hex(Felt::from(v.high)) });
        let limits: Vec<Value> = self
            .spending_limits
            .iter()
            .map(|l| {
                json!({
                    "Token": hex(l.token),
                    "Max Per Call": u256(l.max_per_call),
                    "Max Per Window": u256(l.max_per_window),
                    "Window Seconds": l.window_seconds.to_string(),
                })
            })
            .collect();
        let rules: Vec<Value> = self.arg_rules.iter().map(call_rules_json).collect();
        json!({
            "Account": hex(self.account),
            "Session Key": hex(self.session_key),
            "Valid Until": self.valid_until.to_string(),
            "Max Calls": self.max_calls.to_string(),
            "Entrypoints": hexes(&self.entrypoints),
            "Targets": hexes(&self.targets),
            "Spending Limits": limits,
            "Valid After": self.valid_after.to_string(),
            "Rate Max Executions": self.rate_max_executions.to_string(),
            "Rate Window Seconds": self.rate_window_seconds.to_string(),
            "Argument Rules": rules,
            "Loss Guards": hexes(&self.loss_guards),
            "Key Generation": self.key_generation.to_string(),
            "Sessions Epoch": self.sessions_epoch.to_string(),
            "Owner Key Version": self.owner_key_version.to_string(),
        })
    }
}

fn call_rules_json(call_rules: &GrantCallRules) -> Value {
    let rules: Vec<Value> = call_rules
        .rules
        .iter()
        .map(|rule| {
            json!({
                "Word": rule.word.to_string(),
                "Kind": short_name(kind_name(rule.kind)),
                "Wide": rule.wide,
                "Values": rule.values.iter().map(|v| hex(*v)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "Target": hex(call_rules.target),
        "Selector": hex(call_rules.selector),
        "Rules": rules,
    })
}

/// A short string constant as text (`one-of`).
fn short_name(felt: Felt) -> String {
    starknet_core::utils::parse_cairo_short_string(&felt).unwrap_or_else(|_| hex(felt))
}

/// The `types` of the grant's typed data; the type strings of
/// [`crate::constants::SESSION_GRANT_TYPE`] are these, encoded.
fn grant_types() -> Value {
    let field = |name: &str, ty: &str| json!({ "name": name, "type": ty });
    json!({
        "StarknetDomain": [
            field("name", "shortstring"),
            field("version", "shortstring"),
            field("chainId", "shortstring"),
            field("revision", "shortstring"),
        ],
        "SessionGrant": [
            field("Account", "ContractAddress"),
            field("Session Key", "felt"),
            field("Valid Until", "timestamp"),
            field("Max Calls", "u128"),
            field("Entrypoints", "selector*"),
            field("Targets", "ContractAddress*"),
            field("Spending Limits", "SpendingLimit*"),
            field("Valid After", "timestamp"),
            field("Rate Max Executions", "u128"),
            field("Rate Window Seconds", "u128"),
            field("Argument Rules", "CallRules*"),
            field("Loss Guards", "ContractAddress*"),
            field("Key Generation", "u128"),
            field("Sessions Epoch", "u128"),
            field("Owner Key Version", "u128"),
        ],
        "CallRules": [
            field("Target", "ContractAddress"),
            field("Selector", "selector"),
            field("Rules", "ArgRule*"),
        ],
        "ArgRule": [
            field("Word", "u128"),
            field("Kind", "shortstring"),
            field("Wide", "bool"),
            field("Values", "felt*"),
        ],
        "SpendingLimit": [
            field("Token", "ContractAddress"),
            field("Max Per Call", "u256"),
            field("Max Per Window", "u256"),
            field("Window Seconds", "u128"),
        ],
    })
}

impl SignedGrant {
    /// The signature of a session's first use: its four elements (`[session_key, r, s,
    /// valid_until]`, signed under [`SessionGrant::registration`]), the grant's terms and the
    /// owner's signature of them.
    pub fn first_use_signature(&self, session_signature: &[Felt]) -> Vec<Felt> {
        let mut out = session_signature.to_vec();
        out.extend(self.grant.terms_felts());
        out.extend(self.owner_signature);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use starknet_core::types::TypedData;
    use starknet_crypto::{get_public_key, rfc6979_generate_k, sign};

    pub(crate) fn sample() -> SessionGrant {
        SessionGrant {
            account: Felt::from(0xacc0u32),
            session_key: Felt::from(0x5e55u32),
            valid_until: 2_000_000_000,
            max_calls: 10,
            entrypoints: vec![starknet_macros::selector!("record_score")],
            targets: vec![Felt::from(0x9a3eu32), Felt::from(0x70cu32)],
            spending_limits: vec![GrantSpendingLimit {
                token: Felt::from(0x70cu32),
                max_per_call: U256::from_u128(5),
                max_per_window: U256::from_u128(u128::MAX),
                window_seconds: 3600,
            }],
            valid_after: 0,
            rate_max_executions: 0,
            rate_window_seconds: 0,
            arg_rules: vec![],
            loss_guards: vec![],
            key_generation: 2,
            sessions_epoch: 1,
            owner_key_version: 3,
        }
    }

    /// [`sample`] with every agent limit.
    pub(crate) fn sample_with_limits() -> SessionGrant {
        let transfer = starknet_macros::selector!("transfer");
        SessionGrant {
            valid_after: 1_900_000_000,
            rate_max_executions: 3,
            rate_window_seconds: 60,
            arg_rules: vec![GrantCallRules {
                target: Felt::from(0x70cu32),
                selector: transfer,
                rules: vec![
                    ArgRule::one_of(0, vec![Felt::from(0x77u8), Felt::from(0x78u8)]),
                    ArgRule::u256_at_most(1, U256::from_u128(50)).expect("a bound"),
                ],
            }],
            loss_guards: vec![Felt::from(0x70cu32)],
            ..sample()
        }
    }

    #[test]
    fn the_typed_data_hashes_like_the_grant_with_starknet_rs() {
        let chain = starknet_core::chain_id::SEPOLIA;
        let grant = sample();
        let mut json = grant.typed_data(chain);
        // starknet-rs reads a `selector` value as an entry point name.
        json["message"]["Entrypoints"][0] = json!("record_score");
        let typed: TypedData = serde_json::from_value(json).expect("starknet-rs parses it");
        assert_eq!(
            typed.message_hash(grant.account).expect("hashes"),
            grant.message_hash(chain)
        );
        let grant = sample_with_limits();
        let mut json = grant.typed_data(chain);
        json["message"]["Entrypoints"][0] = json!("record_score");
        json["message"]["Argument Rules"][0]["Selector"] = json!("transfer");
        let typed: TypedData = serde_json::from_value(json).expect("starknet-rs parses it");
        assert_eq!(
            typed.message_hash(grant.account).expect("hashes"),
            grant.message_hash(chain)
        );
    }

    #[test]
    fn every_term_changes_the_hash() {
        let chain = starknet_core::chain_id::SEPOLIA;
        let reference = sample().message_hash(chain);
        let edits: [fn(&mut SessionGrant); 12] = [
            |g| g.account = Felt::ONE,
            |g| g.session_key = Felt::ONE,
            |g| g.valid_until += 1,
            |g| g.max_calls += 1,
            |g| g.entrypoints.clear(),
            |g| g.targets.truncate(1),
            |g| g.spending_limits[0].max_per_call = U256::from_u128(6),
            |g| g.spending_limits[0].max_per_window.high = 1,
            |g| g.spending_limits[0].window_seconds = 1,
            |g| g.key_generation += 1,
            |g| g.sessions_epoch += 1,
            |g| g.owner_key_version += 1,
        ];
        let with_limits = sample_with_limits().message_hash(chain);
        assert_ne!(with_limits, reference);
        let limit_edits: [fn(&mut SessionGrant); 8] = [
            |g| g.valid_after += 1,
            |g| g.rate_max_executions += 1,
            |g| g.rate_window_seconds += 1,
            |g| g.arg_rules[0].selector = Felt::ONE,
            |g| {
                g.arg_rules[0].rules[0]
                    .values
                    .pop()
                    .map(drop)
                    .unwrap_or_default()
            },
            |g| g.arg_rules[0].rules[1].kind = RuleKind::AtLeast,
            |g| g.arg_rules[0].rules[1].wide = false,
            |g| g.loss_guards.clear(),
        ];
        for (i, edit) in limit_edits.iter().enumerate() {
            let mut grant = sample_with_limits();
            edit(&mut grant);
            assert_ne!(grant.message_hash(chain), with_limits, "limit edit {i}");
        }
        for (i, edit) in edits.iter().enumerate() {
            let mut grant = sample();
            edit(&mut grant);
            assert_ne!(grant.message_hash(chain), reference, "edit {i}");
        }
        assert_ne!(sample().message_hash(Felt::ONE), reference);
    }

    #[test]
    fn an_owner_signature_verifies_only_for_its_key_and_terms() {
        let chain = starknet_core::chain_id::SEPOLIA;
        let owner = Felt::from(0x1234_5678u64);
        let grant = sample();
        let hash = grant.message_hash(chain);
        let k = rfc6979_generate_k(&hash, &owner, None);
        let sig = sign(&owner, &hash, &k).expect("signs");
        let signature = [sig.r, sig.s];
        let public = get_public_key(&owner);
        assert!(grant.verify(chain, public, &signature));
        assert!(!grant.verify(chain, get_public_key(&Felt::TWO), &signature));
        let mut altered = grant.clone();
        altered.max_calls += 1;
        assert!(!altered.verify(chain, public, &signature));
    }

    #[test]
    fn the_first_use_signature_is_the_session_signature_then_the_terms_then_the_owners() {
        let grant = sample();
        let signed = SignedGrant {
            grant: grant.clone(),
            owner_signature: [Felt::from(7u8), Felt::from(8u8)],
        };
        let session = [
            grant.session_key,
            Felt::ONE,
            Felt::TWO,
            Felt::from(grant.valid_until),
        ];
        let felts = signed.first_use_signature(&session);
        let u = |v: u128| Felt::from(v);
        let expected: Vec<Felt> = [
            session.to_vec(),
            vec![u(10), u(1), starknet_macros::selector!("record_score")],
            vec![u(2), u(0x9a3e), u(0x70c)],
            vec![u(1), u(0x70c), u(5), u(0), u(u128::MAX), u(0), u(3600)],
            // No agent limits: valid_after, rate, no argument rules, no loss guard.
            vec![u(0), u(0), u(0), u(0), u(0)],
            vec![u(2), u(1), u(3), u(7), u(8)],
        ]
        .concat();
        assert_eq!(felts, expected);
    }
}
