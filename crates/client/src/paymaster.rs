//! A small SNIP-29 JSON-RPC client (by-name params), for this project's paymaster or any other.

use std::time::Duration;

use serde_json::{json, Value};
use stark_sessions_abi::typed_data::{felt_value, hex};
use stark_sessions_abi::{Call, Felt};
use url::Url;
use zeroize::Zeroizing;

use crate::counterfactual::Deployment;
use crate::error::SessionError;

pub use crate::error::RESEND_CODE;

/// How long one request to the paymaster may take. Above the longest `executeTransaction`
/// waits for its transaction to reach the node before answering 163 (this project's paymaster:
/// `execute_timeout_secs`, 60 s by default), so that the client hears that answer rather than
/// timing out first.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// How the client proves it may use the paymaster.
#[derive(Clone, Default)]
pub enum PaymasterAuth {
    /// No credential (public methods only, or an open paymaster).
    #[default]
    None,
    /// A backend's permanent API key, sent as `x-paymaster-api-key`. Never give it to a
    /// frontend or game client: give them a client session token.
    ApiKey(Zeroizing<String>),
    /// A short-lived client session token, sent as `Authorization: Bearer …`.
    ClientSessionToken(Zeroizing<String>),
}

impl std::fmt::Debug for PaymasterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PaymasterAuth::None => "None",
            PaymasterAuth::ApiKey(_) => "ApiKey(<redacted>)",
            PaymasterAuth::ClientSessionToken(_) => "ClientSessionToken(<redacted>)",
        })
    }
}

impl PaymasterAuth {
    /// An API key credential.
    pub fn api_key(key: impl Into<String>) -> Self {
        PaymasterAuth::ApiKey(Zeroizing::new(key.into()))
    }

    /// A client session token credential.
    pub fn client_session_token(token: impl Into<String>) -> Self {
        PaymasterAuth::ClientSessionToken(Zeroizing::new(token.into()))
    }
}

/// Limits of a client session token's own, set when it is minted (`None`: only the key's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenLimits {
    /// Requests per minute through the token (at most the key's).
    pub requests_per_minute: Option<u32>,
    /// Sponsored fees through the token in all, in FRI (at most the key's daily budget).
    pub max_fee_fri: Option<u128>,
    /// Executions sponsored through the token in all.
    pub max_executions: Option<u64>,
}

/// A client session token issued by a paymaster.
#[derive(Clone)]
pub struct ClientSessionToken {
    /// Its id, to revoke it.
    pub id: String,
    /// The bearer token.
    pub token: Zeroizing<String>,
    /// Unix seconds after which the paymaster refuses it.
    pub expires_at: u64,
}

impl std::fmt::Debug for ClientSessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSessionToken")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl ClientSessionToken {
    /// The credential to hand to a [`PaymasterClient`].
    pub fn auth(&self) -> PaymasterAuth {
        PaymasterAuth::ClientSessionToken(self.token.clone())
    }
}

/// What `paymaster_executeTransaction` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executed {
    /// The transaction sent.
    pub transaction_hash: Felt,
    /// Follows it through resubmissions.
    pub tracking_id: Felt,
}

/// A SNIP-29 paymaster client.
#[derive(Debug, Clone)]
pub struct PaymasterClient {
    http: reqwest::Client,
    url: Url,
    auth: PaymasterAuth,
}

/// The SNIP-29 `transaction` object of an invoke, with its deployment when there is one.
fn transaction(invoke: Value, deployment: Option<&Deployment>) -> Value {
    match deployment {
        None => json!({ "type": "invoke", "invoke": invoke }),
        Some(d) => {
            json!({ "type": "deploy_and_invoke", "deployment": d.to_wire(), "invoke": invoke })
        }
    }
}

/// The transaction hash and tracking id of an `executeTransaction` result.
fn executed(result: &Value) -> Result<Executed, SessionError> {
    let felt = |name: &str| {
        result.get(name).and_then(felt_value).ok_or_else(|| {
            SessionError::PaymasterTransport(format!(
                "paymaster_executeTransaction: no {name} in the result"
            ))
        })
    };
    Ok(Executed {
        transaction_hash: felt("transaction_hash")?,
        tracking_id: felt("tracking_id")?,
    })
}

