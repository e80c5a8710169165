//! `stark-sessions session …`: session keys against any node and SNIP-29 paymaster.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use stark_sessions_abi::Felt;
use stark_sessions_client::client::ErrorContext;
use stark_sessions_client::envelope::{open_legacy, seal, EnvelopeParams};
use stark_sessions_client::keys::create_session_key;
use stark_sessions_client::keys::{unix_now, SessionKeyData};
use stark_sessions_client::{Session, SessionConfig, SessionStore};
use zeroize::Zeroizing;

use crate::limits::{limits_json, limits_text, AgentLimitArgs};
use crate::opts::{
    parse_address, parse_call, parse_selector, parse_spending_limit, ChainOpts, OwnerOpts, PinOpts,
    StoreOpts,
};

/// `stark-sessions session`.
#[derive(Debug, clap::Subcommand)]
pub enum SessionCommand {
    /// Create a session key for an account and keep it (encrypted) in the store.
    Create(CreateArgs),
    /// Register a stored session on its account, gaslessly (signed by the owner).
    Register(RegisterArgs),
    /// Grant a stored session by the owner's signature, offline if need be: no transaction;
    /// the session registers itself on its first `session exec`.
    Grant(crate::grant::GrantArgs),
    /// Execute calls with a stored session, gaslessly.
    Exec(ExecArgs),
    /// Show a session's on-chain state.
    Status(StatusArgs),
    /// List the stored sessions.
    List(ListArgs),
    /// Revoke a session (or all sessions of the account) on chain, signed by the owner.
    Revoke(RevokeArgs),
    /// Forget stored sessions (nothing on chain changes).
    Remove(RemoveArgs),
    /// Import a session key encrypted by the reference SDK, re-encrypted under a new PIN,
    /// with the session's grants read from the account.
    Import(ImportArgs),
}

/// Output format.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputOpts {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of commands that reach the chain: node and paymaster, store, output.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    #[command(flatten)]
    pub(crate) chain: ChainOpts,
    #[command(flatten)]
    pub(crate) store: StoreOpts,
    #[command(flatten)]
    pub(crate) output: OutputOpts,
}

/// Options of commands that only touch the store.
#[derive(Debug, Clone, clap::Args)]
pub struct Local {
    #[command(flatten)]
    store: StoreOpts,
    #[command(flatten)]
    output: OutputOpts,
}

/// Which stored session.
#[derive(Debug, Clone, clap::Args)]
pub struct Which {
    /// The session account (0x…).
    #[arg(long, value_parser = parse_address)]
    pub account: Felt,
    /// The session public key (default: the account's newest unexpired session).
    #[arg(long, value_parser = parse_address)]
    pub session_key: Option<Felt>,
}

impl Which {
    pub(crate) fn get(&self, store: &SessionStore) -> Result<Session> {
        let found = match self.session_key {
            Some(key) => store.get_key(self.account, key),
            None => store.get(self.account),
        };
        found.map_err(|e| match e {
            stark_sessions_client::SessionError::UnknownSession { account } => anyhow::anyhow!(
                "no stored session for account {account:#x}; create one with `stark-sessions session create --account {account:#x}`"
            ),
            other => other.into(),
        })
    }
}

/// Options of `session create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The session account (0x…).
    #[arg(long, value_parser = parse_address)]
    account: Felt,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 21_600)]
    duration: u64,
    /// Executions allowed in all.
    #[arg(long, default_value_t = 100)]
    max_calls: u32,
    /// An allowed entry point, by name or selector (repeat; none = any the account allows).
    #[arg(long = "allow-entrypoint", value_parser = parse_selector)]
    entrypoints: Vec<Felt>,
    /// An allowed target contract (repeat; none = any but the account).
    #[arg(long = "allow-target", value_parser = parse_address)]
    targets: Vec<Felt>,
    /// A spending limit, `<token>:<max per call>:<max per window>:<window seconds>` (repeat).
    #[arg(long = "spending-limit", value_parser = parse_spending_limit)]
    limits: Vec<stark_sessions_client::SpendingLimit>,
    #[command(flatten)]
    agent: AgentLimitArgs,
    #[command(flatten)]
    pin: PinOpts,
    #[command(flatten)]
    ctx: Remote,
}

