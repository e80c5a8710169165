//! Sessions granted by the owner's signature, registered on their first use: the first call
//! plays with no prior transaction, later calls are ordinary, and every refusal of a grant
//! stores nothing and moves nothing.

use stark_sessions_abi::{ContractError, GrantSpendingLimit, SessionStatus, SignedGrant, U256};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::{sel, Fixture, TestSession};
use starknet::core::types::{Call, Felt};
use starknet::signers::SigningKey;

const HOUR: u64 = 3600;

async fn hour_session(f: &Fixture, secret: u64) -> TestSession {
    let now = f.devnet.block_timestamp().await.expect("time");
    TestSession::from_secret(secret, now + HOUR)
}

/// A grant of an hour of plays, limited to the scoreboard and 5 STRK units per call.
async fn play_grant(f: &Fixture, s: &TestSession) -> SignedGrant {
    let mut grant = f
        .grant(s, 5, &[sel("record_score"), sel("transfer")])
        .await
        .expect("grant");
    grant.targets = vec![f.scoreboard, STRK_ADDRESS];
    grant.spending_limits = vec![GrantSpendingLimit {
        token: STRK_ADDRESS,
        max_per_call: U256::from_u128(5),
        max_per_window: U256::from_u128(8),
        window_seconds: HOUR,
    }];
    f.sign_grant(grant, &f.account.owner).expect("signs")
}

fn strk_transfer(amount: u64) -> Call {
    Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![Felt::from(0x77u8), Felt::from(amount), Felt::ZERO],
    }
}

/// What a refused grant must leave as it was: the key's status and generation, the plays and
/// the account's STRK balance.
struct Untouched {
    status: SessionStatus,
    generation: u32,
    plays: u64,
    balance: u128,
}

async fn untouched(f: &Fixture, key: Felt) -> Untouched {
    Untouched {
        status: f.session_status(key).await.expect("status"),
        generation: f.session_generation(key).await.expect("generation"),
        plays: f.plays().await.expect("plays"),
        balance: f.devnet.strk_balance(f.address()).await.expect("balance"),
    }
}

