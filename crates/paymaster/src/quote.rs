//! Quoting: `paymaster_buildTransaction` — the execution window, the advisory fee of the user's
//! calls (remembered per account class and call shape, see [`crate::estimates`]: the first
//! request of a shape simulates them and so refuses a call that cannot succeed; the others
//! cost the node no execution, the engine's simulation before sending being the one that
//! decides) and, in default mode, the fee transfer appended to the calls to sign.

use serde_json::{json, Value};
use stark_sessions_abi::constants::SELECTOR_TRANSFER;
use stark_sessions_abi::typed_data::outside_execution_typed_data;
use stark_sessions_abi::{snip12, CairoSerde, Call, Felt, OutsideExecution, U256};
use starknet::core::types::{
    BlockId, BlockTag, BroadcastedInvokeTransaction, BroadcastedInvokeTransactionV3,
    BroadcastedTransaction, DataAvailabilityMode, ResourceBounds, ResourceBoundsMapping,
    SimulationFlagForEstimateFee, StarknetError,
};
use starknet::providers::{Provider, ProviderError};

use crate::api::{
    u256_hex, DeploymentData, ExecutionParameters, FeeEstimate, TimeBounds, UserInvoke,
    UserTransaction,
};
use crate::auth::Principal;
use crate::config::GasTokenConfig;
use crate::error::PaymasterError;
use crate::estimates::{Lookup, Shape};
use crate::relayer::classify;
use crate::service::{check_version, node_error, to_json, Paymaster};

/// Extra L2 gas of relaying an execution rather than executing it directly: the relayer's
/// validation and execution plus `execute_from_outside_v2` (measured ≈ 1.55 M on devnet).
/// Used only for the advisory fee of `buildTransaction`; the engine simulates exactly.
const RELAY_OVERHEAD_L2_GAS: u128 = 1_600_000;
/// L2 gas of deploying an account through the UDC, for the same advisory estimate.
const DEPLOY_L2_GAS: u128 = 1_500_000;
/// 10^18: the price of one STRK in FRI.
const ONE_STRK: u128 = 1_000_000_000_000_000_000;

/// `fee_fri` in units of `token`, rounded up.
pub(crate) fn to_token_units(
    fee_fri: u128,
    token: &GasTokenConfig,
) -> Result<u128, PaymasterError> {
    let scale = 10u128
        .checked_pow(u32::from(token.decimals))
        .ok_or_else(|| PaymasterError::Unknown("token decimals out of range".into()))?;
    fee_fri
        .checked_mul(scale)
        .map(|v| v.div_ceil(token.price_in_strk.max(1)))
        .ok_or_else(|| PaymasterError::Unknown("fee out of range".into()))
}

/// The default-mode fee transfer: `amount` of `token` to `collector`.
pub(crate) fn fee_transfer(token: Felt, collector: Felt, amount: u128) -> Call {
    let mut calldata = vec![collector];
    U256::from_u128(amount).cairo_serialize(&mut calldata);
    Call {
        to: token,
        selector: SELECTOR_TRANSFER,
        calldata,
    }
}

