//! Spending limits on the predeployed STRK token.

use stark_sessions_abi::{ContractError, SpendingPolicy, U256};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::{sel, Fixture, TestSession};
use starknet::core::types::{Call, Felt};

fn policy_call(
    f: &Fixture,
    key: Felt,
    token: Felt,
    per_call: u128,
    per_window: u128,
    window: u64,
) -> Call {
    f.self_call(
        "set_spending_policy",
        vec![
            key,
            token,
            Felt::from(per_call),
            Felt::ZERO,
            Felt::from(per_window),
            Felt::ZERO,
            Felt::from(window),
        ],
    )
}

fn pay(to: Felt, amount: u128) -> Call {
    Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![to, Felt::from(amount), Felt::ZERO],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spending_limits_per_call_and_per_window_with_a_rolling_window() {
    let f = Fixture::new(41).await.expect("fixture");
    let now = f.devnet.block_timestamp().await.expect("time");
    let s = TestSession::from_secret(1, now + 10 * 24 * 3600);
    f.register(&s, 100, &[sel("transfer"), sel("approve")])
        .await
        .expect("register");
    f.owner_execute(vec![policy_call(
        &f,
        s.public_key,
        STRK_ADDRESS,
        10,
        15,
        3600,
    )])
    .await
    .expect("sent")
    .receipt()
    .expect("policy");
    let friend = f.devnet.accounts()[3].address;
    let before = f.devnet.strk_balance(friend).await.expect("balance");

    f.session_execute(&s, vec![pay(friend, 10)])
        .await
        .expect("sent")
        .receipt()
        .expect("within limits");
    assert_eq!(
        f.session_execute(&s, vec![pay(friend, 11)])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SpendingPerCall
    );
    // 10 spent: 4 + 2 in one execution exceeds 15, and neither transfer happens.
    assert_eq!(
        f.session_execute(&s, vec![pay(friend, 4), pay(friend, 2)])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SpendingWindow
    );
    // approve counts too.
    let approve = Call {
        to: STRK_ADDRESS,
        selector: sel("approve"),
        calldata: vec![friend, Felt::from(6u8), Felt::ZERO],
    };
    assert_eq!(
        f.session_execute(&s, vec![approve])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SpendingWindow
    );
    f.session_execute(&s, vec![pay(friend, 5)])
        .await
        .expect("sent")
        .receipt()
        .expect("exactly the window");
    assert_eq!(
        f.devnet.strk_balance(friend).await.expect("balance"),
        before + 15
    );
    let policy = f
        .spending_policy(s.public_key, STRK_ADDRESS)
        .await
        .expect("view");
    assert_eq!(policy.spent_in_window, U256::from_u128(15));

    f.devnet.increase_time(3600).await.expect("time travel");
    f.session_execute(&s, vec![pay(friend, 10)])
        .await
        .expect("sent")
        .receipt()
        .expect("new window");
    // A transfer whose amount cannot be read is refused rather than let through.
    let short = Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![friend],
    };
    assert_eq!(
        f.session_execute(&s, vec![short])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SpendingInvalidAmount
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spending_policies_are_validated_and_removable() {
    let f = Fixture::new(42).await.expect("fixture");
    let now = f.devnet.block_timestamp().await.expect("time");
    let s = TestSession::from_secret(1, now + 24 * 3600);
    f.register(&s, 100, &[]).await.expect("register");
    let key = s.public_key;
    for (what, call) in [
        ("zero token", policy_call(&f, key, Felt::ZERO, 1, 1, 10)),
        (
            "the account itself",
            policy_call(&f, key, f.address(), 1, 1, 10),
        ),
        (
            "per call above window",
            policy_call(&f, key, STRK_ADDRESS, 2, 1, 10),
        ),
        ("zero window", policy_call(&f, key, STRK_ADDRESS, 1, 1, 0)),
        (
            "window too long",
            policy_call(&f, key, STRK_ADDRESS, 1, 1, 1 << 32),
        ),
    ] {
        assert_eq!(
            f.owner_execute(vec![call])
                .await
                .expect("sent")
                .expect_error(),
            ContractError::SpendingInvalidPolicy,
            "{what}"
        );
    }
    // Sixteen tokens at most.
    let sixteen: Vec<Call> = (1..=16u32)
        .map(|t| policy_call(&f, key, Felt::from(0x1000 + t), 1, 1, 10))
        .collect();
    f.owner_execute(sixteen)
        .await
        .expect("sent")
        .receipt()
        .expect("16 policies");
    let seventeenth = policy_call(&f, key, STRK_ADDRESS, 1, 1, 10);
    assert_eq!(
        f.owner_execute(vec![seventeenth])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SpendingInvalidPolicy
    );
    // Remove one (swap-remove keeps the others), then the slot is free again.
    let remove = |token: Felt| f.self_call("remove_spending_policy", vec![key, token]);
    f.owner_execute(vec![remove(Felt::from(0x1001u32))])
        .await
        .expect("sent")
        .receipt()
        .expect("remove");
    assert_eq!(
        f.spending_policy(key, Felt::from(0x1001u32))
            .await
            .expect("view"),
        SpendingPolicy::default()
    );
    assert_eq!(
        f.spending_policy(key, Felt::from(0x1010u32))
            .await
            .expect("view")
            .window_seconds,
        10
    );
    assert_eq!(
        f.owner_execute(vec![remove(Felt::from(0x1001u32))])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::SpendingNoPolicy
    );
    f.owner_execute(vec![policy_call(&f, key, STRK_ADDRESS, 1, 1, 10)])
        .await
        .expect("sent")
        .receipt()
        .expect("slot reused");
    // Revoke clears policies; re-adding the key does not resurrect them.
    f.owner_execute(vec![f.self_call("revoke_session_key", vec![key])])
        .await
        .expect("sent")
        .receipt()
        .expect("revoke");
    f.register(&s, 100, &[]).await.expect("re-register");
    assert_eq!(
        f.spending_policy(key, STRK_ADDRESS).await.expect("view"),
        SpendingPolicy::default()
    );
    let friend = f.devnet.accounts()[3].address;
    f.session_execute(&s, vec![pay(friend, 1000)])
        .await
        .expect("sent")
        .receipt()
        .expect("no stale limit");
}
