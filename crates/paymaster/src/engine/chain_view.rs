//! The engine's view of the chain: the few node requests its parts make, behind
//! [`ChainView`], so that each part is tested against a scripted chain as well as a node.
//! [`RpcChain`] is the view through a JSON-RPC node.

use async_trait::async_trait;
use stark_sessions_abi::{Call, Felt};
use starknet::accounts::Account;
use starknet::core::types::{
    BlockId, BlockTag, BroadcastedInvokeTransaction, FeeEstimate, TransactionReceiptWithBlockInfo,
    TransactionTrace,
};
use starknet::providers::Provider;

use crate::node_error::NodeError;
use crate::relayer::Relayer;

/// What the engine asks of the chain. Every answer is either the node's answer or a
/// [`NodeError`]: a definite refusal (a Starknet JSON-RPC error) or no answer at all.
#[async_trait]
pub(crate) trait ChainView: Send + Sync {
    /// The next nonce of `account` at the pre-confirmed block (what the next transaction
    /// must use).
    async fn nonce(&self, account: Felt) -> Result<Felt, NodeError>;

    /// The fee of sending `calls` from `relayer` at `nonce`, validation included: the node
    /// executes the transaction, so a call that would fail fails here. (The relayer's account
    /// signs the estimate; it is connected to the same node.)
    async fn estimate(
        &self,
        relayer: &Relayer,
        nonce: Felt,
        calls: Vec<Call>,
    ) -> Result<FeeEstimate, NodeError>;

    /// Hands a signed transaction to the node; the hash the node computed for it.
    async fn send(&self, request: &BroadcastedInvokeTransaction) -> Result<Felt, NodeError>;

    /// Whether the node knows the transaction `hash` (in its pool or in a block): `Ok` if it
    /// does, [`starknet::core::types::StarknetError::TransactionHashNotFound`] if not.
    async fn status(&self, hash: Felt) -> Result<(), NodeError>;

    /// The receipt of a transaction in a block.
    async fn receipt(&self, hash: Felt) -> Result<TransactionReceiptWithBlockInfo, NodeError>;

    /// The trace of a transaction in a block.
    async fn trace(&self, hash: Felt) -> Result<TransactionTrace, NodeError>;
}

/// The chain as a JSON-RPC node shows it.
pub(crate) struct RpcChain {
    node: stark_sessions_rpc::Node,
}

impl RpcChain {
    /// The view through `node`.
    pub fn new(node: stark_sessions_rpc::Node) -> Self {
        RpcChain { node }
    }
}

#[async_trait]
impl ChainView for RpcChain {
    async fn nonce(&self, account: Felt) -> Result<Felt, NodeError> {
        Ok(self
            .node
            .get_nonce(BlockId::Tag(BlockTag::PreConfirmed), account)
            .await?)
    }

    async fn estimate(
        &self,
        relayer: &Relayer,
        nonce: Felt,
        calls: Vec<Call>,
    ) -> Result<FeeEstimate, NodeError> {
        Ok(relayer
            .account
            .execute_v3(calls)
            .nonce(nonce)
            .tip(0)
            .estimate_fee()
            .await?)
    }

    async fn send(&self, request: &BroadcastedInvokeTransaction) -> Result<Felt, NodeError> {
        Ok(self
            .node
            .add_invoke_transaction(request)
            .await?
            .transaction_hash)
    }

    async fn status(&self, hash: Felt) -> Result<(), NodeError> {
        self.node.get_transaction_status(hash).await?;
        Ok(())
    }

    async fn receipt(&self, hash: Felt) -> Result<TransactionReceiptWithBlockInfo, NodeError> {
        Ok(self.node.get_transaction_receipt(hash).await?)
    }

    async fn trace(&self, hash: Felt) -> Result<TransactionTrace, NodeError> {
        Ok(self.node.trace_transaction(hash).await?)
    }
}
