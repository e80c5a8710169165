//! Paymaster configuration: a TOML file, then environment overrides.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use stark_sessions_abi::Felt;
use url::Url;
use zeroize::Zeroizing;

use crate::error::PaymasterError;
pub use crate::secrets::{NodeUrl, OpsToken};
use crate::store::{Database, StoreOptions};

/// Prefix of the environment overrides.
pub const ENV_PREFIX: &str = "STARK_SESSIONS_PAYMASTER_";

pub use stark_sessions_abi::constants::STRK_TOKEN;

/// One relayer account.
#[derive(Clone, Deserialize)]
pub struct RelayerConfig {
    /// The relayer account's address.
    pub address: Felt,
    /// Its signing key (a secret: never logged).
    pub private_key: Felt,
}

impl std::fmt::Debug for RelayerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayerConfig")
            .field("address", &format_args!("{:#x}", self.address))
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// A token accepted in default fee mode.
#[derive(Debug, Clone, Deserialize)]
pub struct GasTokenConfig {
    /// The ERC-20 contract.
    pub address: Felt,
    /// Its decimals.
    pub decimals: u8,
    /// FRI per whole token.
    #[serde(deserialize_with = "crate::api::number_or_text")]
    pub price_in_strk: u128,
}

/// An API key defined in the configuration (by its SHA-256; the key itself lives with the
/// backend that uses it).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKeyConfig {
    /// Stable id.
    pub id: String,
    /// Hex SHA-256 of the key.
    pub key_sha256: String,
    /// Sponsored fees allowed per UTC day, in FRI.
    #[serde(deserialize_with = "crate::api::number_or_text")]
    pub daily_budget_fri: u128,
    /// Requests allowed per minute.
    #[serde(default = "default_rate")]
    pub requests_per_minute: u32,
    /// If set, the only contracts sponsored calls may target.
    #[serde(default)]
    pub allowed_targets: Option<Vec<Felt>>,
}

fn default_rate() -> u32 {
    600
}

