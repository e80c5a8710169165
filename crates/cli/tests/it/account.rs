//! `stark-sessions account …` and `config …`: the counterfactual address checked against a real
//! DEPLOY_ACCOUNT, gasless onboarding, declaring, and the network profiles with their chain
//! check.

use stark_sessions_abi::Felt;
use stark_sessions_devnet::Devnet;
use stark_sessions_tests::HUNDRED_STRK;
use starknet::providers::Provider;
use starknet::signers::SigningKey;

use crate::session::{json_of, refused, Env};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_is_onboarded_gaslessly_and_the_network_is_checked() {
    let env = Env::new(0xacc0_0b0a).await;
    let owner = SigningKey::from_random();
    let key_file = env.store.with_file_name("new-owner.key");
    std::fs::write(&key_file, format!("{:#x}\n", owner.secret_scalar())).expect("key file");
    let key_file = key_file.to_string_lossy().to_string();
    let game = format!("{:#x}", env.fixture.scoreboard);
    let pin = ["--pin-env", "TEST_PIN"];

    let address = json_of(
        &env.run(
            &[
                "account",
                "address",
                "--owner-key-file",
                &key_file,
                "--json",
            ],
            "",
        )
        .await,
    )["address"]
        .as_str()
        .expect("address")
        .to_owned();
    let created = env.create_game_session(&address).await;
    let deployed = json_of(
        &env.run(
            &[
                "account",
                "deploy",
                "--owner-key-file",
                &key_file,
                "--gasless",
                "--json",
            ],
            "",
        )
        .await,
    );
    assert_eq!(deployed["address"], address.as_str());
    assert_eq!(deployed["session_key"], created["public_key"]);
    let plays = env.fixture.plays().await.expect("plays");
    let call = format!("{game}:record_score:4");
    json_of(
        &env.run(
            &[
                "session",
                "exec",
                "--account",
                &address,
                "--call",
                &call,
                pin[0],
                pin[1],
                "--json",
            ],
            "482193",
        )
        .await,
    );
    assert_eq!(env.fixture.plays().await.expect("plays"), plays + 1);

    // A node that is not on the chosen network: refused before anything is read or signed.
    refused(
        &env.run(
            &[
                "account",
                "info",
                "--account",
                &address,
                "--network",
                "mainnet",
            ],
            "",
        )
        .await,
        "[WRONG_CHAIN] the node is on chain SN_SEPOLIA, not mainnet (SN_MAIN)",
    );
    // No URL for a public network: the error says how to configure one.
    refused(
        &env.run_configured(
            &[
                "account",
                "info",
                "--account",
                &address,
                "--network",
                "sepolia",
            ],
            "",
        )
        .await,
        "no RPC URL for sepolia",
    );
    // URLs from the configuration file.
    let devnet_url = env.fixture.devnet.url().to_string();
    let pm_url = env.pm.server.url().to_string();
    for (key, value) in [
        ("sepolia.rpc_url", devnet_url.as_str()),
        ("sepolia.paymaster_url", pm_url.as_str()),
        ("network", "sepolia"),
    ] {
        let out = env.run_configured(&["config", "set", key, value], "").await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shown = json_of(&env.run_configured(&["config", "show", "--json"], "").await);
    assert_eq!(shown["network"], "sepolia");
    assert_eq!(shown["networks"]["sepolia"]["rpc_url"], devnet_url.as_str());
    let info = json_of(
        &env.run_configured(&["account", "info", "--account", &address, "--json"], "")
            .await,
    );
    assert_eq!(
        info["owner_public_key"],
        format!("{:#x}", owner.verifying_key().scalar())
    );
    refused(
        &env.run_configured(&["config", "set", "network", "goerli"], "")
            .await,
        "unknown network \"goerli\"",
    );

    // The class is declared on this devnet already: a no-op that says so.
    let declared = json_of(
        &env.run(
            &[
                "account",
                "declare",
                "--account",
                &env.account(),
                "--owner-key-file",
                &env.owner_key.to_string_lossy(),
                "--json",
            ],
            "",
        )
        .await,
    );
    assert_eq!(declared["transaction_hash"], serde_json::Value::Null);
}
