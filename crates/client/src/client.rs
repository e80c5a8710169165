//! The session operations: register, execute, query and revoke, all gasless through a SNIP-29
//! paymaster, each checked against on-chain state before anything is signed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stark_sessions_abi::constants::{
    ISESSION_KEY_MANAGER_ID, SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
    SELECTOR_GET_SESSION_ALLOWED_ENTRYPOINTS, SELECTOR_GET_SESSION_DATA,
    SELECTOR_GET_SESSION_GENERATION, SELECTOR_GET_SESSION_STATUS, SELECTOR_GET_SESSION_TARGETS,
    SELECTOR_GET_SPENDING_POLICY, SELECTOR_IS_VALID_OUTSIDE_EXECUTION_NONCE,
    SELECTOR_REVOKE_ALL_SESSIONS, SELECTOR_REVOKE_SESSION_KEY, SELECTOR_SET_SESSION_TARGETS,
    SELECTOR_SET_SPENDING_POLICY, SELECTOR_SUPPORTS_INTERFACE, TRACKED_SELECTORS,
};
use stark_sessions_abi::typed_data::parse_outside_execution;
use stark_sessions_abi::{
    snip12, AccountModel, CairoSerde, Call, ContractError, Felt, OutsideExecution, SessionData,
    SessionSnapshot, SessionStatus, SpendingPolicy, U256,
};
use stark_sessions_rpc::Network;
use starknet::core::types::{ExecutionResult, StarknetError};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider, ProviderError};
use starknet::signers::SigningKey;
use url::Url;

use crate::deploy::Deployment;
use crate::error::{SessionDetails, SessionError};
use crate::handle::SessionHandle;
use crate::keys::{create_session_key_with, unix_now};
use crate::paymaster::{Executed, PaymasterClient};
use crate::session::{Session, SpendingLimit};
use crate::EnvelopeParams;

/// The default longest validity window of an outside execution the client will sign
/// (`execute_before` at most this far from now): a paymaster asking for a signature that stays
/// usable for longer is refused. See [`SessionClient::with_max_execution_window`].
pub const DEFAULT_MAX_EXECUTION_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How far before now the client asks a paymaster to start an execution's window
/// (`execute_after`): the contract wants `execute_after < block time`, and the block an
/// execution lands in may carry a timestamp a little behind the one the client read.
pub const EXECUTE_AFTER_SLACK_SECS: u64 = 60;
/// The wait before a signed execution is first sent again, when the paymaster's answer was lost
/// or said to resend ([`SessionError::is_in_doubt`]); it doubles with each resend, up to
/// [`MAX_SUBMIT_BACKOFF`]. Resending stops when the execution's `execute_before` comes.
pub const SUBMIT_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two sends of one signed execution.
pub const MAX_SUBMIT_BACKOFF: Duration = Duration::from_secs(4);
/// How long [`SessionClient::wait_for_transaction`] waits for a receipt.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The owner of a session account: its address and signing key.
#[derive(Clone)]
pub struct Owner {
    /// The account.
    pub account: Felt,
    key: SigningKey,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Owner {
    /// The owner of `account`, signing with `key`.
    pub fn new(account: Felt, key: SigningKey) -> Self {
        Owner { account, key }
    }

    /// The owner's public key (the account's constructor argument).
    pub fn public_key(&self) -> Felt {
        self.key.verifying_key().scalar()
    }
}

/// What a session may do, for [`SessionClient::add_session_key_to_contract`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The session public key.
    pub session_public_key: Felt,
    /// Last second (block time) at which the session may be used.
    pub valid_until: u64,
    /// Executions allowed in all.
    pub max_calls: u32,
    /// Allowed selectors; empty means any the account does not reserve for its owner.
    pub allowed_entrypoints: Vec<Felt>,
    /// Allowed targets; empty means any contract but the account itself.
    pub targets: Vec<Felt>,
    /// Spending limits per token.
    pub spending_limits: Vec<SpendingLimit>,
}

impl From<&Session> for SessionConfig {
    /// The registration of a stored session.
    fn from(session: &Session) -> Self {
        SessionConfig {
            session_public_key: session.public_key(),
            valid_until: session.valid_until(),
            max_calls: session.max_calls,
            allowed_entrypoints: session.allowed_entrypoints.clone(),
            targets: session.targets.clone(),
            spending_limits: session.spending_limits.clone(),
        }
    }
}

/// What to create with [`SessionClient::create_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// How long the session lasts.
    pub duration: Duration,
    /// Executions allowed in all.
    pub max_calls: u32,
    /// Allowed selectors (empty: any the account does not reserve).
    pub allowed_entrypoints: Vec<Felt>,
    /// Allowed targets (empty: any but the account).
    pub targets: Vec<Felt>,
    /// Spending limits per token.
    pub spending_limits: Vec<SpendingLimit>,
}

/// What [`SessionClient::get_session_data`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Whether the session can be used now.
    pub is_active: bool,
    /// The account's own status of the session.
    pub status: SessionStatus,
    /// Last valid second (0 when revoked or unknown).
    pub valid_until: u64,
    /// Executions left.
    pub remaining_calls: u32,
    /// Executions allowed in all.
    pub max_calls: u32,
    /// The whitelist (empty: any selector the account does not reserve).
    pub allowed_entrypoints: Vec<Felt>,
}

/// The SDK: a node, a paymaster and the chain they serve.
#[derive(Debug, Clone)]
pub struct SessionClient {
    provider: Arc<JsonRpcClient<HttpTransport>>,
    paymaster: PaymasterClient,
    chain_id: Felt,
    trusted_callers: Vec<Felt>,
    envelope: EnvelopeParams,
    max_execution_window: Duration,
}

