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
        // No `relayers`: the key commands need none.
        let config = format!("rpc_url = \"http://127.0.0.1:9\"\n{database}{extra}");
        std::fs::write(dir.join("paymaster.toml"), config).expect("config");
        Workdir(dir)
    }

    /// Runs `stark-sessions paymaster <args> --config <its paymaster.toml>`.
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    /// As [`Workdir::run`], with environment variables `env`.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_stark-sessions"))
            .arg("paymaster")
            .args(args)
            .arg("--config")
            .arg(self.0.join("paymaster.toml"))
            .env_remove("STARK_SESSIONS_PAYMASTER_RELAYERS")
            .envs(env.iter().copied())
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

#[test]
fn every_key_command_takes_json() {
    let dir = Workdir::new(true, "");
    let created: Value = serde_json::from_str(&dir.ok(&[
        "create-key",
        "--id",
        "game",
        "--daily-budget-fri",
        "1000",
        "--json",
    ]))
    .expect("one JSON document");
    assert_eq!(created["id"], "game");
    let secret = created["api_key"].as_str().expect("the key").to_owned();
    assert_eq!(dir.key_of(&secret).map(|k| k.id), Some("game".into()));
    for (command, status) in [
        ("disable-key", "disabled"),
        ("enable-key", "active"),
        ("revoke-key", "revoked"),
    ] {
        let shown: Value =
            serde_json::from_str(&dir.ok(&[command, "--id", "game", "--json"])).expect(command);
        assert_eq!(shown, serde_json::json!({ "id": "game", "status": status }));
    }
    dir.ok(&["create-key", "--id", "other", "--daily-budget-fri", "1"]);
    let rotated: Value =
        serde_json::from_str(&dir.ok(&["rotate-key", "--id", "other", "--json"])).expect("json");
    let key = dir
        .key_of(rotated["api_key"].as_str().expect("new secret"))
        .expect("the new secret works");
    assert_eq!(key.id, "other");
    for command in [
        "serve",
        "create-key",
        "list-keys",
        "rotate-key",
        "disable-key",
    ] {
        let help = dir.ok(&[command, "--help"]);
        assert!(help.contains("--json"), "{command} --help:\n{help}");
    }
}

#[test]
fn relayers_are_needed_only_to_serve_and_may_come_from_the_environment_alone() {
    // The configuration names no relayers; the key commands run without them.
    let dir = Workdir::new(true, "");
    dir.ok(&["create-key", "--id", "game", "--daily-budget-fri", "1"]);
    let e = dir.refused(&["serve"]);
    assert!(e.contains("no relayers"), "{e}");
    assert!(e.contains("STARK_SESSIONS_PAYMASTER_RELAYERS"), "{e}");
    // With them in the environment only, the configuration loads (a bad value is reported).
    let out = dir.run_with(
        &["list-keys", "--json"],
        &[("STARK_SESSIONS_PAYMASTER_RELAYERS", "0x1:0x2")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dir.run_with(
        &["list-keys"],
        &[("STARK_SESSIONS_PAYMASTER_RELAYERS", "0x1")],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("address:private_key"));
}

#[test]
fn list_keys_shows_each_days_use_over_a_range() {
    use stark_sessions_abi::Felt;
    use stark_sessions_paymaster::store::Reservation;
    let dir = Workdir::new(true, "");
    dir.ok(&["create-key", "--id", "game", "--daily-budget-fri", "1000"]);
    dir.ok(&["create-key", "--id", "shop", "--daily-budget-fri", "1000"]);
    // 2025-01-01 is UTC day 20 089.
    let store = SqliteStore::open(&dir.0.join("pm.sqlite")).expect("database");
    for (id, key, day, amount) in [
        (1u64, "game", 20_088u64, 5u128),
        (2, "game", 20_089, 7),
        (3, "game", 20_089, 8),
        (4, "shop", 20_090, 9),
        (5, "game", 20_092, 11),
    ] {
        let reserved = store
            .reserve(&Reservation {
                tracking_id: Felt::from(id),
                attempt: 1,
                api_key_id: key.into(),
                token_id: None,
                day,
                amount,
                budget: 1_000,
            })
            .expect("reserve");
        assert!(reserved.is_granted());
    }
    drop(store);
    let listed: Value = serde_json::from_str(&dir.ok(&[
        "list-keys",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-03",
        "--json",
    ]))
    .expect("json");
    let usage = |i: usize| -> Vec<(String, String)> {
        listed[i]["usage"]
            .as_array()
            .expect("usage")
            .iter()
            .map(|u| {
                (
                    u["day"].as_str().expect("day").to_owned(),
                    u["used_fri"].as_str().expect("used").to_owned(),
                )
            })
            .collect()
    };
    let days = |used: [&str; 3]| -> Vec<(String, String)> {
        ["2025-01-01", "2025-01-02", "2025-01-03"]
            .iter()
            .zip(used)
            .map(|(d, u)| (d.to_string(), u.to_string()))
            .collect()
    };
    assert_eq!(listed[0]["id"], "game");
    assert_eq!(usage(0), days(["15", "0", "0"]));
    assert_eq!(listed[0]["used_in_range_fri"], "15");
    assert_eq!(usage(1), days(["0", "9", "0"]));
    let table = dir.ok(&["list-keys", "--from", "2024-12-31", "--to", "2025-01-04"]);
    for line in [
        "2024-12-31  game",
        "2025-01-01  game",
        "2025-01-02  shop",
        "2025-01-04  game",
    ] {
        assert!(table.contains(line), "{line} missing in:\n{table}");
    }
    assert!(
        !table.contains("2025-01-03"),
        "days without use are left out:\n{table}"
    );
    let e = dir.refused(&["list-keys", "--from", "2025-02-30"]);
    assert!(e.contains("2025-02-30 is not a date"), "{e}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
