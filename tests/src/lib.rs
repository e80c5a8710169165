//! Shared fixtures for the cross-crate tests: an embedded devnet with a deployed session
//! account, a scoreboard target contract and a relayer, plus helpers to sign and relay outside
//! executions and to read the account's session views; starknet.js ([`starknetjs`]) and a
//! from-the-spec SNIP-12 hasher ([`snip12_rev1`]) as second opinions on typed data.

pub mod argent;
pub mod client;
pub mod fault_proxy;
pub mod limits;
pub mod onchain;
pub mod paymaster;
pub mod snip12_rev1;
pub mod starknetjs;

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, Context, Result};
use stark_sessions_abi::{
    constants, snip12, CairoSerde, ContractError, OutsideExecution, SessionData, SessionGrant,
    SessionStatus, SignedGrant, SpendingPolicy,
};
use stark_sessions_devnet::{Devnet, DevnetAccount, SessionAccountHandle};
use starknet::accounts::{Account, ConnectedAccount};
use starknet::core::types::{Call, ExecutionResult, Felt, TransactionReceiptWithBlockInfo};
use starknet::core::utils::get_selector_from_name;
use starknet::signers::SigningKey;

/// Resource bounds of relayed transactions. Explicit bounds skip fee estimation, so a refused
/// session lands as a reverted transaction whose receipt carries the contract's revert reason.
pub const L2_GAS_BOUND: u64 = 400_000_000;
const GAS_PRICE_BOUND: u128 = 4_000_000_000;

/// 100 STRK in FRI.
pub const HUNDRED_STRK: u128 = 100_000_000_000_000_000_000;

/// The contract error named in a refused request's error (validation failures surface as
/// errors of the send itself rather than as reverted receipts).
pub fn revert_error(err: impl std::fmt::Debug) -> Option<ContractError> {
    ContractError::from_revert_reason(&format!("{err:?}"))
}

/// The selector of an entry point by name.
pub fn sel(name: &str) -> Felt {
    get_selector_from_name(name).unwrap_or_else(|_| panic!("{name} is not ASCII"))
}

/// What a relayed transaction came to.
#[derive(Debug)]
pub enum Relayed {
    /// Executed successfully.
    Ok(Box<TransactionReceiptWithBlockInfo>),
    /// Reverted (or refused) with this reason.
    Failed(String),
}

impl Relayed {
    /// The receipt, or an error naming the reason.
    pub fn receipt(self) -> Result<TransactionReceiptWithBlockInfo> {
        match self {
            Relayed::Ok(r) => Ok(*r),
            Relayed::Failed(reason) => Err(anyhow!("transaction failed: {reason}")),
        }
    }

    /// `Ok(())` or the contract error named in the reason.
    pub fn outcome(&self) -> Result<(), Option<ContractError>> {
        match self {
            Relayed::Ok(_) => Ok(()),
            Relayed::Failed(reason) => Err(ContractError::from_revert_reason(reason)),
        }
    }

    /// The contract error this failed with; panics if it succeeded or failed otherwise.
    #[track_caller]
    pub fn expect_error(&self) -> ContractError {
        match self {
            Relayed::Ok(_) => panic!("expected a revert, but the transaction succeeded"),
            Relayed::Failed(reason) => ContractError::from_revert_reason(reason)
                .unwrap_or_else(|| panic!("revert reason names no contract error: {reason}")),
        }
    }

    /// L2 gas of a successful transaction.
    pub fn l2_gas(&self) -> Option<u64> {
        match self {
            Relayed::Ok(r) => Some(stark_sessions_devnet::execution_resources(&r.receipt).l2_gas),
            Relayed::Failed(_) => None,
        }
    }
}

/// A session key with what the account registered for it.
#[derive(Clone)]
pub struct TestSession {
    /// The session's signing key.
    pub key: SigningKey,
    /// Its public key (the on-chain session key).
    pub public_key: Felt,
    /// The registered `valid_until`.
    pub valid_until: u64,
    /// The registration generation it signs under: 1 after a fresh key's first registration;
    /// [`Fixture::refresh`] reads the account's current one.
    pub generation: u32,
}

impl TestSession {
    /// A session key from a fixed secret.
    pub fn from_secret(secret: u64, valid_until: u64) -> Self {
        let key = SigningKey::from_secret_scalar(Felt::from(secret) + Felt::from(0x5e55_0000u64));
        let public_key = key.verifying_key().scalar();
        TestSession {
            key,
            public_key,
            valid_until,
            generation: 1,
        }
    }

    /// The registration its signatures name: `valid_until + 2^64 * generation`.
    pub fn registration(&self) -> Felt {
        snip12::session_registration(self.valid_until, self.generation)
    }

