//! starknet.js as a second opinion on SNIP-12 typed data: runs
//! `tests/interop/typed-data-hash.mjs` (starknet.js as `tests/interop/package-lock.json` pins
//! it, installed by `scripts/starknetjs.sh`) under Node.js.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use starknet::core::types::Felt;

/// How long one run of the script may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// starknet.js's `typedData.getMessageHash(typed_data, account)`, after its
/// `validateTypedData`; an error carrying starknet.js's message when it refuses the typed data.
pub fn starknetjs_message_hash(typed_data: &Value, account: Felt) -> Result<Felt> {
    let out = run(&json!({ "typedData": typed_data, "account": format!("{account:#x}") }))?;
    Felt::from_hex(&out).with_context(|| format!("starknet.js printed {out:?}, not a hash"))
}

/// starknet.js's `typedData.encodeType(types, type_name, revision)` for the revision the typed
/// data declares: the string whose `starknet_keccak` is the type hash.
pub fn starknetjs_encode_type(typed_data: &Value, type_name: &str) -> Result<String> {
    run(&json!({ "typedData": typed_data, "account": "0x0", "encodeType": type_name }))
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Runs the script on `input`; its trimmed stdout, or an error with its stderr.
fn run(input: &Value) -> Result<String> {
    let dir = interop_dir();
    if !dir.join("node_modules/starknet/package.json").is_file() {
        bail!(
            "starknet.js is not installed in {}: run scripts/starknetjs.sh",
            dir.display()
        );
    }
    let mut child = Command::new("node")
        .arg(dir.join("typed-data-hash.mjs"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run node (scripts/starknetjs.sh needs Node.js and npm)")?;
    let stdin = child.stdin.take().context("node's stdin")?;
    let body = serde_json::to_vec(input)?;
    let writer = std::thread::spawn(move || {
        let mut stdin = stdin;
        stdin.write_all(&body)
    });
    let stdout = drain(child.stdout.take().context("node's stdout")?);
    let stderr = drain(child.stderr.take().context("node's stderr")?);
    let status = wait_until(&mut child, Instant::now() + TIMEOUT)?;
    let stdout = joined(stdout)?;
    let stderr = joined(stderr)?;
    // A script that exits early (refused input) may close stdin before reading all of it.
    let _ = writer.join();
    let Some(status) = status else {
        bail!("starknet.js took more than {TIMEOUT:?}; stderr: {stderr}");
    };
    if !status.success() {
        bail!(
            "starknet.js refused the typed data ({status}): {}",
            stderr.trim()
        );
    }
    Ok(stdout.trim().to_owned())
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<std::io::Result<String>> {
    std::thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).map(|_| text)
    })
}

fn joined(reader: JoinHandle<std::io::Result<String>>) -> Result<String> {
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("a pipe reader panicked"))?
        .context("reading node's output")
}

/// The exit status, or `None` (after killing it) when `deadline` passes first.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<std::process::ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
