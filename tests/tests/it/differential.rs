//! Randomized differential test: the Rust model and the deployed contract, side by side.
//!
//! Each sequence deploys a fresh account (and starts a fresh model), then applies random
//! operations — register/update, use with random calls, revoke, revoke-all, advance time, set
//! targets, set/remove spending limits, owner-signed grants made (sometimes altered after
//! signing, or signed by a previous owner key) and used (first use, used again, after a revoke),
//! a new owner key, the agent limits (start time, rate, argument rules, loss guard) and a
//! session's revocation of itself — to both. After every step the outcome (accepted, or the
//! same error) and every session view must agree.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

use stark_sessions_abi::{
    constants, AccountModel, ArgRule, CairoSerde, ContractError, GrantCallRules,
    GrantSpendingLimit, SessionStatus, SignedGrant, U256,
};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::{sel, Fixture, Relayed, TestSession};
use starknet::core::types::{Call, Felt};
use starknet::signers::SigningKey;

const SEQUENCES: usize = 200;
const KEYS: u64 = 3;

#[derive(Debug, Clone)]
enum Op {
    Register {
        key: u64,
        lifetime: i64,
        max_calls: u32,
        entrypoints: Vec<Felt>,
    },
    Use {
        key: u64,
        calls: Vec<Call>,
        /// Signed under the key's previous registration (before its last re-add or change).
        stale: bool,
    },
    Revoke {
        key: u64,
    },
    RevokeAll,
    AdvanceTime {
        seconds: u64,
    },
    SetTargets {
        key: u64,
        targets: Vec<Felt>,
    },
    SetPolicy {
        key: u64,
        per_call: u128,
        per_window: u128,
        window: u64,
    },
    RemovePolicy {
        key: u64,
    },
    /// The owner signs a grant of the key (kept for `UseGrant`; nothing on chain).
    MakeGrant {
        key: u64,
        lifetime: i64,
        max_calls: u32,
        entrypoints: Vec<Felt>,
        targets: Vec<Felt>,
        limit: Option<(u128, u128, u64)>,
        /// A term changed after the owner signed.
        altered: bool,
        /// Signed by the owner key before the last rotation (naming the current version).
        previous_owner: bool,
        /// Agent limits the grant carries.
        agent: Option<AgentDraw>,
    },
    /// The key's first use with its kept grant (again, if it was used before).
    UseGrant {
        key: u64,
        calls: Vec<Call>,
    },
    /// `set_public_key` to a new owner key.
    RotateOwner,
    SetValidAfter {
        key: u64,
        /// Seconds from now (None: no start time).
        after: Option<u64>,
    },
    SetRateLimit {
        key: u64,
        max: u32,
        window: u64,
    },
    SetArgRules {
        key: u64,
        target: Felt,
        selector: Felt,
        rules: Vec<ArgRule>,
    },
    SetLossGuards {
        key: u64,
        tokens: Vec<Felt>,
    },
    RevokeOwn {
        key: u64,
        stale: bool,
    },
}

/// A grant's agent limits: a start time (seconds from now), a rate, argument rules on
/// (target, selector) pairs, and a loss guard on STRK.
#[derive(Debug, Clone)]
struct AgentDraw {
    valid_after: Option<u64>,
    rate: (u32, u64),
    rules: Vec<(Felt, Felt, Vec<ArgRule>)>,
    loss_guard: bool,
}

fn random_agent(rng: &mut StdRng, f: &Fixture) -> Option<AgentDraw> {
    if !rng.gen_bool(0.4) {
        return None;
    }
    let mut rules = Vec::new();
    if rng.gen_bool(0.6) {
        rules.push((f.scoreboard, sel("record_score"), random_rules(rng, false)));
    }
    if rng.gen_bool(0.4) {
        rules.push((STRK_ADDRESS, sel("transfer"), random_rules(rng, true)));
    }
    if rng.gen_bool(0.05) && !rules.is_empty() {
        rules.push(rules[0].clone());
    }
    Some(AgentDraw {
        valid_after: *[None, None, Some(30)].choose(rng).unwrap_or(&None),
        rate: *[(0u32, 0u64), (2, 60), (1, 400), (0, 5)]
            .choose(rng)
            .unwrap_or(&(0, 0)),
        rules,
        loss_guard: rng.gen_bool(0.2),
    })
}

