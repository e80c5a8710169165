//! The session client: a node, a paymaster and the chain they serve — connecting,
//! configuring, and reading a session account's state (its session views, the block time,
//! receipts). What the client does with them sits in the modules above this one:
//! [`crate::execution`] (preflight, sign, relay), [`crate::lifecycle`] (create, register,
//! revoke sessions) and [`crate::deploy`] (put accounts on chain).

use std::sync::Arc;
use std::time::Duration;

use stark_sessions_abi::constants::{
    ISESSION_KEY_MANAGER_ID, SELECTOR_GET_OWNER_KEY_VERSION, SELECTOR_GET_SESSIONS_EPOCH,
    SELECTOR_GET_SESSION_ALLOWED_ENTRYPOINTS, SELECTOR_GET_SESSION_ARG_RULES,
    SELECTOR_GET_SESSION_DATA, SELECTOR_GET_SESSION_GENERATION, SELECTOR_GET_SESSION_LIMITS,
    SELECTOR_GET_SESSION_LOSS_GUARDS, SELECTOR_GET_SESSION_RULED_CALLS,
    SELECTOR_GET_SESSION_STATUS, SELECTOR_GET_SESSION_TARGETS, SELECTOR_GET_SPENDING_POLICY,
    SELECTOR_SUPPORTS_INTERFACE,
};
use stark_sessions_abi::{
    AgentLimits, ArgRule, CairoSerde, Call, Felt, RuledCall, SessionData, SessionLimits,
    SessionSnapshot, SessionStatus, SpendingPolicy,
};
use stark_sessions_rpc::Network;
use starknet::core::types::{BlockId, BlockTag, ExecutionResult, StarknetError};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider, ProviderError};
use starknet::signers::SigningKey;
use url::Url;

use crate::envelope::EnvelopeParams;
use crate::error::{SessionDetails, SessionError};
use crate::limits::AgentLimitSpec;
use crate::paymaster::PaymasterClient;
use crate::session::{Session, SpendingLimit};

/// The default longest validity window of an outside execution the client will sign
/// (`execute_before` at most this far from now): a paymaster asking for a signature that stays
/// usable for longer is refused. See [`SessionClient::with_max_execution_window`].
pub const DEFAULT_MAX_EXECUTION_WINDOW: Duration = Duration::from_secs(10 * 60);
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

    /// `[r, s]` of the owner's signature of `hash`.
    pub(crate) fn sign(&self, hash: &Felt) -> Result<Vec<Felt>, SessionError> {
        let signature = self
            .key
            .sign(hash)
            .map_err(|e| SessionError::InvalidInput(format!("owner cannot sign: {e}")))?;
        Ok(vec![signature.r, signature.s])
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
    /// Agent limits: start time, rate, argument rules, loss guards.
    pub limits: AgentLimitSpec,
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
            limits: session.limits.clone(),
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
    /// Agent limits: start time, rate, argument rules, loss guards (default: none).
    pub limits: AgentLimitSpec,
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
    /// The session carries an owner's grant not used yet ([`SessionClient::session_info`]):
    /// it registers itself on its first execution, and the figures above are the grant's.
    /// Always `false` from [`SessionClient::get_session_data`], which knows only the key.
    pub granted: bool,
}

/// The account-wide values a grant names besides its terms (a new key's registration
/// generation is 0): read from the account with [`SessionClient::grant_basis`], or known
/// offline — [`GrantBasis::NEW_ACCOUNT`] for an account that never revoked all its sessions
/// and never changed its owner key (one not yet deployed, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GrantBasis {
    /// `get_sessions_epoch`.
    pub sessions_epoch: u32,
    /// `get_owner_key_version`.
    pub owner_key_version: u32,
}

impl GrantBasis {
    /// A new account's values: both 0.
    pub const NEW_ACCOUNT: GrantBasis = GrantBasis {
        sessions_epoch: 0,
        owner_key_version: 0,
    };
}

