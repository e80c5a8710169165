//! The paymaster's logs as an operator ships them: JSON lines on stderr, with no key, token or
//! other secret in them, whatever the requests carried.

use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

async fn rpc(url: &str, headers: &[(&str, &str)], method: &str, params: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(url)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .expect("paymaster up")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paymaster_logs_are_json_lines_without_secrets() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stark-sessions"))
        .args(["devnet", "--port", "0", "--paymaster-port", "0", "--json"])
        .env("STARK_SESSIONS_LOG_FORMAT", "json")
        .env("RUST_LOG", "stark_sessions_paymaster=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut out_lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(120), out_lines.next_line())
        .await
        .expect("started in time")
        .expect("read")
        .expect("a line");
    let info: Value = serde_json::from_str(&first).expect("JSON");
    let url = info["paymaster_url"].as_str().expect("url").to_owned();
    let api_key = info["paymaster_api_key"].as_str().expect("key").to_owned();

    let key = [("x-paymaster-api-key", api_key.as_str())];
    let created = rpc(
        &url,
        &key,
        "paymaster_createClientSession",
        json!({ "client_id": "p1" }),
    )
    .await;
    let token = created["result"]["client_session_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let bearer = format!("Bearer {token}");
    let with_token = [("authorization", bearer.as_str())];
    // A build the token may make, one it may not (bad address), and a wrong key.
    let user = info["funded_accounts"][0]["address"].clone();
    let invoke = |user: Value| {
        json!({ "transaction": { "type": "invoke", "invoke": { "user_address": user, "calls": [] } },
                "parameters": { "version": "0x1", "fee_mode": { "mode": "sponsored" } } })
    };
    rpc(
        &url,
        &with_token,
        "paymaster_buildTransaction",
        invoke(user),
    )
    .await;
    rpc(
        &url,
        &with_token,
        "paymaster_buildTransaction",
        invoke(json!("0x1")),
    )
    .await;
    let wrong = format!("{api_key}x");
    let refused = rpc(
        &url,
        &[("x-paymaster-api-key", wrong.as_str())],
        "paymaster_isAvailable",
        json!({}),
    )
    .await;
    assert!(refused.get("result").is_some() || refused.get("error").is_some());
    rpc(
        &url,
        &[("x-paymaster-api-key", wrong.as_str())],
        "paymaster_buildTransaction",
        invoke(json!("0x1")),
    )
    .await;

    let pid = child.id().expect("pid").to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("stopped in time")
        .expect("wait");
    let stopped = out_lines
        .next_line()
        .await
        .expect("read")
        .expect("a last line");
    assert_eq!(
        serde_json::from_str::<Value>(&stopped).expect("JSON"),
        json!({ "stopped": true })
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "refused"),
        "the refusals are logged:\n{stderr}"
    );
    let secret = token.rsplit('_').next().expect("secret part");
    for needle in [api_key.as_str(), wrong.as_str(), token.as_str(), secret] {
        assert!(
            !stderr.contains(needle),
            "a secret reached the logs:\n{stderr}"
        );
    }
}