/// A grant of a key with a live registration is refused (a grant never replaces one): most
/// grants go to a key without one, if there is any, so that first uses land.
fn aim_grant(mut op: Op, model: &AccountModel, rng: &mut StdRng) -> Op {
    if let Op::MakeGrant { key, .. } = &mut op {
        let live = |k: u64| {
            let status = model.session_status(session_for(k, 0).public_key, 0);
            !matches!(status, SessionStatus::None | SessionStatus::Revoked)
        };
        if live(*key) && rng.gen_bool(0.8) {
            if let Some(free) = (0..KEYS).find(|k| !live(*k)) {
                *key = free;
            }
        }
    }
    op
}

/// What a sequence keeps beside the chain: grants made, and the owner keys used so far.
#[derive(Default)]
struct Keeper {
    grants: BTreeMap<u64, SignedGrant>,
    owners: Vec<SigningKey>,
}

impl Keeper {
    /// A grant use of a key without a grant goes to the first key that has one (a use of
    /// nothing tests nothing); so does a revocation of a key without one, once in two (a
    /// grant revoked before its first use).
    fn aim(&self, op: Op, rng: &mut StdRng) -> Op {
        let granted = self.grants.keys().next().copied();
        match op {
            Op::UseGrant { key, calls } if !self.grants.contains_key(&key) => Op::UseGrant {
                key: granted.unwrap_or(key),
                calls,
            },
            Op::Revoke { key } if !self.grants.contains_key(&key) && rng.gen_bool(0.5) => {
                Op::Revoke {
                    key: granted.unwrap_or(key),
                }
            }
            other => other,
        }
    }
}

fn random_op(rng: &mut StdRng, f: &Fixture) -> Op {
    let key = rng.gen_range(0..KEYS);
    // Three in ten steps set an agent limit, try one, or revoke a session by itself.
    if rng.gen_bool(0.3) {
        return random_limit_op(rng, f, key);
    }
    let selectors = [sel("record_score"), sel("reset_score"), sel("transfer")];
    match rng.gen_range(0..130) {
        0..=24 => {
            let mut entrypoints: Vec<Felt> = selectors
                .iter()
                .copied()
                .filter(|_| rng.gen_bool(0.4))
                .collect();
            if rng.gen_bool(0.05) {
                entrypoints.push(Felt::ZERO);
            }
            if rng.gen_bool(0.05) && !entrypoints.is_empty() {
                entrypoints.push(entrypoints[0]);
            }
            Op::Register {
                key,
                lifetime: *[-5i64, 30, 300, 3000].choose(rng).unwrap_or(&300),
                max_calls: *[0u32, 1, 2, 3, 5].choose(rng).unwrap_or(&3),
                entrypoints,
            }
        }
        25..=59 => {
            let calls = random_calls(rng, f);
            Op::Use {
                key,
                calls,
                stale: rng.gen_bool(0.5),
            }
        }
        60..=65 => Op::Revoke { key },
        66..=68 => Op::RevokeAll,
        69..=78 => Op::AdvanceTime {
            seconds: *[10u64, 60, 400].choose(rng).unwrap_or(&60),
        },
        79..=85 => {
            let mut targets: Vec<Felt> = [f.scoreboard, STRK_ADDRESS]
                .into_iter()
                .filter(|_| rng.gen_bool(0.5))
                .collect();
            if rng.gen_bool(0.08) {
                targets.push(f.address());
            }
            Op::SetTargets { key, targets }
        }
        86..=91 => Op::SetPolicy {
            key,
            per_call: *[4u128, 8].choose(rng).unwrap_or(&4),
            per_window: *[3u128, 10, 20].choose(rng).unwrap_or(&10),
            // The edges: refused (0), one second, short, block-time scale (a window longer
            // than the chain's age, which must still open), the longest allowed.
            window: *[
                0u64,
                1,
                50,
                500,
                1_800_000_000,
                constants::MAX_WINDOW_SECONDS,
            ]
            .choose(rng)
            .unwrap_or(&50),
        },
        92 => Op::RemovePolicy { key },
        93..=108 => random_grant(rng, f, key),
        109..=127 => Op::UseGrant {
            key,
            // Mostly a play, which a well-formed grant allows.
            calls: if rng.gen_bool(0.6) {
                vec![f.play(rng.gen_range(1..10))]
            } else {
                random_calls(rng, f)
            },
        },
        _ => Op::RotateOwner,
    }
}

