//! `stark-sessions owner …`, envelope owner keys in the commands that sign as the owner,
//! `session import --legacy`, the PIN policy of session keys and the passphrase policy of owner
//! keys, against the embedded devnet and paymaster.

use std::path::{Path, PathBuf};

use stark_sessions_client::client::ErrorContext;
use stark_sessions_client::envelope::{seal, EnvelopeParams};
use stark_sessions_client::{SessionConfig, SessionSecret};
use stark_sessions_tests::client::{openssl_legacy_envelope, owner, session_client};
use starknet::core::utils::get_selector_from_name;

use crate::session::{json_of, refused, Env};

const SESSION_PIN: &str = "482193";
/// An owner key's passphrase that passes the policy (zxcvbn scores it 4).
const OWNER_PIN: &str = "tundra velvet oxide harbor";
/// Passphrases the owner policy refuses, though the first two pass the session PIN policy.
const WEAK_OWNER_PASSPHRASES: [&str; 4] = ["482193", "Summer2024!", "password123", "qwerty"];

fn dir_of(env: &Env) -> PathBuf {
    env.owner_key
        .parent()
        .expect("the test's directory")
        .to_path_buf()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_string_lossy().to_string()
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Files the session store holds (none when it was never created).
fn stored_files(store: &Path) -> usize {
    std::fs::read_dir(store)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_keys_live_in_envelopes_that_register_and_revoke_sessions() {
    let env = Env::new(0x0e01).await;
    let dir = dir_of(&env);
    let account = env.account();
    let owner_public = format!("{:#x}", env.fixture.account.owner.verifying_key().scalar());
    let owner_secret_hex = format!("{:x}", env.fixture.account.owner.secret_scalar());
    let pin_file = write(&dir, "owner.pin", &format!("{OWNER_PIN}\n"));
    let wrong_pin_file = write(&dir, "wrong.pin", "tundra velvet oxide harbour\n");

    // owner new: a fresh key, an envelope file 0600, its public key exported back.
    let fresh = dir.join("fresh.owner");
    let fresh_path = fresh.to_string_lossy().to_string();
    let made = json_of(
        &env.run(
            &[
                "owner",
                "new",
                "--out",
                &fresh_path,
                "--pin-file",
                &pin_file,
                "--json",
            ],
            "",
        )
        .await,
    );
    let text = std::fs::read_to_string(&fresh).expect("envelope");
    assert!(text.starts_with("sskey2:argon2id:19456:2:1:"), "{text}");
    #[cfg(unix)]
    assert_eq!(mode_of(&fresh), 0o600);
    let exported = json_of(
        &env.run(
            &[
                "owner",
                "export-public",
                "--owner-key-file",
                &fresh_path,
                "--pin-file",
                &pin_file,
                "--json",
            ],
            "",
        )
        .await,
    );
    assert_eq!(exported["public_key"], made["public_key"]);
    // Never overwritten.
    refused(
        &env.run(
            &[
                "owner",
                "new",
                "--out",
                &fresh_path,
                "--pin-file",
                &pin_file,
            ],
            "",
        )
        .await,
        "already exists; refusing to overwrite",
    );
    assert_eq!(std::fs::read_to_string(&fresh).expect("envelope"), text);

    // owner import: the account's plaintext key into an envelope, without the key in it.
    let wrapped = dir.join("owner.envelope");
    let wrapped_path = wrapped.to_string_lossy().to_string();
    let owner_key = env.owner_key.to_string_lossy().to_string();
    let imported = json_of(
        &env.run(
            &[
                "owner",
                "import",
                "--key-file",
                &owner_key,
                "--out",
                &wrapped_path,
                "--pin-env",
                "TEST_PIN",
                "--json",
            ],
            OWNER_PIN,
        )
        .await,
    );
    assert_eq!(imported["public_key"], owner_public.as_str());
    let envelope = std::fs::read_to_string(&wrapped).expect("envelope");
    assert!(envelope.starts_with("sskey2:argon2id:"));
    assert!(!envelope.contains(&owner_secret_hex));
    #[cfg(unix)]
    assert_eq!(mode_of(&wrapped), 0o600);
    let text = env
        .run(
            &[
                "owner",
                "export-public",
                "--owner-key-file",
                &wrapped_path,
                "--pin-env",
                "TEST_PIN",
            ],
            OWNER_PIN,
        )
        .await;
    assert!(text.status.success());
    assert_eq!(String::from_utf8_lossy(&text.stdout).trim(), owner_public);
    assert!(text.stderr.is_empty(), "no warning for an envelope");

    // The envelope signs a registration (PIN from a file), with no plaintext warning.
    json_of(
        &env.run(
            &[
                "session",
                "create",
                "--account",
                &account,
                "--duration",
                "3600",
                "--pin-env",
                "TEST_PIN",
                "--json",
            ],
            SESSION_PIN,
        )
        .await,
    );
    let registered = env
        .run(
            &[
                "session",
                "register",
                "--account",
                &account,
                "--owner-key-file",
                &wrapped_path,
                "--pin-file",
                &pin_file,
                "--json",
            ],
            "",
        )
        .await;
    let reply = json_of(&registered);
    assert!(reply["transaction_hash"].as_str().is_some());
    assert!(
        !String::from_utf8_lossy(&registered.stderr).contains("plaintext"),
        "no warning for an envelope"
    );
    let status = json_of(
        &env.run(&["session", "status", "--account", &account, "--json"], "")
            .await,
    );
    assert_eq!(status["is_active"], true);

    // A wrong owner PIN signs nothing: the session stays active.
    refused(
        &env.run(
            &[
                "session",
                "revoke",
                "--account",
                &account,
                "--owner-key-file",
                &wrapped_path,
                "--pin-file",
                &wrong_pin_file,
            ],
            "",
        )
        .await,
        "SESSION_DECRYPTION_FAILED",
    );
    let status = json_of(
        &env.run(&["session", "status", "--account", &account, "--json"], "")
            .await,
    );
    assert_eq!(status["is_active"], true);
    json_of(
        &env.run(
            &[
                "session",
                "revoke",
                "--account",
                &account,
                "--owner-key-file",
                &wrapped_path,
                "--pin-env",
                "TEST_PIN",
                "--json",
            ],
            OWNER_PIN,
        )
        .await,
    );
    let status = json_of(
        &env.run(&["session", "status", "--account", &account, "--json"], "")
            .await,
    );
    assert_eq!(status["status"], "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_owner_key_still_works_with_a_one_line_warning_that_never_shows_it() {
    let env = Env::new(0x0e02).await;
    let owner_key = env.owner_key.to_string_lossy().to_string();
    let out = env
        .run(
            &["owner", "export-public", "--owner-key-file", &owner_key],
            "",
        )
        .await;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{:#x}", env.fixture.account.owner.verifying_key().scalar())
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("warning:") && lines[0].contains("plaintext"),
        "{err}"
    );
    assert!(lines[0].contains(&owner_key), "names the file: {err}");
    let secret = format!("{:x}", env.fixture.account.owner.secret_scalar());
    assert!(!err.contains(&secret), "never the key: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_pins_are_refused_for_new_session_envelopes_and_nothing_is_written() {
    let env = Env::new(0x0e03).await;
    for pin in ["4821", "777777", "123456", "654321"] {
        refused(
            &env.run(
                &[
                    "session",
                    "create",
                    "--account",
                    &env.account(),
                    "--pin-env",
                    "TEST_PIN",
                ],
                pin,
            )
            .await,
            "[WEAK_PIN]",
        );
        assert_eq!(stored_files(&env.store), 0, "{pin}: no session stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_envelopes_need_a_strong_passphrase_and_old_pin_envelopes_still_open() {
    let env = Env::new(0x0e05).await;
    let dir = dir_of(&env);
    let owner_key = env.owner_key.to_string_lossy().to_string();
    let owner_public = format!("{:#x}", env.fixture.account.owner.verifying_key().scalar());
    let new_owner =
        |out: &str| ["owner", "new", "--out", out, "--pin-env", "TEST_PIN"].map(str::to_owned);
    let import_owner = |out: &str| {
        [
            "owner",
            "import",
            "--key-file",
            &owner_key,
            "--out",
            out,
            "--pin-env",
            "TEST_PIN",
        ]
        .map(str::to_owned)
    };
    let run = |args: Vec<String>, pin: &'static str| {
        let env = &env;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            env.run(&args, pin).await
        }
    };
    for weak in WEAK_OWNER_PASSPHRASES {
        let out = dir.join(format!("owner-{weak}.envelope"));
        let out_path = out.to_string_lossy().to_string();
        for made in [
            run(new_owner(&out_path).to_vec(), weak).await,
            run(import_owner(&out_path).to_vec(), weak).await,
        ] {
            refused(&made, "[WEAK_PASSPHRASE]");
            refused(&made, "must score at least 3 of 4");
            let err = String::from_utf8_lossy(&made.stderr);
            assert!(
                !err.contains(weak),
                "{weak}: the passphrase is never printed: {err}"
            );
        }
        assert!(!out.exists(), "{weak}: no owner envelope written");
    }
    // The same commands with a strong passphrase: Argon2id envelopes of the keys.
    let fresh = dir.join("strong-new.envelope");
    let fresh_path = fresh.to_string_lossy().to_string();
    let made = json_of(
        &run(
            [new_owner(&fresh_path).to_vec(), vec!["--json".into()]].concat(),
            OWNER_PIN,
        )
        .await,
    );
    assert!(std::fs::read_to_string(&fresh)
        .expect("envelope")
        .starts_with("sskey2:argon2id:19456:2:1:"));
    let imported = dir.join("strong-import.envelope");
    let imported_path = imported.to_string_lossy().to_string();
    let wrapped = json_of(
        &run(
            [import_owner(&imported_path).to_vec(), vec!["--json".into()]].concat(),
            OWNER_PIN,
        )
        .await,
    );
    assert_eq!(wrapped["public_key"], owner_public.as_str());
    assert_ne!(made["public_key"], wrapped["public_key"]);
    assert!(std::fs::read_to_string(&imported)
        .expect("envelope")
        .starts_with("sskey2:argon2id:"));

    // An owner envelope made before passphrases (PBKDF2, a 6-digit PIN) still opens.
    let secret =
        SessionSecret::from_bytes(&env.fixture.account.owner.secret_scalar().to_bytes_be())
            .expect("the owner's key");
    let old = write(
        &dir,
        "old.envelope",
        &seal(&secret, SESSION_PIN, EnvelopeParams::default()).expect("seal"),
    );
    let exported = json_of(
        &env.run(
            &[
                "owner",
                "export-public",
                "--owner-key-file",
                &old,
                "--pin-env",
                "TEST_PIN",
                "--json",
            ],
            SESSION_PIN,
        )
        .await,
    );
    assert_eq!(exported["public_key"], owner_public.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_sdk_key_is_imported_under_a_new_pin_and_refusals_write_nothing() {
    let env = Env::new(0x0e04).await;
    let dir = dir_of(&env);
    let account = env.account();
    let client = session_client(&env.fixture, &env.pm).await.expect("client");

    // The reference SDK made and registered a session; its key file is CryptoJS-encrypted.
    let secret = SessionSecret::generate();
    let config = SessionConfig {
        session_public_key: secret.public_key(),
        valid_until: client.block_timestamp().await.expect("time") + 3600,
        max_calls: 5,
        allowed_entrypoints: vec![get_selector_from_name("record_score").expect("selector")],
        targets: vec![env.fixture.scoreboard],
        spending_limits: vec![],
        limits: Default::default(),
    };
    let hash = client
        .add_session_key_to_contract(&owner(&env.fixture), &config)
        .await
        .expect("registered");
    client
        .wait_for_transaction(hash, &ErrorContext::default())
        .await
        .expect("landed");
    let legacy = openssl_legacy_envelope(&secret, "old pin 1234").expect("openssl");
    let legacy_file = write(&dir, "legacy.txt", &legacy);
    let old_pin = write(&dir, "old.pin", "old pin 1234\n");
    let wrong_old_pin = write(&dir, "wrong-old.pin", "old pin 1235\n");
    let truncated = write(&dir, "truncated.txt", &legacy[..legacy.len() / 2]);
    let mut tampered = legacy.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = write(
        &dir,
        "tampered.txt",
        &String::from_utf8(tampered).expect("base64"),
    );
    let key = format!("{:#x}", secret.public_key());
    let import = |file: &str, old: &str| {
        [
            "session",
            "import",
            "--legacy",
            file,
            "--account",
            &account,
            "--old-pin-file",
            old,
            "--pin-env",
            "TEST_PIN",
            "--json",
        ]
        .map(str::to_owned)
    };
    let run = |args: [String; 11], pin: &'static str| {
        let env = &env;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            env.run(&args, pin).await
        }
    };

    for (file, old, says) in [
        (&legacy_file, &wrong_old_pin, "SESSION_DECRYPTION_FAILED"),
        (&truncated, &old_pin, "SESSION_DECRYPTION_FAILED"),
        (&tampered, &old_pin, "SESSION_DECRYPTION_FAILED"),
    ] {
        let out = run(import(file, old), SESSION_PIN).await;
        refused(&out, says);
        refused(&out, "nothing was imported");
        assert!(
            !env.store.exists(),
            "{file}: the store was not even created"
        );
    }
    refused(
        &run(import(&legacy_file, &old_pin), "123456").await,
        "[WEAK_PIN]",
    );
    let other =
        openssl_legacy_envelope(&SessionSecret::generate(), "old pin 1234").expect("openssl");
    let unregistered = write(&dir, "unregistered.txt", &other);
    refused(
        &run(import(&unregistered, &old_pin), SESSION_PIN).await,
        "not active; nothing was imported",
    );
    let mut mismatched = import(&legacy_file, &old_pin).to_vec();
    mismatched.extend(["--session-key".to_owned(), "0x123".to_owned()]);
    let args: Vec<&str> = mismatched.iter().map(String::as_str).collect();
    refused(&env.run(&args, SESSION_PIN).await, "not 0x123");
    assert_eq!(stored_files(&env.store), 0, "no refusal wrote anything");

    // The import: the account's grants, our envelope under the new PIN, then a call with it.
    let imported = json_of(&run(import(&legacy_file, &old_pin), SESSION_PIN).await);
    assert_eq!(imported["public_key"], key.as_str());
    assert_eq!(imported["valid_until"], config.valid_until);
    assert_eq!(imported["max_calls"], 5);
    assert_eq!(
        imported["targets"][0],
        format!("{:#x}", env.fixture.scoreboard).as_str()
    );
    assert_eq!(
        imported["allowed_entrypoints"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(stored_files(&env.store), 1);
    let stored = std::fs::read_dir(&env.store)
        .expect("store")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| std::fs::read_to_string(e.path()).expect("read"))
        .expect("a session file");
    assert!(stored.contains("sskey1:"), "re-wrapped in our envelope");
    assert!(!stored.contains(legacy.trim()), "not the legacy text");
    let call = format!("{:#x}:record_score:9", env.fixture.scoreboard);
    json_of(
        &env.run(
            &[
                "session",
                "exec",
                "--account",
                &account,
                "--session-key",
                &key,
                "--call",
                &call,
                "--pin-env",
                "TEST_PIN",
                "--json",
            ],
            SESSION_PIN,
        )
        .await,
    );
    assert_eq!(env.fixture.plays().await.expect("plays"), 1);
}