/// The time rules an outside execution must meet before it is signed, in block-time seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningWindow {
    /// The chain's time, the latest block's timestamp: the window starts a little before it
    /// (the contract wants `execute_after` before the time of the block the execution lands in).
    pub chain_now: u64,
    /// The time the rules are read against: the later of the chain's time and the local clock
    /// (a quiet chain's latest block can be old).
    pub now: u64,
    /// The largest `execute_before - now` accepted.
    pub max_window_secs: u64,
    /// For a session execution, the session's last valid second: `execute_before` may not be
    /// later. An owner's execution has none.
    pub valid_until: Option<u64>,
}

impl SigningWindow {
    /// The SNIP-29 `time_bounds` to ask a paymaster for, `(execute_after, execute_before)`:
    /// from a little before the chain's time to `min(now + max window, valid_until)` — a
    /// window this client then accepts.
    pub fn requested_bounds(&self) -> (u64, u64) {
        let mut before = self.now.saturating_add(self.max_window_secs);
        if let Some(valid_until) = self.valid_until {
            before = before.min(valid_until);
        }
        let after = self.chain_now.min(self.now);
        (after.saturating_sub(EXECUTE_AFTER_SLACK_SECS), before)
    }
}

fn provider_error(what: &str, e: ProviderError) -> SessionError {
    SessionError::Provider(format!("{what}: {e}"))
}

impl SessionClient {
    /// Connects to the node at `rpc_url` (asking it for the chain id) and uses `paymaster`.
    pub async fn connect(rpc_url: Url, paymaster: PaymasterClient) -> Result<Self, SessionError> {
        let provider = stark_sessions_rpc::connect(rpc_url, stark_sessions_rpc::DEFAULT_TIMEOUT)
            .map_err(|e| SessionError::Provider(format!("http client: {e}")))?;
        let chain_id = stark_sessions_rpc::chain_id(&provider)
            .await
            .map_err(|e| provider_error("starknet_chainId", e))?;
        Ok(SessionClient {
            provider,
            paymaster,
            chain_id,
            trusted_callers: Vec::new(),
            envelope: EnvelopeParams::default(),
            max_execution_window: DEFAULT_MAX_EXECUTION_WINDOW,
        })
    }

    /// Connects like [`SessionClient::connect`] and refuses a node that is not on `network`
    /// ([`SessionError::WrongChain`]) before anything can be signed for it.
    pub async fn connect_to(
        network: Network,
        rpc_url: Url,
        paymaster: PaymasterClient,
    ) -> Result<Self, SessionError> {
        let client = Self::connect(rpc_url, paymaster).await?;
        network
            .check(client.chain_id)
            .map_err(|e| SessionError::WrongChain(e.to_string()))?;
        Ok(client)
    }

    /// Signs outside executions only while their `execute_before` is at most `window` from
    /// now (default [`DEFAULT_MAX_EXECUTION_WINDOW`], 10 minutes), and asks the paymaster for
    /// such a window. A longer window lets a signature leaked or held back by a relayer be used
    /// later; a shorter one leaves less time for the relayer to land it.
    #[must_use]
    pub fn with_max_execution_window(mut self, window: Duration) -> Self {
        self.max_execution_window = window;
        self
    }

    /// The longest validity window this client signs.
    pub fn max_execution_window(&self) -> Duration {
        self.max_execution_window
    }

    /// Also accepts outside executions that name one of `callers` (a paymaster's relayers)
    /// rather than `ANY_CALLER`.
    #[must_use]
    pub fn with_trusted_callers(mut self, callers: Vec<Felt>) -> Self {
        self.trusted_callers = callers;
        self
    }

    /// Uses `params` for the envelopes of new session keys.
    #[must_use]
    pub fn with_envelope_params(mut self, params: EnvelopeParams) -> Self {
        self.envelope = params;
        self
    }

    /// The same client speaking to the paymaster with another credential.
    #[must_use]
    pub fn with_paymaster(mut self, paymaster: PaymasterClient) -> Self {
        self.paymaster = paymaster;
        self
    }

    /// The chain id the node reported.
    pub fn chain_id(&self) -> Felt {
        self.chain_id
    }

    /// The paymaster client.
    pub fn paymaster(&self) -> &PaymasterClient {
        &self.paymaster
    }

    /// The node.
    pub fn provider(&self) -> &Arc<JsonRpcClient<HttpTransport>> {
        &self.provider
    }

    async fn call_view(
        &self,
        account: Felt,
        selector: Felt,
        calldata: Vec<Felt>,
    ) -> Result<Vec<Felt>, ProviderError> {
        stark_sessions_rpc::view(&self.provider, account, selector, calldata).await
    }

    pub(crate) async fn view(
        &self,
        account: Felt,
        selector: Felt,
        calldata: Vec<Felt>,
    ) -> Result<Vec<Felt>, SessionError> {
        self.call_view(account, selector, calldata)
            .await
            .map_err(|e| provider_error("starknet_call", e))
    }

    /// Timestamp of the latest block: the clock the account's rules run on.
    pub async fn block_timestamp(&self) -> Result<u64, SessionError> {
        stark_sessions_rpc::block_timestamp(&self.provider)
            .await
            .map_err(|e| provider_error("starknet_getBlockWithTxHashes", e))
    }