fn random_grant(rng: &mut StdRng, f: &Fixture, key: u64) -> Op {
    if rng.gen_bool(0.7) {
        // A grant that lets the key play: the common case, so that first uses land.
        return Op::MakeGrant {
            key,
            lifetime: 3000,
            max_calls: rng.gen_range(1..=3),
            entrypoints: vec![sel("record_score")],
            targets: vec![f.scoreboard],
            limit: None,
            altered: false,
            previous_owner: false,
            // Sometimes with limits a play meets: a rate and a bound on the points.
            agent: rng.gen_bool(0.3).then(|| AgentDraw {
                valid_after: None,
                rate: (2, 60),
                rules: vec![(
                    f.scoreboard,
                    sel("record_score"),
                    vec![ArgRule::at_most(0, Felt::from(9u8))],
                )],
                loss_guard: false,
            }),
        };
    }
    let selectors = [sel("record_score"), sel("reset_score"), sel("transfer")];
    let mut targets: Vec<Felt> = [f.scoreboard, STRK_ADDRESS]
        .into_iter()
        .filter(|_| rng.gen_bool(0.5))
        .collect();
    if rng.gen_bool(0.05) {
        targets.push(f.address());
    }
    Op::MakeGrant {
        key,
        lifetime: *[-5i64, 300, 3000].choose(rng).unwrap_or(&300),
        max_calls: *[0u32, 1, 2, 4].choose(rng).unwrap_or(&2),
        entrypoints: selectors
            .iter()
            .copied()
            .filter(|_| rng.gen_bool(0.5))
            .collect(),
        targets,
        limit: rng.gen_bool(0.5).then(|| {
            (
                *[4u128, 8].choose(rng).unwrap_or(&4),
                *[3u128, 10].choose(rng).unwrap_or(&10),
                *[0u64, 50, 500].choose(rng).unwrap_or(&50),
            )
        }),
        altered: rng.gen_bool(0.2),
        previous_owner: rng.gen_bool(0.2),
        agent: random_agent(rng, f),
    }
}

/// Transfer recipients: the rules' allowed set draws from the first two.
const RECIPIENTS: [u64; 3] = [0x77, 0x78, 0x79];

fn random_rules(rng: &mut StdRng, on_transfer: bool) -> Vec<ArgRule> {
    let felt = |v: u64| Felt::from(v);
    let pool: Vec<ArgRule> = if on_transfer {
        vec![
            ArgRule::one_of(0, vec![felt(RECIPIENTS[0]), felt(RECIPIENTS[1])]),
            ArgRule::one_of(0, vec![felt(RECIPIENTS[1])]),
            ArgRule::u256_at_most(1, U256::from_u128(5)).unwrap_or_else(|| unreachable!()),
            ArgRule::u256_at_least(1, U256::from_u128(3)).unwrap_or_else(|| unreachable!()),
            ArgRule::at_most(2, Felt::ZERO),
        ]
    } else {
        vec![
            ArgRule::at_most(0, felt(5)),
            ArgRule::at_least(0, felt(3)),
            ArgRule::one_of(0, vec![felt(1), felt(2), felt(3)]),
            // Beyond record_score's one word: never readable.
            ArgRule::at_most(1, felt(9)),
        ]
    };
    let invalid = [
        ArgRule::one_of(0, vec![]),
        ArgRule::one_of(0, vec![felt(1), felt(1)]),
        ArgRule::at_most(256, felt(1)),
    ];
    if rng.gen_bool(0.08) {
        return vec![invalid
            .choose(rng)
            .cloned()
            .unwrap_or_else(|| invalid[0].clone())];
    }
    let n = if rng.gen_bool(0.05) {
        5
    } else {
        rng.gen_range(0..=2)
    };
    (0..n).filter_map(|_| pool.choose(rng).cloned()).collect()
}

