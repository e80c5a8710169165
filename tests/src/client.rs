//! Client-SDK fixtures: a `SessionClient` over a fixture's devnet and paymaster, and a
//! paymaster double that tampers with what it relays.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;
use stark_sessions_client::{Owner, PaymasterAuth, PaymasterClient, SessionClient, SessionSecret};

use crate::paymaster::PaymasterHarness;
use crate::Fixture;

/// A client of `fixture`'s devnet through `pm`, authenticated with its API key.
pub async fn session_client(fixture: &Fixture, pm: &PaymasterHarness) -> Result<SessionClient> {
    let paymaster = PaymasterClient::new(
        pm.server.url().clone(),
        PaymasterAuth::api_key(pm.api_key.clone()),
    );
    Ok(SessionClient::connect(fixture.devnet.url().clone(), paymaster).await?)
}

/// A fresh devnet fixture (owner key from `owner_secret`), a paymaster serving it, and an
/// SDK client of both.
pub async fn sdk_setup(owner_secret: u64) -> Result<(Fixture, PaymasterHarness, SessionClient)> {
    let fixture = Fixture::new(owner_secret).await.context("fixture")?;
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .context("paymaster")?;
    let client = session_client(&fixture, &pm).await?;
    Ok((fixture, pm, client))
}

/// The fixture's account owner.
pub fn owner(fixture: &Fixture) -> Owner {
    Owner::new(fixture.address(), fixture.account.owner.clone())
}

/// How the double changes a built transaction's typed data.
pub type Tamper = fn(&mut Value);

struct DoubleState {
    upstream: url::Url,
    http: reqwest::Client,
    tamper: Tamper,
    executes: AtomicU64,
}

/// A paymaster double: forwards every request to a real paymaster, but passes the typed data
/// of `paymaster_buildTransaction` through `tamper`, and counts the executions asked of it.
pub struct TamperingPaymaster {
    /// Where it listens.
    pub url: url::Url,
    state: Arc<DoubleState>,
    task: tokio::task::JoinHandle<()>,
}

async fn forward(
    State(state): State<Arc<DoubleState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let method = body["method"].as_str().unwrap_or_default().to_owned();
    if method == "paymaster_executeTransaction" {
        state.executes.fetch_add(1, Ordering::SeqCst);
    }
    let mut request = state.http.post(state.upstream.clone()).json(&body);
    for name in ["x-paymaster-api-key", "authorization"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            request = request.header(name, value);
        }
    }
    let mut reply: Value = match request.send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    if method == "paymaster_buildTransaction" {
        if let Some(typed_data) = reply
            .get_mut("result")
            .and_then(|r| r.get_mut("typed_data"))
        {
            (state.tamper)(typed_data);
        }
    }
    Json(reply)
}

impl TamperingPaymaster {
    /// Starts the double in front of `upstream`.
    pub async fn start(upstream: url::Url, tamper: Tamper) -> Result<Self> {
        let state = Arc::new(DoubleState {
            upstream,
            http: reqwest::Client::new(),
            tamper,
            executes: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::post(forward))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind")?;
        let url = url::Url::parse(&format!("http://{}/", listener.local_addr()?))?;
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Ok(TamperingPaymaster { url, state, task })
    }

    /// `paymaster_executeTransaction` requests that reached the double.
    pub fn executes(&self) -> u64 {
        self.state.executes.load(Ordering::SeqCst)
    }
}

impl Drop for TamperingPaymaster {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the reference SDK encrypts, a key as `0x…` hex, in a CryptoJS-compatible "Salted__"
/// envelope under `passphrase`, written by an independent implementation:
/// `openssl enc -aes-256-cbc -md md5`.
pub fn openssl_legacy_envelope(secret: &SessionSecret, passphrase: &str) -> Result<String> {
    use std::io::Write;
    let plaintext = format!("0x{}", hex::encode(secret.to_bytes().as_ref()));
    let mut child = std::process::Command::new("openssl")
        .args(["enc", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-pass"])
        .arg(format!("pass:{passphrase}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("openssl is not installed")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(plaintext.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "openssl enc failed");
    Ok(String::from_utf8(out.stdout)?)
}
