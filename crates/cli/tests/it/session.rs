//! `stark-sessions session …` and `stark-sessions devnet` against the embedded devnet and paymaster.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;
use stark_sessions_tests::paymaster::PaymasterHarness;
use stark_sessions_tests::Fixture;

pub(crate) struct Env {
    pub(crate) fixture: Fixture,
    pub(crate) pm: PaymasterHarness,
    pub(crate) store: PathBuf,
    /// The owner's key in plaintext; its directory is the test's own.
    pub(crate) owner_key: PathBuf,
    /// The command's configuration file (absent until `config set`).
    pub(crate) config: PathBuf,
}

impl Env {
    pub(crate) async fn new(owner_secret: u64) -> Env {
        let fixture = Fixture::new(owner_secret).await.expect("fixture");
        let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
            .await
            .expect("paymaster");
        let dir =
            std::env::temp_dir().join(format!("stark-sessions-cli-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let owner_key = dir.join("owner.key");
        std::fs::write(
            &owner_key,
            format!("{:#x}\n", fixture.account.owner.secret_scalar()),
        )
        .expect("key file");
        Env {
            fixture,
            pm,
            store: dir.join("sessions"),
            owner_key,
            config: dir.join("config").join("config.toml"),
        }
    }

    /// Runs the command with the node and paymaster URLs in the environment.
    pub(crate) async fn run(&self, args: &[&str], pin: &str) -> Output {
        let mut command = self.command(args, pin);
        command
            .env("STARK_SESSIONS_RPC_URL", self.fixture.devnet.url().as_str())
            .env(
                "STARK_SESSIONS_PAYMASTER_URL",
                self.pm.server.url().as_str(),
            );
        command.output().await.expect("the binary runs")
    }

    /// Runs the command with no URL in the environment: they come from the configuration
    /// file (or the devnet's defaults).
    pub(crate) async fn run_configured(&self, args: &[&str], pin: &str) -> Output {
        let mut command = self.command(args, pin);
        command.env_remove("STARK_SESSIONS_RPC_URL");
        command.env_remove("STARK_SESSIONS_PAYMASTER_URL");
        command.output().await.expect("the binary runs")
    }

    fn command(&self, args: &[&str], pin: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_stark-sessions"));
        command
            .args(args)
            .env("STARK_SESSIONS_PAYMASTER_API_KEY", &self.pm.api_key)
            .env("STARK_SESSIONS_STORE", &self.store)
            .env("STARK_SESSIONS_CONFIG", &self.config)
            .env("TEST_PIN", pin)
            .env_remove("STARK_SESSIONS_OWNER_KEY")
            .env_remove("STARK_SESSIONS_NETWORK");
        command
    }

    /// `session exec` of one call with the PIN from the environment.
    pub(crate) async fn exec(&self, account: &str, call: &str, pin: &str) -> Output {
        self.run(
            &[
                "session",
                "exec",
                "--account",
                account,
                "--call",
                call,
                "--pin-env",
                "TEST_PIN",
            ],
            pin,
        )
        .await
    }

    /// `session create` of a one-hour, five-call session on the scoreboard's `record_score`,
    /// PIN 482193 from the environment: the stored session's JSON.
    pub(crate) async fn create_game_session(&self, account: &str) -> Value {
        let game = format!("{:#x}", self.fixture.scoreboard);
        json_of(
            &self
                .run(
                    &[
                        "session",
                        "create",
                        "--account",
                        account,
                        "--duration",
                        "3600",
                        "--max-calls",
                        "5",
                        "--allow-entrypoint",
                        "record_score",
                        "--allow-target",
                        &game,
                        "--json",
                        "--pin-env",
                        "TEST_PIN",
                    ],
                    "482193",
                )
                .await,
        )
    }

    pub(crate) fn account(&self) -> String {
        format!("{:#x}", self.fixture.address())
    }
}

pub(crate) fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// A refusal: non-zero exit, one line on stderr containing `says`.
pub(crate) fn refused(out: &Output, says: &str) {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].contains(says), "expected {says:?} in {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_subcommands_drive_a_session_from_creation_to_removal() {
    let env = Env::new(0xc1a1).await;
    let account = env.account();
    let game = format!("{:#x}", env.fixture.scoreboard);
    let owner_key = env.owner_key.to_string_lossy().to_string();
    let pin = ["--pin-env", "TEST_PIN"];

    let created = env.create_game_session(&account).await;
    assert_eq!(created["max_calls"], 5);
    let listed = json_of(&env.run(&["session", "list", "--json"], "").await);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    let registered = json_of(
        &env.run(
            &[
                "session",
                "register",
                "--account",
                &account,
                "--owner-key-file",
                &owner_key,
                "--json",
            ],
            "",
        )
        .await,
    );
    assert!(registered["transaction_hash"].as_str().is_some());

    // The account as it describes itself, with the stored session now active on it.
    let info = json_of(
        &env.run(&["account", "info", "--account", &account, "--json"], "")
            .await,
    );
    let owner_public = env.fixture.account.owner.verifying_key().scalar();
    assert_eq!(info["owner_public_key"], format!("{owner_public:#x}"));
    let class_hash = stark_sessions_abi::class::session_account()
        .expect("class")
        .class_hash;
    assert_eq!(info["class_hash"], format!("{class_hash:#x}"));
    assert_eq!(info["sessions_epoch"], 0);
    assert_eq!(info["sessions"][0]["status"], "active");
    assert_eq!(info["sessions"][0]["remaining_calls"], 5);

    let call = format!("{game}:record_score:5");
    let executed = json_of(
        &env.run(
            &[
                "session",
                "exec",
                "--account",
                &account,
                "--call",
                &call,
                "--json",
                pin[0],
                pin[1],
            ],
            "482193",
        )
        .await,
    );
    assert!(executed["transaction_hash"].as_str().is_some());
    assert_eq!(env.fixture.plays().await.expect("plays"), 1);

    let status = json_of(
        &env.run(&["session", "status", "--account", &account, "--json"], "")
            .await,
    );
    assert_eq!(status["is_active"], true);
    assert_eq!(status["remaining_calls"], 4);
    let text = env
        .run(&["session", "status", "--account", &account], "")
        .await;
    assert!(String::from_utf8_lossy(&text.stdout).contains("remaining_calls  4 of 5"));

    // Wrong PIN, a denied selector: one line each, nothing sent.
    refused(
        &env.exec(&account, &call, "0000").await,
        "SESSION_DECRYPTION_FAILED",
    );
    let denied = format!("{game}:get_plays");
    refused(
        &env.exec(&account, &denied, "482193").await,
        "SESSION_ENTRYPOINT_NOT_ALLOWED",
    );

    json_of(
        &env.run(
            &[
                "session",
                "revoke",
                "--account",
                &account,
                "--owner-key-file",
                &owner_key,
                "--json",
            ],
            "",
        )
        .await,
    );
    refused(
        &env.exec(&account, &call, "482193").await,
        "SESSION_REVOKED",
    );
    assert_eq!(env.fixture.plays().await.expect("plays"), 1);

    json_of(
        &env.run(&["session", "remove", "--account", &account, "--json"], "")
            .await,
    );
    refused(
        &env.run(&["session", "status", "--account", &account], "")
            .await,
        "no stored session for account",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_line_saying_what_is_wrong() {
    let env = Env::new(0xc1a2).await;
    let pin = ["--pin-env", "TEST_PIN"];
    // Unknown session.
    refused(
        &env.run(
            &[
                "session",
                "exec",
                "--account",
                "0x123",
                "--call",
                "0x1:play",
                pin[0],
                pin[1],
            ],
            "482193",
        )
        .await,
        "no stored session for account 0x123",
    );
    // Unreachable node.
    refused(
        &env.run(
            &[
                "session",
                "status",
                "--account",
                "0x123",
                "--session-key",
                "0x5",
                "--rpc-url",
                "http://127.0.0.1:9/rpc",
            ],
            "",
        )
        .await,
        "cannot reach the node at http://127.0.0.1:9/rpc",
    );
    // Malformed address, selector and calldata: clap's error, exit code 2, first line says it.
    for (args, says) in [
        (
            vec!["session", "status", "--account", "0xzz"],
            "malformed address `0xzz`",
        ),
        (
            vec![
                "session",
                "exec",
                "--account",
                "0x1",
                "--call",
                "0x1:bad-name",
            ],
            "malformed selector `bad-name`",
        ),
        (
            vec![
                "session",
                "exec",
                "--account",
                "0x1",
                "--call",
                "0x1:play:1,x",
            ],
            "malformed calldata `x`",
        ),
        (
            vec![
                "session",
                "create",
                "--account",
                "0x1",
                "--allow-entrypoint",
                "no spaces",
            ],
            "malformed selector",
        ),
    ] {
        let out = env.run(&args, "").await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines().next().unwrap_or_default().contains(says),
            "{args:?}: {err}"
        );
    }
    // A missing owner key says where to put it.
    refused(
        &env.run(&["session", "revoke", "--account", "0x123", "--all"], "")
            .await,
        "no owner key",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_command_serves_a_chain_and_a_paymaster_and_stops_on_ctrl_c() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stark-sessions"))
        .args(["devnet", "--port", "0", "--paymaster-port", "0", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(120), lines.next_line())
        .await
        .expect("started in time")
        .expect("read")
        .expect("a line");
    let info: Value = serde_json::from_str(&first).expect("JSON");
    assert!(info["paymaster_api_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("sspk_")));
    assert_eq!(info["funded_accounts"].as_array().map(Vec::len), Some(10));
    let reply: Value = reqwest::Client::new()
        .post(info["paymaster_url"].as_str().expect("url"))
        .json(&serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "paymaster_isAvailable" }))
        .send()
        .await
        .expect("paymaster up")
        .json()
        .await
        .expect("json");
    assert_eq!(reply["result"], true);
    let pid = child.id().expect("pid").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("stopped in time")
        .expect("wait");
    assert!(status.success(), "clean stop");
}