/// One call that only the agent limits can refuse: a transfer or a play.
fn clean_call(rng: &mut StdRng, f: &Fixture) -> Call {
    if rng.gen_bool(0.3) {
        return f.play(rng.gen_range(1..8));
    }
    Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![
            Felt::from(*RECIPIENTS.choose(rng).unwrap_or(&RECIPIENTS[0])),
            Felt::from(rng.gen_range(1u32..=8)),
            Felt::ZERO,
        ],
    }
}

fn random_limit_op(rng: &mut StdRng, f: &Fixture, key: u64) -> Op {
    match rng.gen_range(0..100) {
        0..=29 => Op::Use {
            key,
            calls: (0..rng.gen_range(1..=2))
                .map(|_| clean_call(rng, f))
                .collect(),
            stale: false,
        },
        30..=44 => Op::SetValidAfter {
            key,
            after: *[None, Some(30), Some(300), Some(5_000)]
                .choose(rng)
                .unwrap_or(&None),
        },
        45..=59 => {
            let (max, window) = *[(0u32, 0u64), (1, 60), (2, 400), (0, 5), (3, 0)]
                .choose(rng)
                .unwrap_or(&(1, 60));
            Op::SetRateLimit { key, max, window }
        }
        60..=84 => {
            let on_transfer = rng.gen_bool(0.6);
            let (mut target, selector) = if on_transfer {
                (STRK_ADDRESS, sel("transfer"))
            } else {
                (f.scoreboard, sel("record_score"))
            };
            if rng.gen_bool(0.04) {
                target = f.address();
            }
            Op::SetArgRules {
                key,
                target,
                selector,
                rules: random_rules(rng, on_transfer),
            }
        }
        85..=94 => {
            let tokens = match rng.gen_range(0..10) {
                0..=5 => vec![STRK_ADDRESS],
                6..=7 => vec![],
                8 => vec![STRK_ADDRESS, STRK_ADDRESS],
                _ => vec![f.scoreboard],
            };
            Op::SetLossGuards { key, tokens }
        }
        _ => Op::RevokeOwn {
            key,
            stale: rng.gen_bool(0.2),
        },
    }
}

fn random_calls(rng: &mut StdRng, f: &Fixture) -> Vec<Call> {
    let n = rng.gen_range(1..=3);
    let calls: Vec<Call> = (0..n)
        .map(|_| match rng.gen_range(0..100) {
            0..=39 => f.play(rng.gen_range(1..10)),
            40..=54 => Call {
                to: f.scoreboard,
                selector: sel("reset_score"),
                calldata: vec![f.address()],
            },
            55..=79 => Call {
                to: STRK_ADDRESS,
                selector: sel("transfer"),
                calldata: vec![
                    Felt::from(*RECIPIENTS.choose(rng).unwrap_or(&RECIPIENTS[0])),
                    Felt::from(rng.gen_range(1u32..=8)),
                    Felt::ZERO,
                ],
            },
            80..=87 => f.self_call("get_public_key", vec![]),
            _ => Call {
                to: f.scoreboard,
                selector: constants::SELECTOR_UPGRADE,
                calldata: vec![],
            },
        })
        .collect();
    calls
}

fn session_for(key: u64, valid_until: u64) -> TestSession {
    TestSession::from_secret(key + 1, valid_until)
}

/// An agent limit set on `key` (no use, no self-revocation).
fn random_setter(rng: &mut StdRng, f: &Fixture, key: u64) -> Op {
    loop {
        let op = random_limit_op(rng, f, key);
        if !matches!(op, Op::Use { .. } | Op::RevokeOwn { .. }) {
            return op;
        }
    }
}

