//! Starting (or connecting to) a devnet, and its `devnet_*` RPC methods.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use starknet::core::types::{BlockId, BlockTag, Felt, MaybePreConfirmedBlockWithTxHashes};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider};
use starknet_devnet_core::starknet::starknet_config::StarknetConfig;
use starknet_devnet_core::starknet::Starknet;
use starknet_devnet_server::api::{Api, JsonRpcHandler};
use starknet_devnet_server::server::serve_http_json_rpc;
use starknet_devnet_server::ServerConfig;
use tokio::task::JoinHandle;
use url::Url;

use crate::DevnetError;

/// Environment variable that points the helpers at an external devnet instead of starting one.
pub const NODE_URL_ENV: &str = "STARK_SESSIONS_NODE_URL";

/// Class hash of the Argent account class the devnet predeclares with
/// [`DevnetOptions::predeclare_argent`] (starknet-devnet's own constant).
pub use starknet_devnet_core::constants::ARGENT_CONTRACT_CLASS_HASH as ARGENT_ACCOUNT_CLASS_HASH;
/// Version of that Argent account class (starknet-devnet's own constant).
pub use starknet_devnet_core::constants::ARGENT_CONTRACT_VERSION as ARGENT_ACCOUNT_VERSION;

/// How to start the embedded devnet.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Seed of the predeployed accounts' keys.
    pub seed: u32,
    /// Number of predeployed, funded accounts.
    pub accounts: u8,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Predeclare Argent's account class ([`ARGENT_ACCOUNT_CLASS_HASH`], version
    /// [`ARGENT_ACCOUNT_VERSION`]) and multisig class, as starknet-devnet's own
    /// `predeclare_argent` does. Off by default.
    pub predeclare_argent: bool,
}

impl Default for DevnetOptions {
    fn default() -> Self {
        DevnetOptions {
            seed: 0,
            accounts: 10,
            port: 0,
            predeclare_argent: false,
        }
    }
}

/// A predeployed, funded OpenZeppelin account of the devnet.
#[derive(Clone)]
pub struct PredeployedAccount {
    /// Its address.
    pub address: Felt,
    /// Its private key (devnet test keys only).
    pub private_key: Felt,
    /// Its public key.
    pub public_key: Felt,
}

impl std::fmt::Debug for PredeployedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredeployedAccount")
            .field("address", &format_args!("{:#x}", self.address))
            .field("public_key", &format_args!("{:#x}", self.public_key))
            .finish_non_exhaustive()
    }
}

