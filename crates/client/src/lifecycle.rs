//! A session's life cycle on its account: open one (a new key, registered and landed), grant
//! one (a new key and the owner's signature, no transaction), register a configuration,
//! revoke one or all — each change an owner-signed execution of the account's self-calls,
//! relayed gaslessly ([`crate::execution`]).
//!
//! The ways to get a session: [`SessionClient::create_session`] (a new key, registered),
//! [`grant_session`] / [`SessionClient::grant_session`] (a new key the owner grants by
//! signature; it registers itself on its first execution), [`SessionClient::add_session_key_to_contract`]
//! (a configuration, registered) and [`SessionClient::onboard`] in [`crate::deploy`]
//! (registered as the account is deployed).

use stark_sessions_abi::constants::{
    SELECTOR_ADD_OR_UPDATE_SESSION_KEY, SELECTOR_REVOKE_ALL_SESSIONS, SELECTOR_REVOKE_SESSION_KEY,
    SELECTOR_SET_SESSION_TARGETS, SELECTOR_SET_SPENDING_POLICY,
};
use stark_sessions_abi::{
    AccountModel, CairoSerde, Call, ContractError, Felt, GrantCallRules, GrantSpendingLimit,
    SessionGrant, SignedGrant, U256,
};

use crate::client::{ErrorContext, GrantBasis, Owner, SessionClient, SessionConfig, SessionSpec};
use crate::envelope::EnvelopeParams;
use crate::error::SessionError;
use crate::keys::{create_session_key_with, unix_now};
use crate::session::Session;

/// Grants a new session offline — no node, no transaction: a new key under `pin` with
/// `spec`'s terms, valid from `now` (Unix seconds, the clock block times follow) for
/// `spec.duration`, and the owner's signature of the grant on `chain_id`. Refuses terms the
/// account would refuse. The session registers itself on its first execution.
pub fn grant_session(
    owner: &Owner,
    chain_id: Felt,
    pin: &str,
    spec: &SessionSpec,
    basis: GrantBasis,
    now: u64,
    params: EnvelopeParams,
) -> Result<Session, SessionError> {
    let mut session = new_key_session(owner.account, chain_id, pin, spec, now, params)?;
    // Checked after signing, as its first use will check it (stricter than a registration).
    let grant = grant_of(&session, basis);
    let signature = owner.sign(&grant.message_hash(chain_id))?;
    let signed = SignedGrant {
        grant,
        owner_signature: [signature[0], signature[1]],
    };
    check_grant(&signed, chain_id, owner.public_key(), basis, now)?;
    session.grant = Some(signed);
    Ok(session)
}

/// A new key under `pin` for `account` on `chain_id`, with `spec`'s terms, valid from block
/// time `now` for `spec.duration`; neither registered nor granted.
fn new_key_session(
    account: Felt,
    chain_id: Felt,
    pin: &str,
    spec: &SessionSpec,
    now: u64,
    params: EnvelopeParams,
) -> Result<Session, SessionError> {
    let mut key = create_session_key_with(pin, spec.duration, params)?;
    key.valid_until = now + spec.duration.as_secs();
    Ok(Session {
        account,
        chain_id,
        key,
        max_calls: spec.max_calls,
        allowed_entrypoints: spec.allowed_entrypoints.clone(),
        targets: spec.targets.clone(),
        spending_limits: spec.spending_limits.clone(),
        limits: spec.limits.clone(),
        created_at: unix_now(),
        grant: None,
    })
}

/// Refuses a signed grant that the account (with `basis`, owner key `owner_key`) would refuse
/// on a new key's first use at block time `now` — its own checks and its registration's, which
/// are stricter than the setters' (a token or a (target, selector) twice, a pair without rules).
pub fn check_grant(
    signed: &SignedGrant,
    chain_id: Felt,
    owner_key: Felt,
    basis: GrantBasis,
    now: u64,
) -> Result<(), SessionError> {
    let mut model = AccountModel::with_owner(signed.grant.account, chain_id, owner_key);
    model.restore_account(basis.sessions_epoch, basis.owner_key_version);
    model.register_grant(signed, now).map_err(|e| {
        SessionError::CreationFailed(format!("the account would refuse the grant: {e}"))
    })
}

/// The grant of a new key's session — its terms and `basis` — for the owner (or a wallet that
/// shows its typed data, [`SessionGrant::typed_data`]) to sign.
pub fn grant_of(session: &Session, basis: GrantBasis) -> SessionGrant {
    SessionGrant {
        account: session.account,
        session_key: session.public_key(),
        valid_until: session.valid_until(),
        max_calls: session.max_calls,
        entrypoints: session.allowed_entrypoints.clone(),
        targets: session.targets.clone(),
        spending_limits: session
            .spending_limits
            .iter()
            .map(|l| GrantSpendingLimit {
                token: l.token,
                max_per_call: U256::from_u128(l.max_per_call),
                max_per_window: U256::from_u128(l.max_per_window),
                window_seconds: l.window_seconds,
            })
            .collect(),
        valid_after: session.limits.valid_after,
        rate_max_executions: session.limits.rate_limit.map_or(0, |r| r.max_executions),
        rate_window_seconds: session.limits.rate_limit.map_or(0, |r| r.window_seconds),
        arg_rules: session
            .limits
            .arg_rules
            .iter()
            .map(|c| GrantCallRules {
                target: c.target,
                selector: c.selector,
                rules: c.rules.clone(),
            })
            .collect(),
        loss_guards: session.limits.loss_guards.clone(),
        key_generation: 0,
        sessions_epoch: basis.sessions_epoch,
        owner_key_version: basis.owner_key_version,
    }
}