    /// Refuses accounts that do not declare the session-key interface by SRC-5 (an account
    /// without SRC-5, or no contract at all, fails the same way; a dead node is a node error).
    pub async fn ensure_session_account(&self, account: Felt) -> Result<(), SessionError> {
        let answer = self
            .call_view(
                account,
                SELECTOR_SUPPORTS_INTERFACE,
                vec![ISESSION_KEY_MANAGER_ID],
            )
            .await;
        match answer {
            Ok(out) if out.first() == Some(&Felt::ONE) => Ok(()),
            Ok(_) | Err(ProviderError::StarknetError(_)) => {
                Err(SessionError::InvalidWalletType { account })
            }
            Err(e) => Err(provider_error("supports_interface", e)),
        }
    }

    /// Reads one session's state from the account.
    pub async fn session_snapshot(
        &self,
        account: Felt,
        session_key: Felt,
        tokens: &[Felt],
    ) -> Result<SessionSnapshot, SessionError> {
        let key = vec![session_key];
        let (status, data, entrypoints, targets, generation) = tokio::try_join!(
            self.view(account, SELECTOR_GET_SESSION_STATUS, key.clone()),
            self.view(account, SELECTOR_GET_SESSION_DATA, key.clone()),
            self.view(
                account,
                SELECTOR_GET_SESSION_ALLOWED_ENTRYPOINTS,
                key.clone()
            ),
            self.view(account, SELECTOR_GET_SESSION_TARGETS, key.clone()),
            self.view(account, SELECTOR_GET_SESSION_GENERATION, key.clone()),
        )?;
        let decode = |e: stark_sessions_abi::AbiError| {
            SessionError::Provider(format!("the account answered malformed data: {e}"))
        };
        let mut policies = Vec::with_capacity(tokens.len());
        for token in tokens {
            let felts = self
                .view(
                    account,
                    SELECTOR_GET_SPENDING_POLICY,
                    vec![session_key, *token],
                )
                .await?;
            policies.push((*token, SpendingPolicy::from_felts(&felts).map_err(decode)?));
        }
        Ok(SessionSnapshot {
            status: SessionStatus::from_felts(&status).map_err(decode)?,
            data: SessionData::from_felts(&data).map_err(decode)?,
            entrypoints: Vec::<Felt>::from_felts(&entrypoints).map_err(decode)?,
            targets: Vec::<Felt>::from_felts(&targets).map_err(decode)?,
            policies,
            generation: u32::from_felts(&generation).map_err(decode)?,
        })
    }

    /// `get_session_data`, read right: `{ is_active, valid_until, remaining_calls,
    /// allowed_entrypoints }` from the account's status and `SessionData`.
    pub async fn get_session_data(
        &self,
        account: Felt,
        session_key: Felt,
    ) -> Result<SessionInfo, SessionError> {
        let snapshot = self.session_snapshot(account, session_key, &[]).await?;
        Ok(SessionInfo {
            is_active: snapshot.status == SessionStatus::Active,
            status: snapshot.status,
            valid_until: snapshot.data.valid_until,
            remaining_calls: snapshot
                .data
                .max_calls
                .saturating_sub(snapshot.data.calls_used),
            max_calls: snapshot.data.max_calls,
            allowed_entrypoints: snapshot.entrypoints,
        })
    }

    /// The rules for an execution read at chain time `chain_now` (for a session: ending at
    /// `valid_until`).
    fn signing_window(&self, chain_now: u64, valid_until: Option<u64>) -> SigningWindow {
        SigningWindow {
            chain_now,
            now: chain_now.max(unix_now()),
            max_window_secs: self.max_execution_window.as_secs(),
            valid_until,
        }
    }

    /// Has the paymaster build an outside execution of `calls` for `account` within `window`,
    /// checks the typed data it returns (calls, chain, caller, time bounds, a nonce the account
    /// has not used), signs it with `sign` and has it relayed — the same signed execution again
    /// after an ambiguous failure. Returns the transaction hash.
    async fn relay<F>(
        &self,
        account: Felt,
        calls: &[Call],
        window: SigningWindow,
        sign: F,
        context: &ErrorContext,
        deployment: Option<&Deployment>,
    ) -> Result<Felt, SessionError>
    where
        F: FnOnce(&Felt) -> Result<Vec<Felt>, SessionError>,
    {
        let built = self
            .paymaster
            .build_transaction(account, calls, Some(window.requested_bounds()), deployment)
            .await
            .map_err(|e| context.paymaster(e))?;
        let typed_data = built.get("typed_data").ok_or_else(|| {
            SessionError::TypedDataMismatch("is missing from the build result".into())
        })?;
        let outside = verify_typed_data(
            typed_data,
            calls,
            self.chain_id,
            &window,
            &self.trusted_callers,
        )?;
        if deployment.is_none() {
            // An account about to be deployed has used no nonce.
            self.ensure_fresh_nonce(account, outside.nonce).await?;
        }
        // The hash is ours, from our account and chain: nothing the paymaster says is signed.
        let hash = snip12::outside_execution_hash(&outside, account, self.chain_id);
        let signature = sign(&hash)?;
        let executed = submit_until(outside.execute_before, Backoff::default(), || {
            self.paymaster
                .execute_transaction(account, typed_data, &signature, deployment)
        })
        .await
        .map_err(|e| {
            if e.is_in_doubt() {
                e.noting(&format!(
                    "; the signed execution (nonce {:#x}) may still run until the chain's time \
                     reaches {}: sending it again is safe, signing a new one is not",
                    outside.nonce, outside.execute_before
                ))
            } else {
                context.paymaster(e)
            }
        })?;
        Ok(executed.transaction_hash)
    }