/// SNIP-29 execution parameters of sponsored mode.
pub fn sponsored() -> Value {
    json!({ "version": "0x1", "fee_mode": { "mode": "sponsored" } })
}

/// The `calls` array of a SNIP-29 invoke.
pub fn wire_calls(calls: &[Call]) -> Value {
    calls
        .iter()
        .map(|c| {
            json!({
                "to": hex(c.to),
                "selector": hex(c.selector),
                "calldata": c.calldata.iter().copied().map(hex).collect::<Vec<_>>(),
            })
        })
        .collect()
}

impl PaymasterClient {
    /// A client of the paymaster at `url`.
    pub fn new(url: Url, auth: PaymasterAuth) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        PaymasterClient { http, url, auth }
    }

    /// The same paymaster with another credential.
    pub fn with_auth(&self, auth: PaymasterAuth) -> Self {
        PaymasterClient {
            auth,
            ..self.clone()
        }
    }

    /// The paymaster's URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Calls `method` with by-name `params`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, SessionError> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let mut request = self.http.post(self.url.clone()).json(&body);
        request = match &self.auth {
            PaymasterAuth::None => request,
            PaymasterAuth::ApiKey(key) => request.header("x-paymaster-api-key", key.as_str()),
            PaymasterAuth::ClientSessionToken(token) => request.bearer_auth(token.as_str()),
        };
        // reqwest's errors name the URL, never our headers.
        let response = request
            .send()
            .await
            .map_err(|e| SessionError::PaymasterTransport(format!("{method}: {e}")))?;
        let status = response.status();
        let reply: Value = response.json().await.map_err(|e| {
            SessionError::PaymasterTransport(format!("{method}: HTTP {status}, not JSON ({e})"))
        })?;
        if let Some(error) = reply.get("error") {
            return Err(SessionError::Paymaster {
                code: error
                    .get("code")
                    .and_then(Value::as_i64)
                    .unwrap_or_default(),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                data: error.get("data").cloned(),
            });
        }
        reply.get("result").cloned().ok_or_else(|| {
            SessionError::PaymasterTransport(format!("{method}: neither result nor error"))
        })
    }

    /// `paymaster_isAvailable`.
    pub async fn is_available(&self) -> Result<bool, SessionError> {
        Ok(self.call("paymaster_isAvailable", json!({})).await? == json!(true))
    }

    /// `paymaster_buildTransaction` of a sponsored invoke of `calls` by `user`, in the
    /// paymaster's default time window: the whole result (`typed_data`, `fee`, …), unchecked.
    pub async fn build_invoke(&self, user: Felt, calls: &[Call]) -> Result<Value, SessionError> {
        self.build_invoke_within(user, calls, None).await
    }

    /// [`Self::build_invoke`] asking for SNIP-29 `time_bounds`
    /// `(execute_after, execute_before)`, in block-time seconds.
    pub async fn build_invoke_within(
        &self,
        user: Felt,
        calls: &[Call],
        time_bounds: Option<(u64, u64)>,
    ) -> Result<Value, SessionError> {
        self.build_transaction(user, calls, time_bounds, None).await
    }

    /// `paymaster_buildTransaction` of an invoke — or, with `deployment`, a SNIP-29
    /// `deploy_and_invoke` that first deploys `user` — within `time_bounds`.
    pub async fn build_transaction(
        &self,
        user: Felt,
        calls: &[Call],
        time_bounds: Option<(u64, u64)>,
        deployment: Option<&Deployment>,
    ) -> Result<Value, SessionError> {
        let mut parameters = sponsored();
        if let Some((execute_after, execute_before)) = time_bounds {
            parameters["time_bounds"] =
                json!({ "execute_after": execute_after, "execute_before": execute_before });
        }
        let invoke = json!({ "user_address": hex(user), "calls": wire_calls(calls) });
        self.call(
            "paymaster_buildTransaction",
            json!({ "transaction": transaction(invoke, deployment), "parameters": parameters }),
        )
        .await
    }

    /// `paymaster_executeTransaction` of signed typed data.
    pub async fn execute_invoke(
        &self,
        user: Felt,
        typed_data: &Value,
        signature: &[Felt],
    ) -> Result<Executed, SessionError> {
        self.execute_transaction(user, typed_data, signature, None)
            .await
    }

    /// `paymaster_executeTransaction` of signed typed data — with `deployment`, a
    /// `deploy_and_invoke` that first deploys `user`.
    pub async fn execute_transaction(
        &self,
        user: Felt,
        typed_data: &Value,
        signature: &[Felt],
        deployment: Option<&Deployment>,
    ) -> Result<Executed, SessionError> {
        let invoke = json!({
            "user_address": hex(user),
            "typed_data": typed_data,
            "signature": signature.iter().copied().map(hex).collect::<Vec<_>>(),
        });
        let result = self
            .call(
                "paymaster_executeTransaction",
                json!({ "transaction": transaction(invoke, deployment), "parameters": sponsored() }),
            )
            .await?;
        executed(&result)
    }

    /// `paymaster_executeTransaction` of a sponsored deployment alone (SNIP-29 `deploy`).
    pub async fn execute_deploy(&self, deployment: &Deployment) -> Result<Executed, SessionError> {
        let result = self
            .call(
                "paymaster_executeTransaction",
                json!({
                    "transaction": { "type": "deploy", "deployment": deployment.to_wire() },
                    "parameters": sponsored(),
                }),
            )
            .await?;
        executed(&result)
    }

    /// `paymaster_createClientSession` (needs an API key): a token for one client, optionally
    /// limited to some user accounts, living `ttl` (the paymaster's default if `None`).
    pub async fn create_client_session(
        &self,
        client_id: &str,
        user_addresses: &[Felt],
        ttl: Option<Duration>,
    ) -> Result<ClientSessionToken, SessionError> {
        self.create_limited_client_session(client_id, user_addresses, ttl, &TokenLimits::default())
            .await
    }

    /// [`Self::create_client_session`] with limits of the token's own, within its API key's
    /// (the paymaster refuses limits above the key's).
    pub async fn create_limited_client_session(
        &self,
        client_id: &str,
        user_addresses: &[Felt],
        ttl: Option<Duration>,
        limits: &TokenLimits,
    ) -> Result<ClientSessionToken, SessionError> {
        let mut params = json!({ "client_id": client_id });
        if let Some(rpm) = limits.requests_per_minute {
            params["requests_per_minute"] = json!(rpm);
        }
        if let Some(fee) = limits.max_fee_fri {
            params["max_fee_fri"] = json!(fee.to_string());
        }
        if let Some(executions) = limits.max_executions {
            params["max_executions"] = json!(executions);
        }
        if !user_addresses.is_empty() {
            params["user_addresses"] = user_addresses.iter().copied().map(hex).collect();
        }
        if let Some(ttl) = ttl {
            params["ttl_seconds"] = json!(ttl.as_secs());
        }
        let result = self.call("paymaster_createClientSession", params).await?;
        let text = |name: &str| {
            result
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    SessionError::PaymasterTransport(format!(
                        "paymaster_createClientSession: no {name} in the result"
                    ))
                })
        };
        Ok(ClientSessionToken {
            id: text("id")?,
            token: Zeroizing::new(text("client_session_token")?),
            expires_at: result
                .get("expires_at")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
        })
    }

    /// `paymaster_revokeClientSession` (needs the API key that created it); false if there was
    /// no such token.
    pub async fn revoke_client_session(&self, id: &str) -> Result<bool, SessionError> {
        Ok(self
            .call("paymaster_revokeClientSession", json!({ "id": id }))
            .await?
            == json!(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print() {
        let key = PaymasterAuth::api_key("sspk_secret");
        let token = PaymasterAuth::client_session_token("sscs_a_b");
        assert!(!format!("{key:?}{token:?}").contains("secret"));
        assert!(!format!("{token:?}").contains("sscs"));
    }

    #[tokio::test]
    async fn a_dead_paymaster_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url =
            Url::parse(&format!("http://{}", listener.local_addr().expect("addr"))).expect("url");
        drop(listener);
        let client = PaymasterClient::new(url, PaymasterAuth::api_key("sspk_x"));
        let e = client.is_available().await.expect_err("dead");
        assert_eq!(e.code(), "PAYMASTER_UNREACHABLE");
        assert!(!e.to_string().contains("sspk_x"));
    }
}
