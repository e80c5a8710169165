//! Declaring, deploying and funding contracts on the devnet.

use std::sync::Arc;
use std::time::Duration;

use stark_sessions_abi::class::CompiledClass;
use starknet::accounts::{
    Account, AccountFactory, ExecutionEncoding, OpenZeppelinAccountFactory, SingleOwnerAccount,
};
use starknet::contract::{ContractFactory, UdcSelector};
use starknet::core::types::{
    BlockId, BlockTag, Call, ExecutionResult, Felt, StarknetError, TransactionReceiptWithBlockInfo,
};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider, ProviderError};
use starknet::signers::{LocalWallet, SigningKey};
use starknet_api::contract_class::compiled_class_hash::{HashVersion, HashableCompiledClass};

use crate::node::Devnet;
use crate::{DevnetError, STRK_ADDRESS};

/// An account on the devnet signed by a local key: a predeployed one, or a session account's
/// owner.
pub type DevnetAccount = SingleOwnerAccount<Arc<JsonRpcClient<HttpTransport>>, LocalWallet>;

/// A deployed session account and its owner's key.
pub struct SessionAccountHandle {
    /// The account's address.
    pub address: Felt,
    /// The owner's signing key.
    pub owner: SigningKey,
    /// The account, signing as its owner (`[r, s]` over the transaction hash).
    pub account: DevnetAccount,
}

impl std::fmt::Debug for SessionAccountHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionAccountHandle")
            .field("address", &format_args!("{:#x}", self.address))
            .finish_non_exhaustive()
    }
}

fn tx_error(e: impl std::fmt::Display) -> DevnetError {
    DevnetError::Transaction(e.to_string())
}

/// The hash of the CASM the devnet's compiler makes of `class` (hash version 2, Blake), what
/// a DECLARE v3 commits to.
pub fn compiled_class_hash(class: &CompiledClass) -> Result<Felt, DevnetError> {
    let json: serde_json::Value = serde_json::from_str(class.sierra_json)
        .map_err(|e| DevnetError::Transaction(format!("class JSON: {e}")))?;
    let casm = starknet_devnet_types::compile_sierra_contract_json(json)
        .map_err(|e| DevnetError::Transaction(format!("Sierra to CASM: {e}")))?;
    Ok(casm.hash(&HashVersion::V2).0)
}

impl Devnet {
    /// An account at `address` signed by `key`, reading state at the pre-confirmed block so
    /// that nonces follow at once.
    pub fn account_with_key(&self, address: Felt, key: SigningKey) -> DevnetAccount {
        let mut account = SingleOwnerAccount::new(
            self.provider.clone(),
            LocalWallet::from_signing_key(key),
            address,
            self.chain_id,
            ExecutionEncoding::New,
        );
        account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        account
    }

    /// The predeployed account at `index`.
    pub fn predeployed(&self, index: usize) -> Result<DevnetAccount, DevnetError> {
        let entry = self
            .accounts
            .get(index)
            .ok_or_else(|| DevnetError::Start(format!("no predeployed account #{index}")))?;
        Ok(self.account_with_key(
            entry.address,
            SigningKey::from_secret_scalar(entry.private_key),
        ))
    }

    /// Waits for a transaction's receipt and fails if it reverted.
    pub async fn receipt(
        &self,
        hash: Felt,
    ) -> Result<TransactionReceiptWithBlockInfo, DevnetError> {
        let receipt = self.receipt_allowing_revert(hash).await?;
        if let ExecutionResult::Reverted { reason } = receipt.receipt.execution_result() {
            return Err(DevnetError::Transaction(format!(
                "{hash:#x} reverted: {reason}"
            )));
        }
        Ok(receipt)
    }