/// Applies `op` to the chain and the model; returns both outcomes.
async fn apply(
    f: &Fixture,
    model: &mut AccountModel,
    keeper: &mut Keeper,
    op: &Op,
) -> (Result<(), Option<ContractError>>, Result<(), ContractError>) {
    let now = f.devnet.block_timestamp().await.expect("time");
    let pk = |key: u64| session_for(key, 0).public_key;
    let owner = |calls: Vec<Call>| async move { f.owner_execute(calls).await.expect("sent") };
    let (chain, expected): (Relayed, Result<(), ContractError>) = match op {
        Op::Register {
            key,
            lifetime,
            max_calls,
            entrypoints,
        } => {
            let valid_until = (now as i64 + lifetime) as u64;
            let s = session_for(*key, valid_until);
            let chain = owner(vec![f.register_call(&s, *max_calls, entrypoints)]).await;
            (
                chain,
                model.add_or_update_session_key(
                    s.public_key,
                    valid_until,
                    *max_calls,
                    entrypoints,
                    now,
                ),
            )
        }
        Op::Use { key, calls, stale } => {
            let mut s = session_for(*key, model.session_data(pk(*key)).valid_until);
            s.generation = model.session_generation(s.public_key);
            if *stale {
                s.generation = s.generation.saturating_sub(1);
            }
            let chain = f.session_execute_as(&s, calls.clone()).await.expect("sent");
            (
                chain,
                model.execute_session(s.public_key, s.registration(), calls, now),
            )
        }
        Op::Revoke { key } => {
            let chain = owner(vec![f.self_call("revoke_session_key", vec![pk(*key)])]).await;
            (chain, model.revoke_session_key(pk(*key)))
        }
        Op::RevokeAll => {
            let chain = owner(vec![f.self_call("revoke_all_sessions", vec![])]).await;
            model.revoke_all_sessions();
            (chain, Ok(()))
        }
        Op::AdvanceTime { seconds } => {
            f.devnet.increase_time(*seconds).await.expect("time travel");
            return (Ok(()), Ok(()));
        }
        Op::SetTargets { key, targets } => {
            let mut calldata = vec![pk(*key)];
            targets.cairo_serialize(&mut calldata);
            let chain = owner(vec![f.self_call("set_session_targets", calldata)]).await;
            (chain, model.set_session_targets(pk(*key), targets))
        }
        Op::SetPolicy {
            key,
            per_call,
            per_window,
            window,
        } => {
            let calldata = vec![
                pk(*key),
                STRK_ADDRESS,
                Felt::from(*per_call),
                Felt::ZERO,
                Felt::from(*per_window),
                Felt::ZERO,
                Felt::from(*window),
            ];
            let chain = owner(vec![f.self_call("set_spending_policy", calldata)]).await;
            let expected = model.set_spending_policy(
                pk(*key),
                STRK_ADDRESS,
                U256::from_u128(*per_call),
                U256::from_u128(*per_window),
                *window,
            );
            (chain, expected)
        }
        Op::RemovePolicy { key } => {
            let chain =
                owner(vec![f.self_call(
                    "remove_spending_policy",
                    vec![pk(*key), STRK_ADDRESS],
                )])
                .await;
            (chain, model.remove_spending_policy(pk(*key), STRK_ADDRESS))
        }
        Op::MakeGrant { .. } => {
            let signed = make_grant(f, model, keeper, op, now);
            if let Op::MakeGrant { key, .. } = op {
                keeper.grants.insert(*key, signed);
            }
            return (Ok(()), Ok(()));
        }
        Op::UseGrant { key, calls } => {
            let Some(signed) = keeper.grants.get(key) else {
                return (Ok(()), Ok(()));
            };
            let s = session_for(*key, signed.grant.valid_until);
            let chain = f
                .grant_execute(&s, signed, calls.clone())
                .await
                .expect("sent");
            let registration = signed.grant.registration();
            (
                chain,
                model.execute_session_with_grant(signed, registration, calls, now),
            )
        }
        Op::RotateOwner => {
            let next = SigningKey::from_secret_scalar(Felt::from(0x0e0_0000 + keeper.owners.len()));
            let public = next.verifying_key().scalar();
            let chain = owner(vec![f.self_call("set_public_key", vec![public])]).await;
            model.set_public_key(public);
            keeper.owners.push(next);
            (chain, Ok(()))
        }
        Op::SetValidAfter { key, after } => {
            let valid_after = after.map_or(0, |a| now + a);
            let chain = owner(vec![f.valid_after_call(pk(*key), valid_after)]).await;
            (chain, model.set_session_valid_after(pk(*key), valid_after))
        }
        Op::SetRateLimit { key, max, window } => {
            let chain = owner(vec![f.rate_limit_call(pk(*key), *max, *window)]).await;
            (chain, model.set_session_rate_limit(pk(*key), *max, *window))
        }
        Op::SetArgRules {
            key,
            target,
            selector,
            rules,
        } => {
            let chain = owner(vec![f.arg_rules_call(pk(*key), *target, *selector, rules)]).await;
            (
                chain,
                model.set_session_arg_rules(pk(*key), *target, *selector, rules),
            )
        }
        Op::SetLossGuards { key, tokens } => {
            let chain = owner(vec![f.loss_guards_call(pk(*key), tokens)]).await;
            (chain, model.set_session_loss_guards(pk(*key), tokens))
        }
        Op::RevokeOwn { key, stale } => {
            let mut s = session_for(*key, model.session_data(pk(*key)).valid_until);
            s.generation = model.session_generation(s.public_key);
            if *stale {
                s.generation = s.generation.saturating_sub(1);
            }
            let calls = vec![f.revoke_own_call()];
            let chain = f.session_execute_as(&s, calls.clone()).await.expect("sent");
            (
                chain,
                model.execute_session(s.public_key, s.registration(), &calls, now),
            )
        }
    };
    (chain.outcome(), expected)
}

