//! The SDK's agent limits: registered with the session, read back, and each refusal named by
//! its own code in preflight — before anything reaches the paymaster or is signed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use stark_sessions_abi::{ArgRule, Felt, SessionStatus, U256};
use stark_sessions_client::{AgentLimitSpec, CallRules, RateLimit, SessionSpec, SpendingLimit};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::client::{owner, sdk_setup};
use stark_sessions_tests::paymaster::PaymasterHarness;
use stark_sessions_tests::sel;
use starknet::core::types::Call;

const PIN: &str = "482193";

fn requests(pm: &PaymasterHarness) -> u64 {
    pm.paymaster.metrics().requests.load(Ordering::SeqCst)
}

fn pay(to: Felt, amount: u128) -> Call {
    Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![to, Felt::from(amount), Felt::ZERO],
    }
}

fn agent_spec(friend: Felt, limits: AgentLimitSpec) -> SessionSpec {
    SessionSpec {
        duration: Duration::from_secs(3600),
        max_calls: 20,
        allowed_entrypoints: vec![sel("transfer"), sel("record_score")],
        targets: vec![],
        spending_limits: vec![SpendingLimit {
            token: STRK_ADDRESS,
            max_per_call: 100,
            max_per_window: 1_000,
            window_seconds: 3600,
        }],
        limits: AgentLimitSpec {
            arg_rules: vec![CallRules {
                target: STRK_ADDRESS,
                selector: sel("transfer"),
                rules: vec![
                    ArgRule::one_of(0, vec![friend]),
                    ArgRule::u256_at_most(1, U256::from_u128(50)).expect("fits"),
                ],
            }],
            loss_guards: vec![STRK_ADDRESS],
            ..limits
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_limits_are_registered_and_refused_in_preflight_with_their_own_codes() {
    let (fixture, pm, client) = sdk_setup(0xa9e7).await.expect("set-up");
    let owner = owner(&fixture);
    let friend = fixture.devnet.accounts()[3].address;
    let stranger = fixture.devnet.accounts()[4].address;
    let rate = AgentLimitSpec {
        rate_limit: Some(RateLimit {
            max_executions: 2,
            window_seconds: 3600,
        }),
        ..Default::default()
    };
    let session = client
        .create_session(&owner, PIN, &agent_spec(friend, rate))
        .await
        .expect("registered with its limits");
    let on_chain = client
        .agent_limits(fixture.address(), session.public_key())
        .await
        .expect("views");
    assert_eq!(on_chain.terms.max_executions, 2);
    assert_eq!(on_chain.loss_guards, vec![STRK_ADDRESS]);
    assert_eq!(on_chain.rules.len(), 1);
    let handle = session.unlock(PIN).expect("unlock");

    let before = requests(&pm);
    for (calls, code) in [
        (vec![pay(stranger, 1)], "SESSION_ARGUMENT_NOT_ALLOWED"),
        (vec![pay(friend, 51)], "SESSION_ARGUMENT_NOT_ALLOWED"),
    ] {
        let e = client
            .execute_transaction_with_session(&session, &handle, &calls)
            .await
            .expect_err("refused");
        assert_eq!(e.code(), code, "{e}");
    }
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");
    client
        .execute_and_wait(&session, &handle, &[pay(friend, 50)])
        .await
        .expect("within the rules");
    client
        .execute_and_wait(&session, &handle, &[fixture.play(1)])
        .await
        .expect("the rate's second");
    let before = requests(&pm);
    let e = client
        .execute_transaction_with_session(&session, &handle, &[fixture.play(1)])
        .await
        .expect_err("over the rate");
    assert_eq!(e.code(), "SESSION_RATE_LIMITED", "{e}");
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");

    // Spent rate or not, the session revokes itself.
    client
        .revoke_own_session(&session, &handle)
        .await
        .expect("self-revocation");
    let info = client
        .get_session_data(fixture.address(), session.public_key())
        .await
        .expect("data");
    assert_eq!(info.status, SessionStatus::Revoked);
    let e = client
        .execute_transaction_with_session(&session, &handle, &[fixture.play(1)])
        .await
        .expect_err("revoked");
    assert_eq!(e.code(), "SESSION_REVOKED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_before_its_start_and_a_guard_without_a_limit_are_refused_before_signing() {
    let (fixture, pm, client) = sdk_setup(0xa9e8).await.expect("set-up");
    let owner = owner(&fixture);
    let friend = fixture.devnet.accounts()[3].address;
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let later = AgentLimitSpec {
        valid_after: now + 1_000,
        ..Default::default()
    };
    let session = client
        .create_session(&owner, PIN, &agent_spec(friend, later))
        .await
        .expect("registered");
    let handle = session.unlock(PIN).expect("unlock");
    let before = requests(&pm);
    let e = client
        .execute_transaction_with_session(&session, &handle, &[fixture.play(1)])
        .await
        .expect_err("too early");
    assert_eq!(e.code(), "SESSION_NOT_YET_ACTIVE", "{e}");
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");

    // A loss guard needs a spending limit on its token: refused before anything is sent.
    let mut unguardable = agent_spec(friend, AgentLimitSpec::default());
    unguardable.spending_limits.clear();
    let e = client
        .create_session(&owner, PIN, &unguardable)
        .await
        .expect_err("refused");
    assert_eq!(e.code(), "SESSION_CREATION_FAILED", "{e}");
    assert!(e.to_string().contains("spending/no-policy"), "{e}");
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");
}