/// Options of `session register`.
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    which: Which,
    #[command(flatten)]
    owner: OwnerOpts,
    #[command(flatten)]
    ctx: Remote,
}

/// Options of `session status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    which: Which,
    #[command(flatten)]
    ctx: Remote,
}

/// Options of `session exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    which: Which,
    /// A call, `<to>:<entrypoint>[:<arg>,<arg>…]` (repeat for a multicall).
    #[arg(long = "call", required = true, value_parser = parse_call)]
    calls: Vec<starknet::core::types::Call>,
    #[command(flatten)]
    pin: PinOpts,
    #[command(flatten)]
    ctx: Remote,
}

/// Options of `session list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    ctx: Local,
}

/// Options of `session revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    which: Which,
    /// Revoke every session of the account.
    #[arg(long, conflicts_with = "session_key")]
    all: bool,
    #[command(flatten)]
    owner: OwnerOpts,
    #[command(flatten)]
    ctx: Remote,
}

/// Options of `session remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    which: Which,
    #[command(flatten)]
    ctx: Local,
}

/// Options of `session import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The session key file the reference SDK encrypted (CryptoJS passphrase format).
    #[arg(long)]
    legacy: PathBuf,
    /// The session account (0x…).
    #[arg(long, value_parser = parse_address)]
    account: Felt,
    /// The session public key the file must hold (default: whatever it holds).
    #[arg(long, value_parser = parse_address)]
    session_key: Option<Felt>,
    /// Read the legacy file's PIN from this file (first line).
    #[arg(long, conflicts_with = "old_pin_env")]
    old_pin_file: Option<PathBuf>,
    /// Read the legacy file's PIN from this environment variable.
    #[arg(long)]
    old_pin_env: Option<String>,
    /// Where the new PIN comes from.
    #[command(flatten)]
    pin: PinOpts,
    #[command(flatten)]
    ctx: Remote,
}

