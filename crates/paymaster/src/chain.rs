//! What the paymaster reads from the chain: views, the chain's time and gas price, and whether
//! an account or a deployment is one it serves. Hot reads are cached briefly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stark_sessions_abi::constants::{
    ISRC9_V2_ID, SELECTOR_BALANCE_OF, SELECTOR_SUPPORTS_INTERFACE,
};
use stark_sessions_abi::Felt;
use starknet::core::types::{BlockId, BlockTag, MaybePreConfirmedBlockWithTxHashes, StarknetError};
use starknet::core::utils::{get_udc_deployed_address, UdcUniqueness};
use starknet::providers::{Provider, ProviderError};

use crate::api::DeploymentData;
use crate::classes::Serving;
use crate::error::PaymasterError;
use crate::node_error::{classify_reason, execution_error_text, node_error};
use crate::service::Paymaster;

/// How long the chain's time and gas price are reused.
const CHAIN_NOW_TTL: Duration = Duration::from_millis(250);
/// How long an account stays known as served.
const ACCOUNT_TTL: Duration = Duration::from_secs(60);

/// The chain's latest block time and L2 gas price.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainNow {
    pub timestamp: u64,
    pub l2_gas_price: u128,
}

/// Short-lived answers of the node.
#[derive(Debug, Default)]
pub(crate) struct ChainCache {
    now: Mutex<Option<(Instant, ChainNow)>>,
    served_accounts: Mutex<HashMap<Felt, Instant>>,
}

fn pre_confirmed() -> BlockId {
    BlockId::Tag(BlockTag::PreConfirmed)
}

impl Paymaster {
    /// Calls a view at the pre-confirmed block.
    pub(crate) async fn view(
        &self,
        to: Felt,
        selector: Felt,
        calldata: Vec<Felt>,
    ) -> Result<Vec<Felt>, PaymasterError> {
        stark_sessions_rpc::view(&self.inner.provider, to, selector, calldata)
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

    /// STRK balance of `address`, in FRI.
    pub(crate) async fn strk_balance(&self, address: Felt) -> Result<u128, PaymasterError> {
        let out = self
            .view(
                crate::config::STRK_TOKEN,
                SELECTOR_BALANCE_OF,
                vec![address],
            )
            .await?;
        let low = out.first().copied().unwrap_or_default();
        Ok(u128::try_from(low).unwrap_or(u128::MAX))
    }

    /// The latest block's time and L2 gas price (reused for a quarter of a second).
    pub(crate) async fn chain_now(&self) -> Result<ChainNow, PaymasterError> {
        let cache = &self.inner.cache;
        if let Ok(cached) = cache.now.lock() {
            if let Some((at, now)) = *cached {
                if at.elapsed() < CHAIN_NOW_TTL {
                    return Ok(now);
                }
            }
        }
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
        let now = ChainNow {
            timestamp,
            l2_gas_price: u128::try_from(price.price_in_fri).unwrap_or(u128::MAX),
        };
        if let Ok(mut cached) = cache.now.lock() {
            *cached = Some((Instant::now(), now));
        }
        Ok(now)
    }

    /// Refuses an address with no contract (150) or whose class this paymaster does not serve
    /// (155). An account found served is remembered for a minute.
    pub(crate) async fn check_account(&self, user: Felt) -> Result<(), PaymasterError> {
        let served_recently = self
            .inner
            .cache
            .served_accounts
            .lock()
            .ok()
            .and_then(|m| m.get(&user).copied())
            .is_some_and(|at| at.elapsed() < ACCOUNT_TTL);
        if served_recently {
            return Ok(());
        }
        let class_hash = self
            .inner
            .provider
            .get_class_hash_at(pre_confirmed(), user)
            .await
            .map_err(|e| match e {
                ProviderError::StarknetError(StarknetError::ContractNotFound) => {
                    PaymasterError::InvalidAddress(format!("no account deployed at {user:#x}"))
                }
                other => node_error(other),
            })?;
        let served = match self.inner.classes.serves(class_hash) {
            Serving::Served => true,
            Serving::IfSnip9 => {
                let out = self
                    .view(user, SELECTOR_SUPPORTS_INTERFACE, vec![ISRC9_V2_ID])
                    .await
                    .unwrap_or_default();
                out.first() == Some(&Felt::ONE)
            }
            Serving::Refused => false,
        };
        if !served {
            return Err(self.inner.classes.refusal(class_hash, user));
        }
        if let Ok(mut m) = self.inner.cache.served_accounts.lock() {
            m.insert(user, Instant::now());
        }
        Ok(())
    }

    /// Refuses deployment data that is malformed (158), of a class not served (155) or not
    /// declared (159).
    pub(crate) async fn check_deployment(&self, d: &DeploymentData) -> Result<(), PaymasterError> {
        if d.version != 1 {
            return Err(PaymasterError::InvalidDeploymentData(format!(
                "version {} (only 1 is defined)",
                d.version
            )));
        }
        if !self.inner.classes.deploys(d.class_hash) {
            return Err(PaymasterError::ClassHashNotSupported(format!(
                "this paymaster does not deploy class {:#x}",
                d.class_hash
            )));
        }
        self.inner
            .provider
            .get_class(pre_confirmed(), d.class_hash)
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
            .get_class_hash_at(pre_confirmed(), d.address)
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
}
