//! A pure-Rust model of the session account's rules.
//!
//! Every method returns what the contract would: `Ok` where it accepts, or the same
//! [`ContractError`] it reverts with, checked in the same order. The randomized differential
//! test in `tests/` runs the model and a deployed contract side by side and compares them after
//! every step. The model assumes what it cannot see: owner calls come from the account itself,
//! and session signatures over the outside execution are valid. An owner's signature of a
//! session grant it checks for real, against the owner key it was given.

use std::collections::HashMap;

use starknet_core::types::{Call, Felt};

use crate::constants::{
    BLOCKED_SELECTORS, MAX_ARG_RULES, MAX_ENTRYPOINTS, MAX_LOSS_GUARDS, MAX_RULED_CALLS,
    MAX_SPENDING_POLICIES, MAX_TARGETS, MAX_WINDOW_SECONDS, SELECTOR_REVOKE_OWN_SESSION,
    SELECTOR_TRANSFER, STALE_LOOKBACK, TRACKED_SELECTORS,
};
use crate::errors::ContractError;
use crate::grant::{GrantSpendingLimit, SessionGrant, SignedGrant};
use crate::limits::{AgentLimits, ArgRule, RuledCall, SessionLimits};
use crate::types::{SessionData, SessionStatus, SpendingPolicy, U256};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Record {
    valid_until: u64,
    max_calls: u32,
    calls_used: u32,
    epoch: u32,
    generation: u32,
    revoked: bool,
}

impl Record {
    fn registered(&self) -> bool {
        self.revoked || self.valid_until != 0
    }
}

/// One session as an account's views report it: what [`AccountModel::restore_session`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSnapshot {
    /// `get_session_status`.
    pub status: SessionStatus,
    /// `get_session_data`.
    pub data: SessionData,
    /// `get_session_allowed_entrypoints`.
    pub entrypoints: Vec<Felt>,
    /// `get_session_targets`.
    pub targets: Vec<Felt>,
    /// `get_spending_policy` of the tokens of interest, by token (unset policies may be
    /// included; they read as all zeros and are ignored).
    pub policies: Vec<(Felt, SpendingPolicy)>,
    /// `get_session_generation`.
    pub generation: u32,
}

/// The session state of one account, and the rules that change it.
#[derive(Debug, Clone, Default)]
pub struct AccountModel {
    account: Felt,
    chain_id: Felt,
    owner_key: Felt,
    owner_key_version: u32,
    epoch: u32,
    records: HashMap<Felt, Record>,
    entrypoints: HashMap<Felt, Vec<Felt>>,
    targets: HashMap<Felt, Vec<Felt>>,
    // Token order follows the contract's (append, swap-remove).
    policies: HashMap<Felt, Vec<(Felt, SpendingPolicy)>>,
    limits: HashMap<Felt, AgentLimits>,
}

fn ensure(condition: bool, error: ContractError) -> Result<(), ContractError> {
    if condition {
        Ok(())
    } else {
        Err(error)
    }
}

/// Check 4 for a signature made under `signed` when the key's registration is `current`: a
/// valid signature of one of the [`STALE_LOOKBACK`] registrations before the current one is a
/// stale one (`session/registration-mismatch`); any other does not verify
/// (`session/bad-signature`).
fn ensure_current_generation(signed: Option<u32>, current: u32) -> Result<(), ContractError> {
    match signed {
        Some(g) if g == current => Ok(()),
        Some(g) if g < current && current - g <= STALE_LOOKBACK => {
            Err(ContractError::SessionRegistrationMismatch)
        }
        _ => Err(ContractError::SessionBadSignature),
    }
}

/// A policy as set: its terms, no window opened yet.
fn fresh_policy(limit: &GrantSpendingLimit) -> SpendingPolicy {
    SpendingPolicy {
        max_per_call: limit.max_per_call,
        max_per_window: limit.max_per_window,
        window_seconds: limit.window_seconds,
        ..Default::default()
    }
}

fn has_duplicates(items: &[Felt]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    !items.iter().all(|item| seen.insert(*item))
}

/// The amount of a tracked ERC-20 call: calldata\[1..2\] as a u256.
pub fn call_amount(calldata: &[Felt]) -> Result<U256, ContractError> {
    let limb = |i: usize| -> Result<u128, ContractError> {
        calldata
            .get(i)
            .and_then(|f| u128::try_from(*f).ok())
            .ok_or(ContractError::SpendingInvalidAmount)
    };
    ensure(calldata.len() >= 3, ContractError::SpendingInvalidAmount)?;
    Ok(U256 {
        low: limb(1)?,
        high: limb(2)?,
    })
}

/// What each token's balance falls by when `calls` run on `account`, for a token that does
/// what an ERC-20 does: the amounts its `transfer` calls send to someone else.
pub fn transfer_losses(account: Felt, calls: &[Call]) -> Vec<(Felt, U256)> {
    let mut losses: Vec<(Felt, U256)> = Vec::new();
    for call in calls.iter().filter(|c| c.selector == SELECTOR_TRANSFER) {
        let Ok(amount) = call_amount(&call.calldata) else {
            continue;
        };
        if call.calldata[0] == account {
            continue;
        }
        match losses.iter_mut().find(|(t, _)| *t == call.to) {
            Some((_, sum)) => *sum = sum.checked_add(amount).unwrap_or(U256::MAX),
            None => losses.push((call.to, amount)),
        }
    }
    losses
}

/// A loss-guarded token before the calls: what its policy's window still allowed at `now`,
/// and that window's start (`now` for one that opens).
struct GuardAllowance {
    token: Felt,
    allowance: U256,
    window_start: u64,
}

fn guard_allowances(
    guards: &[Felt],
    policies: &[(Felt, SpendingPolicy)],
    now: u64,
) -> Vec<GuardAllowance> {
    guards
        .iter()
        .map(|token| {
            let policy = policies.iter().find(|(t, _)| t == token).map(|(_, p)| p);
            let (allowance, window_start) = match policy {
                None => (U256::ZERO, now),
                Some(p) if is_open(p, now) => (
                    p.max_per_window
                        .checked_sub(p.spent_in_window)
                        .unwrap_or(U256::ZERO),
                    p.window_start,
                ),
                Some(p) => (p.max_per_window, now),
            };
            GuardAllowance {
                token: *token,
                allowance,
                window_start,
            }
        })
        .collect()
}

