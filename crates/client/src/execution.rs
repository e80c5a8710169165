//! Executing through the paymaster: the preflight of a session's calls against the account's
//! state, the checks a paymaster's typed data must pass before anything is signed
//! ([`verify_typed_data`], within a [`SigningWindow`]), signing by a session key or by the
//! owner, and submission, resent while its outcome is in doubt until its `execute_before`.
//! A granted session's first execution carries its grant ([`SignedGrant::first_use_signature`])
//! and is preflighted with the grant's own checks.

use std::time::Duration;

use serde_json::Value;
use stark_sessions_abi::constants::{
    SELECTOR_GET_OWNER_KEY_VERSION, SELECTOR_GET_PUBLIC_KEY, SELECTOR_GET_SESSIONS_EPOCH,
    SELECTOR_IS_VALID_OUTSIDE_EXECUTION_NONCE, SELECTOR_REVOKE_OWN_SESSION, TRACKED_SELECTORS,
};
use stark_sessions_abi::typed_data::parse_outside_execution;
use stark_sessions_abi::{
    snip12, AccountModel, CairoSerde, Call, Felt, OutsideExecution, SessionGrant, SessionSnapshot,
    SignedGrant,
};

use crate::client::{ErrorContext, Owner, SessionClient};
use crate::counterfactual::Deployment;
use crate::error::{SessionDetails, SessionError};
use crate::handle::SessionHandle;
use crate::keys::unix_now;
use crate::paymaster::Executed;
use crate::session::Session;

/// Refuses a handle of another session, or one no longer usable.
fn check_handle(session: &Session, handle: &SessionHandle) -> Result<(), SessionError> {
    if handle.public_key() != session.public_key() {
        return Err(SessionError::InvalidInput(
            "the handle is for another session".into(),
        ));
    }
    handle.info()?;
    Ok(())
}

/// What a granted session's first use is checked and explained against: the grant's terms,
/// at block time `now`, on `account`.
fn grant_details(grant: &SessionGrant, now: u64, account: Felt) -> SessionDetails {
    SessionDetails {
        valid_until: grant.valid_until,
        now,
        max_calls: grant.max_calls,
        allowed_entrypoints: grant.entrypoints.clone(),
        targets: grant.targets.clone(),
        account,
        registration: grant.registration(),
        limits: grant.agent_limits(),
    }
}

/// Refuses a grant that is not this session's (another key, or another `valid_until` than the
/// one its signature carries): the account would refuse its first use as a bad signature.
fn ensure_grant_of(session: &Session, signed: &SignedGrant) -> Result<(), SessionError> {
    let grant = &signed.grant;
    if grant.session_key != session.public_key()
        || grant.valid_until != session.valid_until()
        || grant.account != session.account
    {
        return Err(SessionError::InvalidInput(
            "the session carries a grant of another key, account or expiry".into(),
        ));
    }
    Ok(())
}

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

impl SessionClient {
    /// Checks `calls` against the account's current state of the session, as the contract
    /// will: expired, not registered, revoked, exhausted, a call not allowed, a spending
    /// limit. Nothing is signed or sent.
    pub async fn preflight(
        &self,
        session: &Session,
        calls: &[Call],
    ) -> Result<SessionDetails, SessionError> {
        Ok(self.preflight_with_grant(session, calls).await?.0)
    }