/// The grant a `MakeGrant` describes, on the model's current state, signed as it says.
fn make_grant(
    f: &Fixture,
    model: &AccountModel,
    keeper: &Keeper,
    op: &Op,
    now: u64,
) -> SignedGrant {
    let Op::MakeGrant {
        key,
        lifetime,
        max_calls,
        entrypoints,
        targets,
        limit,
        altered,
        previous_owner,
        agent,
    } = op
    else {
        unreachable!("make_grant of another op")
    };
    let public_key = session_for(*key, 0).public_key;
    let grant = stark_sessions_abi::SessionGrant {
        account: f.address(),
        session_key: public_key,
        valid_until: (now as i64 + lifetime) as u64,
        max_calls: *max_calls,
        entrypoints: entrypoints.clone(),
        targets: targets.clone(),
        spending_limits: limit
            .iter()
            .map(|(per_call, per_window, window)| GrantSpendingLimit {
                token: STRK_ADDRESS,
                max_per_call: U256::from_u128(*per_call),
                max_per_window: U256::from_u128(*per_window),
                window_seconds: *window,
            })
            .collect(),
        valid_after: agent
            .as_ref()
            .and_then(|a| a.valid_after)
            .map_or(0, |after| now + after),
        rate_max_executions: agent.as_ref().map_or(0, |a| a.rate.0),
        rate_window_seconds: agent.as_ref().map_or(0, |a| a.rate.1),
        arg_rules: agent
            .iter()
            .flat_map(|a| a.rules.iter())
            .map(|(target, selector, rules)| GrantCallRules {
                target: *target,
                selector: *selector,
                rules: rules.clone(),
            })
            .collect(),
        loss_guards: match agent {
            Some(a) if a.loss_guard => vec![STRK_ADDRESS],
            _ => vec![],
        },
        key_generation: model.session_generation(public_key),
        sessions_epoch: model.epoch(),
        owner_key_version: model.owner_key_version(),
    };
    let owners = &keeper.owners;
    let stranger = SigningKey::from_secret_scalar(Felt::from(0xbad_u32));
    let signer = match (*previous_owner, owners.len()) {
        (true, n) if n >= 2 => &owners[n - 2],
        (true, _) => &stranger,
        _ => owners.last().unwrap_or(&stranger),
    };
    let mut signed = f.sign_grant(grant, signer).expect("signs");
    if *altered {
        signed.grant.max_calls += 1;
    }
    signed
}