async fn assert_refused(
    f: &Fixture,
    s: &TestSession,
    signed: &SignedGrant,
    calls: Vec<Call>,
    expected: ContractError,
    what: &str,
) {
    let before = untouched(f, s.public_key).await;
    let outcome = f.grant_execute(s, signed, calls).await.expect("sent");
    assert_eq!(outcome.expect_error(), expected, "{what}");
    let after = untouched(f, s.public_key).await;
    assert_eq!(after.status, before.status, "{what}: status moved");
    assert_eq!(
        after.generation, before.generation,
        "{what}: a registration was stored"
    );
    assert_eq!(after.plays, before.plays, "{what}: a play landed");
    // The relayer pays the fee: the account's balance moves only by a transfer it makes.
    assert_eq!(after.balance, before.balance, "{what}: value moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_session_plays_on_its_first_call_and_then_like_a_registered_one() {
    let f = Fixture::new(61).await.expect("fixture");
    let s = hour_session(&f, 1).await;
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::None
    );
    let signed = play_grant(&f, &s).await;
    f.grant_execute(&s, &signed, vec![f.play(3)])
        .await
        .expect("sent")
        .receipt()
        .expect("the first granted call lands");
    assert_eq!(f.plays().await.expect("plays"), 1);
    // Stored exactly as the grant says.
    let data = f.session_data(s.public_key).await.expect("data");
    assert_eq!(
        (data.valid_until, data.max_calls, data.calls_used),
        (s.valid_until, 5, 1)
    );
    assert_eq!(
        f.allowed_entrypoints(s.public_key).await.expect("view"),
        vec![sel("record_score"), sel("transfer")]
    );
    assert_eq!(
        f.session_targets(s.public_key).await.expect("view"),
        vec![f.scoreboard, STRK_ADDRESS]
    );
    let policy = f
        .spending_policy(s.public_key, STRK_ADDRESS)
        .await
        .expect("policy");
    assert_eq!(
        (policy.max_per_call, policy.max_per_window),
        (U256::from_u128(5), U256::from_u128(8))
    );
    assert_eq!(
        f.session_generation(s.public_key)
            .await
            .expect("generation"),
        1
    );
    // Later uses are the usual four-element signature, under the stored registration.
    f.session_execute(&s, vec![f.play(1), strk_transfer(5)])
        .await
        .expect("sent")
        .receipt()
        .expect("a later call lands");
    assert_eq!(f.plays().await.expect("plays"), 2);
    // The granted limits hold: 5 + 5 is over the window's 8.
    let over = f
        .session_execute(&s, vec![strk_transfer(5)])
        .await
        .expect("sent");
    assert_eq!(over.expect_error(), ContractError::SpendingWindow);
    // Used once: the same grant again is refused and changes nothing.
    assert_refused(
        &f,
        &s,
        &signed,
        vec![f.play(1)],
        ContractError::GrantUsed,
        "used twice",
    )
    .await;
    assert_eq!(
        f.session_data(s.public_key).await.expect("data").calls_used,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_fails_any_check_is_refused_and_stores_nothing() {
    let f = Fixture::new(62).await.expect("fixture");
    // Expired.
    let s = hour_session(&f, 1).await;
    let now = f.devnet.block_timestamp().await.expect("time");
    let mut grant = f.grant(&s, 5, &[]).await.expect("grant");
    grant.valid_until = now.saturating_sub(1);
    let expired = TestSession {
        valid_until: grant.valid_until,
        ..s.clone()
    };
    let signed = f.sign_grant(grant, &f.account.owner).expect("signs");
    assert_refused(
        &f,
        &expired,
        &signed,
        vec![f.play(1)],
        ContractError::GrantExpired,
        "expired",
    )
    .await;
    // An altered term: the owner signed 5 calls, the relayed grant says 50.
    let mut altered = play_grant(&f, &s).await;
    altered.grant.max_calls = 50;
    assert_refused(
        &f,
        &s,
        &altered,
        vec![f.play(1)],
        ContractError::GrantBadSignature,
        "altered",
    )
    .await;
    // Signed by a key that is not the owner's.
    let stranger = SigningKey::from_secret_scalar(Felt::from(0xbad_u32));
    let wrong_owner = f
        .sign_grant(play_grant(&f, &s).await.grant, &stranger)
        .expect("signs");
    assert_refused(
        &f,
        &s,
        &wrong_owner,
        vec![f.play(1)],
        ContractError::GrantBadSignature,
        "wrong owner",
    )
    .await;
    // Granted for another account.
    let mut elsewhere = play_grant(&f, &s).await.grant;
    elsewhere.account = f.scoreboard;
    let elsewhere = f.sign_grant(elsewhere, &f.account.owner).expect("signs");
    assert_refused(
        &f,
        &s,
        &elsewhere,
        vec![f.play(1)],
        ContractError::GrantBadSignature,
        "other account",
    )
    .await;
    // Over its own limits: the first call moves more than the granted per-call cap, or calls
    // an entry point the grant does not list — the registration is not kept either.
    let signed = play_grant(&f, &s).await;
    assert_refused(
        &f,
        &s,
        &signed,
        vec![strk_transfer(6)],
        ContractError::SpendingPerCall,
        "over the cap",
    )
    .await;
    let reset = Call {
        to: f.scoreboard,
        selector: sel("reset_score"),
        calldata: vec![f.address()],
    };
    assert_refused(
        &f,
        &s,
        &signed,
        vec![reset],
        ContractError::SessionSelectorDenied,
        "selector",
    )
    .await;
    // Malformed: the terms cut short.
    let outside = f.outside(vec![f.play(1)]).await.expect("outside");
    let mut signature = signed.first_use_signature(
        &f.session_signature(
            &TestSession {
                generation: 1,
                ..s.clone()
            },
            &outside,
        )
        .expect("signs"),
    );
    signature.truncate(signature.len() - 3);
    let out = f.relay(&outside, signature).await.expect("sent");
    assert_eq!(out.expect_error(), ContractError::GrantMalformed);
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::None
    );
    // Still usable after all of that: nothing was stored, so the good grant plays.
    f.grant_execute(&s, &signed, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("lands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_revoke_all_and_a_new_owner_key_void_unused_grants() {
    let f = Fixture::new(63).await.expect("fixture");
    // Revoked before its first use: revoke_session_key works on a key never registered.
    let s1 = hour_session(&f, 1).await;
    let g1 = play_grant(&f, &s1).await;
    f.owner_execute(vec![f.self_call("revoke_session_key", vec![s1.public_key])])
        .await
        .expect("sent")
        .receipt()
        .expect("revoking an unused granted key");
    assert_eq!(
        f.session_status(s1.public_key).await.expect("status"),
        SessionStatus::Revoked
    );
    assert_refused(
        &f,
        &s1,
        &g1,
        vec![f.play(1)],
        ContractError::GrantRevoked,
        "revoked",
    )
    .await;
    // After revoke-all.
    let s2 = hour_session(&f, 2).await;
    let g2 = play_grant(&f, &s2).await;
    f.owner_execute(vec![f.self_call("revoke_all_sessions", vec![])])
        .await
        .expect("sent")
        .receipt()
        .expect("revoke all");
    assert_refused(
        &f,
        &s2,
        &g2,
        vec![f.play(1)],
        ContractError::GrantRevokedAll,
        "revoke-all",
    )
    .await;
    // Superseded: a registration of the key after the grant was signed.
    let s3 = hour_session(&f, 3).await;
    let g3 = play_grant(&f, &s3).await;
    f.register(&s3, 2, &[]).await.expect("register");
    assert_refused(
        &f,
        &s3,
        &g3,
        vec![f.play(1)],
        ContractError::GrantUsed,
        "superseded",
    )
    .await;
    // A grant naming the live registration's generation cannot reset it.
    let over_live = f
        .sign_grant(play_grant(&f, &s3).await.grant, &f.account.owner)
        .expect("signs");
    assert_eq!(over_live.grant.key_generation, 1);
    assert_refused(
        &f,
        &s3,
        &over_live,
        vec![f.play(1)],
        ContractError::GrantUsed,
        "live key",
    )
    .await;
    // The owner key changed: a grant of the old key names the old version; the old key's
    // signature of a grant naming the new version does not verify.
    let s4 = hour_session(&f, 4).await;
    let g4 = play_grant(&f, &s4).await;
    let new_owner = SigningKey::from_secret_scalar(Felt::from(0x0e3_u32));
    f.owner_execute(vec![
        f.self_call("set_public_key", vec![new_owner.verifying_key().scalar()])
    ])
    .await
    .expect("sent")
    .receipt()
    .expect("rotate the owner key");
    assert_refused(
        &f,
        &s4,
        &g4,
        vec![f.play(1)],
        ContractError::GrantOwnerChanged,
        "owner changed",
    )
    .await;
    let old_key_new_version = f
        .sign_grant(play_grant(&f, &s4).await.grant, &f.account.owner)
        .expect("signs");
    assert_eq!(old_key_new_version.grant.owner_key_version, 1);
    assert_refused(
        &f,
        &s4,
        &old_key_new_version,
        vec![f.play(1)],
        ContractError::GrantBadSignature,
        "old key",
    )
    .await;
    // The new owner's grant plays.
    let fresh = f
        .sign_grant(play_grant(&f, &s4).await.grant, &new_owner)
        .expect("signs");
    f.grant_execute(&s4, &fresh, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("lands");
    assert_eq!(f.plays().await.expect("plays"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_carries_agent_limits_and_they_hold_from_its_first_use() {
    use stark_sessions_abi::{ArgRule, GrantCallRules};
    let f = Fixture::new(64).await.expect("fixture");
    let s = hour_session(&f, 1).await;
    let mut grant = play_grant(&f, &s).await.grant;
    grant.arg_rules = vec![GrantCallRules {
        target: STRK_ADDRESS,
        selector: sel("transfer"),
        rules: vec![ArgRule::one_of(0, vec![Felt::from(0x77u8)])],
    }];
    grant.rate_max_executions = 2;
    grant.rate_window_seconds = HOUR;
    grant.loss_guards = vec![STRK_ADDRESS];
    let signed = f.sign_grant(grant, &f.account.owner).expect("signs");
    // A recipient outside the granted set: refused on the first use, nothing stored.
    let elsewhere = Call {
        calldata: vec![Felt::from(0x78u8), Felt::from(3u8), Felt::ZERO],
        ..strk_transfer(3)
    };
    assert_refused(
        &f,
        &s,
        &signed,
        vec![elsewhere],
        ContractError::RulesArgNotAllowed,
        "recipient",
    )
    .await;
    assert!(f.loss_guards(s.public_key).await.expect("view").is_empty());
    // Within every limit: it registers, with the limits as granted.
    f.grant_execute(&s, &signed, vec![strk_transfer(3)])
        .await
        .expect("sent")
        .receipt()
        .expect("the first use lands");
    let limits = f.session_limits(s.public_key).await.expect("limits");
    assert_eq!((limits.max_executions, limits.window_seconds), (2, HOUR));
    assert_eq!(
        limits.executions_in_window, 1,
        "the first use counts against the rate"
    );
    assert_eq!(
        f.loss_guards(s.public_key).await.expect("view"),
        vec![STRK_ADDRESS]
    );
    assert_eq!(
        f.arg_rules(s.public_key, STRK_ADDRESS, sel("transfer"))
            .await
            .expect("view"),
        vec![ArgRule::one_of(0, vec![Felt::from(0x77u8)])]
    );
    assert_eq!(
        f.session_generation(s.public_key)
            .await
            .expect("generation"),
        1
    );
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("the second use of the window");
    let third = f.session_execute(&s, vec![f.play(1)]).await.expect("sent");
    assert_eq!(third.expect_error(), ContractError::SessionRateLimit);
    // A start time the grant names: the first use before it is refused, nothing stored.
    let later = hour_session(&f, 2).await;
    let now = f.devnet.block_timestamp().await.expect("time");
    let mut grant = play_grant(&f, &later).await.grant;
    grant.valid_after = now + 600;
    let signed = f.sign_grant(grant, &f.account.owner).expect("signs");
    assert_refused(
        &f,
        &later,
        &signed,
        vec![f.play(1)],
        ContractError::SessionNotYetActive,
        "start",
    )
    .await;
    f.devnet.increase_time(700).await.expect("time travel");
    f.grant_execute(&later, &signed, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("after its start time");
}