/// The three transaction kinds, taken apart.
type Parts = (&'static str, Option<DeploymentData>, Option<UserInvoke>);

fn parts(transaction: UserTransaction) -> Parts {
    match transaction {
        UserTransaction::Invoke { invoke } => ("invoke", None, Some(invoke)),
        UserTransaction::Deploy { deployment } => ("deploy", Some(deployment), None),
        UserTransaction::DeployAndInvoke { deployment, invoke } => {
            ("deploy_and_invoke", Some(deployment), Some(invoke))
        }
    }
}

impl Paymaster {
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
        let (kind, deployment, invoke) = parts(transaction);
        let mut fee_fri = RELAY_OVERHEAD_L2_GAS.saturating_mul(now.l2_gas_price);
        if let Some(d) = &deployment {
            principal.check_user(d.address)?;
            self.check_deployment(d).await?;
            fee_fri = fee_fri.saturating_add(DEPLOY_L2_GAS.saturating_mul(now.l2_gas_price));
        }
        let mut response = json!({ "type": kind });
        match invoke {
            Some(invoke) => {
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
                        let calls_fee = self.user_calls_fee(user, &calls, now.l2_gas_price).await?;
                        fee_fri = fee_fri.saturating_add(calls_fee);
                    }
                }
                let (fee, max_in_token) = self.fee_estimate(fee_fri, token)?;
                let mut signed_calls = calls;
                if let Some(t) = token {
                    signed_calls.push(fee_transfer(t.address, self.fee_collector(), max_in_token));
                }
                let outside = OutsideExecution {
                    caller: snip12::ANY_CALLER,
                    nonce: self.inner.nonces.next(user),
                    execute_after,
                    execute_before,
                    calls: signed_calls,
                };
                response["typed_data"] = outside_execution_typed_data(&outside, self.chain_id());
                response["fee"] = to_json(&fee)?;
            }
            None => response["fee"] = to_json(&self.fee_estimate(fee_fri, token)?.0)?,
        }
        if let Some(d) = deployment {
            response["deployment"] = to_json(&d)?;
        }
        parameters.time_bounds = Some(TimeBounds {
            execute_after,
            execute_before,
        });
        response["parameters"] = to_json(&parameters)?;
        Ok(response)
    }

    fn resolve_time_bounds(
        &self,
        params: &ExecutionParameters,
        now: u64,
    ) -> Result<(u64, u64), PaymasterError> {
        let config = &self.inner.config;
        let max = now.saturating_add(config.max_window_secs);
        match params.time_bounds {
            None => Ok((0, now.saturating_add(config.default_window_secs))),
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
                config.max_window_secs
            ))),
            Some(b) => Ok((b.execute_after, b.execute_before)),
        }
    }

    /// The fee of the user's calls at `l2_gas_price`: from the remembered estimate of their
    /// shape (refreshed in the background when old), or — the first time — a simulation,
    /// which refuses calls that cannot succeed.
    async fn user_calls_fee(
        &self,
        user: Felt,
        calls: &[Call],
        l2_gas_price: u128,
    ) -> Result<u128, PaymasterError> {
        let shape = Shape::new(self.class_of(user).await?, calls);
        let estimates = &self.inner.estimates;
        let gas = match estimates.lookup(&shape) {
            Lookup::Fresh(gas) => gas,
            Lookup::Stale(gas) => {
                let (paymaster, calls) = (self.clone(), calls.to_vec());
                tokio::spawn(async move {
                    let gas = paymaster.simulate_user_calls(user, &calls).await.ok();
                    paymaster.inner.estimates.record(shape, gas);
                });
                gas
            }
            Lookup::Missing => {
                let gas = self.simulate_user_calls(user, calls).await?;
                estimates.record(shape, Some(gas));
                gas
            }
        };
        Ok(gas.saturating_mul(l2_gas_price))
    }

    /// The class of `user` (remembered for a while).
    async fn class_of(&self, user: Felt) -> Result<Felt, PaymasterError> {
        if let Some(class_hash) = self.inner.estimates.class_of(user) {
            return Ok(class_hash);
        }
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
        self.inner.estimates.remember_class(user, class_hash);
        Ok(class_hash)
    }

    /// The user's calls executed directly by the account, validation skipped: proves they
    /// would succeed and prices them, in L2-gas units (the fee over the L2 gas price it was
    /// estimated at).
    async fn simulate_user_calls(
        &self,
        user: Felt,
        calls: &[Call],
    ) -> Result<u128, PaymasterError> {
        let provider = &self.inner.provider;
        let block = BlockId::Tag(BlockTag::PreConfirmed);
        let nonce = provider.get_nonce(block, user).await.map_err(node_error)?;
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
        let transaction = BroadcastedTransaction::Invoke(BroadcastedInvokeTransaction {
            broadcasted_invoke_txn_v3: tx,
            proof: None,
        });
        let estimate = provider
            .estimate_fee_single(
                transaction,
                vec![SimulationFlagForEstimateFee::SkipValidate],
                block,
            )
            .await
            .map_err(|e| {
                classify::<std::convert::Infallible>(starknet::accounts::AccountError::Provider(e))
            })?;
        Ok(estimate.overall_fee.div_ceil(estimate.l2_gas_price.max(1)))
    }

    fn fee_estimate(
        &self,
        fee_fri: u128,
        token: Option<&GasTokenConfig>,
    ) -> Result<(FeeEstimate, u128), PaymasterError> {
        let margin = u128::from(self.inner.config.fee_margin_percent);
        let suggested = fee_fri.saturating_mul(100 + margin) / 100;
        let (price, in_token, max_in_token) = match token {
            None => (ONE_STRK, fee_fri, suggested),
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
}