/// A key's [`SessionInfo`] from the account's views.
fn info_of(snapshot: &SessionSnapshot) -> SessionInfo {
    SessionInfo {
        is_active: snapshot.status == SessionStatus::Active,
        status: snapshot.status,
        valid_until: snapshot.data.valid_until,
        remaining_calls: snapshot
            .data
            .max_calls
            .saturating_sub(snapshot.data.calls_used),
        max_calls: snapshot.data.max_calls,
        allowed_entrypoints: snapshot.entrypoints.clone(),
        granted: false,
    }
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

    /// The relayers, besides `ANY_CALLER`, that an outside execution may name.
    pub(crate) fn trusted_callers(&self) -> &[Felt] {
        &self.trusted_callers
    }

    /// The envelope parameters of new session keys.
    pub(crate) fn envelope_params(&self) -> EnvelopeParams {
        self.envelope
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

    /// Whether a contract is deployed at `address`.
    pub async fn is_deployed(&self, address: Felt) -> Result<bool, SessionError> {
        match self
            .provider()
            .get_class_hash_at(BlockId::Tag(BlockTag::PreConfirmed), address)
            .await
        {
            Ok(_) => Ok(true),
            Err(ProviderError::StarknetError(StarknetError::ContractNotFound)) => Ok(false),
            Err(e) => Err(SessionError::Provider(format!(
                "starknet_getClassHashAt: {e}"
            ))),
        }
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

    /// A session's agent limits as the account keeps them: start time and rate (with the
    /// rate window's count), argument rules, loss guards.
    pub async fn agent_limits(
        &self,
        account: Felt,
        session_key: Felt,
    ) -> Result<AgentLimits, SessionError> {
        let key = vec![session_key];
        let (terms, ruled, guards) = tokio::try_join!(
            self.view(account, SELECTOR_GET_SESSION_LIMITS, key.clone()),
            self.view(account, SELECTOR_GET_SESSION_RULED_CALLS, key.clone()),
            self.view(account, SELECTOR_GET_SESSION_LOSS_GUARDS, key.clone()),
        )?;
        let decode = |e: stark_sessions_abi::AbiError| {
            SessionError::Provider(format!("the account answered malformed data: {e}"))
        };
        let mut rules = Vec::new();
        for call in Vec::<RuledCall>::from_felts(&ruled).map_err(decode)? {
            let felts = self
                .view(
                    account,
                    SELECTOR_GET_SESSION_ARG_RULES,
                    vec![session_key, call.target, call.selector],
                )
                .await?;
            rules.push((call, Vec::<ArgRule>::from_felts(&felts).map_err(decode)?));
        }
        Ok(AgentLimits {
            terms: SessionLimits::from_felts(&terms).map_err(decode)?,
            rules,
            loss_guards: Vec::<Felt>::from_felts(&guards).map_err(decode)?,
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
        Ok(info_of(&snapshot))
    }

    /// The account's [`GrantBasis`] now ([`GrantBasis::NEW_ACCOUNT`] before it is deployed).
    pub async fn grant_basis(&self, account: Felt) -> Result<GrantBasis, SessionError> {
        if !self.is_deployed(account).await? {
            return Ok(GrantBasis::NEW_ACCOUNT);
        }
        let (epoch, version) = tokio::try_join!(
            self.view(account, SELECTOR_GET_SESSIONS_EPOCH, vec![]),
            self.view(account, SELECTOR_GET_OWNER_KEY_VERSION, vec![])
        )?;
        let decode = |felts: Vec<Felt>| {
            u32::from_felts(&felts).map_err(|e| {
                SessionError::Provider(format!("the account answered malformed data: {e}"))
            })
        };
        Ok(GrantBasis {
            sessions_epoch: decode(epoch)?,
            owner_key_version: decode(version)?,
        })
    }

    /// What [`Self::get_session_data`] reports, for a session this client holds: a granted
    /// session whose first use has not landed reads as granted (its grant's terms, active
    /// while the chain time is within them and nothing voided the grant), not as an unknown
    /// key.
    pub async fn session_info(&self, session: &Session) -> Result<SessionInfo, SessionError> {
        let key = session.public_key();
        let snapshot = self.session_snapshot(session.account, key, &[]).await?;
        let Some(signed) = session.pending_grant(&snapshot) else {
            return Ok(info_of(&snapshot));
        };
        let (basis, now) =
            tokio::try_join!(self.grant_basis(session.account), self.block_timestamp())?;
        let grant = &signed.grant;
        let usable = snapshot.generation == grant.key_generation
            && basis.sessions_epoch == grant.sessions_epoch
            && basis.owner_key_version == grant.owner_key_version
            && now < grant.valid_until;
        Ok(SessionInfo {
            is_active: usable,
            status: snapshot.status,
            valid_until: grant.valid_until,
            remaining_calls: grant.max_calls,
            max_calls: grant.max_calls,
            allowed_entrypoints: grant.entrypoints.clone(),
            granted: true,
        })
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

    /// For an execution of `calls` by `session_key`, preflighted to `details`.
    pub(crate) fn for_execution(
        session_key: Felt,
        calls: &[Call],
        details: SessionDetails,
    ) -> Self {
        ErrorContext {
            session_key,
            calls: calls.to_vec(),
            details,
        }
    }

    /// The session registration the execution is bound to.
    pub(crate) fn registration(&self) -> Felt {
        self.details.registration
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
