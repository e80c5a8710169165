//! The relayer pool: funded accounts that send the users' outside executions.
//!
//! Each relayer's nonce is held behind its own lock for the whole estimate-and-send, so
//! concurrent requests never reuse a nonce; after any node error the nonce is forgotten and
//! read again, and a nonce refusal is retried transparently with the node's nonce.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stark_sessions_abi::{Call, ContractError, Felt};
use starknet::accounts::{
    Account, AccountError, ConnectedAccount, ExecutionEncoding, SingleOwnerAccount,
};
use starknet::core::types::{
    BlockId, BlockTag, ContractExecutionError, FeeEstimate, StarknetError,
};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, ProviderError};
use starknet::signers::{LocalWallet, SigningKey};
use tokio::sync::Mutex;

use crate::config::RelayerConfig;
use crate::error::PaymasterError;

/// A relayer account on the configured node.
pub type RelayerAccount = SingleOwnerAccount<Arc<JsonRpcClient<HttpTransport>>, LocalWallet>;

/// How many times a nonce refusal is retried with a fresh nonce before giving up.
const NONCE_RETRIES: usize = 3;

struct Relayer {
    account: RelayerAccount,
    /// The next nonce to use; `None` means "ask the node".
    nonce: Mutex<Option<Felt>>,
}

/// What a relayed transaction will cost, from the estimate made just before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// The estimated fee, in FRI.
    pub estimated_fee: u128,
    /// The largest fee the transaction's resource bounds allow, in FRI.
    pub max_fee: u128,
    bounds: Bounds,
}

/// Resource bounds of a transaction: the estimate plus the margin, amounts and prices alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bounds {
    l1_gas: u64,
    l1_gas_price: u128,
    l2_gas: u64,
    l2_gas_price: u128,
    l1_data_gas: u64,
    l1_data_gas_price: u128,
}

impl Quote {
    /// The quote for an estimate, with `margin_percent` added to every amount and price.
    pub fn from_estimate(estimate: &FeeEstimate, margin_percent: u32) -> Self {
        let up64 = |v: u64| v.saturating_mul(100 + u64::from(margin_percent)) / 100;
        let up128 = |v: u128| v.saturating_mul(100 + u128::from(margin_percent)) / 100;
        let bounds = Bounds {
            l1_gas: up64(estimate.l1_gas_consumed),
            l1_gas_price: up128(estimate.l1_gas_price),
            l2_gas: up64(estimate.l2_gas_consumed),
            l2_gas_price: up128(estimate.l2_gas_price),
            l1_data_gas: up64(estimate.l1_data_gas_consumed),
            l1_data_gas_price: up128(estimate.l1_data_gas_price),
        };
        let cost = |amount: u64, price: u128| u128::from(amount).saturating_mul(price);
        let max_fee = cost(bounds.l1_gas, bounds.l1_gas_price)
            .saturating_add(cost(bounds.l2_gas, bounds.l2_gas_price))
            .saturating_add(cost(bounds.l1_data_gas, bounds.l1_data_gas_price));
        Quote {
            estimated_fee: estimate.overall_fee,
            max_fee,
            bounds,
        }
    }
}

/// A transaction handed to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its hash.
    pub transaction_hash: Felt,
    /// The relayer that sent it.
    pub relayer: Felt,
    /// Its cost bounds.
    pub quote: Quote,
}

/// The pool.
pub struct RelayerPool {
    relayers: Vec<Relayer>,
    next: AtomicUsize,
    margin_percent: u32,
}

impl std::fmt::Debug for RelayerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayerPool")
            .field("relayers", &self.addresses())
            .finish_non_exhaustive()
    }
}

impl RelayerPool {
    /// Relayers on `provider`'s chain.
    pub fn new(
        provider: Arc<JsonRpcClient<HttpTransport>>,
        chain_id: Felt,
        relayers: &[RelayerConfig],
        margin_percent: u32,
    ) -> Self {
        let relayers = relayers
            .iter()
            .map(|r| {
                let mut account = SingleOwnerAccount::new(
                    provider.clone(),
                    LocalWallet::from_signing_key(SigningKey::from_secret_scalar(r.private_key)),
                    r.address,
                    chain_id,
                    ExecutionEncoding::New,
                );
                account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
                Relayer {
                    account,
                    nonce: Mutex::new(None),
                }
            })
            .collect();
        RelayerPool {
            relayers,
            next: AtomicUsize::new(0),
            margin_percent,
        }
    }

    /// The relayers' addresses.
    pub fn addresses(&self) -> Vec<Felt> {
        self.relayers.iter().map(|r| r.account.address()).collect()
    }

