//! The on-chain cost paths of one STRK transfer, shared by the benchmark (`scripts/bench.sh
//! onchain`) and the gas-ceiling test: the same transfer, recipient and amount on every path,
//! and the same relayer for every relayed one.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use stark_sessions_abi::{constants, snip12, ArgRule, CairoSerde, U256};
use stark_sessions_devnet::{DevnetAccount, SessionAccountHandle, STRK_ADDRESS};
use starknet::core::types::{Call, Felt};
use starknet::signers::SigningKey;

use crate::{register_call, relay_call, sel, Fixture, Relayed, TestSession, HUNDRED_STRK};

/// Amount of every measured transfer (FRI).
const AMOUNT: u8 = 7;
/// Calls each measured session may make.
const SESSION_CALLS: u32 = 100_000;

/// A session account of the bundle rows, with its registered session.
struct BundleMember {
    account: SessionAccountHandle,
    session: TestSession,
}

/// Everything the paths need, set up once on one devnet.
pub struct Paths {
    /// The devnet, our session account (owner direct path) and the relayer.
    pub fixture: Fixture,
    oz: DevnetAccount,
    oz_key: SigningKey,
    whitelisted: TestSession,
    limited: TestSession,
    ruled: TestSession,
    guarded: TestSession,
    probe: TestSession,
    members: Vec<BundleMember>,
    floor: Felt,
    transfer: Call,
    /// Secrets of the fresh keys of rows (r) and (s), one per run.
    fresh_keys: AtomicU64,
}

impl Paths {
    /// Starts a devnet and sets up every path: two sessions on our account (one whitelisted
    /// for `transfer`, one also under a STRK spending limit) and `bundle_members` more session
    /// accounts with a session each. Each path is run once as a warm-up by the caller.
    pub async fn setup(bundle_members: usize) -> Result<Self> {
        let options = stark_sessions_devnet::DevnetOptions {
            predeclare_argent: true,
            ..Default::default()
        };
        let fixture = Fixture::with_options(0xbe71, options).await?;
        let recipient = fixture.devnet.accounts()[3].address;
        let transfer = Call {
            to: STRK_ADDRESS,
            selector: sel("transfer"),
            calldata: vec![recipient, Felt::from(AMOUNT), Felt::ZERO],
        };
        let oz_key = SigningKey::from_secret_scalar(fixture.devnet.accounts()[2].private_key);
        let oz = fixture.devnet.predeployed(2)?;
        let now = fixture.devnet.block_timestamp().await?;
        let whitelisted = TestSession::from_secret(71, now + 24 * 3600);
        let mut limited = TestSession::from_secret(72, now + 24 * 3600);
        fixture
            .register(&whitelisted, SESSION_CALLS, &[sel("transfer")])
            .await?;
        fixture
            .register(&limited, SESSION_CALLS, &[sel("transfer")])
            .await?;
        let mut policy = vec![limited.public_key, STRK_ADDRESS];
        U256::from_u128(1_000_000).cairo_serialize(&mut policy);
        U256::from_u128(1_000_000_000).cairo_serialize(&mut policy);
        86_400u64.cairo_serialize(&mut policy);
        fixture
            .owner_execute(vec![fixture.self_call("set_spending_policy", policy)])
            .await?
            .receipt()?;
        fixture.refresh(&mut limited).await?;
        let ruled = ruled_session(&fixture, recipient, now + 24 * 3600).await?;
        let guarded = guarded_session(&fixture, now + 24 * 3600).await?;
        let probe = TestSession::from_secret(75, now + 24 * 3600);
        fixture
            .register(&probe, SESSION_CALLS, &[sel("transfer"), sel("balance_of")])
            .await?;
        let floor = deploy_floor(&fixture).await?;
        let mut paths = Paths {
            fixture,
            oz,
            oz_key,
            whitelisted,
            limited,
            ruled,
            guarded,
            probe,
            members: Vec::new(),
            floor,
            transfer,
            fresh_keys: AtomicU64::new(0xf5_0000),
        };
        for i in 0..bundle_members {
            let member = paths.bundle_member(i as u64, now + 24 * 3600).await?;
            paths.members.push(member);
        }
        Ok(paths)
    }

    /// Deploys one more session account and registers a transfer session on it.
    async fn bundle_member(&self, i: u64, valid_until: u64) -> Result<BundleMember> {
        let f = &self.fixture;
        let owner = SigningKey::from_secret_scalar(Felt::from(0xb0_0000 + i));
        let account = f
            .devnet
            .deploy_session_account_udc(owner, Felt::from(0xb0_0000 + i), HUNDRED_STRK)
            .await
            .context("deploy a bundle member")?;
        let session = TestSession::from_secret(0xb1_0000 + i, valid_until);
        let register = register_call(account.address, &session, SESSION_CALLS, &[sel("transfer")]);
        let outside = f.outside(vec![register]).await?;
        let hash = snip12::outside_execution_hash(&outside, account.address, f.devnet.chain_id());
        let sig = account.owner.sign(&hash)?;
        f.send(
            &f.relayer,
            vec![relay_call(account.address, &outside, vec![sig.r, sig.s])],
        )
        .await?
        .receipt()?;
        Ok(BundleMember { account, session })
    }