    /// `[session_pubkey, r, s, valid_until]` over an outside execution's message hash bound
    /// to the registration.
    pub fn sign(&self, message_hash: Felt) -> Result<Vec<Felt>> {
        let registration = self.registration();
        let sig = self
            .key
            .sign(&snip12::session_message_hash(message_hash, registration))?;
        Ok(snip12::session_signature(
            self.public_key,
            sig.r,
            sig.s,
            self.valid_until,
        ))
    }
}

/// A devnet with one session account, a scoreboard and a relayer.
pub struct Fixture {
    /// The embedded devnet.
    pub devnet: Devnet,
    /// The session account and its owner.
    pub account: SessionAccountHandle,
    /// Predeployed account #1, which relays outside executions.
    pub relayer: DevnetAccount,
    /// The scoreboard target contract.
    pub scoreboard: Felt,
    nonces: AtomicU64,
}

impl Fixture {
    /// Starts a devnet, deploys a session account (owner key from `owner_secret`) through the
    /// UDC and a scoreboard.
    pub async fn new(owner_secret: u64) -> Result<Self> {
        Self::on(Devnet::start().await.context("devnet")?, owner_secret).await
    }

    /// [`Fixture::new`] on an embedded devnet started with `options`.
    pub async fn with_options(
        owner_secret: u64,
        options: stark_sessions_devnet::DevnetOptions,
    ) -> Result<Self> {
        let devnet = Devnet::start_embedded(options).await.context("devnet")?;
        Self::on(devnet, owner_secret).await
    }

    async fn on(devnet: Devnet, owner_secret: u64) -> Result<Self> {
        let owner = SigningKey::from_secret_scalar(Felt::from(owner_secret));
        let account = devnet
            .deploy_session_account_udc(owner, Felt::from(owner_secret), HUNDRED_STRK)
            .await
            .context("deploy session account")?;
        let scoreboard_class = devnet
            .declare(&stark_sessions_abi::class::scoreboard()?)
            .await?;
        let scoreboard = devnet
            .deploy_contract(scoreboard_class, vec![], Felt::from(7u8))
            .await?;
        let relayer = devnet.predeployed(1)?;
        Ok(Fixture {
            devnet,
            account,
            relayer,
            scoreboard,
            nonces: AtomicU64::new(1),
        })
    }

    /// Replaces the fixture's session account with a freshly deployed one (same owner key).
    pub async fn redeploy_account(&mut self, salt: u64) -> Result<()> {
        let owner = self.account.owner.clone();
        self.account = self
            .devnet
            .deploy_session_account_udc(
                owner,
                Felt::from(salt) + Felt::from(0xa11_0000u64),
                HUNDRED_STRK,
            )
            .await
            .context("redeploy session account")?;
        Ok(())
    }

    /// The session account's address.
    pub fn address(&self) -> Felt {
        self.account.address
    }

    /// An outside execution of `calls` for anyone to relay, valid for a year.
    pub async fn outside(&self, calls: Vec<Call>) -> Result<OutsideExecution> {
        let now = self.devnet.block_timestamp().await?;
        Ok(OutsideExecution {
            caller: snip12::ANY_CALLER,
            nonce: Felt::from(self.nonces.fetch_add(1, Ordering::Relaxed)),
            execute_after: 0,
            execute_before: now + 365 * 24 * 3600,
            calls,
        })
    }

    /// The SNIP-12 hash the signers sign.
    pub fn message_hash(&self, outside: &OutsideExecution) -> Felt {
        snip12::outside_execution_hash(outside, self.address(), self.devnet.chain_id())
    }

    /// `[r, s]` of the owner over the outside execution.
    pub fn owner_signature(&self, outside: &OutsideExecution) -> Result<Vec<Felt>> {
        let sig = self.account.owner.sign(&self.message_hash(outside))?;
        Ok(vec![sig.r, sig.s])
    }

    /// `[session_pubkey, r, s, registration]` of a session over the outside execution.
    pub fn session_signature(
        &self,
        session: &TestSession,
        outside: &OutsideExecution,
    ) -> Result<Vec<Felt>> {
        session.sign(self.message_hash(outside))
    }

    /// Takes the account's current registration generation of `session` (after the owner
    /// changed its targets, limits or registration).
    pub async fn refresh(&self, session: &mut TestSession) -> Result<()> {
        let out = self
            .view("get_session_generation", vec![session.public_key])
            .await?;
        session.generation = u32::from_felts(&out)?;
        Ok(())
    }