/// Everything the paymaster needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymasterConfig {
    /// Where to listen (`127.0.0.1:0` for an ephemeral port).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The Starknet node (RPC 0.10). Shown without its path and query (which carry a node
    /// provider's key) in every log, error and `Debug` output.
    pub rpc_url: NodeUrl,
    /// Where state is kept: an SQLite file path, or a `postgres://` / `postgresql://` URL of
    /// a database shared by several instances; `None` keeps state in memory.
    #[serde(default)]
    pub database: Option<Database>,
    /// The relayer accounts (instances sharing a database share them, one instance per
    /// relayer at a time); best given by `STARK_SESSIONS_PAYMASTER_RELAYERS`. `serve` needs at
    /// least one; the key commands none.
    #[serde(default)]
    pub relayers: Vec<RelayerConfig>,
    /// This instance's name among those sharing the database; default `local` with SQLite,
    /// a random one with PostgreSQL.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// How long a relayer lease lasts unless renewed (every third of it), in milliseconds:
    /// an instance that stops without a word loses its relayers to the others after this.
    #[serde(default = "default_lease")]
    pub relayer_lease_ms: u64,
    /// Account classes served and deployed besides the stark-sessions account class (the
    /// only one served by default). For these the paymaster cannot enforce `allowed_targets`
    /// or default mode's fee transfer: see `crate::classes`.
    #[serde(default)]
    pub supported_account_classes: Vec<Felt>,
    /// Serve every account that declares SNIP-9 v2 outside execution by SRC-5, whatever its
    /// class (deployments stay limited to the classes above).
    #[serde(default)]
    pub allow_any_account_class: bool,
    /// The most the operator pays for one transaction, in FRI.
    #[serde(
        default = "default_fee_cap",
        deserialize_with = "crate::api::number_or_text"
    )]
    pub max_fee_per_tx_fri: u128,
    /// Margin added to estimated gas amounts and prices for the transaction's bounds, in percent.
    #[serde(default = "default_margin")]
    pub fee_margin_percent: u32,
    /// Execution window when a request gives no time bounds, in seconds.
    #[serde(default = "default_window")]
    pub default_window_secs: u64,
    /// Longest execution window accepted, in seconds.
    #[serde(default = "default_max_window")]
    pub max_window_secs: u64,
    /// A sent transaction the node does not know after this many seconds is looked into: the
    /// same signed bytes are sent again while its relayer nonce is free; once another
    /// transaction used the nonce, its executions are queued again (a resubmission).
    #[serde(default = "default_resubmit")]
    pub resubmit_after_secs: u64,
    /// How many times an execution may be queued again after its transaction was dropped.
    #[serde(default = "default_max_resubmissions")]
    pub max_resubmissions: u32,
    /// Most executions sent together in one relayer transaction when every relayer is busy
    /// (1 turns bundling off).
    #[serde(default = "default_bundle_size")]
    pub max_bundle_size: usize,
    /// Timeout of each request to the node, in milliseconds. A send that times out is in
    /// doubt: the engine asks the node about the transaction's hash rather than assume it
    /// was lost.
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_ms: u64,
    /// How long `executeTransaction` waits for the execution's transaction to reach the node
    /// before answering with an error that names its tracking id (it stays queued).
    #[serde(default = "default_execute_timeout")]
    pub execute_timeout_secs: u64,
    /// Default lifetime of client session tokens, in seconds.
    #[serde(default = "default_token_ttl")]
    pub client_token_ttl_secs: u64,
    /// Where default-mode fees go (default: the first relayer).
    #[serde(default)]
    pub fee_collector: Option<Felt>,
    /// Tokens accepted in default mode (default: STRK).
    #[serde(default = "default_gas_tokens")]
    pub gas_tokens: Vec<GasTokenConfig>,
    /// A relayer below this STRK balance (FRI) does not count as available.
    #[serde(
        default = "default_min_balance",
        deserialize_with = "crate::api::number_or_text"
    )]
    pub min_relayer_balance_fri: u128,
    /// API keys known from the configuration (added to the database at start).
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Identity providers whose JWTs may create client session tokens, each for one API key.
    #[serde(default)]
    pub identity_providers: Vec<crate::identity::IdentityProviderConfig>,
    /// Where `/health` and `/metrics` are served instead of `listen` (a private address the
    /// monitoring reaches); `None` serves them on `listen`.
    #[serde(default)]
    pub ops_listen: Option<SocketAddr>,
    /// If set, `/health` and `/metrics` answer 401 without `Authorization: Bearer <ops_token>`
    /// (a secret: best given by `STARK_SESSIONS_PAYMASTER_OPS_TOKEN`).
    #[serde(default)]
    pub ops_token: Option<OpsToken>,
    /// PostgreSQL's `statement_timeout`, set on every connection, in milliseconds (0: none).
    #[serde(default = "default_statement_timeout")]
    pub database_statement_timeout_ms: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8088))
}
fn default_lease() -> u64 {
    30_000
}
fn default_fee_cap() -> u128 {
    // 5 STRK.
    5_000_000_000_000_000_000
}
fn default_margin() -> u32 {
    50
}
fn default_window() -> u64 {
    3600
}
fn default_max_window() -> u64 {
    24 * 3600
}
fn default_resubmit() -> u64 {
    30
}
fn default_max_resubmissions() -> u32 {
    3
}
fn default_bundle_size() -> usize {
    16
}
fn default_rpc_timeout() -> u64 {
    10_000
}
fn default_execute_timeout() -> u64 {
    60
}
fn default_token_ttl() -> u64 {
    crate::auth::DEFAULT_TOKEN_TTL_SECS
}
fn default_statement_timeout() -> u64 {
    30_000
}
fn default_gas_tokens() -> Vec<GasTokenConfig> {
    vec![GasTokenConfig {
        address: STRK_TOKEN,
        decimals: 18,
        price_in_strk: 1_000_000_000_000_000_000,
    }]
}
fn default_min_balance() -> u128 {
    // 0.1 STRK.
    100_000_000_000_000_000
}

