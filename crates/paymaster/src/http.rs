//! The HTTP/JSON-RPC surface: `POST /` for the methods, `GET /health`, `GET /metrics`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use stark_sessions_abi::Felt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;
use zeroize::Zeroizing;

use crate::api::{by_name, param};
use crate::auth::Credential;
use crate::error::PaymasterError;
use crate::service::{to_json, Paymaster};

/// Header carrying a backend API key.
pub const API_KEY_HEADER: &str = "x-paymaster-api-key";

/// The credentials in a request's headers (an API key wins over a bearer token).
pub fn credential(headers: &HeaderMap) -> Option<Credential> {
    if let Some(key) = headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(Credential::ApiKey(Zeroizing::new(key.trim().to_owned())));
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Credential::Bearer(Zeroizing::new(t.trim().to_owned())))
}

/// Answers one JSON-RPC request body.
pub async fn handle_body(
    paymaster: &Paymaster,
    credential: Option<Credential>,
    body: &[u8],
) -> Value {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            paymaster.metrics().request("-");
            return failure(
                paymaster,
                Value::Null,
                "-",
                PaymasterError::Parse(e.to_string()),
            );
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = match (
        request.get("jsonrpc").and_then(Value::as_str),
        request.get("method").and_then(Value::as_str),
    ) {
        (Some("2.0"), Some(m)) => m.to_owned(),
        _ => {
            paymaster.metrics().request("-");
            return failure(
                paymaster,
                id,
                "-",
                PaymasterError::InvalidRequest(
                    "expected {\"jsonrpc\":\"2.0\",\"method\":…}".into(),
                ),
            );
        }
    };
    paymaster.metrics().request(&method);
    match dispatch(
        paymaster,
        credential.as_ref(),
        &method,
        request.get("params").cloned(),
    )
    .await
    {
        Ok(result) => {
            tracing::debug!(method, "ok");
            json!({ "jsonrpc": "2.0", "id": id, "result": result })
        }
        Err(e) => failure(paymaster, id, &method, e),
    }
}

fn failure(paymaster: &Paymaster, id: Value, method: &str, e: PaymasterError) -> Value {
    paymaster.metrics().failure(method, e.code());
    tracing::info!(method, code = e.code(), error = %e, "refused");
    json!({ "jsonrpc": "2.0", "id": id, "error": e.to_json() })
}

async fn dispatch(
    paymaster: &Paymaster,
    credential: Option<&Credential>,
    method: &str,
    params: Option<Value>,
) -> Result<Value, PaymasterError> {
    let mut params = by_name(params)?;
    match method {
        "paymaster_isAvailable" => Ok(json!(paymaster.is_available().await)),
        "paymaster_getSupportedTokens" => to_json(&paymaster.supported_tokens()),
        "paymaster_buildTransaction" => {
            let principal = paymaster.authorize(credential)?;
            let transaction = param(&mut params, "transaction")?;
            let parameters = param(&mut params, "parameters")?;
            paymaster
                .build_transaction(&principal, transaction, parameters)
                .await
        }
        "paymaster_executeTransaction" => {
            let principal = paymaster.authorize(credential)?;
            let transaction = param(&mut params, "transaction")?;
            let parameters = param(&mut params, "parameters")?;
            let response = paymaster
                .execute_transaction(&principal, transaction, parameters)
                .await?;
            to_json(&response)
        }
        "paymaster_trackingIdToLatestHash" => {
            let principal = paymaster.authorize(credential)?;
            let id: Felt = param(&mut params, "tracking_id")?;
            paymaster.tracking_id_to_latest_hash(&principal, id).await
        }
        "paymaster_createClientSession" => {
            if let Some(Credential::Bearer(bearer)) = credential {
                if crate::identity::looks_like_jwt(bearer) {
                    let created = paymaster
                        .create_client_session_with_jwt(bearer, params)
                        .await?;
                    return to_json(&created);
                }
            }
            let principal = paymaster.authorize(credential)?;
            let request = serde_json::from_value(Value::Object(params))
                .map_err(|e| PaymasterError::InvalidParams(e.to_string()))?;
            to_json(&paymaster.create_client_session(&principal, request)?)
        }
        "paymaster_revokeClientSession" => {
            let principal = paymaster.authorize(credential)?;
            let id: String = param(&mut params, "id")?;
            Ok(json!(paymaster.revoke_client_session(&principal, &id)?))
        }
        other => Err(PaymasterError::MethodNotFound(other.to_owned())),
    }
}

async fn rpc(State(paymaster): State<Paymaster>, headers: HeaderMap, body: Bytes) -> Json<Value> {
    Json(handle_body(&paymaster, credential(&headers), &body).await)
}

async fn health(State(paymaster): State<Paymaster>) -> impl IntoResponse {
    let health = paymaster.health().await;
    let status = if health.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health.to_json(paymaster.chain_id())))
}

async fn metrics(State(paymaster): State<Paymaster>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        paymaster.metrics_text().await,
    )
}

/// The HTTP router.
pub fn router(paymaster: Paymaster) -> Router {
    Router::new()
        .route("/", post(rpc))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(paymaster)
}

/// A running server; stops when dropped.
#[derive(Debug)]
pub struct PaymasterServer {
    url: Url,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl PaymasterServer {
    /// Binds `addr` (port 0 for an ephemeral port) and serves `paymaster`.
    pub async fn start(paymaster: Paymaster, addr: SocketAddr) -> Result<Self, PaymasterError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| PaymasterError::Unknown(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| PaymasterError::Unknown(e.to_string()))?;
        let url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| PaymasterError::Unknown(e.to_string()))?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(paymaster);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "paymaster server stopped");
            }
        });
        tracing::info!(%url, "paymaster listening");
        Ok(PaymasterServer {
            url,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The JSON-RPC endpoint.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until the task ends (for the command line).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PaymasterServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
