//! A paymaster in front of the fixture's devnet, and a raw JSON-RPC client for it (raw on
//! purpose: the tests speak the wire format that SNIP-29 clients send).

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use stark_sessions_abi::typed_data::parse_outside_execution;
use stark_sessions_abi::{snip12, Felt, OutsideExecution};
use stark_sessions_paymaster::{Paymaster, PaymasterConfig, PaymasterServer, RelayerConfig};
use starknet::core::types::Call;
use starknet::signers::SigningKey;

use crate::Fixture;

/// Predeployed accounts the paymaster relays from (0 deploys, 1 relays directly in tests).
pub const RELAYER_INDICES: [usize; 3] = [2, 3, 4];

/// A JSON-RPC error as the client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: i64,
    /// The message.
    pub message: String,
    /// The data, if any.
    pub data: Value,
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials.
    None,
    /// `x-paymaster-api-key`.
    ApiKey(String),
    /// `Authorization: Bearer`.
    Bearer(String),
}

/// A raw SNIP-29 client.
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    url: url::Url,
}

impl RpcClient {
    /// A client of the paymaster at `url`.
    pub fn new(url: url::Url) -> Self {
        RpcClient {
            http: reqwest::Client::new(),
            url,
        }
    }

    /// Posts a whole JSON-RPC body and returns the response body.
    pub async fn raw(&self, body: &Value, auth: &Auth) -> Result<Value> {
        let mut request = self.http.post(self.url.clone()).json(body);
        request = match auth {
            Auth::None => request,
            Auth::ApiKey(k) => request.header("x-paymaster-api-key", k),
            Auth::Bearer(t) => request.bearer_auth(t),
        };
        let response = request.send().await.context("paymaster unreachable")?;
        response.json().await.context("paymaster answered non-JSON")
    }

    /// Calls `method` with by-name `params`.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        auth: &Auth,
    ) -> Result<Result<Value, RpcError>> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = self.raw(&body, auth).await?;
        if let Some(error) = response.get("error") {
            return Ok(Err(RpcError {
                code: error["code"].as_i64().unwrap_or_default(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
                data: error.get("data").cloned().unwrap_or(Value::Null),
            }));
        }
        response
            .get("result")
            .cloned()
            .map(Ok)
            .ok_or_else(|| anyhow!("neither result nor error: {response}"))
    }
}

/// The SNIP-29 wire forms, as the SDK writes them.
pub use stark_sessions_client::paymaster::{sponsored, wire_calls};

/// A running paymaster over a fixture's devnet.
pub struct PaymasterHarness {
    /// The service (for its store and counters).
    pub paymaster: Paymaster,
    /// The HTTP server.
    pub server: PaymasterServer,
    /// A client of it.
    pub client: RpcClient,
    /// An API key with a large budget and rate.
    pub api_key: String,
    /// The relayers' addresses.
    pub relayers: Vec<Felt>,
}

impl PaymasterHarness {
    /// The configuration for `fixture`'s devnet with the three relayers.
    pub fn config(fixture: &Fixture, database: Option<PathBuf>) -> PaymasterConfig {
        let accounts = fixture.devnet.accounts();
        let relayers = RELAYER_INDICES
            .iter()
            .map(|&i| RelayerConfig {
                address: accounts[i].address,
                private_key: accounts[i].private_key,
            })
            .collect();
        let mut config = PaymasterConfig::new(fixture.devnet.url().clone(), relayers);
        config.listen = "127.0.0.1:0".parse().expect("literal address");
        config.database = database;
        config
    }

    /// Starts a paymaster with `config` and creates a generous API key.
    pub async fn start(config: PaymasterConfig) -> Result<Self> {
        let listen = config.listen;
        let paymaster = Paymaster::new(config).await?;
        let api_key = paymaster
            .create_api_key("backend", u128::MAX, 100_000, None)?
            .to_string();
        Self::serve(paymaster, listen, api_key).await
    }

    /// Serves an existing paymaster.
    pub async fn serve(
        paymaster: Paymaster,
        listen: std::net::SocketAddr,
        api_key: String,
    ) -> Result<Self> {
        let relayers = paymaster.relayers();
        let server = PaymasterServer::start(paymaster.clone(), listen).await?;
        let client = RpcClient::new(server.url().clone());
        Ok(PaymasterHarness {
            paymaster,
            server,
            client,
            api_key,
            relayers,
        })
    }