/// Refuses a configuration the account's rules would refuse at block time `now`.
fn check_config(account: Felt, config: &SessionConfig, now: u64) -> Result<(), SessionError> {
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
    config.limits.apply(&mut model, key).map_err(refused)?;
    Ok(())
}

impl SessionClient {
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

    /// A new session key for `account` under `pin`, with `spec`'s grants, valid for
    /// `spec.duration` from the chain's time (the clock the account's rules run on).
    pub(crate) async fn new_session(
        &self,
        account: Felt,
        pin: &str,
        spec: &SessionSpec,
    ) -> Result<Session, SessionError> {
        let now = self.block_timestamp().await?;
        new_key_session(
            account,
            self.chain_id(),
            pin,
            spec,
            now,
            self.envelope_params(),
        )
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
        check_config(account, config, now)
    }

    /// Grants a new session ([`grant_session`]) with the account's current [`GrantBasis`]
    /// and the chain's time; an account not deployed yet has [`GrantBasis::NEW_ACCOUNT`].
    /// Sends nothing: the session registers itself on its first execution.
    pub async fn grant_session(
        &self,
        owner: &Owner,
        pin: &str,
        spec: &SessionSpec,
    ) -> Result<Session, SessionError> {
        let (basis, now) =
            tokio::try_join!(self.grant_basis(owner.account), self.block_timestamp())?;
        grant_session(
            owner,
            self.chain_id(),
            pin,
            spec,
            basis,
            now,
            self.envelope_params(),
        )
    }

    /// Revokes one session, gaslessly (owner-signed). Returns the transaction hash.
    pub async fn revoke_session_key(
        &self,
        owner: &Owner,
        session_key: Felt,
    ) -> Result<Felt, SessionError> {
        // Any key: one the owner granted but that was never used is revoked before its first
        // use (its grant names the generation this moves on).
        self.ensure_session_account(owner.account).await?;
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
    calls.extend(
        config
            .limits
            .registration_calls(account, config.session_public_key),
    );
    calls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SpendingLimit;
    use starknet::signers::SigningKey;

    #[test]
    fn a_grant_made_offline_is_the_owners_signature_of_the_sessions_terms() {
        let owner = Owner::new(
            Felt::from(0xaccu32),
            SigningKey::from_secret_scalar(Felt::from(7u8)),
        );
        let chain = stark_sessions_abi::constants::CHAIN_ID_SN_SEPOLIA;
        let spec = SessionSpec {
            duration: std::time::Duration::from_secs(3600),
            max_calls: 4,
            allowed_entrypoints: vec![Felt::from(0x11u8)],
            targets: vec![Felt::from(0x9a3eu32)],
            spending_limits: vec![SpendingLimit {
                token: Felt::from(0x70cu32),
                max_per_call: 5,
                max_per_window: 10,
                window_seconds: 60,
            }],
            limits: crate::limits::AgentLimitSpec {
                rate_limit: Some(crate::limits::RateLimit {
                    max_executions: 3,
                    window_seconds: 60,
                }),
                loss_guards: vec![Felt::from(0x70cu32)],
                ..Default::default()
            },
        };
        let basis = GrantBasis {
            sessions_epoch: 2,
            owner_key_version: 1,
        };
        let session = grant_session(
            &owner,
            chain,
            "482193",
            &spec,
            basis,
            1_000,
            EnvelopeParams::default(),
        )
        .expect("granted");
        let signed = session.grant.as_ref().expect("a grant");
        let grant = &signed.grant;
        assert_eq!(
            (grant.account, grant.session_key),
            (owner.account, session.public_key())
        );
        assert_eq!((grant.valid_until, grant.max_calls), (4_600, 4));
        assert_eq!(
            (
                grant.key_generation,
                grant.sessions_epoch,
                grant.owner_key_version
            ),
            (0, 2, 1)
        );
        assert_eq!(grant.spending_limits[0].max_per_window, U256::from_u128(10));
        // The agent limits are granted too.
        assert_eq!(
            (grant.rate_max_executions, grant.rate_window_seconds),
            (3, 60)
        );
        assert_eq!(grant.loss_guards, vec![Felt::from(0x70cu32)]);
        assert!(grant.verify(chain, owner.public_key(), &signed.owner_signature));
        assert!(!grant.verify(
            stark_sessions_abi::constants::CHAIN_ID_SN_MAIN,
            owner.public_key(),
            &signed.owner_signature
        ));
        // Terms the account would refuse are refused before anything is signed.
        let refused = grant_session(
            &owner,
            chain,
            "482193",
            &SessionSpec {
                max_calls: 0,
                ..spec.clone()
            },
            basis,
            1_000,
            EnvelopeParams::default(),
        )
        .expect_err("zero calls");
        assert_eq!(refused.code(), "SESSION_CREATION_FAILED");
        // A token listed twice: a registration's setters replace, a grant's first use refuses.
        let twice = SessionSpec {
            spending_limits: vec![spec.spending_limits[0]; 2],
            ..spec.clone()
        };
        let refused = grant_session(
            &owner,
            chain,
            "482193",
            &twice,
            basis,
            1_000,
            EnvelopeParams::default(),
        )
        .expect_err("a token twice");
        assert!(refused.to_string().contains("grant"), "{refused}");
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
            limits: Default::default(),
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