    /// Refuses a nonce the account has already used: a paymaster handing one out would have
    /// us sign an execution that can never run, or make us believe a replay is new.
    async fn ensure_fresh_nonce(&self, account: Felt, nonce: Felt) -> Result<(), SessionError> {
        let answer = self
            .view(
                account,
                SELECTOR_IS_VALID_OUTSIDE_EXECUTION_NONCE,
                vec![nonce],
            )
            .await?;
        if answer.first() == Some(&Felt::ONE) {
            Ok(())
        } else {
            Err(SessionError::TypedDataMismatch(format!(
                "names nonce {nonce:#x}, which the account has already used"
            )))
        }
    }

    /// Registers a session on the owner's account, gaslessly: the owner signs an outside
    /// execution of self-calls that the paymaster relays. Checks first that the account is a
    /// session account and that the account's rules accept the configuration. Returns the
    /// transaction hash.
    pub async fn add_session_key_to_contract(
        &self,
        owner: &Owner,
        config: &SessionConfig,
    ) -> Result<Felt, SessionError> {
        self.ensure_session_account(owner.account).await?;
        let now = self.block_timestamp().await?;
        self.check_registration(owner.account, config, now)?;
        let calls = registration_calls(owner.account, config);
        self.relay_as_owner(owner, &calls, ErrorContext::creation())
            .await
    }

    /// Refuses a configuration the account's rules would refuse at block time `now`.
    pub(crate) fn check_registration(
        &self,
        account: Felt,
        config: &SessionConfig,
        now: u64,
    ) -> Result<(), SessionError> {
        let mut model = AccountModel::new(account);
        let key = config.session_public_key;
        let refused = |e: ContractError| {
            SessionError::CreationFailed(format!("the account would refuse it: {e}"))
        };
        model
            .add_or_update_session_key(
                key,
                config.valid_until,
                config.max_calls,
                &config.allowed_entrypoints,
                now,
            )
            .map_err(refused)?;
        if !config.targets.is_empty() {
            model
                .set_session_targets(key, &config.targets)
                .map_err(refused)?;
        }
        for limit in &config.spending_limits {
            model
                .set_spending_policy(
                    key,
                    limit.token,
                    U256::from_u128(limit.max_per_call),
                    U256::from_u128(limit.max_per_window),
                    limit.window_seconds,
                )
                .map_err(refused)?;
        }
        Ok(())
    }

    async fn relay_as_owner(
        &self,
        owner: &Owner,
        calls: &[Call],
        context: ErrorContext,
    ) -> Result<Felt, SessionError> {
        self.relay_as_owner_deploying(owner, calls, None, context)
            .await
    }

    /// Has the owner's outside execution of `calls` relayed — after deploying the account
    /// when `deployment` is given.
    pub(crate) async fn relay_as_owner_deploying(
        &self,
        owner: &Owner,
        calls: &[Call],
        deployment: Option<&Deployment>,
        context: ErrorContext,
    ) -> Result<Felt, SessionError> {
        let now = self.block_timestamp().await?;
        self.relay(
            owner.account,
            calls,
            self.signing_window(now, None),
            |hash| {
                let signature = owner
                    .key
                    .sign(hash)
                    .map_err(|e| SessionError::InvalidInput(format!("owner cannot sign: {e}")))?;
                Ok(vec![signature.r, signature.s])
            },
            &context,
            deployment,
        )
        .await
    }

    /// A new session key for `account` under `pin`, with `spec`'s grants, valid for
    /// `spec.duration` from the chain's time (the clock the account's rules run on).
    pub(crate) async fn new_session(
        &self,
        account: Felt,
        pin: &str,
        spec: &SessionSpec,
    ) -> Result<Session, SessionError> {
        let mut key = create_session_key_with(pin, spec.duration, self.envelope)?;
        key.valid_until = self.block_timestamp().await? + spec.duration.as_secs();
        Ok(Session {
            account,
            chain_id: self.chain_id,
            key,
            max_calls: spec.max_calls,
            allowed_entrypoints: spec.allowed_entrypoints.clone(),
            targets: spec.targets.clone(),
            spending_limits: spec.spending_limits.clone(),
            created_at: unix_now(),
        })
    }

    /// Creates a session key, registers it and waits for the registration to land: the
    /// whole of "open a session". The returned session holds the key encrypted under `pin`;
    /// store it with a [`crate::SessionStore`].
    pub async fn create_session(
        &self,
        owner: &Owner,
        pin: &str,
        spec: &SessionSpec,
    ) -> Result<Session, SessionError> {
        let session = self.new_session(owner.account, pin, spec).await?;
        let hash = self
            .add_session_key_to_contract(owner, &SessionConfig::from(&session))
            .await?;
        self.wait_for_transaction(hash, &ErrorContext::creation())
            .await?;
        Ok(session)
    }