impl PaymasterConfig {
    /// A configuration with defaults for everything but the node and the relayers.
    pub fn new(rpc_url: Url, relayers: Vec<RelayerConfig>) -> Self {
        PaymasterConfig {
            listen: default_listen(),
            rpc_url: rpc_url.into(),
            database: None,
            relayers,
            instance_id: None,
            relayer_lease_ms: default_lease(),
            supported_account_classes: Vec::new(),
            allow_any_account_class: false,
            max_fee_per_tx_fri: default_fee_cap(),
            fee_margin_percent: default_margin(),
            default_window_secs: default_window(),
            max_window_secs: default_max_window(),
            resubmit_after_secs: default_resubmit(),
            max_resubmissions: default_max_resubmissions(),
            max_bundle_size: default_bundle_size(),
            rpc_timeout_ms: default_rpc_timeout(),
            execute_timeout_secs: default_execute_timeout(),
            client_token_ttl_secs: default_token_ttl(),
            fee_collector: None,
            gas_tokens: default_gas_tokens(),
            min_relayer_balance_fri: default_min_balance(),
            api_keys: Vec::new(),
            identity_providers: Vec::new(),
            ops_listen: None,
            ops_token: None,
            database_statement_timeout_ms: default_statement_timeout(),
        }
    }

    /// How the store connects, from `database_statement_timeout_ms`.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            statement_timeout: (self.database_statement_timeout_ms > 0)
                .then(|| Duration::from_millis(self.database_statement_timeout_ms)),
        }
    }

    /// Refuses a configuration that cannot serve: no relayer.
    pub fn check_serving(&self) -> Result<(), PaymasterError> {
        if self.relayers.is_empty() {
            return Err(PaymasterError::Config(format!(
                "no relayers: set {ENV_PREFIX}RELAYERS=\"0xaddress:0xkey,…\" or [[relayers]]"
            )));
        }
        Ok(())
    }

    /// Parses a TOML configuration. An error names the line and what is wrong, never quoting
    /// the line (it may hold a key).
    pub fn from_toml(text: &str) -> Result<Self, PaymasterError> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| {
                let before = text.get(..span.start).unwrap_or_default();
                before.matches('\n').count() + 1
            });
            PaymasterError::Config(format!("line {line}: {}", e.message()))
        })
    }

    /// Reads a TOML file, then applies the environment overrides.
    pub fn load(path: &Path) -> Result<Self, PaymasterError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PaymasterError::Config(format!("{}: {e}", path.display())))?;
        let mut config = Self::from_toml(&text)?;
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Applies `STARK_SESSIONS_PAYMASTER_{LISTEN,RPC_URL,DATABASE,INSTANCE_ID,RELAYERS,MAX_FEE_PER_TX_FRI,MAX_BUNDLE_SIZE,OPS_LISTEN,OPS_TOKEN}`
    /// from `get`. `RELAYERS` is `address:private_key[,address:private_key…]` and replaces
    /// the file's relayers (keys are best kept out of files).
    pub fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), PaymasterError> {
        let bad =
            |name: &str, why: String| PaymasterError::Config(format!("{ENV_PREFIX}{name}: {why}"));
        let var = |name: &str| get(&format!("{ENV_PREFIX}{name}"));
        if let Some(v) = var("LISTEN") {
            self.listen = v.parse().map_err(|e| bad("LISTEN", format!("{e}")))?;
        }
        if let Some(v) = var("RPC_URL").map(Zeroizing::new) {
            self.rpc_url = v.parse().map_err(|e| bad("RPC_URL", format!("{e}")))?;
        }
        if let Some(v) = var("OPS_LISTEN") {
            self.ops_listen = Some(v.parse().map_err(|e| bad("OPS_LISTEN", format!("{e}")))?);
        }
        if let Some(v) = var("OPS_TOKEN").map(Zeroizing::new) {
            self.ops_token = Some(v.parse()?);
        }
        if let Some(v) = var("DATABASE").map(Zeroizing::new) {
            self.database = Some(v.parse()?);
        }
        if let Some(v) = var("INSTANCE_ID") {
            self.instance_id = Some(v);
        }
        if let Some(v) = var("MAX_FEE_PER_TX_FRI") {
            self.max_fee_per_tx_fri = v
                .parse()
                .map_err(|e| bad("MAX_FEE_PER_TX_FRI", format!("{e}")))?;
        }
        if let Some(v) = var("MAX_BUNDLE_SIZE") {
            self.max_bundle_size = v
                .parse()
                .map_err(|e| bad("MAX_BUNDLE_SIZE", format!("{e}")))?;
        }
        if let Some(v) = var("RELAYERS").map(Zeroizing::new) {
            self.relayers = v
                .split(',')
                .map(|pair| {
                    let (address, key) = pair
                        .split_once(':')
                        .ok_or_else(|| bad("RELAYERS", "expected address:private_key".into()))?;
                    Ok(RelayerConfig {
                        address: Felt::from_hex(address.trim())
                            .map_err(|_| bad("RELAYERS", "address is not hex".into()))?,
                        private_key: Felt::from_hex(key.trim())
                            .map_err(|_| bad("RELAYERS", "private key is not hex".into()))?,
                    })
                })
                .collect::<Result<_, PaymasterError>>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_overrides_and_secrets_stay_out_of_debug() {
        let mut config = PaymasterConfig::from_toml(
            r#"
            rpc_url = "http://127.0.0.1:5050/rpc"
            database = "pm.sqlite"
            max_fee_per_tx_fri = 1000
            min_relayer_balance_fri = "100000000000000000000"
            [[relayers]]
            address = "0x1"
            private_key = "0xdeadbeef"
            [[api_keys]]
            id = "game"
            key_sha256 = "00"
            daily_budget_fri = 5
            "#,
        )
        .expect("parses");
        assert_eq!(config.max_fee_per_tx_fri, 1000);
        assert_eq!(config.min_relayer_balance_fri, 100 * 10u128.pow(18));
        assert_eq!(config.api_keys[0].requests_per_minute, 600);
        assert_eq!(config.max_bundle_size, 16);
        assert_eq!(config.database, Some(Database::Sqlite("pm.sqlite".into())));
        assert!(!format!("{config:?}").contains("deadbeef"));
        config
            .apply_env(|name| match name {
                "STARK_SESSIONS_PAYMASTER_LISTEN" => Some("127.0.0.1:0".into()),
                "STARK_SESSIONS_PAYMASTER_RELAYERS" => Some("0x2:0x3,0x4:0x5".into()),
                "STARK_SESSIONS_PAYMASTER_MAX_BUNDLE_SIZE" => Some("4".into()),
                "STARK_SESSIONS_PAYMASTER_INSTANCE_ID" => Some("eu-1".into()),
                _ => None,
            })
            .expect("env applies");
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.max_bundle_size, 4);
        assert_eq!(config.instance_id.as_deref(), Some("eu-1"));
        assert_eq!(config.relayers.len(), 2);
        assert_eq!(config.relayers[1].private_key, Felt::from(5u8));
        let err = config
            .apply_env(|name| {
                (name == "STARK_SESSIONS_PAYMASTER_RELAYERS").then(|| "0x2".to_string())
            })
            .expect_err("malformed");
        assert!(err.to_string().contains("RELAYERS"));
        assert!(PaymasterConfig::from_toml("rpc_url = 3").is_err());
    }

    #[test]
    fn relayers_may_come_from_the_environment_alone_and_serving_needs_one() {
        let mut config = PaymasterConfig::from_toml(
            r#"
            rpc_url = "http://127.0.0.1:5050/rpc"
            database = "pm.sqlite"
            "#,
        )
        .expect("no relayers in the file");
        assert!(config.relayers.is_empty());
        let e = config.check_serving().expect_err("nothing to relay with");
        assert!(
            e.to_string().contains("STARK_SESSIONS_PAYMASTER_RELAYERS"),
            "{e}"
        );
        config
            .apply_env(|name| {
                (name == "STARK_SESSIONS_PAYMASTER_RELAYERS").then(|| "0x2:0x3".to_string())
            })
            .expect("env applies");
        assert_eq!(config.relayers.len(), 1);
        config.check_serving().expect("one relayer");
    }

    #[test]
    fn the_node_url_and_the_ops_token_stay_out_of_debug_and_errors() {
        let mut config = PaymasterConfig::from_toml(
            r#"
            rpc_url = "https://starknet-mainnet.example/v3/nodekey0123456789"
            ops_listen = "127.0.0.1:9090"
            ops_token = "ops-secret-0123456789"
            [[identity_providers]]
            api_key = "game"
            jwks = { url = "https://idp.example/jwks.json?key=jwkskey0123456789" }
            issuer = "https://idp.example/"
            audience = "game"
            max_fee_fri = 1000
            max_executions = 5
            "#,
        )
        .expect("parses");
        assert_eq!(config.ops_listen.map(|a| a.port()), Some(9090));
        assert!(config
            .ops_token
            .as_ref()
            .is_some_and(|t| t.matches("ops-secret-0123456789")));
        config
            .apply_env(|name| {
                (name == "STARK_SESSIONS_PAYMASTER_OPS_TOKEN")
                    .then(|| "env-ops-secret-0123456789".to_string())
            })
            .expect("env applies");
        assert!(config
            .ops_token
            .as_ref()
            .is_some_and(|t| t.matches("env-ops-secret-0123456789")));
        let shown = format!("{config:?}");
        for secret in [
            "nodekey0123456789",
            "ops-secret",
            "/v3/",
            "jwkskey0123456789",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("starknet-mainnet.example"), "{shown}");
        let e = PaymasterConfig::from_toml("rpc_url = \"http://h/\"\nops_token = \"short\"")
            .expect_err("too short");
        assert!(!e.to_string().contains("short\""), "{e}");
        assert_eq!(
            config.store_options().statement_timeout,
            Some(Duration::from_secs(30))
        );
        config.database_statement_timeout_ms = 0;
        assert_eq!(config.store_options().statement_timeout, None);
    }

    #[test]
    fn a_postgres_url_selects_postgres_and_its_password_stays_out_of_debug_and_errors() {
        let mut config = PaymasterConfig::from_toml(
            r#"
            rpc_url = "http://127.0.0.1:5050/rpc"
            database = "postgresql://pm:hunter22@db:5432/paymaster"
            relayers = []
            "#,
        )
        .expect("parses");
        assert!(matches!(config.database, Some(Database::Postgres(_))));
        assert!(!format!("{config:?}").contains("hunter22"));
        config
            .apply_env(|name| {
                (name == "STARK_SESSIONS_PAYMASTER_DATABASE")
                    .then(|| "postgres://pm:hunter22@other/paymaster".to_string())
            })
            .expect("env applies");
        assert!(format!("{config:?}").contains("other"));
        assert!(!format!("{config:?}").contains("hunter22"));
        let err = config
            .apply_env(|name| {
                (name == "STARK_SESSIONS_PAYMASTER_DATABASE")
                    .then(|| "postgres://pm:hunter22@[bad/paymaster".to_string())
            })
            .expect_err("malformed");
        assert!(!err.to_string().contains("hunter22"), "{err}");
    }
}
