//! The session operations: register, execute, query and revoke, all gasless through a SNIP-29
//! paymaster, each checked against on-chain state before anything is signed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stark_sessions_abi::constants::{
    ISESSION_KEY_MANAGER_ID, SELECTOR_ADD_OR_UPDATE_SESSION_KEY,
    SELECTOR_GET_SESSION_ALLOWED_ENTRYPOINTS, SELECTOR_GET_SESSION_DATA,
    SELECTOR_GET_SESSION_GENERATION, SELECTOR_GET_SESSION_STATUS, SELECTOR_GET_SESSION_TARGETS,
    SELECTOR_GET_SPENDING_POLICY, SELECTOR_REVOKE_ALL_SESSIONS, SELECTOR_REVOKE_SESSION_KEY,
    SELECTOR_SET_SESSION_TARGETS, SELECTOR_SET_SPENDING_POLICY, SELECTOR_SUPPORTS_INTERFACE,
    TRACKED_SELECTORS,
};
use stark_sessions_abi::typed_data::parse_outside_execution;
use stark_sessions_abi::{
    snip12, AccountModel, CairoSerde, Call, ContractError, Felt, OutsideExecution, SessionData,
    SessionSnapshot, SessionStatus, SpendingPolicy, U256,
};
use starknet::core::types::{
    BlockId, BlockTag, ExecutionResult, FunctionCall, MaybePreConfirmedBlockWithTxHashes,
    StarknetError,
};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider, ProviderError};
use starknet::signers::SigningKey;
use url::Url;

use crate::error::{SessionDetails, SessionError};
use crate::handle::SessionHandle;
use crate::keys::{create_session_key_with, unix_now};
use crate::paymaster::PaymasterClient;
use crate::session::{Session, SpendingLimit};
use crate::EnvelopeParams;

/// The longest validity window of an outside execution the client will sign: a paymaster
/// asking for a signature that stays usable for longer is refused.
pub const MAX_EXECUTION_WINDOW_SECS: u64 = 24 * 3600;
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
}

fn provider_error(what: &str, e: ProviderError) -> SessionError {
    SessionError::Provider(format!("{what}: {e}"))
}

impl SessionClient {
    /// Connects to the node at `rpc_url` (asking it for the chain id) and uses `paymaster`.
    pub async fn connect(rpc_url: Url, paymaster: PaymasterClient) -> Result<Self, SessionError> {
        let provider = Arc::new(JsonRpcClient::new(HttpTransport::new(rpc_url)));
        let chain_id = provider
            .chain_id()
            .await
            .map_err(|e| provider_error("starknet_chainId", e))?;
        Ok(SessionClient {
            provider,
            paymaster,
            chain_id,
            trusted_callers: Vec::new(),
            envelope: EnvelopeParams::default(),
        })
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
        self.provider
            .call(
                FunctionCall {
                    contract_address: account,
                    entry_point_selector: selector,
                    calldata,
                },
                BlockId::Tag(BlockTag::PreConfirmed),
            )
            .await
    }