    /// The transfer every path makes.
    pub fn transfer(&self) -> &Call {
        &self.transfer
    }

    /// (a) The predeployed OpenZeppelin account's own INVOKE.
    pub async fn oz_direct(&self) -> Result<Relayed> {
        self.fixture
            .send(&self.oz, vec![self.transfer.clone()])
            .await
    }

    /// (b) The same OZ account's owner-signed SNIP-9 v2 outside execution, relayed.
    pub async fn oz_outside_relayed(&self) -> Result<Relayed> {
        let f = &self.fixture;
        let oz = self.oz_address();
        let outside = f.outside(vec![self.transfer.clone()]).await?;
        let sig = self.oz_key.sign(&snip12::outside_execution_hash(
            &outside,
            oz,
            f.devnet.chain_id(),
        ))?;
        f.send(
            &f.relayer,
            vec![relay_call(oz, &outside, vec![sig.r, sig.s])],
        )
        .await
    }

    /// The OZ account's address.
    pub fn oz_address(&self) -> Felt {
        self.fixture.devnet.accounts()[2].address
    }

    /// (d) Our account's owner, direct INVOKE.
    pub async fn owner_direct(&self) -> Result<Relayed> {
        self.fixture
            .send(&self.fixture.account.account, vec![self.transfer.clone()])
            .await
    }

    /// (z) The floor: the same transfer relayed through an account whose
    /// `execute_from_outside_v2` checks only that its nonce is new, then runs the calls.
    pub async fn floor_relayed(&self) -> Result<Relayed> {
        let f = &self.fixture;
        let outside = f.outside(vec![self.transfer.clone()]).await?;
        f.send(&f.relayer, vec![relay_call(self.floor, &outside, vec![])])
            .await
    }

    /// (e) Our session (whitelist `transfer`), relayed.
    pub async fn session_relayed(&self) -> Result<Relayed> {
        self.fixture
            .session_execute(&self.whitelisted, vec![self.transfer.clone()])
            .await
    }

    /// (e) with its nonce in a storage word of its own (what nonces chosen at random cost:
    /// the nonce bitmap allocates a new slot every time).
    pub async fn session_relayed_fresh_word(&self) -> Result<Relayed> {
        let f = &self.fixture;
        let mut session = self.whitelisted.clone();
        f.refresh(&mut session).await?;
        let mut outside = f.outside(vec![self.transfer.clone()]).await?;
        // Far above the consecutive nonces, one 128-nonce word per call.
        outside.nonce = Felt::TWO.pow(100u8) + outside.nonce * Felt::from(128u8);
        let signature = f.session_signature(&session, &outside)?;
        f.relay(&outside, signature).await
    }

    /// (f) (e) with a spending limit on STRK.
    pub async fn session_limited_relayed(&self) -> Result<Relayed> {
        self.fixture
            .session_execute(&self.limited, vec![self.transfer.clone()])
            .await
    }

    /// (t) (e) with argument rules on the transfer: the recipient one of three, the amount
    /// at most a cap.
    pub async fn session_ruled_relayed(&self) -> Result<Relayed> {
        self.fixture
            .session_execute(&self.ruled, vec![self.transfer.clone()])
            .await
    }

    /// (u) (f) with the loss guard on STRK: `balance_of` before and after the transfer.
    pub async fn session_guarded_relayed(&self) -> Result<Relayed> {
        self.fixture
            .session_execute(&self.guarded, vec![self.transfer.clone()])
            .await
    }

    /// The transfer alone, or followed by one `balance_of` call, in an execution of a session
    /// whitelisted for both: the difference is what one `balance_of` call costs.
    pub async fn session_probe_relayed(&self, with_balance_of: bool) -> Result<Relayed> {
        let mut calls = vec![self.transfer.clone()];
        if with_balance_of {
            calls.push(Call {
                to: STRK_ADDRESS,
                selector: constants::SELECTOR_BALANCE_OF,
                calldata: vec![self.fixture.address()],
            });
        }
        self.fixture.session_execute(&self.probe, calls).await
    }

    /// (g) `transfers` transfers in one session multicall.
    pub async fn session_multicall(&self, transfers: usize) -> Result<Relayed> {
        self.fixture
            .session_execute(&self.whitelisted, vec![self.transfer.clone(); transfers])
            .await
    }