fn is_open(policy: &SpendingPolicy, now: u64) -> bool {
    policy.window_start != 0 && now < policy.window_start + policy.window_seconds
}

/// The loss guard after the calls: each guarded token's loss at most what its policy allowed
/// before them; the window then holds the larger of the loss and what the counting charged.
fn charge_losses(
    measured: &[GuardAllowance],
    policies: &mut [(Felt, SpendingPolicy)],
    losses: &[(Felt, U256)],
) -> Result<(), ContractError> {
    for guard in measured {
        let lost = losses
            .iter()
            .find(|(t, _)| *t == guard.token)
            .map(|(_, l)| *l)
            .unwrap_or(U256::ZERO);
        ensure(lost <= guard.allowance, ContractError::SpendingLossGuard)?;
        if lost == U256::ZERO {
            continue;
        }
        let Some((_, policy)) = policies.iter_mut().find(|(t, _)| *t == guard.token) else {
            continue;
        };
        let counted_left = if policy.window_start == guard.window_start {
            policy
                .max_per_window
                .checked_sub(policy.spent_in_window)
                .unwrap_or(U256::ZERO)
        } else {
            guard.allowance
        };
        let left = guard.allowance.checked_sub(lost).unwrap_or(U256::ZERO);
        if left < counted_left {
            policy.window_start = guard.window_start;
            policy.spent_in_window = policy
                .max_per_window
                .checked_sub(left)
                .unwrap_or(U256::ZERO);
        }
    }
    Ok(())
}

/// Check 3 for one call of a session whose whitelist is `entrypoints` and target set is
/// `targets` (empty: anything but what the account always refuses), on `account`.
pub fn check_call(
    account: Felt,
    entrypoints: &[Felt],
    targets: &[Felt],
    call: &Call,
) -> Result<(), ContractError> {
    ensure(call.to != account, ContractError::SessionSelfCall)?;
    ensure(
        !BLOCKED_SELECTORS.contains(&call.selector),
        ContractError::SessionBlockedSelector,
    )?;
    ensure(
        entrypoints.is_empty() || entrypoints.contains(&call.selector),
        ContractError::SessionSelectorDenied,
    )?;
    ensure(
        targets.is_empty() || targets.contains(&call.to),
        ContractError::SessionTargetDenied,
    )
}

impl AccountModel {
    /// An account at `account` with no sessions.
    pub fn new(account: Felt) -> Self {
        AccountModel {
            account,
            ..Default::default()
        }
    }

    /// An account at `account` on `chain_id` whose owner's public key is `owner_key`: the
    /// model then checks the owner's signatures of session grants.
    pub fn with_owner(account: Felt, chain_id: Felt, owner_key: Felt) -> Self {
        AccountModel {
            account,
            chain_id,
            owner_key,
            ..Default::default()
        }
    }

    /// `set_public_key`: a new owner key voids every grant signed before.
    pub fn set_public_key(&mut self, owner_key: Felt) {
        self.owner_key = owner_key;
        self.owner_key_version += 1;
    }

    /// Puts the account-wide state read from a deployed account into the model (with
    /// [`Self::restore_session`], what the client's preflight of a granted session needs):
    /// the revoke-all epoch and the owner key's version.
    pub fn restore_account(&mut self, epoch: u32, owner_key_version: u32) {
        self.epoch = epoch;
        self.owner_key_version = owner_key_version;
    }

    /// `get_owner_key_version`.
    pub fn owner_key_version(&self) -> u32 {
        self.owner_key_version
    }

    /// The account address the model stands for.
    pub fn account(&self) -> Felt {
        self.account
    }

