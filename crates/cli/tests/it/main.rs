//! The `stark-sessions` binary, run as a user runs it.

mod account;
mod devnet;
mod grant;
mod keys;
mod logs;
mod owner;
mod session;

use std::process::Command;

fn stark_sessions(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stark-sessions"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn demo_json_reports_every_step() {
    let out = stark_sessions(&["demo", "--json", "--calls", "3"]);
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["ok"], true);
    assert_eq!(report["calls"], 3);
    assert_eq!(report["session"]["max_calls"], 5);
    assert_eq!(report["session_data"]["is_active"], true);
    assert_eq!(report["session_data"]["remaining_calls"], 2);
    assert_eq!(
        report["session_data"]["allowed_entrypoints"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        report["refusals"],
        serde_json::json!({
            "denied_selector": "SESSION_ENTRYPOINT_NOT_ALLOWED",
            "spending_limit": "SPENDING_LIMIT_EXCEEDED",
            "revoked": "SESSION_REVOKED",
        })
    );
    let hashes = report["transactions"]["session_calls"]
        .as_array()
        .expect("hashes");
    assert_eq!(hashes.len(), 3);
    assert!(hashes
        .iter()
        .all(|h| h.as_str().is_some_and(|h| h.starts_with("0x"))));
    let gas = &report["l2_gas"];
    assert!(gas["session_call_median"].as_u64().unwrap_or_default() > 0);
    assert!(gas["relayed_baseline"].as_u64().unwrap_or_default() > 0);
    assert!(gas["ratio"].as_f64().unwrap_or_default() > 0.0);
}

#[test]
fn demo_prints_the_table_and_the_summary() {
    let out = stark_sessions(&["demo", "--calls", "2"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "get_session_data after 2 calls",
        "remaining_calls     │ 2 of 4",
        "SESSION_ENTRYPOINT_NOT_ALLOWED",
        "SPENDING_LIMIT_EXCEEDED",
        "SESSION_REVOKED",
        "per session call (median, relayed)",
        "wall time",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn bad_demo_input_is_one_clear_line_and_a_failure() {
    let out = stark_sessions(&["demo", "--calls", "0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--calls"), "{err}");
}

#[test]
fn help_names_every_command() {
    let out = stark_sessions(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["demo", "devnet", "session", "owner", "account", "paymaster"] {
        assert!(text.contains(command), "--help lacks {command}");
    }
    for args in [
        &["demo", "--help"][..],
        &["paymaster", "--help"],
        &["paymaster", "serve", "--help"],
        &["paymaster", "create-key", "--help"],
        &["devnet", "--help"],
        &["session", "--help"],
        &["session", "create", "--help"],
        &["session", "register", "--help"],
        &["session", "exec", "--help"],
        &["session", "status", "--help"],
        &["session", "list", "--help"],
        &["session", "revoke", "--help"],
        &["session", "remove", "--help"],
        &["session", "import", "--help"],
        &["owner", "--help"],
        &["owner", "new", "--help"],
        &["owner", "import", "--help"],
        &["owner", "export-public", "--help"],
        &["account", "--help"],
        &["account", "address", "--help"],
        &["account", "info", "--help"],
    ] {
        let out = stark_sessions(args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}
