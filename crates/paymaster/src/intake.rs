//! Intake: `paymaster_executeTransaction` — the request is checked (account or deployment,
//! typed data, caller, window, scope, allow-list, default mode's fee transfer), claimed under
//! its idempotency key (the account and the SNIP-9 nonce; a deployment alone uses the
//! address and a marker), stored `accepted`, handed to the engine, and answered once its
//! transaction reached the node. The same signed execution submitted again gets the same
//! tracking id and transaction, never a second execution.

use stark_sessions_abi::constants::SELECTOR_TRANSFER;
use stark_sessions_abi::typed_data::parse_outside_execution;
use stark_sessions_abi::{snip12, CairoSerde, Call, Felt, U256};
use starknet::contract::UdcSelector;
use starknet::macros::{selector, short_string};

use crate::api::{
    DeploymentData, ExecutableInvoke, ExecutableTransaction, ExecuteResponse, ExecutionParameters,
};
use crate::auth::Principal;
use crate::config::GasTokenConfig;
use crate::error::PaymasterError;
use crate::lifecycle::ExecutionState;
use crate::service::{check_version, random_felt, unix_now, Paymaster};
use crate::store::{Claim, ExecutionRecord, FeePayment, NewExecution};

/// The idempotency nonce of a deployment without an outside execution.
const DEPLOY_MARKER: Felt = short_string!("deploy");

/// What a checked request asks the relayer to do.
struct Checked {
    user: Felt,
    nonce: Felt,
    calls: Vec<Call>,
    fee: Option<FeePayment>,
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

impl Paymaster {
    /// `paymaster_executeTransaction`.
    pub async fn execute_transaction(
        &self,
        principal: &Principal,
        transaction: ExecutableTransaction,
        parameters: ExecutionParameters,
    ) -> Result<ExecuteResponse, PaymasterError> {
        check_version(&parameters)?;
        let token = self.gas_token(&parameters.fee_mode)?.cloned();
        let checked = self
            .check_executable(principal, transaction, token.as_ref())
            .await?;
        let new = NewExecution {
            id: random_felt(),
            user_address: checked.user,
            outside_nonce: checked.nonce,
            api_key_id: principal.api_key.id.clone(),
            token_id: principal.token.as_ref().map(|t| t.id.clone()),
            calls: checked.calls.to_felts(),
            fee: checked.fee,
            owner: self.instance().to_owned(),
        };
        let timeout = std::time::Duration::from_secs(self.inner.config.execute_timeout_secs);
        let engine = &self.inner.engine;
        let (tracking_id, transaction_hash) = match self
            .inner
            .store
            .claim_execution(&new, unix_now())?
        {
            Claim::Claimed => {
                tracing::debug!(principal = %principal.label(), tracking_id = %format_args!("{:#x}", new.id), "accepted");
                (new.id, engine.submit(new.id, timeout).await?)
            }
            // Another execution under the same account and nonce (two instances may hand out
            // the same nonce, however unlikely): on chain it could never run.
            Claim::Existing(existing) if existing.calls != new.calls => {
                return Err(PaymasterError::TransactionExecution(format!(
                    "the outside execution's nonce {:#x} is already used by another execution",
                    new.outside_nonce
                )))
            }
            // The same execution again (a client retry): its tracking id and transaction.
            Claim::Existing(existing) => {
                let id = existing_id(&existing)?;
                (id, engine.wait_for_hash(id, timeout).await?)
            }
        };
        Ok(ExecuteResponse {
            tracking_id,
            transaction_hash,
        })
    }

    async fn check_executable(
        &self,
        principal: &Principal,
        transaction: ExecutableTransaction,
        token: Option<&GasTokenConfig>,
    ) -> Result<Checked, PaymasterError> {
        let (deployment, invoke) = match transaction {
            ExecutableTransaction::Invoke { invoke } => (None, Some(invoke)),
            ExecutableTransaction::Deploy { deployment } => (Some(deployment), None),
            ExecutableTransaction::DeployAndInvoke { deployment, invoke } => {
                (Some(deployment), Some(invoke))
            }
        };
        let mut checked = Checked {
            user: Felt::ZERO,
            nonce: DEPLOY_MARKER,
            calls: Vec::new(),
            fee: None,
        };
        if let Some(d) = &deployment {
            principal.check_user(d.address)?;
            self.check_deployment(d).await?;
            checked.calls.push(udc_deploy_call(d));
            checked.user = d.address;
        }
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
            self.check_outside(principal, invoke, token, &mut checked)
                .await?;
        }
        Ok(checked)
    }

    /// Checks a signed outside execution and adds its `execute_from_outside_v2` call.
    async fn check_outside(
        &self,
        principal: &Principal,
        invoke: ExecutableInvoke,
        token: Option<&GasTokenConfig>,
        checked: &mut Checked,
    ) -> Result<(), PaymasterError> {
        let user = invoke.user_address;
        principal.check_user(user)?;
        let outside = parse_outside_execution(&invoke.typed_data, self.chain_id())
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
        let user_calls = match token {
            Some(t) => {
                let (amount, rest) =
                    split_fee_transfer(&outside.calls, t.address, self.fee_collector())?;
                checked.fee = Some(FeePayment {
                    token: t.address,
                    amount,
                });
                rest
            }
            None => &outside.calls[..],
        };
        principal.check_targets(user_calls)?;
        checked
            .calls
            .push(outside.relay_call(user, &invoke.signature));
        checked.user = user;
        checked.nonce = outside.nonce;
        Ok(())
    }
}

/// The tracking id to answer a repeated request with. A dropped execution is a definite
/// answer (156), not 163: clients resend on 163, and this one will never be sent.
fn existing_id(existing: &ExecutionRecord) -> Result<Felt, PaymasterError> {
    match existing.state {
        ExecutionState::Dropped => Err(PaymasterError::TransactionExecution(format!(
            "tracking id {:#x} was given up: {}",
            existing.id,
            existing.error.as_deref().unwrap_or("dropped")
        ))),
        _ => Ok(existing.id),
    }
}
