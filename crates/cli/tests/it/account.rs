//! `stark-sessions account address`: the counterfactual address, checked against a real
//! DEPLOY_ACCOUNT on the devnet.

use stark_sessions_abi::Felt;
use stark_sessions_devnet::Devnet;
use stark_sessions_tests::HUNDRED_STRK;
use starknet::providers::Provider;
use starknet::signers::SigningKey;

use crate::stark_sessions;

fn address_of(args: &[&str]) -> serde_json::Value {
    let out = stark_sessions(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_address_is_where_a_deploy_account_puts_the_account() {
    let devnet = Devnet::start().await.expect("devnet");
    let owner = SigningKey::from_secret_scalar(Felt::from(0xacc0_0001u64));
    let public_key = owner.verifying_key().scalar();
    let dir = std::env::temp_dir().join(format!(
        "stark-sessions-account-{:016x}",
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let key_file = dir.join("owner.key");
    std::fs::write(&key_file, format!("{:#x}\n", owner.secret_scalar())).expect("key file");
    let key_file = key_file.to_string_lossy().to_string();

    let salted = address_of(&[
        "account",
        "address",
        "--owner-key-file",
        &key_file,
        "--salt",
        "0x5",
        "--json",
    ]);
    let by_default = address_of(&[
        "account",
        "address",
        "--owner-key-file",
        &key_file,
        "--json",
    ]);
    assert_eq!(salted["public_key"], format!("{public_key:#x}"));
    assert_eq!(
        by_default["salt"],
        format!("{public_key:#x}"),
        "the default salt"
    );
    assert_ne!(salted["address"], by_default["address"]);

    for (salt, expected) in [(Felt::from(5u8), &salted), (public_key, &by_default)] {
        let deployed = devnet
            .deploy_session_account(owner.clone(), salt, HUNDRED_STRK)
            .await
            .expect("DEPLOY_ACCOUNT");
        assert_eq!(expected["address"], format!("{:#x}", deployed.address));
        let class_hash = devnet
            .provider()
            .get_class_hash_at(
                starknet::core::types::BlockId::Tag(starknet::core::types::BlockTag::Latest),
                deployed.address,
            )
            .await
            .expect("class hash");
        assert_eq!(expected["class_hash"], format!("{class_hash:#x}"));
    }

    let bad = stark_sessions(&[
        "account",
        "address",
        "--owner-key-file",
        &key_file,
        "--salt",
        "5",
    ]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--salt takes 0x"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
