//! Every session rule, in the contract's check order: one accepted and one refused case each,
//! with the exact revert reason.

use stark_sessions_abi::{constants, ContractError, SessionData, SessionStatus};
use stark_sessions_tests::{sel, Fixture, TestSession};
use starknet::core::types::{Call, Felt};

const YEAR: u64 = 365 * 24 * 3600;

async fn session(f: &Fixture, secret: u64, max_calls: u32, entrypoints: &[Felt]) -> TestSession {
    let now = f.devnet.block_timestamp().await.expect("time");
    let s = TestSession::from_secret(secret, now + YEAR);
    f.register(&s, max_calls, entrypoints)
        .await
        .expect("register");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_each_invalid_config_and_accepts_the_limit() {
    let f = Fixture::new(31).await.expect("fixture");
    let now = f.devnet.block_timestamp().await.expect("time");
    let ok = TestSession::from_secret(1, now + YEAR);
    let zero_key = TestSession {
        public_key: Felt::ZERO,
        ..ok.clone()
    };
    let past = TestSession {
        valid_until: now,
        ..ok.clone()
    };
    let too_many: Vec<Felt> = (1..=65u32).map(Felt::from).collect();
    let cases: Vec<(&str, Call)> = vec![
        ("zero key", f.register_call(&zero_key, 1, &[])),
        (
            "valid_until not in the future",
            f.register_call(&past, 1, &[]),
        ),
        ("zero max_calls", f.register_call(&ok, 0, &[])),
        ("zero selector", f.register_call(&ok, 1, &[Felt::ZERO])),
        (
            "duplicate selector",
            f.register_call(&ok, 1, &[Felt::ONE, Felt::ONE]),
        ),
        ("65 entrypoints", f.register_call(&ok, 1, &too_many)),
    ];
    for (what, call) in cases {
        let outcome = f.owner_execute(vec![call]).await.expect("sent");
        assert_eq!(
            outcome.expect_error(),
            ContractError::SessionInvalidConfig,
            "{what}"
        );
    }
    f.register(&ok, 1, &too_many[..64])
        .await
        .expect("64 entrypoints are allowed");
    assert_eq!(
        f.allowed_entrypoints(ok.public_key).await.expect("view"),
        too_many[..64].to_vec()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_revoked_and_revoked_all_sessions_are_refused() {
    let f = Fixture::new(32).await.expect("fixture");
    let stranger = TestSession::from_secret(9, u64::MAX / 2);
    let out = f
        .session_execute(&stranger, vec![f.play(1)])
        .await
        .expect("sent");
    assert_eq!(out.expect_error(), ContractError::SessionNotRegistered);
    assert_eq!(
        f.session_status(stranger.public_key).await.expect("status"),
        SessionStatus::None
    );
    // Revoking a key never registered works (a granted key is revoked before its first use):
    // it then reads as revoked.
    let revoke_unknown = f.self_call("revoke_session_key", vec![stranger.public_key]);
    f.owner_execute(vec![revoke_unknown])
        .await
        .expect("sent")
        .receipt()
        .expect("revoking an unknown key");
    assert_eq!(
        f.session_status(stranger.public_key).await.expect("status"),
        SessionStatus::Revoked
    );
    let out = f
        .session_execute(&stranger, vec![f.play(1)])
        .await
        .expect("sent");
    assert_eq!(out.expect_error(), ContractError::SessionRevoked);

    let s = session(&f, 1, 10, &[]).await;
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("live session");
    f.owner_execute(vec![f.self_call("revoke_session_key", vec![s.public_key])])
        .await
        .expect("sent")
        .receipt()
        .expect("revoke");
    assert_eq!(
        f.session_execute(&s, vec![f.play(1)])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SessionRevoked
    );
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::Revoked
    );
    assert_eq!(
        f.session_data(s.public_key).await.expect("data"),
        SessionData::default()
    );

    // Re-adding starts clean; revoke-all then kills it (and any other) in one call.
    f.register(&s, 10, &[]).await.expect("re-register");
    let other = session(&f, 2, 10, &[]).await;
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("re-added session works");
    f.owner_execute(vec![f.self_call("revoke_all_sessions", vec![])])
        .await
        .expect("sent")
        .receipt()
        .expect("revoke all");
    for dead in [&s, &other] {
        assert_eq!(
            f.session_execute(dead, vec![f.play(1)])
                .await
                .expect("sent")
                .expect_error(),
            ContractError::SessionRevoked
        );
        assert_eq!(
            f.session_status(dead.public_key).await.expect("status"),
            SessionStatus::Revoked
        );
    }
    assert_eq!(f.plays().await.expect("plays"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_works_until_valid_until_and_not_a_second_later() {
    let f = Fixture::new(33).await.expect("fixture");
    let now = f.devnet.block_timestamp().await.expect("time");
    let s = TestSession::from_secret(1, now + 1000);
    f.register(&s, 10, &[]).await.expect("register");
    f.devnet.set_time(s.valid_until).await.expect("time travel");
    // The next transaction runs at exactly valid_until: still accepted (now <= valid_until).
    let mut outside = f.outside(vec![f.play(1)]).await.expect("outside");
    outside.execute_before = s.valid_until + YEAR;
    let sig = f.session_signature(&s, &outside).expect("sign");
    f.relay(&outside, sig)
        .await
        .expect("sent")
        .receipt()
        .expect("at valid_until");
    f.devnet
        .set_time(s.valid_until + 1)
        .await
        .expect("time travel");
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::Expired
    );
    assert_eq!(
        f.session_execute(&s, vec![f.play(1)])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SessionExpired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_calls_counts_executions_not_calls() {
    let f = Fixture::new(34).await.expect("fixture");
    let s = session(&f, 1, 2, &[]).await;
    // One execution with three calls uses one of the two.
    f.session_execute(&s, vec![f.play(1), f.play(2), f.play(3)])
        .await
        .expect("sent")
        .receipt()
        .expect("first");
    assert_eq!(
        f.session_data(s.public_key).await.expect("data").calls_used,
        1
    );
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("second");
    assert_eq!(
        f.session_status(s.public_key).await.expect("status"),
        SessionStatus::Exhausted
    );
    assert_eq!(
        f.session_execute(&s, vec![f.play(1)])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SessionMaxCalls
    );
    assert_eq!(f.plays().await.expect("plays"), 4);
    // An update resets the count.
    f.register(&s, 1, &[]).await.expect("update");
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("after update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_registration_must_be_the_current_one() {
    let f = Fixture::new(35).await.expect("fixture");
    let s = session(&f, 1, 5, &[]).await;
    let claims = [
        // Another valid_until, the old registration felt, garbage.
        Felt::from(s.valid_until + 1),
        s.registration(),
        Felt::from(u128::MAX),
    ];
    for claimed in claims {
        let outside = f.outside(vec![f.play(1)]).await.expect("outside");
        let mut sig = f.session_signature(&s, &outside).expect("sign");
        sig[3] = claimed;
        assert_eq!(
            f.relay(&outside, sig).await.expect("sent").expect_error(),
            ContractError::SessionRegistrationMismatch
        );
    }
    // Naming the right registration is not enough: the signature must cover it.
    let outside = f.outside(vec![f.play(1)]).await.expect("outside");
    let unbound = s
        .key
        .sign(&f.message_hash(&outside))
        .expect("sign the bare message hash");
    let sig = vec![
        s.public_key,
        unbound.r,
        unbound.s,
        Felt::from(s.valid_until),
    ];
    assert_eq!(
        f.relay(&outside, sig).await.expect("sent").expect_error(),
        ContractError::SessionBadSignature
    );
    assert_eq!(f.plays().await.expect("plays"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_calls_and_admin_selectors_are_refused_even_without_a_whitelist() {
    let f = Fixture::new(36).await.expect("fixture");
    let s = session(&f, 1, 50, &[]).await;
    // Self-calls: an innocent view and an admin entry point alike.
    for name in [
        "get_public_key",
        "revoke_all_sessions",
        "add_or_update_session_key",
    ] {
        let out = f
            .session_execute(&s, vec![f.self_call(name, vec![])])
            .await
            .expect("sent");
        assert_eq!(out.expect_error(), ContractError::SessionSelfCall, "{name}");
    }
    // Admin selectors on any other contract.
    for selector in constants::BLOCKED_SELECTORS {
        let call = Call {
            to: f.scoreboard,
            selector,
            calldata: vec![],
        };
        let out = f
            .session_execute(&s, vec![f.play(1), call])
            .await
            .expect("sent");
        assert_eq!(
            out.expect_error(),
            ContractError::SessionBlockedSelector,
            "{selector:#x}"
        );
    }
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("ordinary call");
    assert_eq!(
        f.session_data(s.public_key).await.expect("data").calls_used,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitelist_allows_listed_selectors_only_and_update_clears_stale_ones() {
    let f = Fixture::new(37).await.expect("fixture");
    let s = session(
        &f,
        1,
        50,
        &[sel("record_score"), sel("fail"), sel("get_plays")],
    )
    .await;
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("listed");
    let reset = Call {
        to: f.scoreboard,
        selector: sel("reset_score"),
        calldata: vec![f.address()],
    };
    assert_eq!(
        f.session_execute(&s, vec![reset.clone()])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SessionSelectorDenied
    );
    // Update 3 -> 1 entrypoints: nothing of the old list survives.
    f.register(&s, 50, &[sel("reset_score")])
        .await
        .expect("update");
    assert_eq!(
        f.allowed_entrypoints(s.public_key).await.expect("view"),
        vec![sel("reset_score")]
    );
    assert_eq!(
        f.session_execute(&s, vec![f.play(1)])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SessionSelectorDenied
    );
    f.session_execute(&s, vec![reset])
        .await
        .expect("sent")
        .receipt()
        .expect("newly listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_set_limits_contracts_and_refuses_bad_targets() {
    let f = Fixture::new(38).await.expect("fixture");
    let s = session(&f, 1, 50, &[]).await;
    let set = |targets: Vec<Felt>| {
        let mut calldata = vec![s.public_key, Felt::from(targets.len())];
        calldata.extend(targets);
        f.self_call("set_session_targets", calldata)
    };
    for bad in [
        vec![Felt::ZERO],
        vec![f.address()],
        vec![f.scoreboard, f.scoreboard],
    ] {
        assert_eq!(
            f.owner_execute(vec![set(bad)])
                .await
                .expect("sent")
                .expect_error(),
            ContractError::SessionInvalidConfig
        );
    }
    f.owner_execute(vec![set(vec![f.scoreboard])])
        .await
        .expect("sent")
        .receipt()
        .expect("targets");
    assert_eq!(
        f.session_targets(s.public_key).await.expect("view"),
        vec![f.scoreboard]
    );
    f.session_execute(&s, vec![f.play(1)])
        .await
        .expect("sent")
        .receipt()
        .expect("allowed target");
    let elsewhere = Call {
        to: stark_sessions_devnet::ETH_ADDRESS,
        selector: sel("balance_of"),
        calldata: vec![f.address()],
    };
    assert_eq!(
        f.session_execute(&s, vec![elsewhere])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SessionTargetDenied
    );
    // Targets of an unknown session cannot be set.
    let mut calldata = vec![Felt::from(0x404u32), Felt::ONE, f.scoreboard];
    calldata.truncate(3);
    let unknown = f.self_call("set_session_targets", calldata);
    assert_eq!(
        f.owner_execute(vec![unknown])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SessionNotRegistered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_signature_must_be_made_by_the_session_key() {
    let f = Fixture::new(39).await.expect("fixture");
    let s = session(&f, 1, 5, &[]).await;
    let impostor = TestSession::from_secret(2, s.valid_until);
    let outside = f.outside(vec![f.play(1)]).await.expect("outside");
    let mut sig = f.session_signature(&impostor, &outside).expect("sign");
    sig[0] = s.public_key;
    assert_eq!(
        f.relay(&outside, sig).await.expect("sent").expect_error(),
        ContractError::SessionBadSignature
    );
    // Tampering with the calls after signing breaks the signature as well.
    let outside = f.outside(vec![f.play(1)]).await.expect("outside");
    let sig = f.session_signature(&s, &outside).expect("sign");
    let mut tampered = outside.clone();
    tampered.calls[0].calldata[0] = Felt::from(1_000_000u32);
    assert_eq!(
        f.relay(&tampered, sig).await.expect("sent").expect_error(),
        ContractError::SessionBadSignature
    );
    assert_eq!(
        f.session_data(s.public_key).await.expect("data").calls_used,
        0
    );
}
