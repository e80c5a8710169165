//! The owner path: deploy, `__validate__`, SRC-5, `is_valid_signature`, owner-only admin.

use stark_sessions_abi::{constants, ContractError};
use stark_sessions_devnet::Devnet;
use stark_sessions_tests::{
    revert_error, sel, Fixture, SessionSignedAccount, TestSession, HUNDRED_STRK,
};
use starknet::accounts::Account;
use starknet::core::types::{Call, Felt};
use starknet::providers::Provider;
use starknet::signers::SigningKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counterfactual_deploy_validates_the_owner_and_the_account_can_then_invoke() {
    let devnet = Devnet::start().await.expect("devnet");
    let owner = SigningKey::from_secret_scalar(Felt::from(0xc0ffeeu32));
    let handle = devnet
        .deploy_session_account(owner.clone(), Felt::from(3u8), HUNDRED_STRK)
        .await
        .expect("deploys");
    let key = devnet
        .call(handle.address, sel("get_public_key"), vec![])
        .await
        .expect("view");
    assert_eq!(key, vec![owner.verifying_key().scalar()]);
    // The owner's own INVOKE passes __validate__ and __execute__.
    let strk_before = devnet.strk_balance(handle.address).await.expect("balance");
    let call = Call {
        to: stark_sessions_devnet::STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![
            devnet.accounts()[2].address,
            Felt::from(1000u32),
            Felt::ZERO,
        ],
    };
    devnet
        .invoke(&handle.account, vec![call])
        .await
        .expect("owner invoke");
    assert!(devnet.strk_balance(handle.address).await.expect("balance") < strk_before - 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_signed_by_a_key_that_is_not_the_owner_is_refused() {
    let devnet = Devnet::start().await.expect("devnet");
    let owner = SigningKey::from_secret_scalar(Felt::from(0xc0ffeeu32));
    let handle = devnet
        .deploy_session_account_udc(owner, Felt::ONE, HUNDRED_STRK)
        .await
        .expect("deploys");
    let intruder = devnet.account_with_key(
        handle.address,
        SigningKey::from_secret_scalar(Felt::from(0xbadu32)),
    );
    let err = intruder
        .execute_v3(vec![])
        .send()
        .await
        .expect_err("foreign key must be refused");
    assert_eq!(
        revert_error(&err),
        Some(ContractError::InvalidSignature),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_signatures_are_refused_in_validate_and_is_valid_signature() {
    let f = Fixture::new(11).await.expect("fixture");
    let session = TestSession::from_secret(1, u64::MAX / 2);
    f.register(&session, 10, &[]).await.expect("register");
    // __validate__: a 4-element signature is not the owner's 2-element one.
    let as_session = SessionSignedAccount::new(&f, session.clone());
    let err = as_session
        .execute_v3(vec![f.play(1)])
        .l1_gas(0)
        .l1_gas_price(4_000_000_000)
        .l1_data_gas(20_000)
        .l1_data_gas_price(4_000_000_000)
        .l2_gas(100_000_000)
        .l2_gas_price(4_000_000_000)
        .send()
        .await
        .expect_err("session-signed transaction");
    assert_eq!(
        revert_error(&err),
        Some(ContractError::InvalidSignatureLength),
        "{err:?}"
    );
    // is_valid_signature: the owner's signature is VALID, a session's is not, nor a forged one.
    let hash = Felt::from(0x1234_5678u32);
    let owner_sig = f.account.owner.sign(&hash).expect("sign");
    let session_sig = session.key.sign(&hash).expect("sign");
    let check = |sig: Vec<Felt>| {
        let mut calldata = vec![hash, Felt::from(sig.len())];
        calldata.extend(sig);
        f.devnet
            .call(f.address(), sel("is_valid_signature"), calldata)
    };
    assert_eq!(
        check(vec![owner_sig.r, owner_sig.s]).await.expect("view"),
        vec![constants::VALIDATED]
    );
    let four = vec![
        session.public_key,
        session_sig.r,
        session_sig.s,
        Felt::from(session.valid_until),
    ];
    assert_eq!(check(four).await.expect("view"), vec![Felt::ZERO]);
    assert_eq!(
        check(vec![session_sig.r, session_sig.s])
            .await
            .expect("view"),
        vec![Felt::ZERO]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supports_the_four_interfaces_and_nothing_else() {
    let f = Fixture::new(12).await.expect("fixture");
    for (id, expected) in [
        (constants::ISRC5_ID, true),
        (constants::ISRC6_ID, true),
        (constants::ISRC9_V2_ID, true),
        (constants::ISESSION_KEY_MANAGER_ID, true),
        (Felt::from(0xdeadu32), false),
    ] {
        let out = f
            .devnet
            .call(f.address(), sel("supports_interface"), vec![id])
            .await
            .expect("view");
        assert_eq!(out, vec![Felt::from(expected)], "{id:#x}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_entry_points_accept_only_the_account_itself() {
    let f = Fixture::new(13).await.expect("fixture");
    let session = TestSession::from_secret(2, u64::MAX / 2);
    let new_owner = SigningKey::from_secret_scalar(Felt::from(0x0e1u32));
    let admin_calls = [
        f.register_call(&session, 1, &[]),
        f.self_call("revoke_session_key", vec![session.public_key]),
        f.self_call("revoke_all_sessions", vec![]),
        f.self_call("set_session_targets", vec![session.public_key, Felt::ZERO]),
        f.self_call("set_public_key", vec![new_owner.verifying_key().scalar()]),
        f.self_call("upgrade", vec![Felt::ONE]),
        f.self_call(
            "set_spending_policy",
            vec![
                session.public_key,
                Felt::ONE,
                Felt::ONE,
                Felt::ZERO,
                Felt::ONE,
                Felt::ZERO,
                Felt::ONE,
            ],
        ),
        f.self_call(
            "remove_spending_policy",
            vec![session.public_key, Felt::ONE],
        ),
    ];
    for call in admin_calls {
        let outcome = f.send(&f.relayer, vec![call.clone()]).await.expect("sent");
        assert_eq!(
            outcome.expect_error(),
            ContractError::OnlySelf,
            "{:#x}",
            call.selector
        );
    }
    // The owner may: set_public_key, then only the new key signs.
    let rotate = f.self_call("set_public_key", vec![new_owner.verifying_key().scalar()]);
    f.devnet
        .invoke(&f.account.account, vec![rotate])
        .await
        .expect("owner rotates key");
    let key = f
        .devnet
        .call(f.address(), sel("get_public_key"), vec![])
        .await
        .expect("view");
    assert_eq!(key, vec![new_owner.verifying_key().scalar()]);
    let old = f
        .account
        .account
        .execute_v3(vec![])
        .send()
        .await
        .expect_err("old key refused");
    assert_eq!(revert_error(&old), Some(ContractError::InvalidSignature));
    // A zero key is refused.
    let new_account = f.devnet.account_with_key(f.address(), new_owner);
    let zero = f.self_call("set_public_key", vec![Felt::ZERO]);
    let err = new_account
        .execute_v3(vec![zero])
        .send()
        .await
        .expect_err("zero key");
    assert_eq!(revert_error(&err), Some(ContractError::InvalidPublicKey));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_upgrade_replaces_the_class() {
    let f = Fixture::new(14).await.expect("fixture");
    let scoreboard_class = stark_sessions_abi::class::scoreboard()
        .expect("class")
        .class_hash;
    let upgrade = f.self_call("upgrade", vec![scoreboard_class]);
    f.owner_execute(vec![upgrade])
        .await
        .expect("sent")
        .receipt()
        .expect("owner upgrades");
    let provider = f.devnet.provider();
    let class = provider
        .get_class_hash_at(
            starknet::core::types::BlockId::Tag(starknet::core::types::BlockTag::PreConfirmed),
            f.address(),
        )
        .await
        .expect("class hash");
    assert_eq!(class, scoreboard_class);
    // The account now answers the scoreboard's views.
    let plays = f
        .devnet
        .call(f.address(), sel("get_plays"), vec![])
        .await
        .expect("view");
    assert_eq!(plays, vec![Felt::ZERO]);
}
