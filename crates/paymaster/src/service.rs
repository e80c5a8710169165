//! The service: its state, authentication, client session tokens and the read-only methods.
//! Quoting is in `quote.rs`, intake of signed executions in `intake.rs`, sending in
//! [`crate::engine`].

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};
use stark_sessions_abi::typed_data::hex;
use stark_sessions_abi::Felt;
use starknet::core::types::TransactionStatus;
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider};
use zeroize::Zeroizing;

use crate::api::{
    u256_hex, ClientSessionCreated, CreateClientSession, FeeMode, TokenData, TrackingStatus,
};
use crate::auth::{self, Credential, Principal};
use crate::chain::ChainCache;
use crate::config::{GasTokenConfig, PaymasterConfig};
use crate::engine::{Engine, FailPoints, NoFailPoints, RecoveryReport};
use crate::error::PaymasterError;
use crate::lifecycle::ExecutionState;
use crate::metrics::Metrics;
use crate::store::{ApiKeyRecord, ClientTokenRecord, KeyStatus, Store, TokenLimits};

/// The service. Cloning shares it; its engine stops when the last clone is dropped (or at
/// [`Paymaster::shutdown`]).
#[derive(Clone)]
pub struct Paymaster {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: PaymasterConfig,
    pub(crate) provider: Arc<JsonRpcClient<HttpTransport>>,
    pub(crate) chain_id: Felt,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) engine: Engine,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) classes: crate::classes::AccountClasses,
    pub(crate) cache: ChainCache,
    /// What users' calls cost, per account class and call shape (`buildTransaction`'s quotes).
    pub(crate) estimates: crate::estimates::ShapeEstimates,
    pub(crate) recovered: RecoveryReport,
    pub(crate) nonces: crate::nonces::NonceIssuer,
    pub(crate) identity: crate::identity::IdentityProviders,
}

impl std::fmt::Debug for Paymaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paymaster")
            .field("chain_id", &format_args!("{:#x}", self.inner.chain_id))
            .field("relayers", &self.relayers())
            .finish_non_exhaustive()
    }
}

// The clock and the node-error mapping have homes of their own; their names stay here too.
pub use crate::clock::unix_now;
pub(crate) use crate::node_error::node_error;

/// `paymaster_createClientSession`'s answer for a stored token.
pub(crate) fn session_created(record: &ClientTokenRecord, token: &str) -> ClientSessionCreated {
    let limits = record.limits;
    ClientSessionCreated {
        id: record.id.clone(),
        client_session_token: token.to_owned(),
        expires_at: record.expires_at,
        requests_per_minute: limits.requests_per_minute,
        max_fee_fri: limits.max_fee_fri.map(|m| m.to_string()),
        max_executions: limits.max_executions,
    }
}

pub(crate) fn random_felt() -> Felt {
    Felt::from(rand::thread_rng().gen::<u128>() >> 8)
}

pub(crate) fn check_version(
    parameters: &crate::api::ExecutionParameters,
) -> Result<(), PaymasterError> {
    if parameters.version == "0x1" {
        Ok(())
    } else {
        Err(PaymasterError::InvalidParams(format!(
            "parameters.version {} (only 0x1 is supported)",
            parameters.version
        )))
    }
}

/// Serialises a response value.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, PaymasterError> {
    serde_json::to_value(value).map_err(|e| PaymasterError::Unknown(e.to_string()))
}

/// A client of the node whose every request times out after the configured time.
fn provider(config: &PaymasterConfig) -> Result<stark_sessions_rpc::Node, PaymasterError> {
    stark_sessions_rpc::connect(
        config.rpc_url.expose().clone(),
        Duration::from_millis(config.rpc_timeout_ms),
    )
    .map_err(|e| PaymasterError::Config(format!("http client: {e}")))
}

fn load_configured_keys(config: &PaymasterConfig, store: &dyn Store) -> Result<(), PaymasterError> {
    for key in &config.api_keys {
        let hash: [u8; 32] = hex::decode(&key.key_sha256)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                PaymasterError::Config(format!(
                    "api key {}: key_sha256 must be 64 hex digits",
                    key.id
                ))
            })?;
        store.put_api_key(&ApiKeyRecord {
            id: key.id.clone(),
            name: key.id.clone(),
            key_hash: hash,
            daily_budget_fri: key.daily_budget_fri,
            requests_per_minute: key.requests_per_minute,
            allowed_targets: key.allowed_targets.clone(),
            status: KeyStatus::Active,
        })?;
    }
    Ok(())
}

impl Paymaster {
    /// Connects to the node, opens the configured store, loads the configured API keys,
    /// recovers what a previous run left unfinished and starts the engine.
    pub async fn new(config: PaymasterConfig) -> Result<Self, PaymasterError> {
        let store = crate::store::open_with(config.database.as_ref(), config.store_options())?;
        Self::with_store(config, store).await
    }

