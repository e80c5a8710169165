//! Agent limits on a devnet: argument rules, the rate limit, the start time, the loss guard
//! against a router that pulls on an old allowance, and a session's revocation of itself —
//! each refusal with its reason, and nothing moved by it.

use stark_sessions_abi::{
    ArgRule, ContractError, RuledCall, SessionData, SessionLimits, SessionStatus, U256,
};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::{sel, Fixture, Relayed, TestSession};
use starknet::core::types::{Call, Felt};

const YEAR: u64 = 365 * 24 * 3600;

fn pay(to: Felt, amount: u128) -> Call {
    Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![to, Felt::from(amount), Felt::ZERO],
    }
}

async fn session(f: &Fixture, secret: u64, entrypoints: &[Felt]) -> TestSession {
    let now = f.devnet.block_timestamp().await.expect("time");
    let s = TestSession::from_secret(secret, now + YEAR);
    f.register(&s, 100, entrypoints).await.expect("register");
    s
}

async fn owner(f: &Fixture, calls: Vec<Call>) {
    f.owner_execute(calls)
        .await
        .expect("sent")
        .receipt()
        .expect("owner call");
}

/// What a refused execution must leave as it was: STRK balances of `who`, the scoreboard's
/// plays, the session's calls used.
#[derive(Debug, PartialEq)]
struct Moved {
    balances: Vec<u128>,
    plays: u64,
    calls_used: u32,
}

async fn moved(f: &Fixture, s: &TestSession, who: &[Felt]) -> Moved {
    let mut balances = Vec::new();
    for address in who {
        balances.push(f.devnet.strk_balance(*address).await.expect("balance"));
    }
    Moved {
        balances,
        plays: f.plays().await.expect("plays"),
        calls_used: f.session_data(s.public_key).await.expect("data").calls_used,
    }
}