    /// Relays `execute_from_outside_v2(outside, signature)` from the relayer.
    pub async fn relay(&self, outside: &OutsideExecution, signature: Vec<Felt>) -> Result<Relayed> {
        self.relay_from(&self.relayer, outside, signature).await
    }

    /// Relays from a given account.
    pub async fn relay_from(
        &self,
        relayer: &DevnetAccount,
        outside: &OutsideExecution,
        signature: Vec<Felt>,
    ) -> Result<Relayed> {
        let call = self.relay_call(outside, signature);
        self.send(relayer, vec![call]).await
    }

    /// Sends `calls` from `sender` with explicit bounds without waiting: the transaction hash,
    /// or the node's reason for refusing it outright (validation).
    pub async fn submit(
        &self,
        sender: &DevnetAccount,
        calls: Vec<Call>,
    ) -> Result<std::result::Result<Felt, String>> {
        let nonce = sender.get_nonce().await.context("nonce")?;
        let sent = sender
            .execute_v3(calls)
            .nonce(nonce)
            .l1_gas(0)
            .l1_gas_price(GAS_PRICE_BOUND)
            .l1_data_gas(20_000)
            .l1_data_gas_price(GAS_PRICE_BOUND)
            .l2_gas(L2_GAS_BOUND)
            .l2_gas_price(GAS_PRICE_BOUND)
            .send()
            .await;
        Ok(sent
            .map(|result| result.transaction_hash)
            .map_err(|e| format!("{e:?}")))
    }

    /// The call a relayer makes for `execute_from_outside_v2(outside, signature)`.
    pub fn relay_call(&self, outside: &OutsideExecution, signature: Vec<Felt>) -> Call {
        relay_call(self.address(), outside, signature)
    }

    /// Sends `calls` from `sender` with explicit bounds and waits for the outcome.
    pub async fn send(&self, sender: &DevnetAccount, calls: Vec<Call>) -> Result<Relayed> {
        let hash = match self.submit(sender, calls).await? {
            Ok(hash) => hash,
            // Refused before execution (validation): no receipt, the reason is the error.
            Err(reason) => return Ok(Relayed::Failed(reason)),
        };
        let receipt = self.devnet.receipt_allowing_revert(hash).await?;
        Ok(match receipt.receipt.execution_result() {
            ExecutionResult::Succeeded => Relayed::Ok(Box::new(receipt)),
            ExecutionResult::Reverted { reason } => Relayed::Failed(reason.clone()),
        })
    }

    /// An owner-signed outside execution of `calls`, relayed (the gasless owner path).
    pub async fn owner_execute(&self, calls: Vec<Call>) -> Result<Relayed> {
        let outside = self.outside(calls).await?;
        let signature = self.owner_signature(&outside)?;
        self.relay(&outside, signature).await
    }

    /// A session-signed outside execution of `calls`, relayed, signed under the session's
    /// current registration (as the SDK does: it reads the generation before signing).
    pub async fn session_execute(
        &self,
        session: &TestSession,
        calls: Vec<Call>,
    ) -> Result<Relayed> {
        let mut current = session.clone();
        self.refresh(&mut current).await?;
        self.session_execute_as(&current, calls).await
    }

    /// A session-signed outside execution of `calls`, relayed, signed under exactly the
    /// registration `session` names (which may be stale).
    pub async fn session_execute_as(
        &self,
        session: &TestSession,
        calls: Vec<Call>,
    ) -> Result<Relayed> {
        let outside = self.outside(calls).await?;
        let signature = self.session_signature(session, &outside)?;
        self.relay(&outside, signature).await
    }