    /// Checks `calls` against the account's current state of the session, as the contract
    /// will: expired, not registered, revoked, exhausted, a call not allowed, a spending
    /// limit. Nothing is signed or sent.
    pub async fn preflight(
        &self,
        session: &Session,
        calls: &[Call],
    ) -> Result<SessionDetails, SessionError> {
        if session.chain_id != self.chain_id {
            return Err(SessionError::InvalidInput(format!(
                "the session is for chain {:#x}, the node serves {:#x}",
                session.chain_id, self.chain_id
            )));
        }
        if calls.is_empty() {
            return Err(SessionError::InvalidInput("no calls to execute".into()));
        }
        let key = session.public_key();
        let mut tokens: Vec<Felt> = calls
            .iter()
            .filter(|c| TRACKED_SELECTORS.contains(&c.selector))
            .map(|c| c.to)
            .collect();
        tokens.sort();
        tokens.dedup();
        let (snapshot, now) = tokio::try_join!(
            self.session_snapshot(session.account, key, &tokens),
            self.block_timestamp()
        )?;
        let details = SessionDetails {
            valid_until: snapshot.data.valid_until.max(session.valid_until()),
            now,
            max_calls: snapshot.data.max_calls,
            allowed_entrypoints: snapshot.entrypoints.clone(),
            targets: snapshot.targets.clone(),
            account: session.account,
            // This copy's valid_until: a session updated on chain since is refused as changed.
            registration: snip12::session_registration(session.valid_until(), snapshot.generation),
        };
        let mut model = AccountModel::new(session.account);
        model.restore_session(key, &snapshot);
        model
            .check_session_execution(key, details.registration, calls, now)
            .map_err(|e| SessionError::from_contract(e, key, calls, details.clone()))?;
        Ok(details)
    }

    /// Executes `calls` with the session, gaslessly: preflight against on-chain state, have
    /// the paymaster build the outside execution, check its typed data, sign with the session
    /// key bound to the session's current registration (`[session_pubkey, r, s, valid_until]`
    /// over `poseidon(message_hash, registration)`), have it relayed. Returns the transaction
    /// hash; see [`Self::execute_and_wait`] to wait for the outcome.
    pub async fn execute_transaction_with_session(
        &self,
        session: &Session,
        handle: &SessionHandle,
        calls: &[Call],
    ) -> Result<Felt, SessionError> {
        Ok(self.execute_checked(session, handle, calls).await?.0)
    }

    /// [`Self::execute_transaction_with_session`], then waits for the receipt; a revert maps
    /// back to its error code.
    pub async fn execute_and_wait(
        &self,
        session: &Session,
        handle: &SessionHandle,
        calls: &[Call],
    ) -> Result<Felt, SessionError> {
        let (hash, context) = self.execute_checked(session, handle, calls).await?;
        self.wait_for_transaction(hash, &context).await?;
        Ok(hash)
    }

    /// The execution, and what its errors (now or in the receipt) are read against.
    async fn execute_checked(
        &self,
        session: &Session,
        handle: &SessionHandle,
        calls: &[Call],
    ) -> Result<(Felt, ErrorContext), SessionError> {
        if handle.public_key() != session.public_key() {
            return Err(SessionError::InvalidInput(
                "the handle is for another session".into(),
            ));
        }
        handle.info()?;
        let details = self.preflight(session, calls).await?;
        let window = self.signing_window(details.now, Some(session.valid_until()));
        let context = ErrorContext {
            session_key: session.public_key(),
            calls: calls.to_vec(),
            details,
        };
        let registration = context.details.registration;
        let hash = self
            .relay(
                session.account,
                calls,
                window,
                |hash| {
                    let (r, s) = handle.sign(&snip12::session_message_hash(*hash, registration))?;
                    Ok(snip12::session_signature(
                        session.public_key(),
                        r,
                        s,
                        session.valid_until(),
                    ))
                },
                &context,
                None,
            )
            .await?;
        Ok((hash, context))
    }

    /// Revokes one session, gaslessly (owner-signed). Returns the transaction hash.
    pub async fn revoke_session_key(
        &self,
        owner: &Owner,
        session_key: Felt,
    ) -> Result<Felt, SessionError> {
        self.ensure_session_account(owner.account).await?;
        let status = self
            .get_session_data(owner.account, session_key)
            .await?
            .status;
        if status == SessionStatus::None {
            return Err(SessionError::NotRegistered { session_key });
        }
        let call = Call {
            to: owner.account,
            selector: SELECTOR_REVOKE_SESSION_KEY,
            calldata: vec![session_key],
        };
        self.relay_as_owner(owner, &[call], ErrorContext::for_key(session_key))
            .await
    }

    /// Revokes every session of the account at once, gaslessly. Returns the transaction hash.
    pub async fn revoke_all_sessions(&self, owner: &Owner) -> Result<Felt, SessionError> {
        self.ensure_session_account(owner.account).await?;
        let call = Call {
            to: owner.account,
            selector: SELECTOR_REVOKE_ALL_SESSIONS,
            calldata: vec![],
        };
        self.relay_as_owner(owner, &[call], ErrorContext::for_key(Felt::ZERO))
            .await
    }

