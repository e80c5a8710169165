//! Relayers — funded accounts that send the users' outside executions — and what a relayer
//! transaction costs: quotes from estimates. (Node errors are mapped in `node_error`.)
//!
//! A relayer's nonce belongs to its sender task in the engine (`engine::sender`), which alone
//! sends from it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use stark_sessions_abi::Felt;
use starknet::accounts::{Account, ExecutionEncoding, SingleOwnerAccount};
use starknet::core::types::{BlockId, BlockTag, FeeEstimate};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::JsonRpcClient;
use starknet::signers::{LocalWallet, SigningKey};

use crate::config::RelayerConfig;

/// A relayer account on the configured node.
pub type RelayerAccount = SingleOwnerAccount<Arc<JsonRpcClient<HttpTransport>>, LocalWallet>;

/// One relayer account.
pub struct Relayer {
    /// The account.
    pub account: RelayerAccount,
    /// Set when someone outside the relayer's sender learns that its cached nonce is stale.
    resync: AtomicBool,
}

impl std::fmt::Debug for Relayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relayer")
            .field("address", &format_args!("{:#x}", self.account.address()))
            .finish_non_exhaustive()
    }
}

impl Relayer {
    /// The relayer on `provider`'s chain (reads at the pre-confirmed block).
    pub fn new(
        provider: Arc<JsonRpcClient<HttpTransport>>,
        chain_id: Felt,
        config: &RelayerConfig,
    ) -> Self {
        let mut account = SingleOwnerAccount::new(
            provider,
            LocalWallet::from_signing_key(SigningKey::from_secret_scalar(config.private_key)),
            config.address,
            chain_id,
            ExecutionEncoding::New,
        );
        account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        Relayer {
            account,
            resync: AtomicBool::new(false),
        }
    }

    /// Its address.
    pub fn address(&self) -> Felt {
        self.account.address()
    }

    /// Asks the sender to read the nonce from the node before its next transaction.
    pub fn request_resync(&self) {
        self.resync.store(true, Ordering::Release);
    }

    /// Whether a resync was asked for (and clears the request).
    pub fn take_resync(&self) -> bool {
        self.resync.swap(false, Ordering::AcqRel)
    }
}

/// What a relayed transaction will cost, from the estimate made just before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// The estimated fee, in FRI.
    pub estimated_fee: u128,
    /// The largest fee the transaction's resource bounds allow, in FRI.
    pub max_fee: u128,
    /// The transaction's resource bounds.
    pub bounds: Bounds,
}

/// Resource bounds of a transaction: the estimate plus the margin, amounts and prices alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// L1 gas.
    pub l1_gas: u64,
    /// L1 gas price.
    pub l1_gas_price: u128,
    /// L2 gas.
    pub l2_gas: u64,
    /// L2 gas price.
    pub l2_gas_price: u128,
    /// L1 data gas.
    pub l1_data_gas: u64,
    /// L1 data gas price.
    pub l1_data_gas_price: u128,
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

    /// The quote with `extra` more units of L2 gas allowed (and the maximum fee raised by
    /// what they may cost): a transaction signed again for the same executions at the same
    /// nonce and prices then has a hash of its own.
    pub fn with_extra_l2_gas(self, extra: u64) -> Self {
        let mut quote = self;
        quote.bounds.l2_gas = quote.bounds.l2_gas.saturating_add(extra);
        quote.max_fee = quote
            .max_fee
            .saturating_add(u128::from(extra).saturating_mul(quote.bounds.l2_gas_price));
        quote
    }
}

// The node-error mapping lives in `node_error`; these names stay here for the crate's users.
pub use crate::node_error::{classify, classify_reason, execution_error_text};