    /// A grant of `session` (its key and `valid_until`) with `max_calls` and `entrypoints`,
    /// no targets and no spending limits, naming the account's current generation of the
    /// key, revoke-all epoch and owner key version.
    pub async fn grant(
        &self,
        session: &TestSession,
        max_calls: u32,
        entrypoints: &[Felt],
    ) -> Result<SessionGrant> {
        let view_u32 = |name: &'static str, calldata: Vec<Felt>| async move {
            Ok::<u32, anyhow::Error>(u32::from_felts(&self.view(name, calldata).await?)?)
        };
        Ok(SessionGrant {
            account: self.address(),
            session_key: session.public_key,
            valid_until: session.valid_until,
            max_calls,
            entrypoints: entrypoints.to_vec(),
            targets: vec![],
            spending_limits: vec![],
            valid_after: 0,
            rate_max_executions: 0,
            rate_window_seconds: 0,
            arg_rules: vec![],
            loss_guards: vec![],
            key_generation: view_u32("get_session_generation", vec![session.public_key]).await?,
            sessions_epoch: view_u32("get_sessions_epoch", vec![]).await?,
            owner_key_version: view_u32("get_owner_key_version", vec![]).await?,
        })
    }

    /// `grant` signed by `owner` (the account's owner key, or another to test refusals).
    pub fn sign_grant(&self, grant: SessionGrant, owner: &SigningKey) -> Result<SignedGrant> {
        let sig = owner.sign(&grant.message_hash(self.devnet.chain_id()))?;
        Ok(SignedGrant {
            grant,
            owner_signature: [sig.r, sig.s],
        })
    }

    /// A session's first use carrying `signed`: the session key signs under the registration
    /// the grant creates, and the grant and the owner's signature follow its four elements.
    pub async fn grant_execute(
        &self,
        session: &TestSession,
        signed: &SignedGrant,
        calls: Vec<Call>,
    ) -> Result<Relayed> {
        let outside = self.outside(calls).await?;
        let first_use = TestSession {
            generation: signed.grant.key_generation + 1,
            ..session.clone()
        };
        let signature = signed.first_use_signature(&self.session_signature(&first_use, &outside)?);
        self.relay(&outside, signature).await
    }

    /// A call to the account itself.
    pub fn self_call(&self, name: &str, calldata: Vec<Felt>) -> Call {
        Call {
            to: self.address(),
            selector: sel(name),
            calldata,
        }
    }

    /// The `add_or_update_session_key` call.
    pub fn register_call(
        &self,
        session: &TestSession,
        max_calls: u32,
        entrypoints: &[Felt],
    ) -> Call {
        register_call(self.address(), session, max_calls, entrypoints)
    }

    /// Registers a session through the owner's outside execution; fails if refused.
    pub async fn register(
        &self,
        session: &TestSession,
        max_calls: u32,
        entrypoints: &[Felt],
    ) -> Result<()> {
        self.owner_execute(vec![self.register_call(session, max_calls, entrypoints)])
            .await?
            .receipt()?;
        Ok(())
    }

    /// `count` sessions (secrets `first_secret`, `first_secret + 1`, …) valid `valid_secs` from
    /// now, each allowed `max_calls` plays of the scoreboard, registered in one owner execution.
    pub async fn play_sessions(
        &self,
        first_secret: u64,
        count: u64,
        max_calls: u32,
        valid_secs: u64,
    ) -> Result<Vec<TestSession>> {
        let now = self.devnet.block_timestamp().await?;
        let sessions: Vec<TestSession> = (0..count)
            .map(|i| TestSession::from_secret(first_secret + i, now + valid_secs))
            .collect();
        let play = get_selector_from_name("record_score")?;
        let registers = sessions
            .iter()
            .map(|s| self.register_call(s, max_calls, &[play]))
            .collect();
        self.owner_execute(registers).await?.receipt()?;
        Ok(sessions)
    }

    /// One session for an hour, allowed `max_calls` plays of the scoreboard.
    pub async fn play_session(&self, secret: u64, max_calls: u32) -> Result<TestSession> {
        let mut sessions = self.play_sessions(secret, 1, max_calls, 3600).await?;
        sessions.pop().context("one session")
    }

    /// The number of the block the next transaction lands in.
    pub async fn next_block(&self) -> Result<u64> {
        use starknet::providers::Provider;
        Ok(self.devnet.provider().block_number().await? + 1)
    }

    /// A `record_score(points)` call on the scoreboard.
    pub fn play(&self, points: u64) -> Call {
        Call {
            to: self.scoreboard,
            selector: sel("record_score"),
            calldata: vec![Felt::from(points)],
        }
    }

    async fn view(&self, name: &str, calldata: Vec<Felt>) -> Result<Vec<Felt>> {
        self.view_of(name, calldata).await
    }

    /// A view of the session account by entry point name.
    pub async fn view_of(&self, name: &str, calldata: Vec<Felt>) -> Result<Vec<Felt>> {
        Ok(self
            .devnet
            .call(self.address(), sel(name), calldata)
            .await?)
    }

    /// `get_session_data`.
    pub async fn session_data(&self, key: Felt) -> Result<SessionData> {
        Ok(SessionData::from_felts(
            &self.view("get_session_data", vec![key]).await?,
        )?)
    }

    /// `get_session_status`.
    pub async fn session_status(&self, key: Felt) -> Result<SessionStatus> {
        Ok(SessionStatus::from_felts(
            &self.view("get_session_status", vec![key]).await?,
        )?)
    }

    /// `get_session_allowed_entrypoints`.
    pub async fn allowed_entrypoints(&self, key: Felt) -> Result<Vec<Felt>> {
        Ok(Vec::<Felt>::from_felts(
            &self
                .view("get_session_allowed_entrypoints", vec![key])
                .await?,
        )?)
    }

    /// `get_session_targets`.
    pub async fn session_targets(&self, key: Felt) -> Result<Vec<Felt>> {
        Ok(Vec::<Felt>::from_felts(
            &self.view("get_session_targets", vec![key]).await?,
        )?)
    }

    /// `get_session_generation`.
    pub async fn session_generation(&self, key: Felt) -> Result<u32> {
        Ok(u32::from_felts(
            &self.view("get_session_generation", vec![key]).await?,
        )?)
    }

    /// `get_spending_policy`.
    pub async fn spending_policy(&self, key: Felt, token: Felt) -> Result<SpendingPolicy> {
        Ok(SpendingPolicy::from_felts(
            &self.view("get_spending_policy", vec![key, token]).await?,
        )?)
    }

    /// The scoreboard's play counter.
    pub async fn plays(&self) -> Result<u64> {
        let out = self
            .devnet
            .call(self.scoreboard, sel("get_plays"), vec![])
            .await?;
        Ok(u64::from_felts(&out)?)
    }
}

