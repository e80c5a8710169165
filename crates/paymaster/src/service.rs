//! The paymaster's methods, independent of transport.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{json, Value};
use stark_sessions_abi::constants::{
    ISRC9_V2_ID, SELECTOR_EXECUTE_FROM_OUTSIDE_V2, SELECTOR_TRANSFER,
};
use stark_sessions_abi::{snip12, CairoSerde, Call, Felt, OutsideExecution, U256};
use starknet::contract::UdcSelector;
use starknet::core::types::{
    BlockId, BlockTag, BroadcastedInvokeTransaction, BroadcastedInvokeTransactionV3,
    BroadcastedTransaction, DataAvailabilityMode, FunctionCall, MaybePreConfirmedBlockWithTxHashes,
    ResourceBounds, ResourceBoundsMapping, SimulationFlagForEstimateFee, StarknetError,
    TransactionReceipt, TransactionStatus,
};
use starknet::core::utils::{get_udc_deployed_address, UdcUniqueness};
use starknet::macros::{selector, short_string};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider, ProviderError};
use zeroize::Zeroizing;

use crate::api::{
    u256_hex, ClientSessionCreated, CreateClientSession, DeploymentData, ExecutableInvoke,
    ExecutableTransaction, ExecuteResponse, ExecutionParameters, FeeEstimate, FeeMode, TokenData,
    TrackingStatus, UserInvoke, UserTransaction,
};
use crate::auth::{self, Credential, Principal, RateLimiter};
use crate::config::{GasTokenConfig, PaymasterConfig};
use crate::error::PaymasterError;
use crate::relayer::{classify, classify_reason, execution_error_text, Quote, RelayerPool};
use crate::store::{ApiKeyRecord, Claim, ClientTokenRecord, SqliteStore, Store, TrackingRecord};
use stark_sessions_abi::typed_data::{hex, outside_execution_typed_data, parse_outside_execution};

/// Extra L2 gas of relaying an execution rather than executing it directly: the relayer's
/// validation and execution plus `execute_from_outside_v2` (measured ≈ 1.55 M on devnet).
/// Used only for the advisory fee of `buildTransaction`; execution re-estimates exactly.
const RELAY_OVERHEAD_L2_GAS: u128 = 1_600_000;
/// L2 gas of deploying an account through the UDC, for the same advisory estimate.
const DEPLOY_L2_GAS: u128 = 1_500_000;
/// The tracking key of a deployment without an outside execution.
const DEPLOY_MARKER: Felt = short_string!("deploy");

/// Counters since start.
#[derive(Debug, Default)]
pub struct Metrics {
    /// JSON-RPC requests served.
    pub requests: AtomicU64,
    /// Transactions sent (including resubmissions).
    pub sent: AtomicU64,
    /// Requests refused or failed.
    pub failures: AtomicU64,
    /// Fees paid by the relayers, in FRI, from receipts.
    pub fees_paid_fri: Mutex<u128>,
}

/// The service.
#[derive(Clone)]
pub struct Paymaster {
    inner: Arc<Inner>,
}

struct Inner {
    config: PaymasterConfig,
    provider: Arc<JsonRpcClient<HttpTransport>>,
    chain_id: Felt,
    pool: RelayerPool,
    store: Arc<dyn Store>,
    limiter: RateLimiter,
    metrics: Metrics,
    default_account_class: Felt,
}

impl std::fmt::Debug for Paymaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paymaster")
            .field("chain_id", &format_args!("{:#x}", self.inner.chain_id))
            .field("relayers", &self.inner.pool)
            .finish_non_exhaustive()
    }
}

/// Unix seconds by the wall clock (tokens, budgets' days, resubmission timers).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn node_error(e: ProviderError) -> PaymasterError {
    PaymasterError::Unknown(format!("node: {e}"))
}

fn random_felt() -> Felt {
    Felt::from(rand::thread_rng().gen::<u128>() >> 8)
}

