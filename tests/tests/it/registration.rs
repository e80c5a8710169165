//! A session signature is bound to one registration of its key, and nothing a session calls
//! can call back into the account to do more than the session may.

use stark_sessions_abi::{constants, CairoSerde, ContractError, U256};
use stark_sessions_client::{SessionDetails, SessionError};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::{sel, Fixture, Relayed, TestSession};
use starknet::core::types::{Call, Felt};

const AMOUNT: u64 = 5;

fn transfer_to(recipient: Felt) -> Call {
    Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![recipient, Felt::from(AMOUNT), Felt::ZERO],
    }
}

/// The owner's calls that change the registration of `s` after it was first registered.
fn changes(f: &Fixture, s: &TestSession) -> Vec<(&'static str, Vec<Vec<Call>>)> {
    let re_add = f.register_call(s, 10, &[sel("transfer")]);
    let mut policy = vec![s.public_key, STRK_ADDRESS];
    U256::from_u128(100).cairo_serialize(&mut policy);
    U256::from_u128(1_000).cairo_serialize(&mut policy);
    3_600u64.cairo_serialize(&mut policy);
    vec![
        (
            "revoke_session_key then re-add",
            vec![
                vec![f.self_call("revoke_session_key", vec![s.public_key])],
                vec![re_add.clone()],
            ],
        ),
        (
            "revoke_all_sessions then re-add",
            vec![
                vec![f.self_call("revoke_all_sessions", vec![])],
                vec![re_add],
            ],
        ),
        (
            "update with other limits",
            vec![vec![f.register_call(s, 20, &[sel("transfer")])]],
        ),
        (
            "a new spending limit",
            vec![vec![f.self_call("set_spending_policy", policy)]],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_made_under_an_earlier_registration_is_refused() {
    let f = Fixture::new(91).await.expect("fixture");
    let recipient = f.devnet.accounts()[4].address;
    let transfer = transfer_to(recipient);
    let now = f.devnet.block_timestamp().await.expect("time");
    let template = TestSession::from_secret(0, now + 3600);
    for (i, (case, _)) in changes(&f, &template).iter().enumerate() {
        let mut s = TestSession::from_secret(100 + i as u64, now + 3600);
        f.register(&s, 10, &[sel("transfer")])
            .await
            .expect("register");
        // Signed under the first registration and never sent (held by a relayer, say).
        let old = f.outside(vec![transfer.clone()]).await.expect("outside");
        let old_signature = f.session_signature(&s, &old).expect("sign");
        for calls in &changes(&f, &s)[i].1 {
            f.owner_execute(calls.clone())
                .await
                .expect("sent")
                .receipt()
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        }
        let before = f.devnet.strk_balance(recipient).await.expect("balance");
        let refused = f.relay(&old, old_signature).await.expect("sent");
        let error = refused.expect_error();
        assert_eq!(error, ContractError::SessionRegistrationMismatch, "{case}");
        let client =
            SessionError::from_contract(error, s.public_key, &[], SessionDetails::default());
        assert_eq!(client.code(), "SESSION_REGISTRATION_CHANGED", "{case}");
        assert_eq!(
            f.devnet.strk_balance(recipient).await.expect("balance"),
            before,
            "{case}: the stale signature moved funds"
        );
        // Signed anew under the current registration, the same intent goes through.
        f.refresh(&mut s).await.expect("generation");
        f.session_execute(&s, vec![transfer.clone()])
            .await
            .expect("sent")
            .receipt()
            .unwrap_or_else(|e| panic!("{case}: fresh signature: {e}"));
        assert_eq!(
            f.devnet.strk_balance(recipient).await.expect("balance"),
            before + u128::from(AMOUNT),
            "{case}"
        );
    }
}

/// `call_back(account, selector, calldata)` on the scoreboard: a target that calls back.
fn call_back(f: &Fixture, selector: Felt, calldata: Vec<Felt>) -> Call {
    let mut data = vec![f.address(), selector];
    calldata.cairo_serialize(&mut data);
    Call {
        to: f.scoreboard,
        selector: sel("call_back"),
        calldata: data,
    }
}

/// `execute_from_outside_v2` calldata of a valid payload moving `AMOUNT` to `recipient`.
async fn outside_payload(f: &Fixture, signer: Option<&TestSession>, recipient: Felt) -> Vec<Felt> {
    let outside = f
        .outside(vec![transfer_to(recipient)])
        .await
        .expect("outside");
    let signature = match signer {
        Some(s) => f.session_signature(s, &outside),
        None => f.owner_signature(&outside),
    }
    .expect("sign");
    f.relay_call(&outside, signature).calldata
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_calling_back_into_the_account_is_refused() {
    let f = Fixture::new(92).await.expect("fixture");
    let recipient = f.devnet.accounts()[4].address;
    let now = f.devnet.block_timestamp().await.expect("time");
    let s = TestSession::from_secret(7, now + 3600);
    f.register(&s, 50, &[sel("call_back"), sel("transfer")])
        .await
        .expect("register");
    let attacker = TestSession::from_secret(8, now + 3600);
    let owner_payload = outside_payload(&f, None, recipient).await;
    let session_payload = outside_payload(&f, Some(&s), recipient).await;
    let cases = [
        (
            "execute_from_outside_v2, owner-signed",
            constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
            owner_payload.clone(),
            Some(ContractError::OutsideReentrant),
        ),
        (
            "execute_from_outside_v2, session-signed",
            constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
            session_payload.clone(),
            Some(ContractError::OutsideReentrant),
        ),
        // The protocol itself refuses a contract's call to an account's `__execute__` ("Invalid
        // argument"), before the account's own caller check could.
        (
            "__execute__",
            constants::SELECTOR_EXECUTE,
            vec![transfer_to(recipient)].to_felts(),
            None,
        ),
        (
            "add_or_update_session_key",
            constants::SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
            f.register_call(&attacker, 1_000, &[]).calldata,
            Some(ContractError::OnlySelf),
        ),
        (
            "set_public_key",
            constants::SELECTOR_SET_PUBLIC_KEY,
            vec![attacker.public_key],
            Some(ContractError::OnlySelf),
        ),
    ];
    let before = f.devnet.strk_balance(recipient).await.expect("balance");
    for (case, selector, calldata, expected) in cases {
        let refused = f
            .session_execute(&s, vec![call_back(&f, selector, calldata)])
            .await
            .expect("sent");
        match (&refused, expected) {
            (_, Some(error)) => assert_eq!(refused.expect_error(), error, "{case}"),
            (Relayed::Failed(reason), None) => {
                assert!(reason.contains("Invalid argument"), "{case}: {reason}")
            }
            (Relayed::Ok(_), None) => panic!("{case}: the call back succeeded"),
        }
    }
    assert_eq!(
        f.devnet.strk_balance(recipient).await.expect("balance"),
        before
    );
    assert_eq!(
        f.session_data(attacker.public_key)
            .await
            .expect("view")
            .valid_until,
        0,
        "the attacker's key was not registered"
    );
    // The refused payloads were valid: relayed directly, each executes once.
    for payload in [owner_payload, session_payload] {
        f.send(
            &f.relayer,
            vec![Call {
                to: f.address(),
                selector: constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
                calldata: payload,
            }],
        )
        .await
        .expect("sent")
        .receipt()
        .expect("the payload executes when relayed directly");
    }
    assert_eq!(
        f.devnet.strk_balance(recipient).await.expect("balance"),
        before + 2 * u128::from(AMOUNT)
    );
}