    /// Waits for `hash`'s receipt; a reverted transaction is an error, mapped to the session
    /// error its revert reason names when it names one.
    pub async fn wait_for_transaction(
        &self,
        hash: Felt,
        context: &ErrorContext,
    ) -> Result<(), SessionError> {
        let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
        loop {
            match self.provider.get_transaction_receipt(hash).await {
                Ok(receipt) => {
                    return match receipt.receipt.execution_result() {
                        ExecutionResult::Succeeded => Ok(()),
                        ExecutionResult::Reverted { reason } => Err(context
                            .revert(reason)
                            .unwrap_or_else(|| SessionError::Reverted {
                                transaction_hash: hash,
                                reason: reason.clone(),
                            })),
                    };
                }
                Err(ProviderError::StarknetError(StarknetError::TransactionHashNotFound)) => {}
                Err(e) => return Err(provider_error("starknet_getTransactionReceipt", e)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SessionError::Provider(format!(
                    "no receipt for {hash:#x} after {} s",
                    RECEIPT_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What an error of a relayed execution is read against.
#[derive(Debug, Clone, Default)]
pub struct ErrorContext {
    session_key: Felt,
    calls: Vec<Call>,
    details: SessionDetails,
}

impl ErrorContext {
    /// For an execution by `session_key`.
    pub fn for_key(session_key: Felt) -> Self {
        ErrorContext {
            session_key,
            ..Default::default()
        }
    }

    pub(crate) fn creation() -> Self {
        ErrorContext::default()
    }

    fn revert(&self, reason: &str) -> Option<SessionError> {
        SessionError::from_revert_reason(
            reason,
            self.session_key,
            &self.calls,
            self.details.clone(),
        )
    }

    /// A paymaster's refusal to execute (SNIP-29 156) carries the revert reason: map it back.
    pub(crate) fn paymaster(&self, error: SessionError) -> SessionError {
        if let SessionError::Paymaster {
            data: Some(data), ..
        } = &error
        {
            let reason = data
                .get("execution_error")
                .map(|v| v.to_string())
                .unwrap_or_else(|| data.to_string());
            if let Some(mapped) = self.revert(&reason) {
                return mapped;
            }
        }
        error
    }
}

/// The self-calls that register a session.
pub fn registration_calls(account: Felt, config: &SessionConfig) -> Vec<Call> {
    let mut register = vec![
        config.session_public_key,
        Felt::from(config.valid_until),
        Felt::from(config.max_calls),
    ];
    config.allowed_entrypoints.cairo_serialize(&mut register);
    let mut calls = vec![Call {
        to: account,
        selector: SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
        calldata: register,
    }];
    if !config.targets.is_empty() {
        let mut calldata = vec![config.session_public_key];
        config.targets.cairo_serialize(&mut calldata);
        calls.push(Call {
            to: account,
            selector: SELECTOR_SET_SESSION_TARGETS,
            calldata,
        });
    }
    for limit in &config.spending_limits {
        let mut calldata = vec![config.session_public_key, limit.token];
        U256::from_u128(limit.max_per_call).cairo_serialize(&mut calldata);
        U256::from_u128(limit.max_per_window).cairo_serialize(&mut calldata);
        limit.window_seconds.cairo_serialize(&mut calldata);
        calls.push(Call {
            to: account,
            selector: SELECTOR_SET_SPENDING_POLICY,
            calldata,
        });
    }
    calls
}

/// The waits between sends of one signed execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    first: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: SUBMIT_BACKOFF,
            max: MAX_SUBMIT_BACKOFF,
        }
    }
}

/// Sends a signed execution with `submit`, and again — the same one — while the answer is in
/// doubt ([`SessionError::is_in_doubt`]: lost, or the paymaster's 163 "resend"), waiting
/// `backoff.first`, then twice as long each time up to `backoff.max`, until `execute_before`
/// (Unix seconds; the chain refuses the execution from then on, so resending is pointless).
/// A definite answer, success or another JSON-RPC error, ends it at once.
async fn submit_until<F, Fut>(
    execute_before: u64,
    backoff: Backoff,
    mut submit: F,
) -> Result<Executed, SessionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Executed, SessionError>>,
{
    let mut wait = backoff.first;
    let mut attempts = 1u32;
    loop {
        let error = match submit().await {
            Err(e) if e.is_in_doubt() => e,
            other => return other,
        };
        let left = Duration::from_secs(execute_before.saturating_sub(unix_now()));
        if left <= wait {
            return Err(error.noting(&format!(
                " (sent {attempts} times, until the execution's execute_before {execute_before})"
            )));
        }
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2).min(backoff.max);
        attempts += 1;
    }
}

/// Checks that typed data from a paymaster is exactly an outside execution of `calls` on our
/// chain, in the SNIP-9 v2 domain, relayable by anyone (or by a caller we trust), and within
/// `window`: `execute_after` not after now, `execute_before` after now, at most
/// `window.max_window_secs` from now and, for a session, not after its `valid_until`. Returns
/// the outside execution to sign; refuses with [`SessionError::TypedDataMismatch`] otherwise.
/// (Whether its nonce is unused is the account's to say: the client asks it before signing.)
pub fn verify_typed_data(
    typed_data: &Value,
    calls: &[Call],
    chain_id: Felt,
    window: &SigningWindow,
    trusted_callers: &[Felt],
) -> Result<OutsideExecution, SessionError> {
    let mismatch = |why: String| SessionError::TypedDataMismatch(why);
    let now = window.now;
    let outside = parse_outside_execution(typed_data, chain_id)
        .map_err(|e| mismatch(format!("is not ours to sign ({e})")))?;
    if outside.calls.len() != calls.len() {
        return Err(mismatch(format!(
            "has {} calls where we asked for {}",
            outside.calls.len(),
            calls.len()
        )));
    }
    if let Some(i) = (0..calls.len()).find(|&i| outside.calls[i] != calls[i]) {
        return Err(mismatch(format!("changes call #{i}")));
    }
    if outside.caller != snip12::ANY_CALLER && !trusted_callers.contains(&outside.caller) {
        return Err(mismatch(format!(
            "names caller {:#x}, neither ANY_CALLER nor a trusted relayer",
            outside.caller
        )));
    }
    if outside.execute_before <= now {
        return Err(mismatch(format!(
            "is already past its execute_before {} (now {now})",
            outside.execute_before
        )));
    }
    if outside.execute_before > now.saturating_add(window.max_window_secs) {
        return Err(mismatch(format!(
            "would stay valid until {}, more than the {} s this client signs for (now {now})",
            outside.execute_before, window.max_window_secs
        )));
    }
    if let Some(valid_until) = window.valid_until {
        if outside.execute_before > valid_until {
            return Err(mismatch(format!(
                "would stay valid until {}, after the session ends at {valid_until}",
                outside.execute_before
            )));
        }
    }
    if outside.execute_after > now {
        return Err(mismatch(format!(
            "starts in the future: execute_after {} (now {now})",
            outside.execute_after
        )));
    }
    if outside.execute_after >= outside.execute_before {
        return Err(mismatch("has an empty validity window".into()));
    }
    Ok(outside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use stark_sessions_abi::typed_data::outside_execution_typed_data;

    const CHAIN: Felt = starknet::core::chain_id::SEPOLIA;
    const NOW: u64 = 1_700_000_000;

    fn calls() -> Vec<Call> {
        vec![Call {
            to: Felt::from(0x9a3eu32),
            selector: Felt::from(0x11u8),
            calldata: vec![Felt::from(5u8)],
        }]
    }

    fn typed(edit: impl FnOnce(&mut OutsideExecution)) -> Value {
        let mut outside = OutsideExecution {
            caller: snip12::ANY_CALLER,
            nonce: Felt::from(77u8),
            execute_after: NOW - 60,
            execute_before: NOW + 300,
            calls: calls(),
        };
        edit(&mut outside);
        outside_execution_typed_data(&outside, CHAIN)
    }

    /// A session ending in two hours, the default ten-minute window.
    const WINDOW: SigningWindow = SigningWindow {
        chain_now: NOW,
        now: NOW,
        max_window_secs: DEFAULT_MAX_EXECUTION_WINDOW.as_secs(),
        valid_until: Some(NOW + 7200),
    };

    fn verdict(typed_data: &Value, window: &SigningWindow) -> Result<OutsideExecution, String> {
        verify_typed_data(typed_data, &calls(), CHAIN, window, &[]).map_err(|e| {
            assert_eq!(e.code(), "PAYMASTER_TYPED_DATA_MISMATCH", "{e}");
            e.to_string()
        })
    }

    fn refused(typed_data: &Value) -> bool {
        verdict(typed_data, &WINDOW).is_err()
    }

    #[test]
    fn honest_typed_data_is_accepted() {
        let outside = verdict(&typed(|_| {}), &WINDOW).expect("ok");
        assert_eq!(outside.calls, calls());
    }

    #[test]
    fn the_window_asked_of_the_paymaster_is_one_the_client_signs() {
        let (after, before) = WINDOW.requested_bounds();
        assert_eq!((after, before), (NOW - EXECUTE_AFTER_SLACK_SECS, NOW + 600));
        let bounded = |w: &SigningWindow| {
            let (after, before) = w.requested_bounds();
            typed(|o| (o.execute_after, o.execute_before) = (after, before))
        };
        assert!(verdict(&bounded(&WINDOW), &WINDOW).is_ok());
        // A session ending sooner than the window ends it.
        let ending = SigningWindow {
            valid_until: Some(NOW + 120),
            ..WINDOW
        };
        assert_eq!(ending.requested_bounds().1, NOW + 120);
        assert!(verdict(&bounded(&ending), &ending).is_ok());
        // The owner's executions have no session end.
        let owner = SigningWindow {
            valid_until: None,
            ..WINDOW
        };
        assert_eq!(owner.requested_bounds().1, NOW + 600);
        // A quiet chain whose latest block is old: the window ends ten minutes after the local
        // clock, and starts before the chain's time, where the next block cannot be earlier.
        let quiet = SigningWindow {
            chain_now: NOW - 900,
            ..WINDOW
        };
        assert_eq!(
            quiet.requested_bounds(),
            (NOW - 900 - EXECUTE_AFTER_SLACK_SECS, NOW + 600)
        );
        assert!(verdict(&bounded(&quiet), &quiet).is_ok());
    }

    #[test]
    fn time_bounds_beyond_the_window_the_session_or_now_are_refused() {
        // execute_before: at most the window from now, inclusive.
        let at = |before: u64| typed(|o| o.execute_before = before);
        assert!(verdict(&at(NOW + 600), &WINDOW).is_ok());
        let e = verdict(&at(NOW + 601), &WINDOW).expect_err("too long");
        assert!(e.contains("more than the 600 s"), "{e}");
        // The hour a paymaster may offer by default is refused under the default window...
        assert!(verdict(&at(NOW + 3600), &WINDOW).is_err());
        // ...and accepted by a client configured for it, but never past the session's end.
        let day = SigningWindow {
            max_window_secs: 24 * 3600,
            ..WINDOW
        };
        assert!(verdict(&at(NOW + 3600), &day).is_ok());
        assert!(verdict(&at(NOW + 7200), &day).is_ok());
        let e = verdict(&at(NOW + 7201), &day).expect_err("after the session");
        assert!(e.contains("after the session ends"), "{e}");
        // Already over.
        let e = verdict(&at(NOW), &WINDOW).expect_err("over");
        assert!(e.contains("past its execute_before"), "{e}");
        // execute_after: now is fine, one second later is not.
        assert!(verdict(&typed(|o| o.execute_after = NOW), &WINDOW).is_ok());
        let e = verdict(&typed(|o| o.execute_after = NOW + 1), &WINDOW).expect_err("future");
        assert!(e.contains("starts in the future"), "{e}");
    }

    fn done() -> Executed {
        Executed {
            transaction_hash: Felt::from(0xabcu32),
            tracking_id: Felt::from(0x1du8),
        }
    }

    fn lost() -> SessionError {
        SessionError::PaymasterTransport("connection reset".into())
    }

    fn resend() -> SessionError {
        SessionError::Paymaster {
            code: crate::paymaster::RESEND_CODE,
            message: "An error occurred (UNKNOWN_ERROR)".into(),
            data: Some(json!(
                "tracking id 0x1d is queued but the node has not taken it yet"
            )),
        }
    }

    const QUICK: Backoff = Backoff {
        first: Duration::from_millis(1),
        max: Duration::from_millis(40),
    };

    /// Sends through `answers` (the last one repeated) until `submit_until` stops; the outcome
    /// and how many sends it took.
    async fn sends(
        execute_before: u64,
        answers: Vec<fn() -> Result<Executed, SessionError>>,
    ) -> (Result<Executed, SessionError>, usize) {
        use std::cell::Cell;
        let attempts = Cell::new(0usize);
        let outcome = submit_until(execute_before, QUICK, || {
            let i = attempts.get().min(answers.len() - 1);
            attempts.set(attempts.get() + 1);
            let answer = answers[i]();
            async move { answer }
        })
        .await;
        (outcome, attempts.get())
    }

    #[tokio::test]
    async fn an_answer_in_doubt_or_a_163_resends_the_same_execution() {
        let later = unix_now() + 600;
        // Lost twice, told to resend once, then the paymaster's answer to the same execution.
        let (outcome, attempts) = sends(
            later,
            vec![|| Err(lost()), || Err(lost()), || Err(resend()), || {
                Ok(done())
            }],
        )
        .await;
        assert_eq!((outcome.expect("the one outcome"), attempts), (done(), 4));
        // A definite refusal is final.
        let (outcome, attempts) = sends(
            later,
            vec![|| {
                Err(SessionError::Paymaster {
                    code: 156,
                    message: "transaction execution error".into(),
                    data: None,
                })
            }],
        )
        .await;
        assert_eq!(
            (attempts, outcome.expect_err("refused").code()),
            (1, "PAYMASTER_ERROR")
        );
    }

    #[tokio::test]
    async fn resending_lasts_until_execute_before_not_a_fixed_count() {
        for answer in [(|| Err(lost())) as fn() -> _, || Err(resend())] {
            let started = std::time::Instant::now();
            let (outcome, attempts) = sends(unix_now() + 2, vec![answer]).await;
            let e = outcome.expect_err("gave up");
            // Well past the old 4 sends (about 1.75 s), and over by execute_before.
            assert!(attempts > 10, "{attempts} sends");
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{:?}",
                started.elapsed()
            );
            assert!(e.is_in_doubt(), "{e}");
            assert!(
                e.to_string().contains(&format!("sent {attempts} times")),
                "{e}"
            );
        }
        // Nothing is resent once execute_before has come.
        let (outcome, attempts) = sends(unix_now(), vec![|| Err(lost())]).await;
        assert_eq!(
            (attempts, outcome.expect_err("over").code()),
            (1, "PAYMASTER_UNREACHABLE")
        );
    }

    #[test]
    fn altered_calls_callers_windows_and_domains_are_refused() {
        assert!(refused(
            &typed(|o| o.calls[0].calldata[0] = Felt::from(6u8))
        ));
        assert!(refused(&typed(|o| o.calls[0].to = Felt::from(0xbadu32))));
        assert!(refused(&typed(|o| o.calls.push(o.calls[0].clone()))));
        assert!(refused(&typed(|o| o.calls.clear())));
        assert!(refused(&typed(|o| o.caller = Felt::from(0x1234u32))));
        assert!(refused(&typed(|o| o.execute_before = NOW)));
        assert!(refused(&typed(|o| o.execute_before = NOW + 30 * 24 * 3600)));
        let mut other_chain = typed(|_| {});
        other_chain["domain"]["chainId"] = json!("SN_MAIN");
        assert!(refused(&other_chain));
        let mut other_version = typed(|_| {});
        other_version["domain"]["version"] = json!("1");
        assert!(refused(&other_version));
        let trusted = Felt::from(0x1234u32);
        assert!(verify_typed_data(
            &typed(|o| o.caller = trusted),
            &calls(),
            CHAIN,
            &WINDOW,
            &[trusted]
        )
        .is_ok());
    }

    #[test]
    fn registration_calls_encode_every_grant() {
        let account = Felt::from(0xaccu32);
        let config = SessionConfig {
            session_public_key: Felt::from(0x5e55u32),
            valid_until: 1_000,
            max_calls: 3,
            allowed_entrypoints: vec![Felt::from(0x11u8)],
            targets: vec![Felt::from(0x9a3eu32)],
            spending_limits: vec![SpendingLimit {
                token: Felt::from(0x70cu32),
                max_per_call: 5,
                max_per_window: 10,
                window_seconds: 60,
            }],
        };
        let calls = registration_calls(account, &config);
        assert_eq!(calls.len(), 3);
        assert!(calls.iter().all(|c| c.to == account));
        assert_eq!(
            calls[0].calldata,
            [0x5e55u32, 1_000, 3, 1, 0x11].map(Felt::from).to_vec()
        );
        assert_eq!(
            calls[2].calldata,
            [0x5e55u32, 0x70c, 5, 0, 10, 0, 60].map(Felt::from).to_vec()
        );
    }
}