    async fn view(
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
        let block = self
            .provider
            .get_block_with_tx_hashes(BlockId::Tag(BlockTag::Latest))
            .await
            .map_err(|e| provider_error("starknet_getBlockWithTxHashes", e))?;
        Ok(match block {
            MaybePreConfirmedBlockWithTxHashes::Block(b) => b.timestamp,
            MaybePreConfirmedBlockWithTxHashes::PreConfirmedBlock(b) => b.timestamp,
        })
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

    /// Has the paymaster build an outside execution of `calls` for `account`, checks the typed
    /// data it returns against the chain's time `now`, signs it with `sign` and has it relayed.
    /// Returns the transaction hash.
    async fn relay<F>(
        &self,
        account: Felt,
        calls: &[Call],
        now: u64,
        sign: F,
        context: &ErrorContext,
    ) -> Result<Felt, SessionError>
    where
        F: FnOnce(&Felt) -> Result<Vec<Felt>, SessionError>,
    {
        let built = self
            .paymaster
            .build_invoke(account, calls)
            .await
            .map_err(|e| context.paymaster(e))?;
        let typed_data = built.get("typed_data").ok_or_else(|| {
            SessionError::TypedDataMismatch("is missing from the build result".into())
        })?;
        let now = now.max(unix_now());
        let outside =
            verify_typed_data(typed_data, calls, self.chain_id, now, &self.trusted_callers)?;
        // The hash is ours, from our account and chain: nothing the paymaster says is signed.
        let hash = snip12::outside_execution_hash(&outside, account, self.chain_id);
        let signature = sign(&hash)?;
        let executed = self
            .paymaster
            .execute_invoke(account, typed_data, &signature)
            .await
            .map_err(|e| context.paymaster(e))?;
        Ok(executed.transaction_hash)
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
        let mut model = AccountModel::new(owner.account);
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
        let calls = registration_calls(owner.account, config);
        self.relay_as_owner(owner, &calls, ErrorContext::creation())
            .await
    }

    async fn relay_as_owner(
        &self,
        owner: &Owner,
        calls: &[Call],
        context: ErrorContext,
    ) -> Result<Felt, SessionError> {
        let now = self.block_timestamp().await?;
        self.relay(
            owner.account,
            calls,
            now,
            |hash| {
                let signature = owner
                    .key
                    .sign(hash)
                    .map_err(|e| SessionError::InvalidInput(format!("owner cannot sign: {e}")))?;
                Ok(vec![signature.r, signature.s])
            },
            &context,
        )
        .await
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
        let mut key = create_session_key_with(pin, spec.duration, self.envelope)?;
        // The account's rules run on block time; anchor the expiry there.
        let now = self.block_timestamp().await?;
        key.valid_until = now + spec.duration.as_secs();
        let session = Session {
            account: owner.account,
            chain_id: self.chain_id,
            key,
            max_calls: spec.max_calls,
            allowed_entrypoints: spec.allowed_entrypoints.clone(),
            targets: spec.targets.clone(),
            spending_limits: spec.spending_limits.clone(),
            created_at: unix_now(),
        };
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
    /// key bound to the session's current registration (`[session_pubkey, r, s, registration]`
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
        let now = details.now;
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
                now,
                |hash| {
                    let (r, s) = handle.sign(&snip12::session_message_hash(*hash, registration))?;
                    Ok(vec![session.public_key(), r, s, registration])
                },
                &context,
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

    fn creation() -> Self {
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
    fn paymaster(&self, error: SessionError) -> SessionError {
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

/// Checks that typed data from a paymaster is exactly an outside execution of `calls` on our
/// chain, in the SNIP-9 v2 domain, relayable by anyone (or by a caller we trust), valid now
/// and not for longer than [`MAX_EXECUTION_WINDOW_SECS`]. Returns the outside execution to
/// sign; refuses with [`SessionError::TypedDataMismatch`] otherwise.
pub fn verify_typed_data(
    typed_data: &Value,
    calls: &[Call],
    chain_id: Felt,
    now: u64,
    trusted_callers: &[Felt],
) -> Result<OutsideExecution, SessionError> {
    let mismatch = |why: String| SessionError::TypedDataMismatch(why);
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
        return Err(mismatch("is already past its execute_before".into()));
    }
    if outside.execute_before > now + MAX_EXECUTION_WINDOW_SECS {
        return Err(mismatch(format!(
            "would stay valid for more than {MAX_EXECUTION_WINDOW_SECS} s"
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
            execute_before: NOW + 3600,
            calls: calls(),
        };
        edit(&mut outside);
        outside_execution_typed_data(&outside, CHAIN)
    }

    fn refused(typed_data: &Value) -> bool {
        matches!(
            verify_typed_data(typed_data, &calls(), CHAIN, NOW, &[]),
            Err(SessionError::TypedDataMismatch(_))
        )
    }

    #[test]
    fn honest_typed_data_is_accepted() {
        let outside = verify_typed_data(&typed(|_| {}), &calls(), CHAIN, NOW, &[]).expect("ok");
        assert_eq!(outside.calls, calls());
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
            NOW,
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