/// A running devnet: embedded in this process (stopped on drop) or external.
pub struct Devnet {
    pub(crate) url: Url,
    pub(crate) chain_id: Felt,
    pub(crate) accounts: Vec<PredeployedAccount>,
    pub(crate) provider: Arc<JsonRpcClient<HttpTransport>>,
    http: reqwest::Client,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("url", &self.url.as_str())
            .field("chain_id", &format_args!("{:#x}", self.chain_id))
            .field("embedded", &self.server.is_some())
            .finish()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl Devnet {
    /// Starts an embedded devnet with default options, or connects to the node named by
    /// `STARK_SESSIONS_NODE_URL` when it is set.
    pub async fn start() -> Result<Self, DevnetError> {
        match std::env::var(NODE_URL_ENV) {
            Ok(url) if !url.is_empty() => Self::connect(&url).await,
            _ => Self::start_embedded(DevnetOptions::default()).await,
        }
    }

    /// Starts an embedded devnet on 127.0.0.1.
    pub async fn start_embedded(options: DevnetOptions) -> Result<Self, DevnetError> {
        let config = StarknetConfig {
            seed: options.seed,
            total_accounts: options.accounts,
            predeclare_argent: options.predeclare_argent,
            ..Default::default()
        };
        let starknet = Starknet::new(&config).map_err(|e| DevnetError::Start(e.to_string()))?;
        let server_config = ServerConfig {
            host: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port: options.port,
            timeout: 120,
            log_request: false,
            log_response: false,
            restricted_methods: None,
            ui_enabled: false,
        };
        let api = Api::new(starknet, server_config.clone());
        let handler = JsonRpcHandler::new(api);
        let listener = tokio::net::TcpListener::bind((server_config.host, options.port))
            .await
            .map_err(|e| {
                DevnetError::Start(format!("cannot bind 127.0.0.1:{}: {e}", options.port))
            })?;
        let address = listener
            .local_addr()
            .map_err(|e| DevnetError::Start(e.to_string()))?;
        let server = serve_http_json_rpc(listener, &server_config, handler).await;
        let task = tokio::spawn(async move {
            // The server runs until the task is aborted on drop.
            let _ = server.await;
        });
        let url = format!("http://{address}/rpc");
        let mut devnet = Self::connect(&url).await?;
        devnet.server = Some(task);
        Ok(devnet)
    }

    /// Connects to a running starknet-devnet at `url` (its JSON-RPC endpoint).
    pub async fn connect(url: &str) -> Result<Self, DevnetError> {
        let url = Url::parse(url)
            .map_err(|e| DevnetError::Start(format!("invalid node URL {url}: {e}")))?;
        let provider = Arc::new(JsonRpcClient::new(HttpTransport::new(url.clone())));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| DevnetError::Start(e.to_string()))?;
        let mut devnet = Devnet {
            url,
            chain_id: Felt::ZERO,
            accounts: Vec::new(),
            provider,
            http,
            server: None,
        };
        devnet.chain_id = devnet
            .provider
            .chain_id()
            .await
            .map_err(|e| DevnetError::Rpc {
                method: "starknet_chainId".into(),
                reason: e.to_string(),
            })?;
        let accounts = devnet
            .rpc("devnet_getPredeployedAccounts", json!({}))
            .await?;
        devnet.accounts = parse_accounts(&accounts)?;
        Ok(devnet)
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The chain id.
    pub fn chain_id(&self) -> Felt {
        self.chain_id
    }

    /// The predeployed, funded accounts.
    pub fn accounts(&self) -> &[PredeployedAccount] {
        &self.accounts
    }

    /// A provider for the node.
    pub fn provider(&self) -> Arc<JsonRpcClient<HttpTransport>> {
        self.provider.clone()
    }

    /// A reference to the node's provider.
    pub fn provider_ref(&self) -> &Arc<JsonRpcClient<HttpTransport>> {
        &self.provider
    }

    /// Calls a JSON-RPC method of the node and returns its result.
    pub async fn rpc(&self, method: &str, params: Value) -> Result<Value, DevnetError> {
        let error = |reason: String| DevnetError::Rpc {
            method: method.to_string(),
            reason,
        };
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response: Value = self
            .http
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| error(e.to_string()))?
            .json()
            .await
            .map_err(|e| error(e.to_string()))?;
        if let Some(err) = response.get("error") {
            return Err(error(err.to_string()));
        }
        response
            .get("result")
            .cloned()
            .ok_or_else(|| error("response has no result".into()))
    }

    /// Moves the chain's clock forward by `seconds` and mines a block.
    pub async fn increase_time(&self, seconds: u64) -> Result<(), DevnetError> {
        self.rpc("devnet_increaseTime", json!({ "time": seconds }))
            .await
            .map(|_| ())
    }

    /// Sets the chain's clock to `timestamp` and mines a block.
    pub async fn set_time(&self, timestamp: u64) -> Result<(), DevnetError> {
        self.rpc(
            "devnet_setTime",
            json!({ "time": timestamp, "generate_block": true }),
        )
        .await
        .map(|_| ())
    }

    /// Timestamp of the latest block.
    pub async fn block_timestamp(&self) -> Result<u64, DevnetError> {
        let block = self
            .provider
            .get_block_with_tx_hashes(BlockId::Tag(BlockTag::Latest))
            .await
            .map_err(|e| DevnetError::Rpc {
                method: "starknet_getBlockWithTxHashes".into(),
                reason: e.to_string(),
            })?;
        Ok(match block {
            MaybePreConfirmedBlockWithTxHashes::Block(b) => b.timestamp,
            MaybePreConfirmedBlockWithTxHashes::PreConfirmedBlock(b) => b.timestamp,
        })
    }

    /// Mints `amount` FRI (STRK) to `address`.
    pub async fn mint_strk(&self, address: Felt, amount: u128) -> Result<(), DevnetError> {
        self.rpc(
            "devnet_mint",
            json!({ "address": format!("{address:#x}"), "amount": amount, "unit": "FRI" }),
        )
        .await
        .map(|_| ())
    }
}

fn parse_accounts(value: &Value) -> Result<Vec<PredeployedAccount>, DevnetError> {
    let error = |reason: &str| DevnetError::Rpc {
        method: "devnet_getPredeployedAccounts".into(),
        reason: reason.into(),
    };
    let list = value.as_array().ok_or_else(|| error("not a list"))?;
    list.iter()
        .map(|entry| {
            let field = |name: &str| -> Result<Felt, DevnetError> {
                entry
                    .get(name)
                    .and_then(Value::as_str)
                    .and_then(|s| Felt::from_hex(s).ok())
                    .ok_or_else(|| error(&format!("account entry lacks {name}")))
            };
            Ok(PredeployedAccount {
                address: field("address")?,
                private_key: field("private_key")?,
                public_key: field("public_key")?,
            })
        })
        .collect()
}