    /// As [`Paymaster::new`], with a given store.
    pub async fn with_store(
        config: PaymasterConfig,
        store: Arc<dyn Store>,
    ) -> Result<Self, PaymasterError> {
        Self::with_fail_points(config, store, Arc::new(NoFailPoints)).await
    }

    /// As [`Paymaster::with_store`], with fail points in the engine (for tests).
    pub async fn with_fail_points(
        config: PaymasterConfig,
        store: Arc<dyn Store>,
        fail_points: Arc<dyn FailPoints>,
    ) -> Result<Self, PaymasterError> {
        let provider = provider(&config)?;
        let chain_id = provider.chain_id().await.map_err(|e| {
            let why = crate::secrets::node_error_text(&e);
            PaymasterError::Unknown(format!("node {} unreachable: {why}", config.rpc_url))
        })?;
        load_configured_keys(&config, store.as_ref())?;
        let classes = crate::classes::AccountClasses::new(&config)?;
        let metrics = Arc::new(Metrics::default());
        let engine = Engine::new(
            config.clone(),
            provider.clone(),
            chain_id,
            store.clone(),
            metrics.clone(),
            fail_points,
        );
        let recovered = engine.start().await?;
        let identity = crate::identity::IdentityProviders::new(&config.identity_providers)?;
        Ok(Paymaster {
            inner: Arc::new(Inner {
                config,
                provider,
                chain_id,
                store,
                engine,
                metrics,
                classes,
                cache: ChainCache::default(),
                estimates: Default::default(),
                recovered,
                nonces: crate::nonces::NonceIssuer::default(),
                identity,
            }),
        })
    }

    /// The chain the paymaster relays to.
    pub fn chain_id(&self) -> Felt {
        self.inner.chain_id
    }

    /// The relayers' addresses.
    pub fn relayers(&self) -> Vec<Felt> {
        self.inner
            .engine
            .relayers()
            .iter()
            .map(|r| r.address())
            .collect()
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// What start-up recovery found.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.inner.recovered
    }

    /// This instance's name among those sharing the database.
    pub fn instance(&self) -> &str {
        self.inner.engine.instance()
    }

    /// Stops the engine and hands this instance's relayers and waiting executions to the
    /// other instances sharing the database at once (without it they wait for the leases to
    /// expire).
    pub fn close(&self) -> Result<(), PaymasterError> {
        self.inner.engine.close()
    }

    /// Stops the engine at once, as a crash would (what is stored stays; a new instance on
    /// the same database recovers it). Requests waiting for a transaction get an error.
    pub fn shutdown(&self) {
        self.inner.engine.shutdown();
    }

    /// Creates a backend API key; returns the key (shown once; only its hash is kept).
    pub fn create_api_key(
        &self,
        id: &str,
        daily_budget_fri: u128,
        requests_per_minute: u32,
        allowed_targets: Option<Vec<Felt>>,
    ) -> Result<Zeroizing<String>, PaymasterError> {
        let (key, hash) = auth::new_api_key();
        self.inner.store.put_api_key(&ApiKeyRecord {
            id: id.to_owned(),
            name: id.to_owned(),
            key_hash: hash,
            daily_budget_fri,
            requests_per_minute,
            allowed_targets,
            status: KeyStatus::Active,
        })?;
        Ok(key)
    }

    /// Resolves credentials and counts the request against the key's rate limit (in the
    /// database: every instance sharing it counts against the same limit, by UTC minute).
    pub fn authorize(&self, credential: Option<&Credential>) -> Result<Principal, PaymasterError> {
        let store = self.inner.store.as_ref();
        let principal = auth::authenticate(store, credential, unix_now())?;
        self.count_request(&principal)?;
        Ok(principal)
    }

    /// Counts a request against its token's and its API key's rate limits (in the store,
    /// across instances).
    pub(crate) fn count_request(&self, principal: &Principal) -> Result<(), PaymasterError> {
        auth::count_request(self.inner.store.as_ref(), principal, unix_now() / 60)
    }

    /// `paymaster_isAvailable`: the node answers and a relayer holds enough STRK.
    pub async fn is_available(&self) -> bool {
        for relayer in self.relayers() {
            if let Ok(balance) = self.strk_balance(relayer).await {
                if balance >= self.inner.config.min_relayer_balance_fri {
                    return true;
                }
            }
        }
        false
    }

    /// `paymaster_getSupportedTokens`.
    pub fn supported_tokens(&self) -> Vec<TokenData> {
        self.inner
            .config
            .gas_tokens
            .iter()
            .map(|t| TokenData {
                token_address: t.address,
                decimals: t.decimals,
                price_in_strk: u256_hex(t.price_in_strk),
            })
            .collect()
    }