struct ChainNow {
    timestamp: u64,
    l2_gas_price: u128,
}

impl Paymaster {
    /// Connects to the node, opens the configured store and loads the configured API keys.
    pub async fn new(config: PaymasterConfig) -> Result<Self, PaymasterError> {
        let store: Arc<dyn Store> = match &config.database {
            Some(path) => Arc::new(SqliteStore::open(path)?),
            None => Arc::new(SqliteStore::in_memory()?),
        };
        Self::with_store(config, store).await
    }

    /// As [`Paymaster::new`], with a given store.
    pub async fn with_store(
        config: PaymasterConfig,
        store: Arc<dyn Store>,
    ) -> Result<Self, PaymasterError> {
        let provider = Arc::new(JsonRpcClient::new(HttpTransport::new(
            config.rpc_url.clone(),
        )));
        let chain_id = provider.chain_id().await.map_err(|e| {
            PaymasterError::Unknown(format!("node {} unreachable: {e}", config.rpc_url))
        })?;
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
            })?;
        }
        let default_account_class = stark_sessions_abi::class::session_account()
            .map_err(|e| PaymasterError::Unknown(e.to_string()))?
            .class_hash;
        let pool = RelayerPool::new(
            provider.clone(),
            chain_id,
            &config.relayers,
            config.fee_margin_percent,
        );
        Ok(Paymaster {
            inner: Arc::new(Inner {
                config,
                provider,
                chain_id,
                pool,
                store,
                limiter: RateLimiter::default(),
                metrics: Metrics::default(),
                default_account_class,
            }),
        })
    }

    /// The chain the paymaster relays to.
    pub fn chain_id(&self) -> Felt {
        self.inner.chain_id
    }

    /// The relayers' addresses.
    pub fn relayers(&self) -> Vec<Felt> {
        self.inner.pool.addresses()
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
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
        })?;
        Ok(key)
    }

    /// Resolves credentials and counts the request against the key's rate limit.
    pub fn authorize(&self, credential: Option<&Credential>) -> Result<Principal, PaymasterError> {
        let principal = auth::authenticate(self.inner.store.as_ref(), credential, unix_now())?;
        self.inner
            .limiter
            .check(&principal.api_key.id, principal.api_key.requests_per_minute)?;
        Ok(principal)
    }

    /// `paymaster_isAvailable`: the node answers and a relayer holds enough STRK.
    pub async fn is_available(&self) -> bool {
        for relayer in self.inner.pool.addresses() {
            if let Ok(balance) = self.strk_balance(relayer).await {
                if balance >= self.inner.config.min_relayer_balance_fri {
                    return true;
                }
            }
        }
        false
    }

    async fn strk_balance(&self, address: Felt) -> Result<u128, PaymasterError> {
        let out = self
            .view(
                crate::config::STRK_TOKEN,
                stark_sessions_abi::constants::SELECTOR_BALANCE_OF,
                vec![address],
            )
            .await?;
        let low = out.first().copied().unwrap_or_default();
        Ok(u128::try_from(low).unwrap_or(u128::MAX))
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

    fn gas_token(&self, mode: &FeeMode) -> Result<Option<&GasTokenConfig>, PaymasterError> {
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

    fn fee_collector(&self) -> Felt {
        self.inner
            .config
            .fee_collector
            .or_else(|| self.inner.config.relayers.first().map(|r| r.address))
            .unwrap_or_default()
    }

    async fn view(
        &self,
        to: Felt,
        selector: Felt,
        calldata: Vec<Felt>,
    ) -> Result<Vec<Felt>, PaymasterError> {
        self.inner
            .provider
            .call(
                FunctionCall {
                    contract_address: to,
                    entry_point_selector: selector,
                    calldata,
                },
                BlockId::Tag(BlockTag::PreConfirmed),
            )
            .await
            .map_err(|e| match e {
                ProviderError::StarknetError(StarknetError::ContractNotFound) => {
                    PaymasterError::InvalidAddress(format!("no contract at {to:#x}"))
                }
                ProviderError::StarknetError(StarknetError::ContractError(data)) => {
                    classify_reason(execution_error_text(&data.revert_error))
                }
                other => node_error(other),
            })
    }

    async fn chain_now(&self) -> Result<ChainNow, PaymasterError> {
        let block = self
            .inner
            .provider
            .get_block_with_tx_hashes(BlockId::Tag(BlockTag::Latest))
            .await
            .map_err(node_error)?;
        let (timestamp, price) = match block {
            MaybePreConfirmedBlockWithTxHashes::Block(b) => (b.timestamp, b.l2_gas_price),
            MaybePreConfirmedBlockWithTxHashes::PreConfirmedBlock(b) => {
                (b.timestamp, b.l2_gas_price)
            }
        };
        Ok(ChainNow {
            timestamp,
            l2_gas_price: u128::try_from(price.price_in_fri).unwrap_or(u128::MAX),
        })
    }

    /// Refuses an address with no contract (150) or whose class this paymaster does not serve
    /// (155).
    async fn check_account(&self, user: Felt) -> Result<(), PaymasterError> {
        let class_hash = self
            .inner
            .provider
            .get_class_hash_at(BlockId::Tag(BlockTag::PreConfirmed), user)
            .await
            .map_err(|e| match e {
                ProviderError::StarknetError(StarknetError::ContractNotFound) => {
                    PaymasterError::InvalidAddress(format!("no account deployed at {user:#x}"))
                }
                other => node_error(other),
            })?;
        let supported = &self.inner.config.supported_account_classes;
        let served = if supported.is_empty() {
            let out = self
                .view(user, selector!("supports_interface"), vec![ISRC9_V2_ID])
                .await
                .unwrap_or_default();
            out.first() == Some(&Felt::ONE)
        } else {
            supported.contains(&class_hash)
        };
        if served {
            Ok(())
        } else {
            Err(PaymasterError::ClassHashNotSupported(format!(
                "class {class_hash:#x} of {user:#x} does not support SNIP-9 v2 outside execution here"
            )))
        }
    }

    /// Refuses deployment data that is malformed (158), of a class not served (155) or not
    /// declared (159).
    async fn check_deployment(&self, d: &DeploymentData) -> Result<(), PaymasterError> {
        if d.version != 1 {
            return Err(PaymasterError::InvalidDeploymentData(format!(
                "version {} (only 1 is defined)",
                d.version
            )));
        }
        let supported = &self.inner.config.supported_account_classes;
        let served = if supported.is_empty() {
            d.class_hash == self.inner.default_account_class
        } else {
            supported.contains(&d.class_hash)
        };
        if !served {
            return Err(PaymasterError::ClassHashNotSupported(format!(
                "this paymaster does not deploy class {:#x}",
                d.class_hash
            )));
        }
        self.inner
            .provider
            .get_class(BlockId::Tag(BlockTag::PreConfirmed), d.class_hash)
            .await
            .map_err(|e| match e {
                ProviderError::StarknetError(StarknetError::ClassHashNotFound) => {
                    PaymasterError::InvalidClassHash(format!(
                        "class {:#x} is not declared",
                        d.class_hash
                    ))
                }
                other => node_error(other),
            })?;
        let address =
            get_udc_deployed_address(d.salt, d.class_hash, &UdcUniqueness::NotUnique, &d.calldata);
        if address != d.address {
            return Err(PaymasterError::InvalidDeploymentData(format!(
                "class, salt and calldata give {address:#x}, not {:#x}",
                d.address
            )));
        }
        let deployed = self
            .inner
            .provider
            .get_class_hash_at(BlockId::Tag(BlockTag::PreConfirmed), d.address)
            .await
            .is_ok();
        if deployed {
            return Err(PaymasterError::InvalidDeploymentData(format!(
                "{:#x} is already deployed",
                d.address
            )));
        }
        Ok(())
    }

    fn resolve_time_bounds(
        &self,
        params: &ExecutionParameters,
        now: u64,
    ) -> Result<(u64, u64), PaymasterError> {
        let max = now.saturating_add(self.inner.config.max_window_secs);
        match params.time_bounds {
            None => Ok((0, now.saturating_add(self.inner.config.default_window_secs))),
            Some(b) if b.execute_after >= b.execute_before => {
                Err(PaymasterError::InvalidTimeBounds(
                    "execute_after is not before execute_before".into(),
                ))
            }
            Some(b) if b.execute_before <= now => Err(PaymasterError::InvalidTimeBounds(format!(
                "execute_before {} is not after the chain's time {now}",
                b.execute_before
            ))),
            Some(b) if b.execute_before > max => Err(PaymasterError::InvalidTimeBounds(format!(
                "execute_before is more than {} s ahead",
                self.inner.config.max_window_secs
            ))),
            Some(b) => Ok((b.execute_after, b.execute_before)),
        }
    }

    /// The user's calls executed directly by the account, validation skipped: proves they
    /// would succeed and prices them.
    async fn simulate_user_calls(
        &self,
        user: Felt,
        calls: &[Call],
    ) -> Result<u128, PaymasterError> {
        let nonce = self
            .inner
            .provider
            .get_nonce(BlockId::Tag(BlockTag::PreConfirmed), user)
            .await
            .map_err(node_error)?;
        let zero = ResourceBounds {
            max_amount: 0,
            max_price_per_unit: 0,
        };
        let tx = BroadcastedInvokeTransactionV3 {
            sender_address: user,
            calldata: calls.to_vec().to_felts(),
            signature: vec![],
            nonce,
            resource_bounds: ResourceBoundsMapping {
                l1_gas: zero.clone(),
                l1_data_gas: zero.clone(),
                l2_gas: zero,
            },
            tip: 0,
            paymaster_data: vec![],
            account_deployment_data: vec![],
            nonce_data_availability_mode: DataAvailabilityMode::L1,
            fee_data_availability_mode: DataAvailabilityMode::L1,
            proof_facts: None,
            is_query: true,
        };
        let estimate = self
            .inner
            .provider
            .estimate_fee_single(
                BroadcastedTransaction::Invoke(BroadcastedInvokeTransaction {
                    broadcasted_invoke_txn_v3: tx,
                    proof: None,
                }),
                vec![SimulationFlagForEstimateFee::SkipValidate],
                BlockId::Tag(BlockTag::PreConfirmed),
            )
            .await
            .map_err(|e| {
                classify::<std::convert::Infallible>(starknet::accounts::AccountError::Provider(e))
            })?;
        Ok(estimate.overall_fee)
    }

    fn fee_estimate(
        &self,
        fee_fri: u128,
        token: Option<&GasTokenConfig>,
    ) -> Result<(FeeEstimate, u128), PaymasterError> {
        let margin = u128::from(self.inner.config.fee_margin_percent);
        let suggested = fee_fri.saturating_mul(100 + margin) / 100;
        let (price, in_token, max_in_token) = match token {
            None => (1_000_000_000_000_000_000, fee_fri, suggested),
            Some(t) => (
                t.price_in_strk,
                to_token_units(fee_fri, t)?,
                to_token_units(suggested, t)?,
            ),
        };
        Ok((
            FeeEstimate {
                gas_token_price_in_strk: u256_hex(price),
                estimated_fee_in_strk: u256_hex(fee_fri),
                estimated_fee_in_gas_token: u256_hex(in_token),
                suggested_max_fee_in_strk: u256_hex(suggested),
                suggested_max_fee_in_gas_token: u256_hex(max_in_token),
            },
            max_in_token,
        ))
    }

    /// `paymaster_buildTransaction`.
    pub async fn build_transaction(
        &self,
        principal: &Principal,
        transaction: UserTransaction,
        mut parameters: ExecutionParameters,
    ) -> Result<Value, PaymasterError> {
        check_version(&parameters)?;
        let token = self.gas_token(&parameters.fee_mode)?;
        let now = self.chain_now().await?;
        let (execute_after, execute_before) =
            self.resolve_time_bounds(&parameters, now.timestamp)?;
        let (kind, deployment, invoke): (&str, Option<DeploymentData>, Option<UserInvoke>) =
            match transaction {
                UserTransaction::Invoke { invoke } => ("invoke", None, Some(invoke)),
                UserTransaction::Deploy { deployment } => ("deploy", Some(deployment), None),
                UserTransaction::DeployAndInvoke { deployment, invoke } => {
                    ("deploy_and_invoke", Some(deployment), Some(invoke))
                }
            };
        let mut fee_fri = RELAY_OVERHEAD_L2_GAS.saturating_mul(now.l2_gas_price);
        if let Some(d) = &deployment {
            principal.check_user(d.address)?;
            self.check_deployment(d).await?;
            fee_fri = fee_fri.saturating_add(DEPLOY_L2_GAS.saturating_mul(now.l2_gas_price));
        }
        let mut response = json!({ "type": kind });
        if let Some(invoke) = invoke {
            let user = invoke.user_address;
            principal.check_user(user)?;
            let calls: Vec<Call> = invoke.calls.into_iter().map(Call::from).collect();
            principal.check_targets(&calls)?;
            match &deployment {
                Some(d) if d.address != user => {
                    return Err(PaymasterError::InvalidDeploymentData(
                        "the deployment's address is not the invoke's user_address".into(),
                    ))
                }
                Some(_) => {}
                None => {
                    self.check_account(user).await?;
                    fee_fri = fee_fri.saturating_add(self.simulate_user_calls(user, &calls).await?);
                }
            }
            let (fee, max_in_token) = self.fee_estimate(fee_fri, token)?;
            let mut signed_calls = calls;
            if let Some(t) = token {
                signed_calls.push(fee_transfer(t.address, self.fee_collector(), max_in_token));
            }
            let outside = OutsideExecution {
                caller: snip12::ANY_CALLER,
                nonce: random_felt(),
                execute_after,
                execute_before,
                calls: signed_calls,
            };
            response["typed_data"] = outside_execution_typed_data(&outside, self.inner.chain_id);
            response["fee"] = to_json(&fee)?;
        } else {
            response["fee"] = to_json(&self.fee_estimate(fee_fri, token)?.0)?;
        }
        if let Some(d) = deployment {
            response["deployment"] = to_json(&d)?;
        }
        parameters.time_bounds = Some(crate::api::TimeBounds {
            execute_after,
            execute_before,
        });
        response["parameters"] = to_json(&parameters)?;
        Ok(response)
    }

    /// `paymaster_executeTransaction`.
    pub async fn execute_transaction(
        &self,
        principal: &Principal,
        transaction: ExecutableTransaction,
        parameters: ExecutionParameters,
    ) -> Result<ExecuteResponse, PaymasterError> {
        check_version(&parameters)?;
        let token = self.gas_token(&parameters.fee_mode)?.cloned();
        let (deployment, invoke): (Option<DeploymentData>, Option<ExecutableInvoke>) =
            match transaction {
                ExecutableTransaction::Invoke { invoke } => (None, Some(invoke)),
                ExecutableTransaction::Deploy { deployment } => (Some(deployment), None),
                ExecutableTransaction::DeployAndInvoke { deployment, invoke } => {
                    (Some(deployment), Some(invoke))
                }
            };
        let mut relayer_calls = Vec::new();
        let (mut user, mut claim_nonce) = (Felt::ZERO, DEPLOY_MARKER);
        if let Some(d) = &deployment {
            principal.check_user(d.address)?;
            self.check_deployment(d).await?;
            relayer_calls.push(udc_deploy_call(d));
            user = d.address;
        }
        let mut fee_amount = None;
        if let Some(invoke) = invoke {
            match &deployment {
                Some(d) if d.address != invoke.user_address => {
                    return Err(PaymasterError::InvalidDeploymentData(
                        "the deployment's address is not the invoke's user_address".into(),
                    ))
                }
                Some(_) => {}
                None => self.check_account(invoke.user_address).await?,
            }
            user = invoke.user_address;
            principal.check_user(user)?;
            let outside = parse_outside_execution(&invoke.typed_data, self.inner.chain_id)
                .map_err(|e| PaymasterError::InvalidParams(e.to_string()))?;
            if outside.caller != snip12::ANY_CALLER {
                return Err(PaymasterError::InvalidParams(
                    "the outside execution's caller must be ANY_CALLER (a pool relays it)".into(),
                ));
            }
            let now = self.chain_now().await?.timestamp;
            if outside.execute_before <= now {
                return Err(PaymasterError::InvalidTimeBounds(format!(
                    "the execution expired at {} (chain time {now})",
                    outside.execute_before
                )));
            }
            let user_calls = match &token {
                Some(t) => {
                    let (amount, rest) =
                        split_fee_transfer(&outside.calls, t.address, self.fee_collector())?;
                    fee_amount = Some(amount);
                    rest
                }
                None => &outside.calls[..],
            };
            principal.check_targets(user_calls)?;
            let mut calldata = outside.to_felts();
            invoke.signature.cairo_serialize(&mut calldata);
            relayer_calls.push(Call {
                to: user,
                selector: SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
                calldata,
            });
            claim_nonce = outside.nonce;
        }
        let tracking_id = random_felt();
        let record = TrackingRecord {
            id: tracking_id,
            user_address: user,
            outside_nonce: claim_nonce,
            relayer_calls: relayer_calls.to_felts(),
            latest_hash: None,
            status: TrackingStatus::Active,
            resubmissions: 0,
            sent_at: 0,
        };
        if let Claim::Existing(existing) = self.inner.store.claim_execution(&record)? {
            // The same execution again (a client retry): answer with what was sent.
            return existing
                .latest_hash
                .map(|transaction_hash| ExecuteResponse {
                    tracking_id: existing.id,
                    transaction_hash,
                })
                .ok_or_else(|| {
                    PaymasterError::Unknown("this execution is being sent; retry shortly".into())
                });
        }
        let store = &self.inner.store;
        let cap = self.inner.config.max_fee_per_tx_fri;
        let day = unix_now() / 86_400;
        let sponsored = token.is_none();
        let sent = self
            .inner
            .pool
            .send(relayer_calls, |quote: &Quote| {
                if quote.max_fee > cap {
                    return Err(PaymasterError::FeeCapExceeded(format!(
                        "this transaction may cost up to {} FRI; the cap is {cap} FRI",
                        quote.max_fee
                    )));
                }
                match (&token, fee_amount) {
                    (Some(t), Some(amount)) => {
                        let required = to_token_units(quote.estimated_fee, t)?;
                        if amount < required {
                            return Err(PaymasterError::MaxAmountTooLow(format!(
                                "the signed fee transfer is {amount}, the fee is now {required}"
                            )));
                        }
                        Ok(())
                    }
                    _ => {
                        let budget = principal.api_key.daily_budget_fri;
                        if store.reserve_budget(
                            &principal.api_key.id,
                            day,
                            quote.max_fee,
                            budget,
                            tracking_id,
                        )? {
                            Ok(())
                        } else {
                            Err(PaymasterError::BudgetExceeded(format!(
                                "this key's daily budget of {budget} FRI would be exceeded"
                            )))
                        }
                    }
                }
            })
            .await;
        let sent = match sent {
            Ok(sent) => sent,
            Err(e) => {
                store.release_execution(tracking_id)?;
                if sponsored {
                    store.release_budget(tracking_id)?;
                }
                return Err(e);
            }
        };
        store.record_send(tracking_id, sent.transaction_hash, false, unix_now())?;
        self.inner.metrics.sent.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            principal = %principal.label(),
            tracking_id = %format_args!("{tracking_id:#x}"),
            tx = %format_args!("{:#x}", sent.transaction_hash),
            relayer = %format_args!("{:#x}", sent.relayer),
            max_fee = sent.quote.max_fee,
            "sent"
        );
        self.spawn_settlement(tracking_id, sent.transaction_hash);
        Ok(ExecuteResponse {
            tracking_id,
            transaction_hash: sent.transaction_hash,
        })
    }

    /// Waits for a receipt in the background; books the actual fee and marks the record
    /// accepted.
    fn spawn_settlement(&self, tracking_id: Felt, hash: Felt) {
        let this = self.clone();
        tokio::spawn(async move {
            for _ in 0..600 {
                match this.inner.provider.get_transaction_receipt(hash).await {
                    Ok(receipt) => {
                        let fee = match &receipt.receipt {
                            TransactionReceipt::Invoke(r) => {
                                u128::try_from(r.actual_fee.amount).unwrap_or(u128::MAX)
                            }
                            _ => 0,
                        };
                        let settled =
                            this.inner
                                .store
                                .settle_budget(tracking_id, fee)
                                .and_then(|()| {
                                    this.inner
                                        .store
                                        .set_status(tracking_id, TrackingStatus::Accepted)
                                });
                        if let Err(e) = settled {
                            tracing::warn!(error = %e, "could not record a settlement");
                        }
                        if let Ok(mut paid) = this.inner.metrics.fees_paid_fri.lock() {
                            *paid = paid.saturating_add(fee);
                        }
                        return;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
    }

    /// `paymaster_trackingIdToLatestHash`: the latest hash and status; a transaction the
    /// node has lost is sent again (same outside execution, new relayer transaction) if its
    /// outside nonce is still unused.
    pub async fn tracking_id_to_latest_hash(&self, id: Felt) -> Result<Value, PaymasterError> {
        let record = self
            .inner
            .store
            .tracking(id)?
            .ok_or_else(|| PaymasterError::InvalidId(format!("no tracking id {id:#x}")))?;
        let Some(hash) = record.latest_hash else {
            return Err(PaymasterError::InvalidId(format!("{id:#x} was never sent")));
        };
        let mut status = record.status;
        let mut latest = hash;
        if status == TrackingStatus::Active {
            match self.inner.provider.get_transaction_status(hash).await {
                Ok(TransactionStatus::Received | TransactionStatus::Candidate) => {}
                Ok(_) => {
                    status = TrackingStatus::Accepted;
                    self.inner.store.set_status(id, status)?;
                }
                Err(ProviderError::StarknetError(StarknetError::TransactionHashNotFound))
                    if unix_now().saturating_sub(record.sent_at)
                        >= self.inner.config.resubmit_after_secs =>
                {
                    (latest, status) = self.resubmit(&record).await?;
                }
                Err(ProviderError::StarknetError(StarknetError::TransactionHashNotFound)) => {}
                Err(other) => return Err(node_error(other)),
            }
        }
        Ok(json!({ "transaction_hash": hex(latest), "status": status }))
    }

    async fn resubmit(
        &self,
        record: &TrackingRecord,
    ) -> Result<(Felt, TrackingStatus), PaymasterError> {
        let calls = Vec::<Call>::from_felts(&record.relayer_calls)
            .map_err(|e| PaymasterError::Unknown(format!("storage: {e}")))?;
        let cap = self.inner.config.max_fee_per_tx_fri;
        let sent = self
            .inner
            .pool
            .send(calls, |q| {
                if q.max_fee > cap {
                    Err(PaymasterError::FeeCapExceeded(format!(
                        "{} FRI over the cap",
                        q.max_fee - cap
                    )))
                } else {
                    Ok(())
                }
            })
            .await;
        match sent {
            Ok(sent) => {
                self.inner
                    .store
                    .record_send(record.id, sent.transaction_hash, true, unix_now())?;
                self.inner.metrics.sent.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    tracking_id = %format_args!("{:#x}", record.id),
                    tx = %format_args!("{:#x}", sent.transaction_hash),
                    "resubmitted"
                );
                self.spawn_settlement(record.id, sent.transaction_hash);
                Ok((sent.transaction_hash, TrackingStatus::Active))
            }
            Err(e) => {
                // Typically the outside nonce was used meanwhile: nothing left to send.
                tracing::warn!(tracking_id = %format_args!("{:#x}", record.id), error = %e, "dropped");
                self.inner
                    .store
                    .set_status(record.id, TrackingStatus::Dropped)?;
                Ok((
                    record.latest_hash.unwrap_or_default(),
                    TrackingStatus::Dropped,
                ))
            }
        }
    }

    /// `paymaster_createClientSession` (API keys only).
    pub fn create_client_session(
        &self,
        principal: &Principal,
        request: CreateClientSession,
    ) -> Result<ClientSessionCreated, PaymasterError> {
        if principal.token.is_some() {
            return Err(PaymasterError::Unauthorized(
                "client session tokens are created with an API key".into(),
            ));
        }
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
        let (id, token, hash) = auth::new_client_token();
        let expires_at = unix_now() + ttl;
        self.inner.store.put_client_token(&ClientTokenRecord {
            id: id.clone(),
            api_key_id: principal.api_key.id.clone(),
            client_id: request.client_id,
            secret_hash: hash,
            user_addresses: request.user_addresses,
            expires_at,
            revoked: false,
        })?;
        Ok(ClientSessionCreated {
            id,
            client_session_token: token.to_string(),
            expires_at,
        })
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

fn check_version(parameters: &ExecutionParameters) -> Result<(), PaymasterError> {
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

/// `fee_fri` in units of `token`, rounded up.
fn to_token_units(fee_fri: u128, token: &GasTokenConfig) -> Result<u128, PaymasterError> {
    let scale = 10u128
        .checked_pow(u32::from(token.decimals))
        .ok_or_else(|| PaymasterError::Unknown("token decimals out of range".into()))?;
    fee_fri
        .checked_mul(scale)
        .map(|v| v.div_ceil(token.price_in_strk.max(1)))
        .ok_or_else(|| PaymasterError::Unknown("fee out of range".into()))
}

fn fee_transfer(token: Felt, collector: Felt, amount: u128) -> Call {
    let mut calldata = vec![collector];
    U256::from_u128(amount).cairo_serialize(&mut calldata);
    Call {
        to: token,
        selector: SELECTOR_TRANSFER,
        calldata,
    }
}

/// In default mode the last call must pay the fee to the collector; returns its amount and
/// the user's own calls.
fn split_fee_transfer(
    calls: &[Call],
    token: Felt,
    collector: Felt,
) -> Result<(u128, &[Call]), PaymasterError> {
    let missing = || {
        PaymasterError::MaxAmountTooLow("the execution does not end with the fee transfer".into())
    };
    let (last, rest) = calls.split_last().ok_or_else(missing)?;
    if last.to != token
        || last.selector != SELECTOR_TRANSFER
        || last.calldata.first() != Some(&collector)
    {
        return Err(missing());
    }
    let amount = U256::from_felts(&last.calldata[1..]).map_err(|_| missing())?;
    if amount.high != 0 {
        return Ok((u128::MAX, rest));
    }
    Ok((amount.low, rest))
}

fn udc_deploy_call(d: &DeploymentData) -> Call {
    let mut calldata = vec![d.class_hash, d.salt, Felt::ZERO];
    d.calldata.cairo_serialize(&mut calldata);
    Call {
        to: UdcSelector::New.address(),
        selector: selector!("deploy_contract"),
        calldata,
    }
}
