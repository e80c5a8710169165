//! Getting a session account on chain: its class declared, a self-funded DEPLOY_ACCOUNT, or a
//! sponsored deployment through the paymaster — optionally with the first session registered
//! in the same transaction (gasless onboarding). Where the account will be is
//! [`crate::counterfactual`]'s.

use stark_sessions_abi::constants::{SELECTOR_BALANCE_OF, STRK_TOKEN};
use stark_sessions_abi::{Call, Felt};
use starknet::accounts::{
    Account, AccountFactory, ExecutionEncoding, OpenZeppelinAccountFactory, SingleOwnerAccount,
};
use starknet::core::types::{BlockId, BlockTag, StarknetError};
use starknet::providers::{Provider, ProviderError};
use starknet::signers::{LocalWallet, SigningKey};

use crate::client::{ErrorContext, Owner, SessionClient, SessionConfig, SessionSpec};
pub use crate::counterfactual::Deployment;
use crate::error::SessionError;
use crate::handle::SessionHandle;
use crate::lifecycle::registration_calls;
use crate::session::Session;

/// The factor on the estimated gas of a self-funded deployment (its resource bounds).
const GAS_ESTIMATE_MULTIPLIER: f64 = 1.5;
/// The factor on the current gas prices of a self-funded deployment (its resource bounds).
const GAS_PRICE_MULTIPLIER: f64 = 1.5;

/// The session account's class on a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The Sierra class hash.
    pub class_hash: Felt,
    /// The compiled (CASM) class hash the declaration commits to.
    pub compiled_class_hash: Felt,
    /// The DECLARE transaction; `None` when the class was already declared.
    pub transaction_hash: Option<Felt>,
}

/// A deployment that landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployed {
    /// The account's address.
    pub address: Felt,
    /// The transaction that deployed it.
    pub transaction_hash: Felt,
}

impl SessionClient {
    /// Refuses to deploy over an existing contract.
    async fn ensure_not_deployed(&self, d: &Deployment) -> Result<(), SessionError> {
        if self.is_deployed(d.address).await? {
            return Err(SessionError::InvalidInput(format!(
                "an account is already deployed at {:#x}",
                d.address
            )));
        }
        Ok(())
    }

    /// STRK balance of `address`, in FRI.
    pub async fn strk_balance(&self, address: Felt) -> Result<u128, SessionError> {
        let out = self
            .view(STRK_TOKEN, SELECTOR_BALANCE_OF, vec![address])
            .await?;
        let low = out.first().copied().unwrap_or_default();
        u128::try_from(low).map_err(|_| {
            SessionError::Provider("balance_of answered a low word over 128 bits".into())
        })
    }

    /// Declares the session account class (DECLARE v3) from `funder`, an account signing
    /// `[r, s]` with `funder_key` (OpenZeppelin, Argent owner-only, or a stark-sessions
    /// account's owner) that pays the fee. Nothing is sent when the class is declared already.
    /// `compiled_class_hash` overrides the committed one for a network whose Sierra compiler
    /// makes other CASM.
    pub async fn declare_session_class(
        &self,
        funder: Felt,
        funder_key: &SigningKey,
        compiled_class_hash: Option<Felt>,
    ) -> Result<Declared, SessionError> {
        let class = stark_sessions_abi::class::session_account()
            .map_err(|e| SessionError::InvalidInput(format!("the account class: {e}")))?;
        let compiled_class_hash = compiled_class_hash
            .unwrap_or(stark_sessions_abi::class::SESSION_ACCOUNT_COMPILED_CLASS_HASH);
        let declared = |transaction_hash| Declared {
            class_hash: class.class_hash,
            compiled_class_hash,
            transaction_hash,
        };
        if self.is_declared(class.class_hash).await? {
            return Ok(declared(None));
        }
        let mut account = SingleOwnerAccount::new(
            self.provider().clone(),
            LocalWallet::from_signing_key(funder_key.clone()),
            funder,
            self.chain_id(),
            ExecutionEncoding::New,
        );
        account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        let sent = account
            .declare_v3(class.flattened.clone(), compiled_class_hash)
            .send()
            .await
            .map_err(|e| SessionError::Provider(format!("DECLARE from {funder:#x}: {e}")))?;
        self.wait_for_transaction(sent.transaction_hash, &ErrorContext::creation())
            .await?;
        Ok(declared(Some(sent.transaction_hash)))
    }

    /// Whether the node knows the class `class_hash`.
    pub async fn is_declared(&self, class_hash: Felt) -> Result<bool, SessionError> {
        match self
            .provider()
            .get_class(BlockId::Tag(BlockTag::PreConfirmed), class_hash)
            .await
        {
            Ok(_) => Ok(true),
            Err(ProviderError::StarknetError(StarknetError::ClassHashNotFound)) => Ok(false),
            Err(e) => Err(SessionError::Provider(format!("starknet_getClass: {e}"))),
        }
    }

