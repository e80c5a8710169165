//! `stark-sessions paymaster create-key | list-keys | revoke-key | disable-key | enable-key |
//! rotate-key` on an SQLite database in a temporary directory (they need no node).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use stark_sessions_paymaster::auth::hash_secret;
use stark_sessions_paymaster::store::{ApiKeyRecord, KeyStatus, SqliteStore, Store};

/// A directory with a `paymaster.toml`, removed at the end.
struct Workdir(PathBuf);

impl Workdir {
    /// A configuration with an SQLite `database` in the directory, or none, and `extra` TOML.
    fn new(with_database: bool, extra: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cli-keys-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let database = if with_database {
            format!(
                "database = {:?}\n",
                dir.join("pm.sqlite").display().to_string()
            )
        } else {
            String::new()
        };
        let config = format!("rpc_url = \"http://127.0.0.1:9\"\nrelayers = []\n{database}{extra}");
        std::fs::write(dir.join("paymaster.toml"), config).expect("config");
        Workdir(dir)
    }

    /// Runs `stark-sessions paymaster <args> --config <its paymaster.toml>`.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_stark-sessions"))
            .arg("paymaster")
            .args(args)
            .arg("--config")
            .arg(self.0.join("paymaster.toml"))
            .output()
            .expect("the binary runs")
    }

    /// Runs a command that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs a command that must fail; its standard error.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8(out.stderr).expect("utf-8")
    }

    /// The key stored under `id`.
    fn key(&self, id: &str) -> ApiKeyRecord {
        let store = SqliteStore::open(&self.0.join("pm.sqlite")).expect("database");
        store.api_key(id).expect("read").expect("key")
    }

    /// The key whose secret is `secret`, if any.
    fn key_of(&self, secret: &str) -> Option<ApiKeyRecord> {
        let store = SqliteStore::open(&self.0.join("pm.sqlite")).expect("database");
        store.api_key_by_hash(&hash_secret(secret)).expect("read")
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn api_keys_are_created_listed_disabled_enabled_rotated_and_revoked_from_the_command_line() {
    let dir = Workdir::new(true, "");
    let created = dir.ok(&[
        "create-key",
        "--id",
        "game",
        "--daily-budget-fri",
        "1000",
        "--requests-per-minute",
        "30",
    ]);
    let secret = created.trim().to_owned();
    assert!(secret.starts_with("sspk_"), "{secret}");
    assert_eq!(dir.key_of(&secret).map(|k| k.id), Some("game".into()));
    let again = dir.refused(&["create-key", "--id", "game", "--daily-budget-fri", "1"]);
    assert!(again.contains("exists already"), "{again}");

    let listed: Value = serde_json::from_str(&dir.ok(&["list-keys", "--json"])).expect("json");
    let game = &listed[0];
    assert_eq!(
        (
            &game["id"],
            &game["status"],
            &game["daily_budget_fri"],
            &game["used_today_fri"],
            &game["requests_per_minute"],
        ),
        (
            &Value::from("game"),
            &Value::from("active"),
            &Value::from("1000"),
            &Value::from("0"),
            &Value::from(30),
        )
    );
    let table = dir.ok(&["list-keys"]);
    assert!(
        table.contains("game") && table.contains("active"),
        "{table}"
    );
    for shown in [&table, &listed.to_string()] {
        assert!(!shown.contains(&secret[5..]), "a secret was listed");
        assert!(
            !shown.contains(&hex(&hash_secret(&secret))),
            "a hash was listed"
        );
    }

    dir.ok(&["disable-key", "--id", "game"]);
    assert_eq!(dir.key("game").status, KeyStatus::Disabled);
    let table = dir.ok(&["list-keys"]);
    assert!(table.contains("disabled"), "{table}");
    dir.ok(&["enable-key", "--id", "game"]);
    assert_eq!(dir.key("game").status, KeyStatus::Active);

    // A new secret for the same key; the old one finds nothing.
    let rotated = dir.ok(&["rotate-key", "--id", "game"]).trim().to_owned();
    assert_ne!(rotated, secret);
    assert!(dir.key_of(&secret).is_none(), "the old secret still works");
    let key = dir.key_of(&rotated).expect("the new secret");
    assert_eq!((key.id.as_str(), key.daily_budget_fri), ("game", 1000));

    dir.ok(&["revoke-key", "--id", "game"]);
    assert_eq!(dir.key("game").status, KeyStatus::Revoked);
    for command in ["enable-key", "disable-key", "rotate-key", "revoke-key"] {
        let e = dir.refused(&[command, "--id", "game"]);
        assert!(e.contains("revoked for good"), "{command}: {e}");
    }
    let e = dir.refused(&["disable-key", "--id", "nope"]);
    assert!(e.contains("no API key `nope`"), "{e}");
}

#[test]
fn key_commands_refuse_to_run_without_a_database() {
    let dir = Workdir::new(false, "");
    for args in [
        &["create-key", "--id", "game", "--daily-budget-fri", "1"][..],
        &["list-keys"],
        &["revoke-key", "--id", "game"],
        &["rotate-key", "--id", "game"],
    ] {
        let e = dir.refused(args);
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(e.contains("no `database`"), "{args:?}: {e}");
        assert!(!dir.0.join("pm.sqlite").exists());
    }
}

#[test]
fn a_key_defined_in_the_configuration_is_rotated_there_not_by_rotate_key() {
    let dir = Workdir::new(
        true,
        "[[api_keys]]\nid = \"configured\"\nkey_sha256 = \"00\"\ndaily_budget_fri = 1\n",
    );
    dir.ok(&[
        "create-key",
        "--id",
        "configured",
        "--daily-budget-fri",
        "1",
    ]);
    let e = dir.refused(&["rotate-key", "--id", "configured"]);
    assert!(e.contains("key_sha256"), "{e}");
    // Its status is the database's (start-up keeps it when it loads the configuration).
    dir.ok(&["disable-key", "--id", "configured"]);
    assert_eq!(dir.key("configured").status, KeyStatus::Disabled);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