    pub(crate) fn gas_token(
        &self,
        mode: &FeeMode,
    ) -> Result<Option<&GasTokenConfig>, PaymasterError> {
        match mode {
            FeeMode::Sponsored => Ok(None),
            FeeMode::Default { gas_token } => self
                .inner
                .config
                .gas_tokens
                .iter()
                .find(|t| t.address == *gas_token)
                .map(Some)
                .ok_or_else(|| {
                    PaymasterError::TokenNotSupported(format!("{gas_token:#x} is not accepted"))
                }),
        }
    }

    pub(crate) fn fee_collector(&self) -> Felt {
        self.inner
            .config
            .fee_collector
            .or_else(|| self.inner.config.relayers.first().map(|r| r.address))
            .unwrap_or_default()
    }

    /// `paymaster_trackingIdToLatestHash`: reads the latest transaction hash and status of an
    /// execution sponsored by `principal`'s API key (directly or through one of its tokens).
    /// It only reads — the store, and the node's status of a transaction not yet seen in a
    /// block by the tracker; resubmission is the engine's business.
    pub async fn tracking_id_to_latest_hash(
        &self,
        principal: &Principal,
        id: Felt,
    ) -> Result<Value, PaymasterError> {
        let record = self
            .inner
            .store
            .execution(id)?
            .filter(|r| r.api_key_id == principal.api_key.id)
            .ok_or_else(|| {
                PaymasterError::InvalidId(format!("no tracking id {id:#x} for this key"))
            })?;
        let hash = record.latest_hash.ok_or_else(|| {
            PaymasterError::Unknown(format!(
                "{id:#x} is queued and not sent yet; ask again shortly"
            ))
        })?;
        let mut status = record.state.tracking_status();
        if status == TrackingStatus::Active && record.state == ExecutionState::Sent {
            let in_block = matches!(
                self.inner.provider.get_transaction_status(hash).await,
                Ok(TransactionStatus::AcceptedOnL2(_)
                    | TransactionStatus::AcceptedOnL1(_)
                    | TransactionStatus::PreConfirmed(_))
            );
            if in_block {
                status = TrackingStatus::Accepted;
            }
        }
        Ok(json!({ "transaction_hash": hex(hash), "status": status }))
    }

    /// `paymaster_createClientSession` (API keys only, and active ones): a token with its own
    /// limits, each within the key's ([`auth::token_limits`]).
    pub fn create_client_session(
        &self,
        principal: &Principal,
        request: CreateClientSession,
    ) -> Result<ClientSessionCreated, PaymasterError> {
        let (record, token) = self.new_client_token(principal, request)?;
        self.inner.store.put_client_token(&record)?;
        Ok(session_created(&record, &token))
    }

    /// A new token for `principal` as `request` asks, checked (nothing is stored yet): its
    /// record and its bearer form.
    pub(crate) fn new_client_token(
        &self,
        principal: &Principal,
        request: CreateClientSession,
    ) -> Result<(ClientTokenRecord, Zeroizing<String>), PaymasterError> {
        if principal.token.is_some() {
            return Err(PaymasterError::Unauthorized(
                "client session tokens are created with an API key".into(),
            ));
        }
        // Also for a key reached through an identity provider, not through `authenticate`.
        auth::check_active(&principal.api_key)?;
        if request.client_id.is_empty() || request.client_id.len() > 128 {
            return Err(PaymasterError::InvalidParams(
                "client_id must be 1 to 128 characters".into(),
            ));
        }
        let ttl = request
            .ttl_seconds
            .unwrap_or(self.inner.config.client_token_ttl_secs);
        if ttl == 0 || ttl > auth::MAX_TOKEN_TTL_SECS {
            return Err(PaymasterError::InvalidParams(format!(
                "ttl_seconds must be 1 to {}",
                auth::MAX_TOKEN_TTL_SECS
            )));
        }
        let limits = auth::token_limits(
            &principal.api_key,
            TokenLimits {
                requests_per_minute: request.requests_per_minute,
                max_fee_fri: request.max_fee_fri,
                max_executions: request.max_executions,
            },
        )?;
        let (id, token, hash) = auth::new_client_token();
        let record = ClientTokenRecord {
            id,
            api_key_id: principal.api_key.id.clone(),
            client_id: request.client_id,
            secret_hash: hash,
            user_addresses: request.user_addresses,
            expires_at: unix_now() + ttl,
            revoked: false,
            limits,
            usage: Default::default(),
        };
        Ok((record, token))
    }

    /// `paymaster_revokeClientSession` (the creating API key only).
    pub fn revoke_client_session(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<bool, PaymasterError> {
        if principal.token.is_some() {
            return Err(PaymasterError::Unauthorized(
                "client session tokens are revoked with an API key".into(),
            ));
        }
        if self
            .inner
            .store
            .revoke_client_token(id, &principal.api_key.id)?
        {
            Ok(true)
        } else {
            Err(PaymasterError::InvalidId(format!(
                "no client session {id} for this key"
            )))
        }
    }
}
