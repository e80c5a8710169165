//! `session grant`: the owner grants a stored session offline (or a wallet signs the typed
//! data the command prints), the first `session exec` registers it, and `account deploy
//! --gasless --call` deploys an account with a granted first move.

use stark_sessions_abi::{Felt, SessionStatus};
use stark_sessions_tests::starknetjs::starknetjs_message_hash;
use starknet::signers::SigningKey;

use crate::session::{json_of, refused, Env};

const PIN: &str = "482193";

/// `session grant --account <account> <args>`.
async fn grant(env: &Env, account: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["session", "grant", "--account", account];
    all.extend_from_slice(args);
    env.run(&all, "").await
}

/// `session status --json` of the account's stored session.
async fn status(env: &Env, account: &str) -> serde_json::Value {
    json_of(
        &env.run(&["session", "status", "--account", account, "--json"], "")
            .await,
    )
}

fn felt(value: &serde_json::Value) -> Felt {
    Felt::from_hex(value.as_str().expect("a hex string")).expect("a felt")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_grant_plays_on_the_first_exec_and_its_typed_data_hashes_in_starknetjs() {
    let env = Env::new(0x6a51).await;
    let account = env.account();
    let owner_key = env.owner_key.to_string_lossy().to_string();
    let created = env.create_game_session(&account).await;
    let key = felt(&created["public_key"]);
    let granted = json_of(
        &grant(
            &env,
            &account,
            &["--offline", "--owner-key-file", &owner_key, "--json"],
        )
        .await,
    );
    // The typed data the command prints is what starknet.js hashes, and what the owner signed.
    let message_hash = felt(&granted["message_hash"]);
    assert_eq!(
        starknetjs_message_hash(&granted["typed_data"], env.fixture.address())
            .expect("starknet.js"),
        message_hash
    );
    let signature = [
        felt(&granted["owner_signature"][0]),
        felt(&granted["owner_signature"][1]),
    ];
    let owner = env.fixture.account.owner.verifying_key().scalar();
    let signature = starknet::core::crypto::Signature {
        r: signature[0],
        s: signature[1],
    };
    assert!(
        starknet::core::crypto::ecdsa_verify(&owner, &message_hash, &signature).expect("verifies")
    );
    assert_eq!(
        env.fixture.session_status(key).await.expect("status"),
        SessionStatus::None
    );
    let shown = status(&env, &account).await;
    assert_eq!(
        (shown["granted"].clone(), shown["is_active"].clone()),
        (true.into(), true.into())
    );
    // Granting it again is refused: it carries a grant already.
    let again = grant(
        &env,
        &account,
        &["--offline", "--owner-key-file", &owner_key],
    )
    .await;
    refused(&again, "carries a grant already");

    let game = format!("{:#x}", env.fixture.scoreboard);
    let call = format!("{game}:record_score:5");
    for _ in 0..2 {
        let out = env.exec(&account, &call, PIN).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(env.fixture.plays().await.expect("plays"), 2);
    let shown = status(&env, &account).await;
    assert_eq!(shown["granted"], false);
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["remaining_calls"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_signs_the_printed_typed_data_and_a_wrong_signature_stores_nothing() {
    let env = Env::new(0x6a52).await;
    let account = env.account();
    env.create_game_session(&account).await;
    let printed = json_of(&grant(&env, &account, &["--typed-data-only", "--json"]).await);
    let hash = felt(&printed["message_hash"]);
    assert_eq!(
        starknetjs_message_hash(&printed["typed_data"], env.fixture.address())
            .expect("starknet.js"),
        hash
    );
    // Another key's signature is refused, and the session stays ungranted.
    let stranger = SigningKey::from_secret_scalar(Felt::from(0xbad_u32))
        .sign(&hash)
        .expect("signs");
    let wrong = format!("{:#x},{:#x}", stranger.r, stranger.s);
    let out = grant(&env, &account, &["--signature", &wrong]).await;
    refused(&out, "is not the owner's");
    let shown = status(&env, &account).await;
    assert_eq!(shown["granted"], false);
    // The owner's wallet signature is attached, and the session plays.
    let sig = env.fixture.account.owner.sign(&hash).expect("signs");
    let good = format!("{:#x},{:#x}", sig.r, sig.s);
    let out = grant(&env, &account, &["--signature", &good]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let call = format!("{:#x}:record_score:1", env.fixture.scoreboard);
    let out = env.exec(&account, &call, PIN).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.fixture.plays().await.expect("plays"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_deploy_gasless_makes_the_granted_first_move_as_it_deploys() {
    let env = Env::new(0x6a53).await;
    let dir = env.owner_key.parent().expect("dir").to_path_buf();
    let new_owner = dir.join("new-owner.key");
    std::fs::write(&new_owner, "0x6a5300112233\n").expect("key file");
    let new_owner = new_owner.to_string_lossy().to_string();
    let address = json_of(
        &env.run(
            &[
                "account",
                "address",
                "--owner-key-file",
                &new_owner,
                "--json",
            ],
            "",
        )
        .await,
    );
    let account = address["address"].as_str().expect("address").to_owned();
    env.create_game_session(&account).await;
    let out = grant(
        &env,
        &account,
        &["--offline", "--owner-key-file", &new_owner],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the first call, a granted session cannot be deployed with.
    let out = env
        .run(
            &[
                "account",
                "deploy",
                "--gasless",
                "--owner-key-file",
                &new_owner,
            ],
            "",
        )
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give that call with --call"));
    let call = format!("{:#x}:record_score:7", env.fixture.scoreboard);
    let deployed = json_of(
        &env.run(
            &[
                "account",
                "deploy",
                "--gasless",
                "--owner-key-file",
                &new_owner,
                "--call",
                &call,
                "--session-pin-env",
                "TEST_PIN",
                "--json",
            ],
            PIN,
        )
        .await,
    );
    assert_eq!(deployed["address"], account.as_str());
    assert_eq!(env.fixture.plays().await.expect("plays"), 1);
    let shown = status(&env, &account).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["granted"], false);
    assert_eq!(shown["remaining_calls"], 4);
}