/// `execute_from_outside_v2(outside, signature)` on `account`: what a relayer calls.
pub fn relay_call(account: Felt, outside: &OutsideExecution, signature: Vec<Felt>) -> Call {
    outside.relay_call(account, &signature)
}

/// `add_or_update_session_key` of `session` on `account`.
pub fn register_call(
    account: Felt,
    session: &TestSession,
    max_calls: u32,
    entrypoints: &[Felt],
) -> Call {
    let mut calldata = vec![
        session.public_key,
        Felt::from(session.valid_until),
        Felt::from(max_calls),
    ];
    entrypoints.to_vec().cairo_serialize(&mut calldata);
    Call {
        to: account,
        selector: constants::SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
        calldata,
    }
}

/// The relayer's address, for assertions.
pub fn address_of(account: &DevnetAccount) -> Felt {
    account.address()
}

/// An account that signs its own transactions with a session signature
/// `[session_pubkey, r, s, registration]` over the transaction hash — what the contract must
/// refuse in `__validate__`.
pub struct SessionSignedAccount<'a> {
    fixture: &'a Fixture,
    session: TestSession,
}

impl<'a> SessionSignedAccount<'a> {
    /// The session account of `fixture`, signing with `session`.
    pub fn new(fixture: &'a Fixture, session: TestSession) -> Self {
        SessionSignedAccount { fixture, session }
    }
}

#[async_trait::async_trait]
impl Account for SessionSignedAccount<'_> {
    type SignError = starknet::signers::local_wallet::SignError;

    fn address(&self) -> Felt {
        self.fixture.address()
    }

    fn chain_id(&self) -> Felt {
        self.fixture.devnet.chain_id()
    }

    async fn sign_execution_v3(
        &self,
        execution: &starknet::accounts::RawExecutionV3,
        query_only: bool,
    ) -> Result<Vec<Felt>, Self::SignError> {
        let hash = execution.transaction_hash(self.chain_id(), self.address(), query_only, self);
        let registration = self.session.registration();
        let sig = self
            .session
            .key
            .sign(&snip12::session_message_hash(hash, registration))
            .map_err(starknet::signers::local_wallet::SignError::EcdsaSignError)?;
        Ok(snip12::session_signature(
            self.session.public_key,
            sig.r,
            sig.s,
            self.session.valid_until,
        ))
    }

    async fn sign_declaration_v3(
        &self,
        _declaration: &starknet::accounts::RawDeclarationV3,
        _query_only: bool,
    ) -> Result<Vec<Felt>, Self::SignError> {
        Ok(Vec::new())
    }

    fn is_signer_interactive(
        &self,
        _context: starknet::signers::SignerInteractivityContext<'_>,
    ) -> bool {
        false
    }
}

impl starknet::accounts::ExecutionEncoder for SessionSignedAccount<'_> {
    fn encode_calls(&self, calls: &[Call]) -> Vec<Felt> {
        calls.to_vec().to_felts()
    }
}

impl ConnectedAccount for SessionSignedAccount<'_> {
    type Provider = std::sync::Arc<
        starknet::providers::JsonRpcClient<starknet::providers::jsonrpc::HttpTransport>,
    >;

    fn provider(&self) -> &Self::Provider {
        self.fixture.devnet.provider_ref()
    }

    fn block_id(&self) -> starknet::core::types::BlockId {
        starknet::core::types::BlockId::Tag(starknet::core::types::BlockTag::PreConfirmed)
    }
}
