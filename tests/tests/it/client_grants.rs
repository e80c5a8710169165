//! Granted sessions through the SDK and the paymaster: granted offline, played on the first
//! call with no owner transaction, the grant dropped once that call lands; refusals caught in
//! preflight before anything reaches the paymaster.

use std::sync::atomic::Ordering;
use std::time::Duration;

use stark_sessions_abi::{ContractError, SessionStatus};
use stark_sessions_client::{
    grant_session, EnvelopeParams, GrantBasis, SessionClient, SessionError, SessionSpec,
};
use stark_sessions_tests::client::{owner, sdk_setup};
use stark_sessions_tests::paymaster::PaymasterHarness;
use stark_sessions_tests::{sel, Fixture};

const PIN: &str = "482193";

async fn setup(owner_secret: u64) -> (Fixture, PaymasterHarness, SessionClient) {
    sdk_setup(owner_secret)
        .await
        .expect("devnet, paymaster and client")
}

fn game_spec(fixture: &Fixture, max_calls: u32) -> SessionSpec {
    SessionSpec {
        duration: Duration::from_secs(3600),
        max_calls,
        allowed_entrypoints: vec![sel("record_score")],
        targets: vec![fixture.scoreboard],
        spending_limits: vec![],
        limits: Default::default(),
    }
}

fn requests(pm: &PaymasterHarness) -> u64 {
    pm.paymaster.metrics().requests.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_granted_offline_plays_its_first_call_with_no_owner_transaction() {
    let (fixture, pm, client) = setup(0x6a41).await;
    let owner = owner(&fixture);
    // Offline: the owner signs; nothing is asked of the node or the paymaster.
    let before = requests(&pm);
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let mut session = grant_session(
        &owner,
        client.chain_id(),
        PIN,
        &game_spec(&fixture, 3),
        GrantBasis::NEW_ACCOUNT,
        now,
        EnvelopeParams::default(),
    )
    .expect("granted");
    assert_eq!(requests(&pm), before);
    assert_eq!(
        fixture
            .session_status(session.public_key())
            .await
            .expect("status"),
        SessionStatus::None
    );
    // Not a dead end: the SDK reads it as granted, usable, with the grant's terms.
    let info = client.session_info(&session).await.expect("info");
    assert!(info.granted && info.is_active, "{info:?}");
    assert_eq!(
        (info.status, info.max_calls, info.remaining_calls),
        (SessionStatus::None, 3, 3)
    );
    let handle = session.unlock(PIN).expect("unlock");
    client
        .execute_session(&mut session, &handle, &[fixture.play(2)])
        .await
        .expect("the first granted call lands");
    assert!(session.grant.is_none(), "the grant is dropped once used");
    assert_eq!(fixture.plays().await.expect("plays"), 1);
    let info = client.session_info(&session).await.expect("info");
    assert!(!info.granted && info.is_active);
    assert_eq!(
        (info.status, info.remaining_calls),
        (SessionStatus::Active, 2)
    );
    // Later calls: the usual four-element signature.
    client
        .execute_session(&mut session, &handle, &[fixture.play(1)])
        .await
        .expect("a later call lands");
    assert_eq!(fixture.plays().await.expect("plays"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_grant_is_refused_in_preflight_and_reaches_no_paymaster() {
    let (fixture, pm, client) = setup(0x6a42).await;
    let owner = owner(&fixture);
    // Revoked before its first use: revoke_session_key takes a key never registered.
    let session = client
        .grant_session(&owner, PIN, &game_spec(&fixture, 3))
        .await
        .expect("granted");
    let handle = session.unlock(PIN).expect("unlock");
    let hash = client
        .revoke_session_key(&owner, session.public_key())
        .await
        .expect("revoke an unused granted key");
    client
        .wait_for_transaction(
            hash,
            &stark_sessions_client::ErrorContext::for_key(session.public_key()),
        )
        .await
        .expect("revoked");
    let before = requests(&pm);
    let e = client
        .execute_transaction_with_session(&session, &handle, &[fixture.play(1)])
        .await
        .expect_err("a revoked grant");
    assert_eq!(e.code(), "SESSION_GRANT_REFUSED");
    assert!(
        matches!(e, SessionError::GrantRefused(ContractError::GrantRevoked)),
        "{e}"
    );
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");
    let info = client.session_info(&session).await.expect("info");
    assert!(info.granted && !info.is_active, "{info:?}");
    // Over the grant's own terms: refused before signing, and the key stays unregistered.
    let other = client
        .grant_session(&owner, PIN, &game_spec(&fixture, 3))
        .await
        .expect("granted");
    let handle = other.unlock(PIN).expect("unlock");
    let reset = starknet::core::types::Call {
        to: fixture.scoreboard,
        selector: sel("reset_score"),
        calldata: vec![fixture.address()],
    };
    let e = client
        .execute_transaction_with_session(&other, &handle, &[reset])
        .await
        .expect_err("not in the grant's whitelist");
    assert_eq!(e.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");
    assert_eq!(
        fixture
            .session_status(other.public_key())
            .await
            .expect("status"),
        SessionStatus::None
    );
}