    /// A key never registered nor granted, valid for a day.
    async fn fresh_session(&self) -> Result<TestSession> {
        let now = self.fixture.devnet.block_timestamp().await?;
        let secret = self.fresh_keys.fetch_add(1, Ordering::Relaxed);
        Ok(TestSession::from_secret(secret, now + 24 * 3600))
    }

    /// (r) Today's path for a new session: the owner's registration (whitelist `transfer`, the
    /// terms of (e)) relayed, then the session's first transfer relayed.
    pub async fn register_then_use(&self) -> Result<(Relayed, Relayed)> {
        let f = &self.fixture;
        let session = self.fresh_session().await?;
        let register = f.register_call(&session, SESSION_CALLS, &[sel("transfer")]);
        let registration = f.owner_execute(vec![register]).await?;
        let first_use = f
            .session_execute_as(&session, vec![self.transfer.clone()])
            .await?;
        Ok((registration, first_use))
    }

    /// (s) The same session granted by the owner's signature: its first transfer, relayed,
    /// carries the grant; then (s') its second transfer, an ordinary session execution.
    pub async fn grant_then_use(&self) -> Result<(Relayed, Relayed)> {
        let f = &self.fixture;
        let session = self.fresh_session().await?;
        let grant = f.grant(&session, SESSION_CALLS, &[sel("transfer")]).await?;
        let signed = f.sign_grant(grant, &f.account.owner)?;
        let first_use = f
            .grant_execute(&session, &signed, vec![self.transfer.clone()])
            .await?;
        let later = f
            .session_execute(&session, vec![self.transfer.clone()])
            .await?;
        Ok((first_use, later))
    }

    /// (h) One relayer transaction carrying `n` session executions of `n` different accounts.
    pub async fn bundle(&self, n: usize) -> Result<Relayed> {
        if n > self.members.len() {
            bail!("only {} bundle accounts are set up", self.members.len());
        }
        let f = &self.fixture;
        let mut calls = Vec::with_capacity(n);
        for member in &self.members[..n] {
            let outside = f.outside(vec![self.transfer.clone()]).await?;
            let hash = snip12::outside_execution_hash(
                &outside,
                member.account.address,
                f.devnet.chain_id(),
            );
            calls.push(relay_call(
                member.account.address,
                &outside,
                member.session.sign(hash)?,
            ));
        }
        f.send(&f.relayer, calls).await
    }
}

/// A transfer session (like (e)'s) whose transfers must go to `recipient` or one of two others
/// and move at most 1 000 000 FRI.
async fn ruled_session(f: &Fixture, recipient: Felt, valid_until: u64) -> Result<TestSession> {
    let session = TestSession::from_secret(73, valid_until);
    f.register(&session, SESSION_CALLS, &[sel("transfer")])
        .await?;
    let rules = [
        ArgRule::one_of(0, vec![recipient, Felt::from(0xa1u8), Felt::from(0xa2u8)]),
        ArgRule::u256_at_most(1, U256::from_u128(1_000_000)).context("a cap that fits")?,
    ];
    let call = f.arg_rules_call(session.public_key, STRK_ADDRESS, sel("transfer"), &rules);
    f.owner_execute(vec![call]).await?.receipt()?;
    Ok(session)
}

/// A transfer session under (f)'s spending limit with the loss guard on STRK.
async fn guarded_session(f: &Fixture, valid_until: u64) -> Result<TestSession> {
    let session = TestSession::from_secret(74, valid_until);
    f.register(&session, SESSION_CALLS, &[sel("transfer")])
        .await?;
    let mut policy = vec![session.public_key, STRK_ADDRESS];
    U256::from_u128(1_000_000).cairo_serialize(&mut policy);
    U256::from_u128(1_000_000_000).cairo_serialize(&mut policy);
    86_400u64.cairo_serialize(&mut policy);
    f.owner_execute(vec![
        f.self_call("set_spending_policy", policy),
        f.loss_guards_call(session.public_key, &[STRK_ADDRESS]),
    ])
    .await?
    .receipt()?;
    Ok(session)
}

/// Declares and deploys the floor account (`contracts/src/floor_account.cairo`), funded.
async fn deploy_floor(fixture: &Fixture) -> Result<Felt> {
    let class = stark_sessions_abi::class::floor_account()?;
    let class_hash = fixture.devnet.declare(&class).await?;
    let floor = fixture
        .devnet
        .deploy_contract(class_hash, vec![], Felt::from(0xf1002u32))
        .await?;
    fixture.devnet.mint_strk(floor, HUNDRED_STRK).await?;
    Ok(floor)
}

/// L2 gas of a successful transaction, or the reason it failed.
pub fn gas(relayed: &Relayed) -> Result<u64> {
    match relayed {
        Relayed::Ok(_) => Ok(relayed.l2_gas().unwrap_or_default()),
        Relayed::Failed(reason) => bail!("transaction failed: {reason}"),
    }
}