/// The (target, selector) pairs the sequences put rules on.
fn ruled_pairs(f: &Fixture) -> [(Felt, Felt); 2] {
    [
        (STRK_ADDRESS, sel("transfer")),
        (f.scoreboard, sel("record_score")),
    ]
}

async fn arg_rules_on_chain(f: &Fixture, key: Felt) -> Vec<Vec<ArgRule>> {
    let mut out = Vec::new();
    for (target, selector) in ruled_pairs(f) {
        out.push(f.arg_rules(key, target, selector).await.expect("view"));
    }
    out
}

fn arg_rules_in_model(f: &Fixture, model: &AccountModel, key: Felt) -> Vec<Vec<ArgRule>> {
    ruled_pairs(f)
        .iter()
        .map(|(target, selector)| model.arg_rules(key, *target, *selector))
        .collect()
}

/// Every view of every key, on chain and in the model; describes the first difference.
async fn compare_views(f: &Fixture, model: &AccountModel) -> Option<String> {
    let now = f.devnet.block_timestamp().await.expect("time");
    for key in 0..KEYS {
        let pk = session_for(key, 0).public_key;
        let checks = [
            (
                "get_session_data",
                format!("{:?}", f.session_data(pk).await.expect("view")),
                format!("{:?}", model.session_data(pk)),
            ),
            (
                "get_session_status",
                format!("{:?}", f.session_status(pk).await.expect("view")),
                format!("{:?}", model.session_status(pk, now)),
            ),
            (
                "entrypoints",
                format!("{:?}", f.allowed_entrypoints(pk).await.expect("view")),
                format!("{:?}", model.allowed_entrypoints(pk)),
            ),
            (
                "targets",
                format!("{:?}", f.session_targets(pk).await.expect("view")),
                format!("{:?}", model.session_targets(pk)),
            ),
            (
                "get_session_generation",
                format!("{:?}", f.session_generation(pk).await.expect("view")),
                format!("{:?}", model.session_generation(pk)),
            ),
            (
                "spending",
                format!(
                    "{:?}",
                    f.spending_policy(pk, STRK_ADDRESS).await.expect("view")
                ),
                format!("{:?}", model.spending_policy(pk, STRK_ADDRESS)),
            ),
            (
                "get_session_limits",
                format!("{:?}", f.session_limits(pk).await.expect("view")),
                format!("{:?}", model.session_limits(pk)),
            ),
            (
                "get_session_ruled_calls",
                format!("{:?}", f.ruled_calls(pk).await.expect("view")),
                format!("{:?}", model.ruled_calls(pk)),
            ),
            (
                "get_session_arg_rules",
                format!("{:?}", arg_rules_on_chain(f, pk).await),
                format!("{:?}", arg_rules_in_model(f, model, pk)),
            ),
            (
                "get_session_loss_guards",
                format!("{:?}", f.loss_guards(pk).await.expect("view")),
                format!("{:?}", model.loss_guards(pk)),
            ),
        ];
        for (what, chain, expected) in checks {
            if chain != expected {
                return Some(format!("key {key} {what}: chain {chain} model {expected}"));
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_and_contract_agree_on_random_operation_sequences() {
    let mut f = Fixture::new(61).await.expect("fixture");
    let mut rng = StdRng::seed_from_u64(0x5e55_1045);
    let mut disagreements = Vec::new();
    let (mut steps, mut accepted, mut refused) = (0usize, 0usize, 0usize);
    // Uses signed under a key's previous registration that reached the registration check.
    let mut stale_refused = 0usize;
    // First uses carrying a grant: accepted, and refused by one of the grant's own checks.
    let (mut granted, mut grant_refused) = (0usize, 0usize);
    let mut grant_reasons: std::collections::BTreeMap<&str, usize> = Default::default();
    // Refusals by an agent limit, and sessions that revoked themselves.
    let (mut limit_refused, mut self_revoked) = (0usize, 0usize);
    for sequence in 0..SEQUENCES {
        f.redeploy_account(sequence as u64)
            .await
            .expect("fresh account");
        let owner_key = f.account.owner.verifying_key().scalar();
        let mut model = AccountModel::with_owner(f.address(), f.devnet.chain_id(), owner_key);
        let mut keeper = Keeper {
            owners: vec![f.account.owner.clone()],
            ..Keeper::default()
        };
        let length = 4 + rng.gen_range(6..=14);
        for step in 0..length {
            let op = match step {
                // Two live sessions to start with, and two limits on the first, so that most
                // sequences try some.
                0 | 1 => Op::Register {
                    key: step as u64,
                    lifetime: 3000,
                    max_calls: 5,
                    entrypoints: vec![],
                },
                2 | 3 => random_setter(&mut rng, &f, 0),
                _ => {
                    let op = random_op(&mut rng, &f);
                    let op = aim_grant(op, &model, &mut rng);
                    keeper.aim(op, &mut rng)
                }
            };
            let grant_use =
                matches!(&op, Op::UseGrant { key, .. } if keeper.grants.contains_key(key));
            let (chain, expected) = apply(&f, &mut model, &mut keeper, &op).await;
            if matches!(op, Op::RotateOwner) && chain.is_ok() {
                f.account.owner = keeper.owners.last().cloned().expect("the new owner");
            }
            steps += 1;
            if expected == Err(ContractError::SessionRegistrationMismatch) {
                stale_refused += 1;
            }
            if grant_use && chain.is_ok() {
                granted += 1;
            }
            if matches!(
                expected,
                Err(ContractError::SessionNotYetActive
                    | ContractError::SessionRateLimit
                    | ContractError::RulesArgUnreadable
                    | ContractError::RulesArgNotAllowed
                    | ContractError::RulesArgAboveMax
                    | ContractError::RulesArgBelowMin
                    | ContractError::SpendingLossGuard)
            ) {
                limit_refused += 1;
            }
            if matches!(op, Op::RevokeOwn { .. }) && expected.is_ok() {
                self_revoked += 1;
            }

            if let Err(e) = expected {
                if e.as_str().starts_with("grant/") {
                    grant_refused += 1;
                    *grant_reasons.entry(e.as_str()).or_default() += 1;
                }
            }
            if chain.is_ok() {
                accepted += 1
            } else {
                refused += 1
            }
            if chain != expected.map_err(Some) {
                disagreements.push(format!(
                    "sequence {sequence} step {step} {op:?}: chain {chain:?}, model {expected:?}"
                ));
                break;
            }
            if let Some(diff) = compare_views(&f, &model).await {
                disagreements.push(format!("sequence {sequence} step {step} {op:?}: {diff}"));
                break;
            }
        }
    }
    println!(
        "differential: {SEQUENCES} sequences, {steps} steps ({accepted} accepted, {refused} refused, \
         {stale_refused} signed under an earlier registration, {granted} granted first uses, \
         {grant_refused} grants refused: {grant_reasons:?}, {limit_refused} refused by an agent \
         limit, {self_revoked} self-revocations), {} disagreements",
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "model and contract disagree:\n{}",
        disagreements.join("\n")
    );
    assert!(
        accepted > steps / 5 && refused > steps / 10,
        "the sequences exercise both outcomes"
    );
    assert!(
        stale_refused > 10,
        "the sequences exercise signatures made before a re-registration"
    );
    assert!(
        granted > 10 && grant_refused > 10,
        "the sequences exercise grants used and grants refused"
    );
    for reason in [
        ContractError::GrantRevoked,
        ContractError::GrantUsed,
        ContractError::GrantBadSignature,
        ContractError::GrantOwnerChanged,
    ] {
        assert!(
            grant_reasons.contains_key(reason.as_str()),
            "no grant was refused as {reason} (revoked before use, used twice, altered or \
             signed by a previous owner key)"
        );
    }
    assert!(
        limit_refused > 10 && self_revoked > 3,
        "the sequences exercise the agent limits and self-revocation"
    );
}
