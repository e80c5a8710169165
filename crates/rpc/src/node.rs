//! A node handle and the reads every crate makes of it.

use std::sync::Arc;
use std::time::Duration;

use starknet::core::types::{
    BlockId, BlockTag, Felt, FunctionCall, MaybePreConfirmedBlockWithTxHashes,
};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider, ProviderError};
use url::Url;

/// A JSON-RPC client of one node, shared between tasks.
pub type Node = Arc<JsonRpcClient<HttpTransport>>;

/// How long a node request may take unless the caller says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of the node at `url` whose every request times out after `timeout`.
pub fn connect(url: Url, timeout: Duration) -> Result<Node, reqwest::Error> {
    let http = reqwest::Client::builder()
        .timeout(timeout.max(Duration::from_millis(1)))
        .build()?;
    Ok(Arc::new(JsonRpcClient::new(
        HttpTransport::new_with_client(url, http),
    )))
}

/// A view call on `to`, against the pre-confirmed block (what the next transaction sees).
pub async fn view(
    node: &JsonRpcClient<HttpTransport>,
    to: Felt,
    selector: Felt,
    calldata: Vec<Felt>,
) -> Result<Vec<Felt>, ProviderError> {
    let call = FunctionCall {
        contract_address: to,
        entry_point_selector: selector,
        calldata,
    };
    node.call(call, BlockId::Tag(BlockTag::PreConfirmed)).await
}

/// The timestamp of the latest block: the clock the contracts' rules run on.
pub async fn block_timestamp(node: &JsonRpcClient<HttpTransport>) -> Result<u64, ProviderError> {
    let block = node
        .get_block_with_tx_hashes(BlockId::Tag(BlockTag::Latest))
        .await?;
    Ok(match block {
        MaybePreConfirmedBlockWithTxHashes::Block(b) => b.timestamp,
        MaybePreConfirmedBlockWithTxHashes::PreConfirmedBlock(b) => b.timestamp,
    })
}

/// The chain id the node answers.
pub async fn chain_id(node: &JsonRpcClient<HttpTransport>) -> Result<Felt, ProviderError> {
    node.chain_id().await
}