    /// Deploys the session account of `owner_key` with `salt` by its own DEPLOY_ACCOUNT v3,
    /// paid in STRK by the account's address, which must hold enough beforehand: when it does
    /// not, the error names the address and the amount, and nothing is sent.
    pub async fn deploy_account(
        &self,
        owner_key: &SigningKey,
        salt: Felt,
    ) -> Result<Deployed, SessionError> {
        let public_key = owner_key.verifying_key().scalar();
        let d = Deployment::session_account(public_key, salt)?;
        self.ensure_not_deployed(&d).await?;
        let mut factory = OpenZeppelinAccountFactory::new(
            d.class_hash,
            self.chain_id(),
            LocalWallet::from_signing_key(owner_key.clone()),
            self.provider().clone(),
        )
        .await
        .map_err(|e| SessionError::Provider(format!("account factory: {e}")))?;
        factory.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        let deployment = factory
            .deploy_v3(salt)
            .gas_estimate_multiplier(GAS_ESTIMATE_MULTIPLIER)
            .gas_price_estimate_multiplier(GAS_PRICE_MULTIPLIER);
        let estimate = deployment.estimate_fee().await.map_err(|e| {
            SessionError::Provider(format!(
                "estimating the deployment of {:#x}: {e}",
                d.address
            ))
        })?;
        let needed = max_fee(estimate.overall_fee);
        let balance = self.strk_balance(d.address).await?;
        if balance < needed {
            return Err(SessionError::InvalidInput(format!(
                "fund {:#x} with at least {needed} FRI of STRK before deploying it (it holds \
                 {balance}); or deploy it gaslessly through a paymaster",
                d.address
            )));
        }
        let sent = deployment
            .send()
            .await
            .map_err(|e| SessionError::Provider(format!("DEPLOY_ACCOUNT: {e}")))?;
        self.wait_for_transaction(sent.transaction_hash, &ErrorContext::creation())
            .await?;
        Ok(Deployed {
            address: d.address,
            transaction_hash: sent.transaction_hash,
        })
    }

    /// Deploys `owner`'s session account (`owner.account` must be its counterfactual address
    /// for `salt`) through the paymaster, sponsored: with `first_session`, the owner signs an
    /// outside execution registering it and the paymaster deploys the account and runs that
    /// execution in one transaction (SNIP-29 `deploy_and_invoke`); without, a plain `deploy`.
    pub async fn deploy_account_gasless(
        &self,
        owner: &Owner,
        salt: Felt,
        first_session: Option<&SessionConfig>,
    ) -> Result<Deployed, SessionError> {
        let d = Deployment::session_account(owner.public_key(), salt)?;
        if d.address != owner.account {
            return Err(SessionError::InvalidInput(format!(
                "the owner's key and salt {salt:#x} deploy {:#x}, not {:#x}",
                d.address, owner.account
            )));
        }
        self.ensure_not_deployed(&d).await?;
        let context = ErrorContext::creation();
        let transaction_hash = match first_session {
            Some(config) => {
                let now = self.block_timestamp().await?;
                self.check_registration(owner.account, config, now)?;
                let calls = registration_calls(owner.account, config);
                self.relay_as_owner_deploying(owner, &calls, Some(&d), context.clone())
                    .await?
            }
            None => {
                self.paymaster()
                    .execute_deploy(&d)
                    .await
                    .map_err(|e| context.paymaster(e))?
                    .transaction_hash
            }
        };
        self.wait_for_transaction(transaction_hash, &context)
            .await?;
        Ok(Deployed {
            address: d.address,
            transaction_hash,
        })
    }

    /// Gasless onboarding: creates a session key under `pin`, and has the paymaster deploy
    /// `owner`'s account (counterfactual address for `salt`) and register the session in one
    /// sponsored transaction. The owner needs no funds. Store the returned session with a
    /// [`crate::SessionStore`].
    pub async fn onboard(
        &self,
        owner: &Owner,
        salt: Felt,
        pin: &str,
        spec: &SessionSpec,
    ) -> Result<(Session, Deployed), SessionError> {
        let session = self.new_session(owner.account, pin, spec).await?;
        let deployed = self
            .deploy_account_gasless(owner, salt, Some(&SessionConfig::from(&session)))
            .await?;
        Ok((session, deployed))
    }
}

impl SessionClient {
    /// From nothing to a played move with no owner transaction: the paymaster deploys the
    /// account of `owner_key` (its counterfactual address for `salt` must be the session's
    /// account) and runs the granted session's first execution of `calls` in one sponsored
    /// deploy-and-invoke; the account registers the session from its grant. Drops the grant
    /// once that lands. The owner needs no funds and signs nothing but the grant.
    pub async fn deploy_and_play(
        &self,
        session: &mut Session,
        handle: &SessionHandle,
        owner_key: Felt,
        salt: Felt,
        calls: &[Call],
    ) -> Result<Deployed, SessionError> {
        let d = Deployment::session_account(owner_key, salt)?;
        if d.address != session.account {
            return Err(SessionError::InvalidInput(format!(
                "the owner's key and salt {salt:#x} deploy {:#x}, not the session's account {:#x}",
                d.address, session.account
            )));
        }
        self.ensure_not_deployed(&d).await?;
        let (transaction_hash, context) = self
            .execute_deploying(session, handle, calls, &d, owner_key)
            .await?;
        self.wait_for_transaction(transaction_hash, &context)
            .await?;
        session.grant = None;
        Ok(Deployed {
            address: d.address,
            transaction_hash,
        })
    }
}

/// The most a self-funded deployment may be charged: its estimate under the resource bounds'
/// two multipliers.
fn max_fee(estimated: u128) -> u128 {
    let factor = GAS_ESTIMATE_MULTIPLIER * GAS_PRICE_MULTIPLIER;
    // Bounds are rounded up per resource; one part in a thousand covers the rounding.
    (estimated as f64 * factor * 1.001).ceil() as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balance_needed_covers_both_multipliers() {
        assert!(max_fee(1_000_000) >= 2_250_000);
        assert!(max_fee(1_000_000) < 2_260_000);
    }
}