/// Sends `calls` as the session, expects `error`, and checks that nothing moved.
async fn refused(
    f: &Fixture,
    s: &TestSession,
    calls: Vec<Call>,
    error: ContractError,
    who: &[Felt],
) {
    let before = moved(f, s, who).await;
    let out: Relayed = f.session_execute(s, calls).await.expect("sent");
    assert_eq!(out.expect_error(), error);
    assert_eq!(moved(f, s, who).await, before, "{error:?} moved something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argument_rules_refuse_a_recipient_outside_the_set_and_an_amount_over_the_cap() {
    let f = Fixture::new(81).await.expect("fixture");
    let s = session(&f, 1, &[sel("transfer")]).await;
    let friends = [
        f.devnet.accounts()[3].address,
        f.devnet.accounts()[5].address,
    ];
    let stranger = f.devnet.accounts()[4].address;
    let rules = vec![
        ArgRule::one_of(0, friends.to_vec()),
        ArgRule::u256_at_most(1, U256::from_u128(50)).expect("fits"),
    ];
    owner(
        &f,
        vec![f.arg_rules_call(s.public_key, STRK_ADDRESS, sel("transfer"), &rules)],
    )
    .await;
    assert_eq!(
        f.arg_rules(s.public_key, STRK_ADDRESS, sel("transfer"))
            .await
            .expect("view"),
        rules
    );
    assert_eq!(
        f.ruled_calls(s.public_key).await.expect("view"),
        vec![RuledCall {
            target: STRK_ADDRESS,
            selector: sel("transfer")
        }]
    );
    let who = [f.address(), friends[0], friends[1], stranger];
    let before = f.devnet.strk_balance(friends[1]).await.expect("balance");
    f.session_execute(&s, vec![pay(friends[1], 50)])
        .await
        .expect("sent")
        .receipt()
        .expect("a friend, at the cap");
    assert_eq!(
        f.devnet.strk_balance(friends[1]).await.expect("balance"),
        before + 50
    );
    refused(
        &f,
        &s,
        vec![pay(stranger, 1)],
        ContractError::RulesArgNotAllowed,
        &who,
    )
    .await;
    refused(
        &f,
        &s,
        vec![pay(friends[0], 51)],
        ContractError::RulesArgAboveMax,
        &who,
    )
    .await;
    // One bad call refuses the whole multicall.
    refused(
        &f,
        &s,
        vec![pay(friends[0], 1), pay(stranger, 1)],
        ContractError::RulesArgNotAllowed,
        &who,
    )
    .await;
    // A transfer too short to hold the amount cannot be read against the cap.
    let short = Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![friends[0], Felt::ONE],
    };
    refused(&f, &s, vec![short], ContractError::RulesArgUnreadable, &who).await;
    // Removing the rules lets the stranger through again.
    owner(
        &f,
        vec![f.arg_rules_call(s.public_key, STRK_ADDRESS, sel("transfer"), &[])],
    )
    .await;
    assert!(f.ruled_calls(s.public_key).await.expect("view").is_empty());
    f.session_execute(&s, vec![pay(stranger, 51)])
        .await
        .expect("sent")
        .receipt()
        .expect("no rules left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_refuses_the_next_execution_in_a_window_and_admits_the_first_after_it() {
    let f = Fixture::new(82).await.expect("fixture");
    let s = session(&f, 1, &[sel("record_score")]).await;
    owner(&f, vec![f.rate_limit_call(s.public_key, 2, 600)]).await;
    for _ in 0..2 {
        f.session_execute(&s, vec![f.play(1)])
            .await
            .expect("sent")
            .receipt()
            .expect("within the rate");
    }
    refused(
        &f,
        &s,
        vec![f.play(1)],
        ContractError::SessionRateLimit,
        &[],
    )
    .await;
    let limits = f.session_limits(s.public_key).await.expect("view");
    assert_eq!((limits.max_executions, limits.executions_in_window), (2, 2));
    f.devnet.increase_time(600).await.expect("time travel");
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("a new window");
    let later = f.session_limits(s.public_key).await.expect("view");
    assert_eq!(later.executions_in_window, 1);
    assert!(later.window_start >= limits.window_start + 600);
    assert_eq!(f.plays().await.expect("plays"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_refused_before_its_start_time() {
    let f = Fixture::new(83).await.expect("fixture");
    let s = session(&f, 1, &[]).await;
    let now = f.devnet.block_timestamp().await.expect("time");
    owner(&f, vec![f.valid_after_call(s.public_key, now + 1_000)]).await;
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::NotYetActive
    );
    refused(
        &f,
        &s,
        vec![f.play(1)],
        ContractError::SessionNotYetActive,
        &[],
    )
    .await;
    f.devnet.increase_time(1_000).await.expect("time travel");
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::Active
    );
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("started");
    // A start time at or after the expiry is refused.
    let data = f.session_data(s.public_key).await.expect("data");
    assert_eq!(
        f.owner_execute(vec![f.valid_after_call(s.public_key, data.valid_until)])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SessionInvalidConfig
    );
}

async fn spent(f: &Fixture, s: &TestSession) -> U256 {
    f.spending_policy(s.public_key, STRK_ADDRESS)
        .await
        .expect("view")
        .spent_in_window
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loss_guard_refuses_a_router_pull_that_the_selector_counting_lets_through() {
    let f = Fixture::new(84).await.expect("fixture");
    let router = f.deploy_router().await.expect("router");
    let friend = f.devnet.accounts()[3].address;
    // Long ago, the owner gave the router an allowance.
    let approve = Call {
        to: STRK_ADDRESS,
        selector: sel("approve"),
        calldata: vec![router, Felt::from(10_000u32), Felt::ZERO],
    };
    owner(&f, vec![approve]).await;
    let s = session(&f, 1, &[]).await;
    let mut policy = vec![s.public_key, STRK_ADDRESS];
    for value in [10u128, 0, 100, 0, 3600] {
        policy.push(Felt::from(value));
    }
    owner(&f, vec![f.self_call("set_spending_policy", policy)]).await;
    let pull = |amount: u32| Call {
        to: router,
        selector: sel("pull"),
        calldata: vec![
            STRK_ADDRESS,
            f.address(),
            friend,
            Felt::from(amount),
            Felt::ZERO,
        ],
    };
    // The selector counting does not see it: 500 leaves under a 100 window.
    let before = f.devnet.strk_balance(friend).await.expect("balance");
    f.session_execute(&s, vec![pull(500)])
        .await
        .expect("sent")
        .receipt()
        .expect("counting lets the pull through");
    assert_eq!(
        f.devnet.strk_balance(friend).await.expect("balance"),
        before + 500
    );
    assert_eq!(spent(&f, &s).await, U256::ZERO);

    owner(&f, vec![f.loss_guards_call(s.public_key, &[STRK_ADDRESS])]).await;
    assert_eq!(
        f.loss_guards(s.public_key).await.expect("view"),
        vec![STRK_ADDRESS]
    );
    let who = [f.address(), friend];
    refused(
        &f,
        &s,
        vec![pull(500)],
        ContractError::SpendingLossGuard,
        &who,
    )
    .await;
    // Within what the window allows, the pull goes through and is charged to it.
    f.session_execute(&s, vec![pull(60)])
        .await
        .expect("sent")
        .receipt()
        .expect("within the window");
    assert_eq!(spent(&f, &s).await, U256::from_u128(60));
    refused(
        &f,
        &s,
        vec![pull(41)],
        ContractError::SpendingLossGuard,
        &who,
    )
    .await;
    // A counted transfer and a pull in one execution: the window holds the larger.
    f.session_execute(&s, vec![pay(friend, 10), pull(30)])
        .await
        .expect("sent")
        .receipt()
        .expect("40 of the 40 left");
    assert_eq!(spent(&f, &s).await, U256::from_u128(100));
    // A guard needs a policy on its token.
    assert_eq!(
        f.owner_execute(vec![f.loss_guards_call(s.public_key, &[router])])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SpendingNoPolicy
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revokes_itself_and_is_refused_afterwards() {
    let f = Fixture::new(85).await.expect("fixture");
    let s = session(&f, 1, &[sel("record_score")]).await;
    owner(&f, vec![f.rate_limit_call(s.public_key, 1, 3600)]).await;
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("the one execution of the hour");
    // The owner's path runs it to no effect (a paymaster's simulation of the calls as the
    // account's own must not fail); a session multicall cannot reach it.
    owner(&f, vec![f.revoke_own_call()]).await;
    refused(
        &f,
        &s,
        vec![f.revoke_own_call(), f.play(1)],
        ContractError::SessionSelfCall,
        &[],
    )
    .await;
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::Active
    );
    // Alone, signed by the session, it goes through even with the rate spent.
    f.session_execute(&s, vec![f.revoke_own_call()])
        .await
        .expect("sent")
        .receipt()
        .expect("self-revocation");
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::Revoked
    );
    assert_eq!(
        f.session_data(s.public_key).await.expect("data"),
        SessionData::default()
    );
    assert_eq!(
        f.session_limits(s.public_key).await.expect("view"),
        SessionLimits::default()
    );
    let out = f.session_execute(&s, vec![f.play(1)]).await.expect("sent");
    assert_eq!(out.expect_error(), ContractError::SessionRevoked);
    assert_eq!(f.plays().await.expect("plays"), 1);
    // Re-added, the key starts clean: no rate limit left over.
    f.register(&s, 100, &[sel("record_score")])
        .await
        .expect("re-register");
    assert_eq!(
        f.session_limits(s.public_key).await.expect("view"),
        SessionLimits::default()
    );
    for _ in 0..2 {
        f.session_execute(&s, vec![f.play(1)])
            .await
            .expect("sent")
            .receipt()
            .expect("no stale rate");
    }
}