pub(crate) fn emit(output: &OutputOpts, value: Value, text: String) {
    if output.json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

pub(crate) fn session_json(s: &Session) -> Value {
    json!({
        "account": format!("{:#x}", s.account),
        "public_key": format!("{:#x}", s.public_key()),
        "valid_until": s.valid_until(),
        "expires_in_secs": s.expires_in_secs(),
        "max_calls": s.max_calls,
        "allowed_entrypoints": s.allowed_entrypoints.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
        "targets": s.targets.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
    })
}

/// Runs a session subcommand.
pub async fn run(command: SessionCommand) -> Result<()> {
    match command {
        SessionCommand::Create(args) => create(args).await,
        SessionCommand::Register(args) => register(args).await,
        SessionCommand::Grant(args) => crate::grant::grant(args).await,
        SessionCommand::Exec(args) => exec(args).await,
        SessionCommand::Status(args) => status(args).await,
        SessionCommand::List(args) => list(args).await,
        SessionCommand::Revoke(args) => revoke(args).await,
        SessionCommand::Import(args) => import_legacy(args).await,
        SessionCommand::Remove(args) => remove(args).await,
    }
}

/// `session create`.
async fn create(args: CreateArgs) -> Result<()> {
    let store = args.ctx.store.open()?;
    let client = args.ctx.chain.client().await?;
    let pin = args.pin.read()?;
    let key = create_session_key(&pin, Duration::from_secs(args.duration))?;
    let session = Session {
        account: args.account,
        chain_id: client.chain_id(),
        key,
        max_calls: args.max_calls,
        allowed_entrypoints: args.entrypoints,
        targets: args.targets,
        spending_limits: args.limits,
        limits: args.agent.spec(),
        created_at: stark_sessions_client::keys::unix_now(),
        grant: None,
    };
    store.save(&session)?;
    emit(
        &args.ctx.output,
        session_json(&session),
        format!(
            "session {:#x} created for {:#x}, valid until {} (stored, not yet registered: run `stark-sessions session register`)",
            session.public_key(),
            session.account,
            session.valid_until()
        ),
    );
    Ok(())
}

/// `session register`.
async fn register(args: RegisterArgs) -> Result<()> {
    let store = args.ctx.store.open()?;
    let session = args.which.get(&store)?;
    let owner = args.owner.owner(session.account)?;
    let client = args.ctx.chain.client().await?;
    let config = SessionConfig::from(&session);
    let hash = client.add_session_key_to_contract(&owner, &config).await?;
    client
        .wait_for_transaction(hash, &ErrorContext::for_key(session.public_key()))
        .await?;
    emit(
        &args.ctx.output,
        json!({ "transaction_hash": format!("{hash:#x}"), "session": session_json(&session) }),
        format!("session {:#x} registered: {hash:#x}", session.public_key()),
    );
    Ok(())
}

/// `session exec`.
async fn exec(args: ExecArgs) -> Result<()> {
    let store = args.ctx.store.open()?;
    let mut session = args.which.get(&store)?;
    let client = args.ctx.chain.client().await?;
    let pin = args.pin.read()?;
    let handle = session.unlock(&pin)?;
    let granted = session.grant.is_some();
    let hash = client
        .execute_session(&mut session, &handle, &args.calls)
        .await?;
    handle.release();
    if granted {
        // Registered by this execution: later ones are ordinary.
        store.save(&session)?;
    }
    emit(
        &args.ctx.output,
        json!({ "transaction_hash": format!("{hash:#x}") }),
        format!("executed: {hash:#x}"),
    );
    Ok(())
}

/// `session status`.
async fn status(args: StatusArgs) -> Result<()> {
    let store = args.ctx.store.open()?;
    let stored = args.which.get(&store).ok();
    let key = match (args.which.session_key, &stored) {
        (Some(key), _) => key,
        (None, Some(session)) => session.public_key(),
        (None, None) => args.which.get(&store)?.public_key(),
    };
    let client = args.ctx.chain.client().await?;
    let info = match stored.filter(|s| s.public_key() == key) {
        // A stored session reads as granted until its grant's first use lands.
        Some(session) => client.session_info(&session).await?,
        None => client.get_session_data(args.which.account, key).await?,
    };
    let limits = client.agent_limits(args.which.account, key).await?;
    emit(
        &args.ctx.output,
        json!({
            "session_key": format!("{key:#x}"),
            "is_active": info.is_active,
            "granted": info.granted,
            "status": status_name(info.status),
            "limits": limits_json(&limits),
            "valid_until": info.valid_until,
            "remaining_calls": info.remaining_calls,
            "max_calls": info.max_calls,
            "allowed_entrypoints": info.allowed_entrypoints.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
        }),
        format!(
            "session          {key:#x}\nis_active        {}\nstatus           {}\nvalid_until      {}\nremaining_calls  {} of {}\nentrypoints      {}\n{}",
            info.is_active,
            if info.granted {
                "granted by the owner, not used yet (it registers itself on its first exec)".to_owned()
            } else {
                status_name(info.status).to_owned()
            },
            info.valid_until,
            info.remaining_calls,
            info.max_calls,
            if info.allowed_entrypoints.is_empty() {
                "any (but the account's own)".to_owned()
            } else {
                info.allowed_entrypoints
                    .iter()
                    .map(|f| format!("{f:#x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            limits_text(&limits)
        ),
    );
    Ok(())
}

/// A status as the command shows it.
fn status_name(status: stark_sessions_abi::SessionStatus) -> &'static str {
    use stark_sessions_abi::SessionStatus;
    match status {
        SessionStatus::None => "none",
        SessionStatus::Active => "active",
        SessionStatus::Expired => "expired",
        SessionStatus::Revoked => "revoked",
        SessionStatus::Exhausted => "exhausted",
        SessionStatus::NotYetActive => "not_yet_active",
    }
}

/// `session list`.
async fn list(args: ListArgs) -> Result<()> {
    let sessions = args.ctx.store.open()?.list()?;
    let text = if sessions.is_empty() {
        "no stored sessions".to_owned()
    } else {
        sessions
            .iter()
            .map(|s| {
                format!(
                    "{:#x}  {:#x}  {}",
                    s.account,
                    s.public_key(),
                    if s.is_expired() {
                        "expired".to_owned()
                    } else {
                        format!("{} s left", s.expires_in_secs())
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    emit(
        &args.ctx.output,
        Value::Array(sessions.iter().map(session_json).collect()),
        text,
    );
    Ok(())
}

/// `session revoke`.
async fn revoke(args: RevokeArgs) -> Result<()> {
    let client = args.ctx.chain.client().await?;
    let owner = args.owner.owner(args.which.account)?;
    let (hash, what) = if args.all {
        (
            client.revoke_all_sessions(&owner).await?,
            "all sessions".to_owned(),
        )
    } else {
        let key = match args.which.session_key {
            Some(key) => key,
            None => args.which.get(&args.ctx.store.open()?)?.public_key(),
        };
        (
            client.revoke_session_key(&owner, key).await?,
            format!("session {key:#x}"),
        )
    };
    client
        .wait_for_transaction(hash, &ErrorContext::default())
        .await?;
    emit(
        &args.ctx.output,
        json!({ "transaction_hash": format!("{hash:#x}") }),
        format!("{what} revoked: {hash:#x}"),
    );
    Ok(())
}

/// `session remove`.
async fn remove(args: RemoveArgs) -> Result<()> {
    let store = args.ctx.store.open()?;
    let removed = match args.which.session_key {
        Some(key) => store.remove_session(args.which.account, key)?,
        None => store.remove(args.which.account)?,
    };
    if !removed {
        anyhow::bail!(
            "no stored session for account {:#x}; `stark-sessions session list` shows what is stored",
            args.which.account
        );
    }
    emit(
        &args.ctx.output,
        json!({ "removed": true }),
        "removed from the store".to_owned(),
    );
    Ok(())
}

/// `session import --legacy`: everything is checked — both PINs, the file, the key it holds,
/// the account's registration of that key — before the store is even opened, so a refusal
/// writes nothing. The grants (valid_until, max_calls, entry points, targets) are the
/// account's own record of the session, not flags: the key is only worth importing if the
/// account has it registered and usable.
async fn import_legacy(args: ImportArgs) -> Result<()> {
    let legacy =
        Zeroizing::new(std::fs::read_to_string(&args.legacy).with_context(|| {
            format!("cannot read the legacy key file {}", args.legacy.display())
        })?);
    let old_pin = PinOpts {
        pin_file: args.old_pin_file.clone(),
        pin_env: args.old_pin_env.clone(),
    }
    .read_as("legacy PIN: ")?;
    let new_pin = args.pin.read_new("new session PIN: ")?;
    let secret = open_legacy(&legacy, &old_pin).with_context(|| {
        format!(
            "cannot decrypt {} (wrong PIN, or a truncated or altered file); nothing was imported",
            args.legacy.display()
        )
    })?;
    let public_key = secret.public_key();
    if let Some(expected) = args.session_key {
        if expected != public_key {
            anyhow::bail!(
                "{} holds session key {public_key:#x}, not {expected:#x}; nothing was imported",
                args.legacy.display()
            );
        }
    }
    let client = args.ctx.chain.client().await?;
    client.ensure_session_account(args.account).await?;
    let snapshot = client
        .session_snapshot(args.account, public_key, &[])
        .await?;
    if snapshot.status != stark_sessions_abi::SessionStatus::Active {
        anyhow::bail!(
            "session {public_key:#x} is {} on account {:#x}, not active; nothing was imported",
            format!("{:?}", snapshot.status).to_lowercase(),
            args.account
        );
    }
    let session = Session {
        account: args.account,
        chain_id: client.chain_id(),
        key: SessionKeyData {
            public_key,
            encrypted_private_key: seal(&secret, &new_pin, EnvelopeParams::default())?,
            valid_until: snapshot.data.valid_until,
        },
        max_calls: snapshot.data.max_calls,
        allowed_entrypoints: snapshot.entrypoints,
        targets: snapshot.targets,
        spending_limits: Vec::new(),
        limits: Default::default(),
        created_at: unix_now(),
        grant: None,
    };
    args.ctx.store.open()?.save(&session)?;
    emit(
        &args.ctx.output,
        session_json(&session),
        format!(
            "session {public_key:#x} of {:#x} imported under the new PIN, valid until {} ({} calls left of {})",
            session.account,
            session.valid_until(),
            snapshot.data.max_calls.saturating_sub(snapshot.data.calls_used),
            session.max_calls
        ),
    );
    Ok(())
}