    /// Estimates `calls` from a free relayer (the first idle one from a rotating start, else
    /// the next in turn), lets `approve` accept or refuse the quote, then sends. A doomed
    /// execution fails in the estimate and costs nothing.
    pub async fn send(
        &self,
        calls: Vec<Call>,
        approve: impl FnOnce(&Quote) -> Result<(), PaymasterError>,
    ) -> Result<Sent, PaymasterError> {
        if self.relayers.is_empty() {
            return Err(PaymasterError::Unknown("no relayers configured".into()));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.relayers.len();
        let mut chosen = None;
        for i in 0..n {
            let relayer = &self.relayers[(start + i) % n];
            if let Ok(guard) = relayer.nonce.try_lock() {
                chosen = Some((relayer, guard));
                break;
            }
        }
        let (relayer, mut nonce) = match chosen {
            Some(c) => c,
            None => {
                let relayer = &self.relayers[start % n];
                (relayer, relayer.nonce.lock().await)
            }
        };
        let mut approve = Some(approve);
        let mut quote: Option<Quote> = None;
        for _ in 0..=NONCE_RETRIES {
            let current = match *nonce {
                Some(n) => n,
                None => relayer
                    .account
                    .get_nonce()
                    .await
                    .map_err(|e| PaymasterError::Unknown(format!("node: {e}")))?,
            };
            let q = match quote {
                Some(q) => q,
                None => {
                    let estimated = relayer
                        .account
                        .execute_v3(calls.clone())
                        .nonce(current)
                        .estimate_fee()
                        .await;
                    let estimate = match estimated {
                        Ok(e) => e,
                        Err(e) => {
                            *nonce = None;
                            if is_nonce_error(&e) {
                                continue;
                            }
                            return Err(classify(e));
                        }
                    };
                    let q = Quote::from_estimate(&estimate, self.margin_percent);
                    if let Some(approve) = approve.take() {
                        approve(&q)?;
                    }
                    quote = Some(q);
                    q
                }
            };
            let b = q.bounds;
            let sent = relayer
                .account
                .execute_v3(calls.clone())
                .nonce(current)
                .l1_gas(b.l1_gas)
                .l1_gas_price(b.l1_gas_price)
                .l2_gas(b.l2_gas)
                .l2_gas_price(b.l2_gas_price)
                .l1_data_gas(b.l1_data_gas)
                .l1_data_gas_price(b.l1_data_gas_price)
                .send()
                .await;
            match sent {
                Ok(result) => {
                    *nonce = Some(current + Felt::ONE);
                    return Ok(Sent {
                        transaction_hash: result.transaction_hash,
                        relayer: relayer.account.address(),
                        quote: q,
                    });
                }
                Err(e) => {
                    *nonce = None;
                    if !is_nonce_error(&e) {
                        return Err(classify(e));
                    }
                }
            }
        }
        Err(PaymasterError::Unknown(
            "the relayer's nonce kept changing; try again".into(),
        ))
    }
}

fn is_nonce_error<S>(e: &AccountError<S>) -> bool {
    match e {
        AccountError::Provider(ProviderError::StarknetError(
            StarknetError::InvalidTransactionNonce(_),
        )) => true,
        AccountError::Provider(ProviderError::StarknetError(
            StarknetError::TransactionExecutionError(data),
        )) => {
            // Nodes report a stale nonce in estimates as an execution error ("Account
            // transaction nonce is invalid."); the account's own outside-execution nonce
            // errors ("outside/nonce-used") do not mention a transaction nonce.
            execution_error_text(&data.execution_error)
                .to_ascii_lowercase()
                .contains("transaction nonce")
        }
        _ => false,
    }
}

/// The innermost message of a contract execution error.
pub fn execution_error_text(e: &ContractExecutionError) -> String {
    match e {
        ContractExecutionError::Message(m) => m.clone(),
        ContractExecutionError::Nested(inner) => execution_error_text(&inner.error),
    }
}

/// Maps a failed estimate or send to the paymaster error a client should see: a signature the
/// account refuses is 153, any other refusal 156 with the execution error, node trouble 163.
pub fn classify<S: std::fmt::Display>(e: AccountError<S>) -> PaymasterError {
    let reason = match &e {
        AccountError::Provider(ProviderError::StarknetError(
            StarknetError::TransactionExecutionError(data),
        )) => execution_error_text(&data.execution_error),
        AccountError::Provider(ProviderError::StarknetError(StarknetError::ValidationFailure(
            m,
        ))) => m.clone(),
        AccountError::Provider(ProviderError::StarknetError(
            StarknetError::InsufficientAccountBalance,
        )) => {
            return PaymasterError::Unknown("the relayer cannot pay this fee".into());
        }
        AccountError::Provider(ProviderError::StarknetError(other)) => {
            return PaymasterError::TransactionExecution(other.to_string());
        }
        other => return PaymasterError::Unknown(format!("node: {other}")),
    };
    classify_reason(reason)
}

/// 153 for a signature refusal named in `reason`, else 156.
pub fn classify_reason(reason: String) -> PaymasterError {
    let lower = reason.to_ascii_lowercase();
    let signature = ContractError::from_revert_reason(&reason)
        .is_some_and(ContractError::is_signature_error)
        || lower.contains("invalid signature")
        || lower.contains("invalid_sig");
    if signature {
        PaymasterError::InvalidSignature(reason)
    } else {
        PaymasterError::TransactionExecution(reason)
    }
}