    /// The preflight, and the grant the execution must carry: a granted session's first use
    /// (until its registration is on chain) is checked with the grant's own rules and signed
    /// under the registration the grant creates.
    async fn preflight_with_grant<'s>(
        &self,
        session: &'s Session,
        calls: &[Call],
    ) -> Result<(SessionDetails, Option<&'s SignedGrant>), SessionError> {
        if session.chain_id != self.chain_id() {
            return Err(SessionError::InvalidInput(format!(
                "the session is for chain {:#x}, the node serves {:#x}",
                session.chain_id,
                self.chain_id()
            )));
        }
        if calls.is_empty() {
            return Err(SessionError::InvalidInput("no calls to execute".into()));
        }
        let key = session.public_key();
        let limits = self.agent_limits(session.account, key).await?;
        let mut tokens: Vec<Felt> = calls
            .iter()
            .filter(|c| TRACKED_SELECTORS.contains(&c.selector))
            .map(|c| c.to)
            .chain(limits.loss_guards.iter().copied())
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
            limits: limits.clone(),
        };
        let Some(signed) = session.pending_grant(&snapshot) else {
            let mut model = AccountModel::new(session.account);
            model.restore_session(key, &snapshot);
            model.restore_limits(key, limits);
            model
                .check_session_execution(key, details.registration, calls, now)
                .map_err(|e| SessionError::from_contract(e, key, calls, details.clone()))?;
            return Ok((details, None));
        };
        ensure_grant_of(session, signed)?;
        let details = grant_details(&signed.grant, details.now, session.account);
        let mut model = self.account_model(session.account, &snapshot, key).await?;
        model
            .execute_session_with_grant(signed, details.registration, calls, now)
            .map_err(|e| SessionError::from_contract(e, key, calls, details.clone()))?;
        Ok((details, Some(signed)))
    }

    /// A model of the account as far as a grant's checks go: the owner's key and its
    /// version, the revoke-all epoch and the session's state.
    async fn account_model(
        &self,
        account: Felt,
        snapshot: &SessionSnapshot,
        key: Felt,
    ) -> Result<AccountModel, SessionError> {
        let (owner_key, version, epoch) = tokio::try_join!(
            self.view(account, SELECTOR_GET_PUBLIC_KEY, vec![]),
            self.view(account, SELECTOR_GET_OWNER_KEY_VERSION, vec![]),
            self.view(account, SELECTOR_GET_SESSIONS_EPOCH, vec![])
        )?;
        let malformed = |e: stark_sessions_abi::AbiError| {
            SessionError::Provider(format!("the account answered malformed data: {e}"))
        };
        let owner_key = Felt::from_felts(&owner_key).map_err(malformed)?;
        let mut model = AccountModel::with_owner(account, self.chain_id(), owner_key);
        model.restore_account(
            u32::from_felts(&epoch).map_err(malformed)?,
            u32::from_felts(&version).map_err(malformed)?,
        );
        model.restore_session(key, snapshot);
        Ok(model)
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

    /// The session revokes itself, gaslessly and without the owner: an execution signed by
    /// the session whose only call is the account's `revoke_own_session`. Waits for the
    /// receipt; afterwards every execution of the session is refused (`SESSION_REVOKED`).
    pub async fn revoke_own_session(
        &self,
        session: &Session,
        handle: &SessionHandle,
    ) -> Result<Felt, SessionError> {
        let call = Call {
            to: session.account,
            selector: SELECTOR_REVOKE_OWN_SESSION,
            calldata: vec![],
        };
        self.execute_and_wait(session, handle, &[call]).await
    }

    /// [`Self::execute_and_wait`] for a session the caller keeps (and stores): once the
    /// execution lands, a grant the session carried is dropped — the session is registered
    /// on chain from then on, and later executions carry the usual four-element signature.
    pub async fn execute_session(
        &self,
        session: &mut Session,
        handle: &SessionHandle,
        calls: &[Call],
    ) -> Result<Felt, SessionError> {
        let hash = self.execute_and_wait(session, handle, calls).await?;
        session.grant = None;
        Ok(hash)
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
        check_handle(session, handle)?;
        let (details, grant) = self.preflight_with_grant(session, calls).await?;
        self.sign_and_relay(session, handle, calls, details, grant, None)
            .await
    }

    /// A granted session's first execution on an account not deployed yet: the paymaster
    /// deploys the account (`deployment`, of `owner_key`) and runs the execution in one
    /// sponsored transaction. Checked first against the rules of the new account.
    pub(crate) async fn execute_deploying(
        &self,
        session: &Session,
        handle: &SessionHandle,
        calls: &[Call],
        deployment: &Deployment,
        owner_key: Felt,
    ) -> Result<(Felt, ErrorContext), SessionError> {
        check_handle(session, handle)?;
        let signed = session.grant.as_ref().ok_or_else(|| {
            SessionError::InvalidInput(
                "only a granted session can make the first call of an account it deploys".into(),
            )
        })?;
        let now = self.block_timestamp().await?;
        let details = grant_details(&signed.grant, now, session.account);
        ensure_grant_of(session, signed)?;
        let key = session.public_key();
        AccountModel::with_owner(session.account, self.chain_id(), owner_key)
            .execute_session_with_grant(signed, details.registration, calls, now)
            .map_err(|e| SessionError::from_contract(e, key, calls, details.clone()))?;
        self.sign_and_relay(
            session,
            handle,
            calls,
            details,
            Some(signed),
            Some(deployment),
        )
        .await
    }

    /// Signs the session's execution of `calls` (with its grant on a first use) and has it
    /// relayed, deploying the account first when `deployment` is given.
    async fn sign_and_relay(
        &self,
        session: &Session,
        handle: &SessionHandle,
        calls: &[Call],
        details: SessionDetails,
        grant: Option<&SignedGrant>,
        deployment: Option<&Deployment>,
    ) -> Result<(Felt, ErrorContext), SessionError> {
        let window = self.signing_window(details.now, Some(session.valid_until()));
        let context = ErrorContext::for_execution(session.public_key(), calls, details);
        let registration = context.registration();
        let hash = self
            .relay(
                session.account,
                calls,
                window,
                |hash| {
                    let (r, s) = handle.sign(&snip12::session_message_hash(*hash, registration))?;
                    let signature = snip12::session_signature(
                        session.public_key(),
                        r,
                        s,
                        session.valid_until(),
                    );
                    Ok(match grant {
                        Some(signed) => signed.first_use_signature(&signature),
                        None => signature,
                    })
                },
                &context,
                deployment,
            )
            .await?;
        Ok((hash, context))
    }

    /// Has the owner's outside execution of `calls` relayed.
    pub(crate) async fn relay_as_owner(
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
            |hash| owner.sign(hash),
            &context,
            deployment,
        )
        .await
    }

    /// The rules for an execution read at chain time `chain_now` (for a session: ending at
    /// `valid_until`).
    fn signing_window(&self, chain_now: u64, valid_until: Option<u64>) -> SigningWindow {
        SigningWindow {
            chain_now,
            now: chain_now.max(unix_now()),
            max_window_secs: self.max_execution_window().as_secs(),
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
        let (typed_data, outside) = self
            .build_checked(account, calls, &window, context, deployment)
            .await?;
        // The hash is ours, from our account and chain: nothing the paymaster says is signed.
        let hash = snip12::outside_execution_hash(&outside, account, self.chain_id());
        let signature = sign(&hash)?;
        self.submit_signed(
            account,
            &typed_data,
            &outside,
            &signature,
            context,
            deployment,
        )
        .await
    }

    /// The paymaster's typed data of an outside execution of `calls` within `window`, and the
    /// outside execution it is, once checked ([`verify_typed_data`], and a fresh nonce).
    async fn build_checked(
        &self,
        account: Felt,
        calls: &[Call],
        window: &SigningWindow,
        context: &ErrorContext,
        deployment: Option<&Deployment>,
    ) -> Result<(Value, OutsideExecution), SessionError> {
        let built = self
            .paymaster()
            .build_transaction(account, calls, Some(window.requested_bounds()), deployment)
            .await
            .map_err(|e| context.paymaster(e))?;
        let typed_data = built.get("typed_data").cloned().ok_or_else(|| {
            SessionError::TypedDataMismatch("is missing from the build result".into())
        })?;
        let outside = verify_typed_data(
            &typed_data,
            calls,
            self.chain_id(),
            window,
            self.trusted_callers(),
        )?;
        if deployment.is_none() {
            // An account about to be deployed has used no nonce.
            self.ensure_fresh_nonce(account, outside.nonce).await?;
        }
        Ok((typed_data, outside))
    }

    /// Has the signed execution relayed, resending it while the answer is in doubt
    /// ([`submit_until`]); an error still in doubt at the end says what is safe to do next.
    async fn submit_signed(
        &self,
        account: Felt,
        typed_data: &Value,
        outside: &OutsideExecution,
        signature: &[Felt],
        context: &ErrorContext,
        deployment: Option<&Deployment>,
    ) -> Result<Felt, SessionError> {
        let executed = submit_until(outside.execute_before, Backoff::default(), || {
            self.paymaster()
                .execute_transaction(account, typed_data, signature, deployment)
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
    let outside = parse_outside_execution(typed_data, chain_id)
        .map_err(|e| mismatch(format!("is not ours to sign ({e})")))?;
    check_calls_and_caller(&outside, calls, trusted_callers).map_err(mismatch)?;
    check_time_bounds(&outside, window).map_err(mismatch)?;
    Ok(outside)
}

/// Why `outside` is not exactly `calls`, relayable by anyone or by one of `trusted_callers`.
fn check_calls_and_caller(
    outside: &OutsideExecution,
    calls: &[Call],
    trusted_callers: &[Felt],
) -> Result<(), String> {
    if outside.calls.len() != calls.len() {
        return Err(format!(
            "has {} calls where we asked for {}",
            outside.calls.len(),
            calls.len()
        ));
    }
    if let Some(i) = (0..calls.len()).find(|&i| outside.calls[i] != calls[i]) {
        return Err(format!("changes call #{i}"));
    }
    if outside.caller != snip12::ANY_CALLER && !trusted_callers.contains(&outside.caller) {
        return Err(format!(
            "names caller {:#x}, neither ANY_CALLER nor a trusted relayer",
            outside.caller
        ));
    }
    Ok(())
}

/// Why `outside`'s time bounds are not within `window`.
fn check_time_bounds(outside: &OutsideExecution, window: &SigningWindow) -> Result<(), String> {
    let now = window.now;
    if outside.execute_before <= now {
        return Err(format!(
            "is already past its execute_before {} (now {now})",
            outside.execute_before
        ));
    }
    if outside.execute_before > now.saturating_add(window.max_window_secs) {
        return Err(format!(
            "would stay valid until {}, more than the {} s this client signs for (now {now})",
            outside.execute_before, window.max_window_secs
        ));
    }
    if let Some(valid_until) = window.valid_until {
        if outside.execute_before > valid_until {
            return Err(format!(
                "would stay valid until {}, after the session ends at {valid_until}",
                outside.execute_before
            ));
        }
    }
    if outside.execute_after > now {
        return Err(format!(
            "starts in the future: execute_after {} (now {now})",
            outside.execute_after
        ));
    }
    if outside.execute_after >= outside.execute_before {
        return Err("has an empty validity window".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::DEFAULT_MAX_EXECUTION_WINDOW;
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
}
