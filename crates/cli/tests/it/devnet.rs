//! `stark-sessions devnet --json`: what a developer needs to know of the local setup.

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_json_names_the_funded_accounts_its_paymaster_relays_from() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stark-sessions"))
        .args(["devnet", "--port", "0", "--paymaster-port", "0", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
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
    let relayers: Vec<&str> = info["paymaster_relayers"]
        .as_array()
        .expect("the relayers are listed")
        .iter()
        .map(|r| r.as_str().expect("address"))
        .collect();
    let funded = info["funded_accounts"].as_array().expect("accounts");
    let marked: Vec<&str> = funded
        .iter()
        .filter(|a| a["paymaster_relayer"] == true)
        .map(|a| a["address"].as_str().expect("address"))
        .collect();
    assert_eq!(relayers.len(), 3, "{info}");
    assert_eq!(
        marked, relayers,
        "the funded accounts that relay are marked"
    );
    assert_eq!(
        funded[0]["paymaster_relayer"], false,
        "account 0 is the developer's"
    );
    child.kill().await.expect("stop the devnet");
}