    /// The API key as credentials.
    pub fn key(&self) -> Auth {
        Auth::ApiKey(self.api_key.clone())
    }

    /// `paymaster_buildTransaction` of an invoke of `calls` on `user`.
    pub async fn build(
        &self,
        user: Felt,
        calls: &[Call],
        parameters: Value,
        auth: &Auth,
    ) -> Result<Result<Value, RpcError>> {
        self.client
            .call(
                "paymaster_buildTransaction",
                json!({
                    "transaction": { "type": "invoke", "invoke": {
                        "user_address": format!("{user:#x}"), "calls": wire_calls(calls) } },
                    "parameters": parameters,
                }),
                auth,
            )
            .await
    }

    /// `paymaster_executeTransaction` of signed typed data.
    pub async fn execute(
        &self,
        user: Felt,
        typed_data: &Value,
        signature: &[Felt],
        parameters: Value,
        auth: &Auth,
    ) -> Result<Result<Value, RpcError>> {
        self.client
            .call(
                "paymaster_executeTransaction",
                json!({
                    "transaction": { "type": "invoke", "invoke": {
                        "user_address": format!("{user:#x}"),
                        "typed_data": typed_data,
                        "signature": signature.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
                    } },
                    "parameters": parameters,
                }),
                auth,
            )
            .await
    }
}

impl PaymasterHarness {
    /// A session-signed, sponsored execution of `calls` on the fixture's account: build, sign
    /// the returned typed data with the session key, execute.
    pub async fn sponsor(
        &self,
        fixture: &Fixture,
        session: &crate::TestSession,
        calls: &[Call],
        auth: &Auth,
    ) -> Result<Result<Value, RpcError>> {
        let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
        let built = match self.build(user, calls, sponsored(), auth).await? {
            Ok(built) => built,
            Err(e) => return Ok(Err(e)),
        };
        let signature = session_sign_typed(session, &built["typed_data"], user, chain)?;
        self.execute(user, &built["typed_data"], &signature, sponsored(), auth)
            .await
    }
}

impl PaymasterHarness {
    /// [`Self::sponsor`] with the API key, then waits for the receipt; any refusal is an error.
    pub async fn sponsor_and_wait(
        &self,
        fixture: &Fixture,
        session: &crate::TestSession,
        calls: &[Call],
    ) -> Result<Felt> {
        let sent = self
            .sponsor(fixture, session, calls, &self.key())
            .await?
            .map_err(|e| anyhow!("paymaster refused: {e:?}"))?;
        let hash = felt(&sent["transaction_hash"])?;
        fixture.devnet.receipt(hash).await?;
        Ok(hash)
    }
}

/// The outside execution in typed data, read the way a careful client reads it.
pub fn outside_of(typed_data: &Value, chain_id: Felt) -> Result<OutsideExecution> {
    Ok(parse_outside_execution(typed_data, chain_id)?)
}

/// `[r, s]` of `key` over typed data for `account`.
pub fn sign_typed(
    key: &SigningKey,
    typed_data: &Value,
    account: Felt,
    chain_id: Felt,
) -> Result<Vec<Felt>> {
    let outside = outside_of(typed_data, chain_id)?;
    let sig = key.sign(&snip12::outside_execution_hash(&outside, account, chain_id))?;
    Ok(vec![sig.r, sig.s])
}

/// `[session_pubkey, r, s, registration]` over typed data for `account`.
pub fn session_sign_typed(
    session: &crate::TestSession,
    typed_data: &Value,
    account: Felt,
    chain_id: Felt,
) -> Result<Vec<Felt>> {
    let outside = outside_of(typed_data, chain_id)?;
    session.sign(snip12::outside_execution_hash(&outside, account, chain_id))
}

/// A felt from a JSON hex string.
pub fn felt(v: &Value) -> Result<Felt> {
    v.as_str()
        .and_then(|s| Felt::from_hex(s).ok())
        .ok_or_else(|| anyhow!("not a hex felt: {v}"))
}
