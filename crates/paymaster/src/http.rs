//! The HTTP/JSON-RPC surface: `POST /` for the methods, `GET /health`, `GET /metrics` (on
//! their own listener with `ops_listen`, behind a bearer token with `ops_token`).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
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
    // Whatever produced the error, the node's URL (a provider's key) does not leave.
    let node = &paymaster.inner.config.rpc_url;
    let shown = node.scrub(&e.to_string());
    tracing::info!(method, code = e.code(), error = %shown, "refused");
    let mut error = e.to_json();
    scrub_strings(&mut error, node);
    json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// Every string in `value` scrubbed of the node's URL.
fn scrub_strings(value: &mut Value, node: &crate::config::NodeUrl) {
    match value {
        Value::String(text) => *text = node.scrub(text),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_strings(v, node)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub_strings(v, node)),
        _ => {}
    }
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

/// Whether a request to `/health` or `/metrics` may be answered: always without an
/// `ops_token`, else only with `Authorization: Bearer <ops_token>` (compared in constant time).
fn ops_allowed(paymaster: &Paymaster, headers: &HeaderMap) -> bool {
    let Some(token) = &paymaster.inner.config.ops_token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|presented| token.matches(presented.trim()))
}

fn ops_refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "send Authorization: Bearer <ops_token>\n",
    )
        .into_response()
}

async fn health(State(paymaster): State<Paymaster>, headers: HeaderMap) -> Response {
    if !ops_allowed(&paymaster, &headers) {
        return ops_refused();
    }
    let health = paymaster.health().await;
    let status = if health.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health.to_json(paymaster.chain_id()))).into_response()
}

async fn metrics(State(paymaster): State<Paymaster>, headers: HeaderMap) -> Response {
    if !ops_allowed(&paymaster, &headers) {
        return ops_refused();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        paymaster.metrics_text().await,
    )
        .into_response()
}

/// `/health` and `/metrics`.
fn ops_routes() -> Router<Paymaster> {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
}

/// The HTTP router: the JSON-RPC methods, and `/health` and `/metrics` unless they have a
/// listener of their own (`ops_listen`).
pub fn router(paymaster: Paymaster) -> Router {
    let rpc = Router::new().route("/", post(rpc));
    let rpc = if paymaster.inner.config.ops_listen.is_some() {
        rpc
    } else {
        rpc.merge(ops_routes())
    };
    rpc.with_state(paymaster)
}

/// One listener's server task.
#[derive(Debug)]
struct Listening {
    url: Url,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Listening {
    /// Binds `addr` and serves `app` there.
    async fn start(addr: SocketAddr, app: Router, what: &str) -> Result<Self, PaymasterError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| PaymasterError::Unknown(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| PaymasterError::Unknown(e.to_string()))?;
        let url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| PaymasterError::Unknown(e.to_string()))?;
        let (tx, rx) = oneshot::channel::<()>();
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
        tracing::info!(%url, what, "paymaster listening");
        Ok(Listening {
            url,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    fn signal(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    async fn stop(&mut self) {
        self.signal();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// A running server — the JSON-RPC listener, and the operations listener when `ops_listen`
/// is configured; stops when dropped.
#[derive(Debug)]
pub struct PaymasterServer {
    main: Listening,
    ops: Option<Listening>,
}

impl PaymasterServer {
    /// Binds `addr` (port 0 for an ephemeral port) and serves `paymaster`, and binds its
    /// `ops_listen` for `/health` and `/metrics` if it has one.
    pub async fn start(paymaster: Paymaster, addr: SocketAddr) -> Result<Self, PaymasterError> {
        let ops = match paymaster.inner.config.ops_listen {
            Some(ops_addr) => {
                let app = ops_routes().with_state(paymaster.clone());
                Some(Listening::start(ops_addr, app, "health and metrics").await?)
            }
            None => None,
        };
        let main = Listening::start(addr, router(paymaster), "json-rpc").await?;
        Ok(PaymasterServer { main, ops })
    }

    /// The JSON-RPC endpoint.
    pub fn url(&self) -> &Url {
        &self.main.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.main.addr
    }

    /// Where `/health` and `/metrics` are served, when they have a listener of their own.
    pub fn ops_url(&self) -> Option<&Url> {
        self.ops.as_ref().map(|o| &o.url)
    }

    /// Stops accepting requests and waits for the server to finish.
    pub async fn stop(mut self) {
        self.main.stop().await;
        if let Some(ops) = &mut self.ops {
            ops.stop().await;
        }
    }

    /// Serves until the task ends (for the command line).
    pub async fn wait(mut self) {
        if let Some(task) = self.main.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PaymasterServer {
    fn drop(&mut self) {
        self.main.signal();
        if let Some(ops) = &mut self.ops {
            ops.signal();
        }
    }
}