    /// Waits for a transaction's receipt, reverted or not.
    pub async fn receipt_allowing_revert(
        &self,
        hash: Felt,
    ) -> Result<TransactionReceiptWithBlockInfo, DevnetError> {
        for _ in 0..200 {
            match self.provider.get_transaction_receipt(hash).await {
                Ok(receipt) => return Ok(receipt),
                Err(ProviderError::StarknetError(StarknetError::TransactionHashNotFound)) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(DevnetError::Rpc {
                        method: "starknet_getTransactionReceipt".into(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        Err(DevnetError::Transaction(format!(
            "no receipt for {hash:#x} after 10 s"
        )))
    }

    /// Declares `class` from predeployed account 0 unless the node knows it; returns its hash.
    pub async fn declare(&self, class: &CompiledClass) -> Result<Felt, DevnetError> {
        if self
            .provider
            .get_class(BlockId::Tag(BlockTag::Latest), class.class_hash)
            .await
            .is_ok()
        {
            return Ok(class.class_hash);
        }
        let compiled_class_hash = compiled_class_hash(class)?;
        let declarer = self.predeployed(0)?;
        let result = declarer
            .declare_v3(class.flattened.clone(), compiled_class_hash)
            .send()
            .await
            .map_err(tx_error)?;
        self.receipt(result.transaction_hash).await?;
        Ok(result.class_hash)
    }

    /// Deploys an instance of a declared class through the UDC from predeployed account 0.
    pub async fn deploy_contract(
        &self,
        class_hash: Felt,
        constructor_calldata: Vec<Felt>,
        salt: Felt,
    ) -> Result<Felt, DevnetError> {
        let factory =
            ContractFactory::new_with_udc(class_hash, self.predeployed(0)?, UdcSelector::New);
        let deployment = factory.deploy_v3(constructor_calldata, salt, false);
        let address = deployment.deployed_address();
        let result = deployment.send().await.map_err(tx_error)?;
        self.receipt(result.transaction_hash).await?;
        Ok(address)
    }

    /// Declares the session account class (once per node); returns its class hash.
    pub async fn declare_session_account(&self) -> Result<Felt, DevnetError> {
        self.declare(&stark_sessions_abi::class::session_account()?)
            .await
    }

    /// A handle on the session account at `address`, signing as `owner`.
    pub fn session_account_handle(&self, address: Felt, owner: SigningKey) -> SessionAccountHandle {
        let account = self.account_with_key(address, owner.clone());
        SessionAccountHandle {
            address,
            owner,
            account,
        }
    }

    /// Declares the session account and deploys one for `owner` through the UDC, funded with
    /// `fund_fri` STRK (FRI) so that its owner can send transactions.
    pub async fn deploy_session_account_udc(
        &self,
        owner: SigningKey,
        salt: Felt,
        fund_fri: u128,
    ) -> Result<SessionAccountHandle, DevnetError> {
        let class_hash = self.declare_session_account().await?;
        let public_key = owner.verifying_key().scalar();
        let address = self
            .deploy_contract(class_hash, vec![public_key], salt)
            .await?;
        if fund_fri > 0 {
            self.mint_strk(address, fund_fri).await?;
        }
        Ok(self.session_account_handle(address, owner))
    }

    /// Deploys a session account for `owner` counterfactually: computes its address, funds it,
    /// and sends its own DEPLOY_ACCOUNT transaction (validated by `__validate_deploy__`).
    pub async fn deploy_session_account(
        &self,
        owner: SigningKey,
        salt: Felt,
        fund_fri: u128,
    ) -> Result<SessionAccountHandle, DevnetError> {
        let class_hash = self.declare_session_account().await?;
        let mut factory = OpenZeppelinAccountFactory::new(
            class_hash,
            self.chain_id,
            LocalWallet::from_signing_key(owner.clone()),
            self.provider.clone(),
        )
        .await
        .map_err(tx_error)?;
        factory.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        let deployment = factory.deploy_v3(salt);
        let address = deployment.address();
        self.mint_strk(address, fund_fri.max(1)).await?;
        let result = deployment.send().await.map_err(tx_error)?;
        self.receipt(result.transaction_hash).await?;
        Ok(self.session_account_handle(address, owner))
    }

    /// Calls a view function at the pre-confirmed block.
    pub async fn call(
        &self,
        to: Felt,
        selector: Felt,
        calldata: Vec<Felt>,
    ) -> Result<Vec<Felt>, DevnetError> {
        self.provider
            .call(
                starknet::core::types::FunctionCall {
                    contract_address: to,
                    entry_point_selector: selector,
                    calldata,
                },
                BlockId::Tag(BlockTag::PreConfirmed),
            )
            .await
            .map_err(|e| DevnetError::Rpc {
                method: "starknet_call".into(),
                reason: e.to_string(),
            })
    }

    /// STRK balance of `address`, in FRI.
    pub async fn strk_balance(&self, address: Felt) -> Result<u128, DevnetError> {
        let out = self
            .call(
                STRK_ADDRESS,
                stark_sessions_abi::constants::SELECTOR_BALANCE_OF,
                vec![address],
            )
            .await?;
        let low = out.first().copied().unwrap_or_default();
        u128::try_from(low)
            .map_err(|_| DevnetError::Transaction("balance does not fit u128".into()))
    }

    /// Sends `calls` from `account` as an INVOKE v3 and waits for a successful receipt.
    pub async fn invoke(
        &self,
        account: &DevnetAccount,
        calls: Vec<Call>,
    ) -> Result<TransactionReceiptWithBlockInfo, DevnetError> {
        let result = account.execute_v3(calls).send().await.map_err(tx_error)?;
        self.receipt(result.transaction_hash).await
    }
}

/// Resources a transaction consumed, whatever its kind.
pub fn execution_resources(
    receipt: &starknet::core::types::TransactionReceipt,
) -> &starknet::core::types::ExecutionResources {
    use starknet::core::types::TransactionReceipt as R;
    match receipt {
        R::Invoke(r) => &r.execution_resources,
        R::L1Handler(r) => &r.execution_resources,
        R::Declare(r) => &r.execution_resources,
        R::Deploy(r) => &r.execution_resources,
        R::DeployAccount(r) => &r.execution_resources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_compiled_class_hash_is_the_compilers() {
        let class = stark_sessions_abi::class::session_account().expect("class");
        let computed = compiled_class_hash(&class).expect("compiles");
        println!("compiled class hash {computed:#x}");
        assert_eq!(
            computed,
            stark_sessions_abi::class::SESSION_ACCOUNT_COMPILED_CLASS_HASH,
            "update SESSION_ACCOUNT_COMPILED_CLASS_HASH in crates/abi/src/class.rs"
        );
    }
}