    /// The revoke-all epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    fn revoked_record(&self, generation: u32) -> Record {
        Record {
            epoch: self.epoch,
            generation,
            revoked: true,
            ..Record::default()
        }
    }

    /// Records a change to a live session's registration (targets, policies): its
    /// generation moves on, so signatures made before the change are refused.
    fn bump_generation(&mut self, key: Felt) {
        if let Some(record) = self.records.get_mut(&key) {
            record.generation += 1;
        }
    }

    /// `get_session_generation`.
    pub fn session_generation(&self, key: Felt) -> u32 {
        self.record(key).generation
    }

    /// The registration a signature by `key` must name now: `valid_until + 2^64 * generation`.
    pub fn session_registration(&self, key: Felt) -> Felt {
        let record = self.record(key);
        crate::snip12::session_registration(record.valid_until, record.generation)
    }

    fn record(&self, key: Felt) -> Record {
        self.records.get(&key).copied().unwrap_or_default()
    }

    fn is_live(&self, record: &Record) -> bool {
        !record.revoked && record.valid_until != 0 && record.epoch == self.epoch
    }

    fn live_record(&self, key: Felt) -> Result<Record, ContractError> {
        let record = self.record(key);
        ensure(record.registered(), ContractError::SessionNotRegistered)?;
        ensure(self.is_live(&record), ContractError::SessionRevoked)?;
        Ok(record)
    }

    /// `add_or_update_session_key`, at block time `now`.
    pub fn add_or_update_session_key(
        &mut self,
        key: Felt,
        valid_until: u64,
        max_calls: u32,
        entrypoints: &[Felt],
        now: u64,
    ) -> Result<(), ContractError> {
        let old = self.record(key);
        // New, revoked or from before revoke-all: start clean.
        let keep_limits = self.is_live(&old);
        self.register(key, valid_until, max_calls, entrypoints, now, keep_limits)
    }

    fn register(
        &mut self,
        key: Felt,
        valid_until: u64,
        max_calls: u32,
        entrypoints: &[Felt],
        now: u64,
        keep_limits: bool,
    ) -> Result<(), ContractError> {
        let invalid = ContractError::SessionInvalidConfig;
        ensure(key != Felt::ZERO, invalid)?;
        ensure(valid_until > now, invalid)?;
        ensure(max_calls != 0, invalid)?;
        ensure(entrypoints.len() <= MAX_ENTRYPOINTS as usize, invalid)?;
        ensure(!entrypoints.contains(&Felt::ZERO), invalid)?;
        ensure(!has_duplicates(entrypoints), invalid)?;

        let old = self.record(key);
        if !keep_limits {
            self.targets.remove(&key);
            self.policies.remove(&key);
            self.limits.remove(&key);
        }
        self.entrypoints.insert(key, entrypoints.to_vec());
        self.records.insert(
            key,
            Record {
                valid_until,
                max_calls,
                calls_used: 0,
                epoch: self.epoch,
                generation: old.generation + 1,
                revoked: false,
            },
        );
        Ok(())
    }

    /// `revoke_session_key`: any key, registered or not (a key granted but never used is
    /// revoked before its first use).
    pub fn revoke_session_key(&mut self, key: Felt) -> Result<(), ContractError> {
        let old = self.record(key);
        self.entrypoints.remove(&key);
        self.targets.remove(&key);
        self.policies.remove(&key);
        self.limits.remove(&key);
        self.records
            .insert(key, self.revoked_record(old.generation + 1));
        Ok(())
    }

    /// `revoke_all_sessions`.
    pub fn revoke_all_sessions(&mut self) {
        self.epoch += 1;
    }

    /// `set_session_targets`.
    pub fn set_session_targets(
        &mut self,
        key: Felt,
        targets: &[Felt],
    ) -> Result<(), ContractError> {
        self.live_record(key)?;
        self.check_targets(targets)?;
        self.targets.insert(key, targets.to_vec());
        self.bump_generation(key);
        Ok(())
    }

    fn check_targets(&self, targets: &[Felt]) -> Result<(), ContractError> {
        let invalid = ContractError::SessionInvalidConfig;
        ensure(targets.len() <= MAX_TARGETS as usize, invalid)?;
        ensure(
            !targets
                .iter()
                .any(|t| *t == Felt::ZERO || *t == self.account),
            invalid,
        )?;
        ensure(!has_duplicates(targets), invalid)
    }

    fn check_policy(&self, limit: &GrantSpendingLimit) -> Result<(), ContractError> {
        let invalid = ContractError::SpendingInvalidPolicy;
        ensure(
            limit.token != Felt::ZERO && limit.token != self.account,
            invalid,
        )?;
        ensure(limit.max_per_call <= limit.max_per_window, invalid)?;
        // The contract stores amounts in 128 bits.
        ensure(limit.max_per_window.high == 0, invalid)?;
        ensure(
            limit.window_seconds != 0 && limit.window_seconds <= MAX_WINDOW_SECONDS,
            invalid,
        )
    }

    /// `set_spending_policy`: a new or replaced policy starts a fresh window.
    pub fn set_spending_policy(
        &mut self,
        key: Felt,
        token: Felt,
        max_per_call: U256,
        max_per_window: U256,
        window_seconds: u64,
    ) -> Result<(), ContractError> {
        self.live_record(key)?;
        let invalid = ContractError::SpendingInvalidPolicy;
        let limit = GrantSpendingLimit {
            token,
            max_per_call,
            max_per_window,
            window_seconds,
        };
        self.check_policy(&limit)?;
        let fresh = fresh_policy(&limit);
        let list = self.policies.entry(key).or_default();
        match list.iter_mut().find(|(t, _)| *t == token) {
            Some((_, policy)) => *policy = fresh,
            None => {
                ensure(list.len() < MAX_SPENDING_POLICIES as usize, invalid)?;
                list.push((token, fresh));
            }
        }
        self.bump_generation(key);
        Ok(())
    }

    /// `remove_spending_policy`.
    pub fn remove_spending_policy(&mut self, key: Felt, token: Felt) -> Result<(), ContractError> {
        self.live_record(key)?;
        let list = self.policies.entry(key).or_default();
        let index = list
            .iter()
            .position(|(t, _)| *t == token)
            .ok_or(ContractError::SpendingNoPolicy)?;
        list.swap_remove(index);
        self.bump_generation(key);
        Ok(())
    }

    /// Checks 2, 3, 4 and 5 of a session-signed outside execution and, when they pass, records
    /// the use and the spending. The signature is assumed to be the session key's over the
    /// execution bound to `signed_registration` (`valid_until + 2^64 * generation` of the
    /// registration it was made under); its fourth element is that `valid_until`.
    pub fn execute_session(
        &mut self,
        key: Felt,
        signed_registration: Felt,
        calls: &[Call],
        now: u64,
    ) -> Result<(), ContractError> {
        let losses = transfer_losses(self.account, calls);
        self.execute_session_with_losses(key, signed_registration, calls, now, &losses)
    }

    /// [`Self::execute_session`] when the caller knows what each loss-guarded token's balance
    /// falls by in the execution (`losses`, by token; a token not named loses nothing) — from
    /// a simulation, or because the calls reach a contract that moves the account's tokens.
    /// [`Self::execute_session`] assumes the balances fall by what the calls `transfer`.
    pub fn execute_session_with_losses(
        &mut self,
        key: Felt,
        signed_registration: Felt,
        calls: &[Call],
        now: u64,
        losses: &[(Felt, U256)],
    ) -> Result<(), ContractError> {
        let mut record = self.record(key);
        ensure(record.registered(), ContractError::SessionNotRegistered)?;
        ensure(self.is_live(&record), ContractError::SessionRevoked)?;
        ensure(now <= record.valid_until, ContractError::SessionExpired)?;
        ensure(
            record.calls_used < record.max_calls,
            ContractError::SessionMaxCalls,
        )?;
        let (signed_valid_until, signed_generation) =
            crate::snip12::split_registration(signed_registration);
        ensure(
            signed_valid_until == record.valid_until,
            ContractError::SessionRegistrationMismatch,
        )?;
        if self.is_self_revocation(calls) {
            ensure_current_generation(signed_generation, record.generation)?;
            self.records.insert(key, record);
            return self.revoke_session_key(key);
        }
        self.check_calls(key, calls)?;
        let mut limits = self.limits.get(&key).cloned().unwrap_or_default();
        limits.terms.admit(now)?;
        self.check_arguments(&limits, calls)?;
        ensure_current_generation(signed_generation, record.generation)?;

        let mut policies = self.policies.get(&key).cloned().unwrap_or_default();
        let measured = guard_allowances(&limits.loss_guards, &policies, now);
        for call in calls
            .iter()
            .filter(|c| TRACKED_SELECTORS.contains(&c.selector))
        {
            let Some((_, policy)) = policies.iter_mut().find(|(t, _)| *t == call.to) else {
                continue;
            };
            let amount = call_amount(&call.calldata)?;
            ensure(
                amount <= policy.max_per_call,
                ContractError::SpendingPerCall,
            )?;
            // A window opens at the first spend after the previous one ended, or after the
            // policy was set (start 0), however long its windows are.
            if policy.window_start == 0 || now >= policy.window_start + policy.window_seconds {
                policy.window_start = now;
                policy.spent_in_window = U256::ZERO;
            }
            let room = policy
                .max_per_window
                .checked_sub(policy.spent_in_window)
                .unwrap_or(U256::ZERO);
            ensure(amount <= room, ContractError::SpendingWindow)?;
            policy.spent_in_window = policy
                .spent_in_window
                .checked_add(amount)
                .unwrap_or(U256::MAX);
        }

        charge_losses(&measured, &mut policies, losses)?;

        record.calls_used += 1;
        self.records.insert(key, record);
        if !policies.is_empty() {
            self.policies.insert(key, policies);
        }
        if limits != AgentLimits::default() {
            self.limits.insert(key, limits);
        }
        Ok(())
    }

    /// The single call `revoke_own_session()` on the account: the session giving up its
    /// authority, which no call rule or limit holds back.
    fn is_self_revocation(&self, calls: &[Call]) -> bool {
        matches!(calls, [call] if call.to == self.account
            && call.selector == SELECTOR_REVOKE_OWN_SESSION
            && call.calldata.is_empty())
    }

    /// Every call against its (target, selector)'s argument rules.
    fn check_arguments(&self, limits: &AgentLimits, calls: &[Call]) -> Result<(), ContractError> {
        calls.iter().try_for_each(|call| {
            limits
                .rules_of(call.to, call.selector)
                .iter()
                .try_for_each(|rule| rule.check(&call.calldata))
        })
    }

    /// A session's first use carrying a grant: the grant's checks (in the contract's order),
    /// the registration it names (starting clean), then [`Self::execute_session`]; a refusal
    /// anywhere changes nothing. `signed_registration` is what the session signature names
    /// (on a first use, [`crate::SessionGrant::registration`]).
    pub fn execute_session_with_grant(
        &mut self,
        signed: &SignedGrant,
        signed_registration: Felt,
        calls: &[Call],
        now: u64,
    ) -> Result<(), ContractError> {
        let mut next = self.clone();
        next.register_grant(signed, now)?;
        next.execute_session(signed.grant.session_key, signed_registration, calls, now)?;
        *self = next;
        Ok(())
    }

    /// The grant's own checks, then its registration — what a first use does before its
    /// execution's checks (the client's check of a grant it is about to hand out).
    pub fn register_grant(&mut self, signed: &SignedGrant, now: u64) -> Result<(), ContractError> {
        let grant = &signed.grant;
        let key = grant.session_key;
        ensure(grant.valid_until > now, ContractError::GrantExpired)?;
        ensure(
            grant.sessions_epoch == self.epoch,
            ContractError::GrantRevokedAll,
        )?;
        let old = self.record(key);
        if grant.key_generation != old.generation {
            return Err(if old.revoked {
                ContractError::GrantRevoked
            } else {
                ContractError::GrantUsed
            });
        }
        // No grant over a live registration.
        ensure(!self.is_live(&old), ContractError::GrantUsed)?;
        ensure(
            grant.owner_key_version == self.owner_key_version,
            ContractError::GrantOwnerChanged,
        )?;
        ensure(
            grant.account == self.account
                && grant.verify(self.chain_id, self.owner_key, &signed.owner_signature),
            ContractError::GrantBadSignature,
        )?;
        let entrypoints = &grant.entrypoints;
        self.register(
            key,
            grant.valid_until,
            grant.max_calls,
            entrypoints,
            now,
            false,
        )?;
        let limits = &grant.spending_limits;
        ensure(
            limits.len() <= MAX_SPENDING_POLICIES as usize,
            ContractError::SpendingInvalidPolicy,
        )?;
        self.check_targets(&grant.targets)?;
        let mut policies: Vec<(Felt, SpendingPolicy)> = Vec::with_capacity(limits.len());
        for limit in limits {
            self.check_policy(limit)?;
            ensure(
                policies.iter().all(|(t, _)| *t != limit.token),
                ContractError::SpendingInvalidPolicy,
            )?;
            policies.push((limit.token, fresh_policy(limit)));
        }
        self.targets.insert(key, grant.targets.clone());
        self.policies.insert(key, policies);
        // The agent limits through their setters, in the contract's order; the registration
        // stays the grant's one (the setters would each move it on).
        let generation = self.record(key).generation;
        self.grant_agent_limits(grant)?;
        if let Some(record) = self.records.get_mut(&key) {
            record.generation = generation;
        }
        Ok(())
    }

    /// A grant's agent limits on its just-registered session.
    fn grant_agent_limits(&mut self, grant: &SessionGrant) -> Result<(), ContractError> {
        let key = grant.session_key;
        if grant.valid_after != 0 {
            self.set_session_valid_after(key, grant.valid_after)?;
        }
        if grant.rate_max_executions != 0 || grant.rate_window_seconds != 0 {
            self.set_session_rate_limit(key, grant.rate_max_executions, grant.rate_window_seconds)?;
        }
        let invalid = ContractError::RulesInvalidConfig;
        ensure(grant.arg_rules.len() <= MAX_RULED_CALLS as usize, invalid)?;
        for call_rules in &grant.arg_rules {
            // Each (target, selector) once, with at least one rule.
            ensure(!call_rules.rules.is_empty(), invalid)?;
            let listed = self.limits.get(&key).is_some_and(|l| {
                l.rules.iter().any(|(c, _)| {
                    c.target == call_rules.target && c.selector == call_rules.selector
                })
            });
            ensure(!listed, invalid)?;
            self.set_session_arg_rules(
                key,
                call_rules.target,
                call_rules.selector,
                &call_rules.rules,
            )?;
        }
        if !grant.loss_guards.is_empty() {
            self.set_session_loss_guards(key, &grant.loss_guards)?;
        }
        Ok(())
    }

    /// What [`Self::execute_session`] would return, without changing anything: the client's
    /// preflight before it signs.
    pub fn check_session_execution(
        &self,
        key: Felt,
        signed_registration: Felt,
        calls: &[Call],
        now: u64,
    ) -> Result<(), ContractError> {
        self.clone()
            .execute_session(key, signed_registration, calls, now)
    }

    /// Check 3: every call against the self-call ban, the blocklist, the whitelist and targets.
    fn check_calls(&self, key: Felt, calls: &[Call]) -> Result<(), ContractError> {
        let entrypoints = self.entrypoints.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let targets = self.targets.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        calls
            .iter()
            .try_for_each(|call| check_call(self.account, entrypoints, targets, call))
    }

    /// Puts one session's state, read from a deployed account's views, into the model, so
    /// that the model can answer for that session as the contract would (the client's
    /// preflight). A revoked or never-registered session needs only `status`.
    pub fn restore_session(&mut self, key: Felt, snapshot: &SessionSnapshot) {
        self.entrypoints.remove(&key);
        self.targets.remove(&key);
        self.policies.remove(&key);
        match snapshot.status {
            SessionStatus::None => {
                self.records.remove(&key);
            }
            SessionStatus::Revoked => {
                self.records
                    .insert(key, self.revoked_record(snapshot.generation));
            }
            SessionStatus::Active
            | SessionStatus::Expired
            | SessionStatus::Exhausted
            | SessionStatus::NotYetActive => {
                self.records.insert(
                    key,
                    Record {
                        valid_until: snapshot.data.valid_until,
                        max_calls: snapshot.data.max_calls,
                        calls_used: snapshot.data.calls_used,
                        epoch: self.epoch,
                        generation: snapshot.generation,
                        revoked: false,
                    },
                );
                self.entrypoints.insert(key, snapshot.entrypoints.clone());
                self.targets.insert(key, snapshot.targets.clone());
                let policies: Vec<_> = snapshot
                    .policies
                    .iter()
                    .filter(|(_, p)| p.window_seconds != 0)
                    .copied()
                    .collect();
                if !policies.is_empty() {
                    self.policies.insert(key, policies);
                }
            }
        }
    }

    /// Puts one session's agent limits, read from the views, into the model (after
    /// [`Self::restore_session`], which leaves a session without any).
    pub fn restore_limits(&mut self, key: Felt, limits: AgentLimits) {
        if self.is_live(&self.record(key)) && limits != AgentLimits::default() {
            self.limits.insert(key, limits);
        } else {
            self.limits.remove(&key);
        }
    }

    /// `get_session_data`.
    pub fn session_data(&self, key: Felt) -> SessionData {
        let record = self.record(key);
        if !self.is_live(&record) {
            return SessionData::default();
        }
        SessionData {
            valid_until: record.valid_until,
            max_calls: record.max_calls,
            calls_used: record.calls_used,
            allowed_entrypoints_len: self.allowed_entrypoints(key).len() as u32,
        }
    }

    /// `get_session_status` at block time `now`.
    pub fn session_status(&self, key: Felt, now: u64) -> SessionStatus {
        let record = self.record(key);
        if !record.registered() {
            SessionStatus::None
        } else if !self.is_live(&record) {
            SessionStatus::Revoked
        } else if now > record.valid_until {
            SessionStatus::Expired
        } else if now < self.session_limits(key).valid_after {
            SessionStatus::NotYetActive
        } else if record.calls_used >= record.max_calls {
            SessionStatus::Exhausted
        } else {
            SessionStatus::Active
        }
    }

    /// `get_session_allowed_entrypoints`.
    pub fn allowed_entrypoints(&self, key: Felt) -> Vec<Felt> {
        if self.is_live(&self.record(key)) {
            self.entrypoints.get(&key).cloned().unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// `get_session_targets`.
    pub fn session_targets(&self, key: Felt) -> Vec<Felt> {
        if self.is_live(&self.record(key)) {
            self.targets.get(&key).cloned().unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// Every agent limit of a live session (none for any other).
    pub fn agent_limits(&self, key: Felt) -> AgentLimits {
        if !self.is_live(&self.record(key)) {
            return AgentLimits::default();
        }
        self.limits.get(&key).cloned().unwrap_or_default()
    }

    /// `get_session_limits`.
    pub fn session_limits(&self, key: Felt) -> SessionLimits {
        self.agent_limits(key).terms
    }

    /// `get_session_ruled_calls`.
    pub fn ruled_calls(&self, key: Felt) -> Vec<RuledCall> {
        self.agent_limits(key)
            .rules
            .iter()
            .map(|(call, _)| *call)
            .collect()
    }

    /// `get_session_arg_rules`.
    pub fn arg_rules(&self, key: Felt, target: Felt, selector: Felt) -> Vec<ArgRule> {
        self.agent_limits(key).rules_of(target, selector).to_vec()
    }

    /// `get_session_loss_guards`.
    pub fn loss_guards(&self, key: Felt) -> Vec<Felt> {
        self.agent_limits(key).loss_guards
    }

    /// `set_session_valid_after`: refused before `valid_after` (0: none).
    pub fn set_session_valid_after(
        &mut self,
        key: Felt,
        valid_after: u64,
    ) -> Result<(), ContractError> {
        let record = self.live_record(key)?;
        ensure(
            valid_after < record.valid_until,
            ContractError::SessionInvalidConfig,
        )?;
        self.limits.entry(key).or_default().terms.valid_after = valid_after;
        self.bump_generation(key);
        Ok(())
    }

    /// `set_session_rate_limit`: at most `max_executions` per window (both 0: none); starts
    /// afresh.
    pub fn set_session_rate_limit(
        &mut self,
        key: Felt,
        max_executions: u32,
        window_seconds: u64,
    ) -> Result<(), ContractError> {
        self.live_record(key)?;
        let valid = if max_executions == 0 {
            window_seconds == 0
        } else {
            window_seconds != 0 && window_seconds <= MAX_WINDOW_SECONDS
        };
        ensure(valid, ContractError::SessionInvalidConfig)?;
        let terms = &mut self.limits.entry(key).or_default().terms;
        *terms = SessionLimits {
            max_executions,
            window_seconds,
            window_start: 0,
            executions_in_window: 0,
            ..*terms
        };
        self.bump_generation(key);
        Ok(())
    }

    /// `set_session_arg_rules`: replaces the rules on `target.selector` (none: removes them).
    pub fn set_session_arg_rules(
        &mut self,
        key: Felt,
        target: Felt,
        selector: Felt,
        rules: &[ArgRule],
    ) -> Result<(), ContractError> {
        self.live_record(key)?;
        let invalid = ContractError::RulesInvalidConfig;
        ensure(target != Felt::ZERO && target != self.account, invalid)?;
        ensure(selector != Felt::ZERO, invalid)?;
        ensure(rules.len() <= MAX_ARG_RULES as usize, invalid)?;
        rules.iter().try_for_each(ArgRule::validate)?;
        let list = &mut self.limits.entry(key).or_default().rules;
        let position = list
            .iter()
            .position(|(c, _)| c.target == target && c.selector == selector);
        match (position, rules.is_empty()) {
            (Some(i), true) => {
                list.swap_remove(i);
            }
            (Some(i), false) => list[i].1 = rules.to_vec(),
            (None, true) => {}
            (None, false) => {
                ensure(list.len() < MAX_RULED_CALLS as usize, invalid)?;
                list.push((RuledCall { target, selector }, rules.to_vec()));
            }
        }
        self.bump_generation(key);
        Ok(())
    }

    /// `set_session_loss_guards`: replaces the guarded tokens; each needs a spending policy.
    pub fn set_session_loss_guards(
        &mut self,
        key: Felt,
        tokens: &[Felt],
    ) -> Result<(), ContractError> {
        self.live_record(key)?;
        ensure(
            tokens.len() <= MAX_LOSS_GUARDS as usize,
            ContractError::SpendingInvalidPolicy,
        )?;
        let policies = self.policies.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        for (i, token) in tokens.iter().enumerate() {
            ensure(
                policies.iter().any(|(t, _)| t == token),
                ContractError::SpendingNoPolicy,
            )?;
            ensure(
                !tokens[..i].contains(token),
                ContractError::SpendingInvalidPolicy,
            )?;
        }
        self.limits.entry(key).or_default().loss_guards = tokens.to_vec();
        self.bump_generation(key);
        Ok(())
    }

    /// `get_spending_policy`.
    pub fn spending_policy(&self, key: Felt, token: Felt) -> SpendingPolicy {
        if !self.is_live(&self.record(key)) {
            return SpendingPolicy::default();
        }
        self.policies
            .get(&key)
            .and_then(|list| list.iter().find(|(t, _)| *t == token))
            .map(|(_, p)| *p)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{SELECTOR_TRANSFER, SELECTOR_UPGRADE};

    const ACCOUNT: Felt = Felt::from_hex_unchecked("0xacc");
    const KEY: Felt = Felt::from_hex_unchecked("0x5e55");
    const GAME: Felt = Felt::from_hex_unchecked("0x9a3e");
    const TOKEN: Felt = Felt::from_hex_unchecked("0x70c");
    const PLAY: Felt = Felt::from_hex_unchecked("0x11");

    fn call(to: Felt, selector: Felt, calldata: &[u64]) -> Call {
        Call {
            to,
            selector,
            calldata: calldata.iter().map(|v| Felt::from(*v)).collect(),
        }
    }

    fn registered(max_calls: u32) -> AccountModel {
        let mut m = AccountModel::new(ACCOUNT);
        m.add_or_update_session_key(KEY, 1_000, max_calls, &[PLAY, SELECTOR_TRANSFER], 10)
            .expect("registers");
        m
    }

    #[test]
    fn registration_rejects_each_invalid_config() {
        let mut m = AccountModel::new(ACCOUNT);
        let bad = Err(ContractError::SessionInvalidConfig);
        assert_eq!(
            m.add_or_update_session_key(Felt::ZERO, 100, 1, &[], 10),
            bad
        );
        assert_eq!(m.add_or_update_session_key(KEY, 10, 1, &[], 10), bad);
        assert_eq!(m.add_or_update_session_key(KEY, 100, 0, &[], 10), bad);
        assert_eq!(
            m.add_or_update_session_key(KEY, 100, 1, &[Felt::ZERO], 10),
            bad
        );
        assert_eq!(
            m.add_or_update_session_key(KEY, 100, 1, &[PLAY, PLAY], 10),
            bad
        );
        let too_many: Vec<Felt> = (1..=65u32).map(Felt::from).collect();
        assert_eq!(m.add_or_update_session_key(KEY, 100, 1, &too_many, 10), bad);
        assert_eq!(
            m.add_or_update_session_key(KEY, 100, 1, &too_many[..64], 10),
            Ok(())
        );
    }

    #[test]
    fn checks_run_in_the_contract_order() {
        let mut m = registered(1);
        let play = call(GAME, PLAY, &[1]);
        let vu = m.session_registration(KEY);
        assert_eq!(
            m.execute_session(Felt::ONE, vu, std::slice::from_ref(&play), 20),
            Err(ContractError::SessionNotRegistered)
        );
        assert_eq!(
            m.execute_session(KEY, vu, std::slice::from_ref(&play), 1_001),
            Err(ContractError::SessionExpired)
        );
        assert_eq!(
            m.execute_session(KEY, Felt::from(1_000u64), std::slice::from_ref(&play), 20),
            Err(ContractError::SessionRegistrationMismatch)
        );
        // Self-call is checked before the blocklist, which is checked before the whitelist.
        assert_eq!(
            m.execute_session(KEY, vu, &[call(ACCOUNT, SELECTOR_UPGRADE, &[])], 20),
            Err(ContractError::SessionSelfCall)
        );
        assert_eq!(
            m.execute_session(KEY, vu, &[call(GAME, SELECTOR_UPGRADE, &[])], 20),
            Err(ContractError::SessionBlockedSelector)
        );
        assert_eq!(
            m.execute_session(KEY, vu, &[call(GAME, Felt::TWO, &[])], 20),
            Err(ContractError::SessionSelectorDenied)
        );
        assert_eq!(
            m.execute_session(KEY, vu, std::slice::from_ref(&play), 20),
            Ok(())
        );
        assert_eq!(
            m.execute_session(KEY, vu, std::slice::from_ref(&play), 20),
            Err(ContractError::SessionMaxCalls)
        );
        assert_eq!(m.session_status(KEY, 20), SessionStatus::Exhausted);
        m.revoke_session_key(KEY).expect("revokes");
        assert_eq!(
            m.execute_session(KEY, vu, &[play], 20),
            Err(ContractError::SessionRevoked)
        );
        assert_eq!(m.session_data(KEY), SessionData::default());
        assert_eq!(m.session_status(KEY, 20), SessionStatus::Revoked);
    }

    #[test]
    fn refused_execution_changes_nothing() {
        let mut m = registered(5);
        m.set_spending_policy(KEY, TOKEN, U256::from_u128(10), U256::from_u128(15), 100)
            .expect("policy");
        let vu = m.session_registration(KEY);
        let pay = |amount: u64| call(TOKEN, SELECTOR_TRANSFER, &[0x1, amount, 0]);
        assert_eq!(m.execute_session(KEY, vu, &[pay(10)], 20), Ok(()));
        assert_eq!(
            m.execute_session(KEY, vu, &[pay(11)], 20),
            Err(ContractError::SpendingPerCall)
        );
        // 10 + 4 fits, then +2 would overflow the window: the whole execution is refused.
        assert_eq!(
            m.execute_session(KEY, vu, &[pay(4), pay(2)], 20),
            Err(ContractError::SpendingWindow)
        );
        assert_eq!(m.session_data(KEY).calls_used, 1);
        assert_eq!(
            m.spending_policy(KEY, TOKEN).spent_in_window,
            U256::from_u128(10)
        );
        // A new window opens once window_seconds have passed since it started.
        assert_eq!(m.execute_session(KEY, vu, &[pay(10)], 120), Ok(()));
        assert_eq!(m.spending_policy(KEY, TOKEN).window_start, 120);
        assert_eq!(
            m.execute_session(KEY, vu, &[call(TOKEN, SELECTOR_TRANSFER, &[0x1])], 120),
            Err(ContractError::SpendingInvalidAmount)
        );
    }

    #[test]
    fn revoke_all_kills_every_session_and_re_adding_starts_clean() {
        let mut m = registered(5);
        m.set_session_targets(KEY, &[GAME]).expect("targets");
        m.set_spending_policy(KEY, TOKEN, U256::from_u128(1), U256::from_u128(1), 10)
            .expect("policy");
        m.revoke_all_sessions();
        assert_eq!(m.session_status(KEY, 20), SessionStatus::Revoked);
        assert_eq!(
            m.set_session_targets(KEY, &[GAME]),
            Err(ContractError::SessionRevoked)
        );
        m.add_or_update_session_key(KEY, 1_000, 5, &[], 20)
            .expect("re-registers");
        assert!(m.session_targets(KEY).is_empty());
        assert_eq!(m.spending_policy(KEY, TOKEN), SpendingPolicy::default());
        assert_eq!(
            m.execute_session(
                KEY,
                m.session_registration(KEY),
                &[call(TOKEN, SELECTOR_TRANSFER, &[1, 99, 0])],
                20
            ),
            Ok(())
        );
    }

    #[test]
    fn update_keeps_targets_and_policies_but_resets_calls() {
        let mut m = registered(1);
        m.set_session_targets(KEY, &[GAME]).expect("targets");
        m.execute_session(
            KEY,
            m.session_registration(KEY),
            &[call(GAME, PLAY, &[])],
            20,
        )
        .expect("uses");
        m.add_or_update_session_key(KEY, 2_000, 3, &[PLAY], 30)
            .expect("updates");
        assert_eq!(m.session_targets(KEY), vec![GAME]);
        assert_eq!(
            m.session_data(KEY),
            SessionData {
                valid_until: 2_000,
                max_calls: 3,
                calls_used: 0,
                allowed_entrypoints_len: 1
            }
        );
        assert_eq!(
            m.execute_session(
                KEY,
                m.session_registration(KEY),
                &[call(TOKEN, PLAY, &[])],
                30
            ),
            Err(ContractError::SessionTargetDenied)
        );
    }

    fn snapshot_of(m: &AccountModel, key: Felt, now: u64) -> SessionSnapshot {
        SessionSnapshot {
            status: m.session_status(key, now),
            data: m.session_data(key),
            entrypoints: m.allowed_entrypoints(key),
            targets: m.session_targets(key),
            policies: vec![(TOKEN, m.spending_policy(key, TOKEN))],
            generation: m.session_generation(key),
        }
    }

    #[test]
    fn a_signature_names_one_registration_of_its_key() {
        let mut m = registered(9);
        let play = [call(GAME, PLAY, &[1])];
        let first = m.session_registration(KEY);
        assert_eq!(m.execute_session(KEY, first, &play, 20), Ok(()));
        // Revoke and re-add with the same valid_until: the old registration is refused.
        m.revoke_session_key(KEY).expect("revokes");
        m.add_or_update_session_key(KEY, 1_000, 9, &[PLAY], 21)
            .expect("re-adds");
        let second = m.session_registration(KEY);
        assert_ne!(first, second);
        let stale = Err(ContractError::SessionRegistrationMismatch);
        assert_eq!(m.execute_session(KEY, first, &play, 22), stale);
        // Revoke-all and re-add; an update; a target or policy change: each moves it on.
        m.revoke_all_sessions();
        m.add_or_update_session_key(KEY, 1_000, 9, &[PLAY], 23)
            .expect("re-adds");
        assert_eq!(m.execute_session(KEY, second, &play, 24), stale);
        let mut previous = m.session_registration(KEY);
        let changes: [&dyn Fn(&mut AccountModel); 3] = [
            &|m| {
                m.add_or_update_session_key(KEY, 1_000, 8, &[PLAY], 25)
                    .expect("updates")
            },
            &|m| m.set_session_targets(KEY, &[GAME]).expect("targets"),
            &|m| {
                m.set_spending_policy(KEY, TOKEN, U256::from_u128(1), U256::from_u128(1), 9)
                    .expect("policy")
            },
        ];
        for change in changes {
            change(&mut m);
            assert_eq!(m.execute_session(KEY, previous, &play, 26), stale);
            previous = m.session_registration(KEY);
            assert_eq!(m.execute_session(KEY, previous, &play, 26), Ok(()));
        }
    }

    #[test]
    fn a_signature_older_than_the_lookback_is_a_bad_signature() {
        let mut m = registered(50);
        let play = [call(GAME, PLAY, &[1])];
        let first = m.session_registration(KEY);
        // Each target change moves the generation on by one, keeping valid_until.
        for _ in 0..STALE_LOOKBACK {
            m.set_session_targets(KEY, &[GAME]).expect("targets");
        }
        assert_eq!(
            m.execute_session(KEY, first, &play, 20),
            Err(ContractError::SessionRegistrationMismatch)
        );
        m.set_session_targets(KEY, &[GAME]).expect("targets");
        assert_eq!(
            m.execute_session(KEY, first, &play, 20),
            Err(ContractError::SessionBadSignature)
        );
        // A generation from the future never verifies either.
        let ahead = crate::snip12::session_registration(1_000, m.session_generation(KEY) + 1);
        assert_eq!(
            m.execute_session(KEY, ahead, &play, 20),
            Err(ContractError::SessionBadSignature)
        );
    }

    #[test]
    fn a_window_longer_than_the_chains_age_opens_at_the_first_spend() {
        let mut m = registered(5);
        let lifetime = crate::constants::MAX_WINDOW_SECONDS;
        m.set_spending_policy(
            KEY,
            TOKEN,
            U256::from_u128(10),
            U256::from_u128(15),
            lifetime,
        )
        .expect("policy");
        let vu = m.session_registration(KEY);
        let pay = |amount: u64| call(TOKEN, SELECTOR_TRANSFER, &[0x1, amount, 0]);
        assert_eq!(m.execute_session(KEY, vu, &[pay(10)], 900), Ok(()));
        let policy = m.spending_policy(KEY, TOKEN);
        assert_eq!(policy.window_start, 900);
        assert_eq!(policy.spent_in_window, U256::from_u128(10));
        assert_eq!(
            m.execute_session(KEY, vu, &[pay(6)], 950),
            Err(ContractError::SpendingWindow)
        );
        assert_eq!(m.execute_session(KEY, vu, &[pay(5)], 950), Ok(()));
    }

    #[test]
    fn the_loss_guard_charges_the_larger_of_the_loss_and_the_count() {
        let mut m = registered(9);
        m.set_spending_policy(KEY, TOKEN, U256::from_u128(10), U256::from_u128(100), 3_600)
            .expect("policy");
        assert_eq!(
            m.set_session_loss_guards(KEY, &[GAME]),
            Err(ContractError::SpendingNoPolicy)
        );
        m.set_session_loss_guards(KEY, &[TOKEN]).expect("guard");
        let vu = m.session_registration(KEY);
        let pay = [call(TOKEN, SELECTOR_TRANSFER, &[0x1, 10, 0])];
        let lost = |amount: u128| [(TOKEN, U256::from_u128(amount))];
        // A router pulled 20 more than the transfer: the window holds 30.
        assert_eq!(
            m.execute_session_with_losses(KEY, vu, &pay, 20, &lost(30)),
            Ok(())
        );
        assert_eq!(
            m.spending_policy(KEY, TOKEN).spent_in_window,
            U256::from_u128(30)
        );
        // 70 left: a loss of 71 is refused and changes nothing.
        let play = [call(GAME, PLAY, &[1])];
        assert_eq!(
            m.execute_session_with_losses(KEY, vu, &play, 21, &lost(71)),
            Err(ContractError::SpendingLossGuard)
        );
        assert_eq!(m.session_data(KEY).calls_used, 1);
        assert_eq!(
            m.execute_session_with_losses(KEY, vu, &play, 21, &lost(70)),
            Ok(())
        );
        // Without a policy left, the guard allows no loss at all.
        m.remove_spending_policy(KEY, TOKEN).expect("removed");
        let vu = m.session_registration(KEY);
        assert_eq!(
            m.execute_session(KEY, vu, &pay, 22),
            Err(ContractError::SpendingLossGuard)
        );
        assert_eq!(m.execute_session(KEY, vu, &play, 22), Ok(()));
    }

    #[test]
    fn policy_ceilings_of_2_pow_128_or_more_are_refused() {
        let mut m = registered(1);
        let huge = U256 { low: 0, high: 1 };
        assert_eq!(
            m.set_spending_policy(KEY, TOKEN, U256::from_u128(1), huge, 9),
            Err(ContractError::SpendingInvalidPolicy)
        );
        assert_eq!(
            m.set_spending_policy(
                KEY,
                TOKEN,
                U256::from_u128(u128::MAX),
                U256::from_u128(u128::MAX),
                9
            ),
            Ok(())
        );
    }

    #[test]
    fn a_model_restored_from_views_answers_like_the_original() {
        let mut original = registered(3);
        original
            .set_session_targets(KEY, &[GAME, TOKEN])
            .expect("targets");
        original
            .set_spending_policy(KEY, TOKEN, U256::from_u128(50), U256::from_u128(80), 3_600)
            .expect("policy");
        let vu = original.session_registration(KEY);
        original
            .execute_session(KEY, vu, &[call(TOKEN, SELECTOR_TRANSFER, &[9, 40, 0])], 20)
            .expect("spends 40");
        let probes = [
            call(GAME, PLAY, &[1]),
            call(TOKEN, SELECTOR_TRANSFER, &[9, 30, 0]),
            call(TOKEN, SELECTOR_TRANSFER, &[9, 41, 0]),
            call(TOKEN, SELECTOR_TRANSFER, &[9, 60, 0]),
            call(Felt::from(0xbadu32), PLAY, &[1]),
            call(GAME, Felt::TWO, &[]),
            call(ACCOUNT, PLAY, &[]),
        ];
        let mut states = vec![original.clone()];
        let mut exhausted = original.clone();
        for _ in 0..2 {
            exhausted
                .execute_session(KEY, vu, &[call(GAME, PLAY, &[1])], 21)
                .expect("uses a call");
        }
        states.push(exhausted);
        let mut revoked = original.clone();
        revoked.revoke_session_key(KEY).expect("revokes");
        states.push(revoked);
        let mut revoked_all = original.clone();
        revoked_all.revoke_all_sessions();
        states.push(revoked_all);
        for state in &states {
            for now in [21, 1_001] {
                let mut restored = AccountModel::new(ACCOUNT);
                restored.restore_session(KEY, &snapshot_of(state, KEY, now));
                for probe in &probes {
                    let calls = std::slice::from_ref(probe);
                    assert_eq!(
                        restored.check_session_execution(KEY, vu, calls, now),
                        state.check_session_execution(KEY, vu, calls, now),
                        "{probe:?} at {now}"
                    );
                }
            }
        }
        let mut unknown = AccountModel::new(ACCOUNT);
        unknown.restore_session(Felt::ONE, &snapshot_of(&original, Felt::ONE, 21));
        assert_eq!(
            unknown.check_session_execution(Felt::ONE, vu, &probes[..1], 21),
            Err(ContractError::SessionNotRegistered)
        );
    }
}
