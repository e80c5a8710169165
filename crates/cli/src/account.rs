//! `stark-sessions account …`: the session account of an owner key, on any network.

use anyhow::{Context, Result};
use serde_json::json;
use stark_sessions_abi::Felt;
use stark_sessions_client::{
    Deployment, Owner, Session, SessionClient, SessionConfig, SessionError, SessionStore,
};
use starknet::core::types::{BlockId, BlockTag};
use starknet::core::utils::get_selector_from_name;
use starknet::providers::Provider;

use crate::opts::{parse_address, parse_call, OwnerOpts, PinOpts};
use crate::session::{emit, OutputOpts, Remote};

/// `stark-sessions account`.
#[derive(Debug, clap::Subcommand)]
pub enum AccountCommand {
    /// The counterfactual address of an owner's session account: where a DEPLOY_ACCOUNT of
    /// this class, or a paymaster's deployment, with this key and salt puts it. Needs no node.
    Address(AddressArgs),
    /// What the account says of itself: class hash, owner key, revoke-all epoch, and the state
    /// of every session stored here for it.
    Info(InfoArgs),
    /// Deploy the owner's session account: by its own DEPLOY_ACCOUNT, paid from its
    /// prefunded address, or with --gasless through the paymaster — registering a session
    /// stored for the new address (`session create --account <address>`) in the same
    /// sponsored transaction.
    Deploy(DeployArgs),
    /// Declare the session account class on the network, paid by a funded account; nothing
    /// is sent when it is declared already.
    Declare(DeclareArgs),
}

/// Options of `account deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    owner: OwnerOpts,
    /// Deployment salt (0x… hex); by default the owner's public key.
    #[arg(long)]
    salt: Option<String>,
    /// Deploy through the paymaster, sponsored: the owner needs no funds.
    #[arg(long)]
    gasless: bool,
    /// With --gasless: the stored session to register (default: the newest unexpired one
    /// stored for the new address, if any).
    #[arg(long, value_parser = parse_address, requires = "gasless")]
    session_key: Option<Felt>,
    /// With --gasless: deploy only, even when a session is stored for the address.
    #[arg(long, requires = "gasless", conflicts_with = "session_key")]
    no_session: bool,
    /// With --gasless and a session granted by signature (`session grant`): its first call,
    /// `<to>:<entrypoint>[:<arg>,…]` (repeat for a multicall) — the paymaster deploys the
    /// account and makes the call in one sponsored transaction, and the call registers the
    /// session. The owner signs no transaction.
    #[arg(long = "call", value_parser = parse_call, requires = "gasless")]
    calls: Vec<starknet::core::types::Call>,
    /// With --call: read the session's PIN from this file (first line).
    #[arg(long, requires = "calls", conflicts_with = "session_pin_env")]
    session_pin_file: Option<std::path::PathBuf>,
    /// With --call: read the session's PIN from this environment variable.
    #[arg(long, requires = "calls")]
    session_pin_env: Option<String>,
    #[command(flatten)]
    ctx: Remote,
}

/// Options of `account declare`.
#[derive(Debug, clap::Args)]
pub struct DeclareArgs {
    /// The funded account that sends and pays for the DECLARE (any account signing
    /// `[r, s]` with the key of --owner-key-file).
    #[arg(long, value_parser = parse_address)]
    account: Felt,
    #[command(flatten)]
    owner: OwnerOpts,
    /// The compiled class hash to commit to, for a network whose Sierra compiler makes
    /// other CASM than Starknet 0.14's (default: the committed one).
    #[arg(long, value_parser = parse_address)]
    compiled_class_hash: Option<Felt>,
    #[command(flatten)]
    ctx: Remote,
}

/// Options of `account info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The session account (0x…).
    #[arg(long, value_parser = parse_address)]
    account: Felt,
    #[command(flatten)]
    ctx: Remote,
}

/// Options of `account address`.
#[derive(Debug, clap::Args)]
pub struct AddressArgs {
    #[command(flatten)]
    owner: OwnerOpts,
    /// Deployment salt (0x… hex); by default the owner's public key.
    #[arg(long)]
    salt: Option<String>,
    #[command(flatten)]
    output: OutputOpts,
}

/// The address of the session account for `public_key` deployed with `salt` (no deployer),
/// and its class hash.
fn counterfactual_address(public_key: Felt, salt: Felt) -> Result<(Felt, Felt)> {
    let d = Deployment::session_account(public_key, salt)?;
    Ok((d.address, d.class_hash))
}

/// A view of `account` with no arguments, as one felt.
async fn view(client: &SessionClient, account: Felt, name: &str) -> Result<Felt> {
    let out = stark_sessions_rpc::view(
        client.provider(),
        account,
        get_selector_from_name(name)?,
        vec![],
    )
    .await
    .with_context(|| format!("{name} on {account:#x}"))?;
    out.first()
        .copied()
        .with_context(|| format!("{name} answered nothing"))
}

async fn info(args: InfoArgs) -> Result<()> {
    let client = args.ctx.chain.client().await?;
    client.ensure_session_account(args.account).await?;
    let class_hash = client
        .provider()
        .get_class_hash_at(BlockId::Tag(BlockTag::Latest), args.account)
        .await
        .context("the account's class hash")?;
    let owner = view(&client, args.account, "get_public_key").await?;
    let epoch = view(&client, args.account, "get_sessions_epoch").await?;
    let mut sessions = Vec::new();
    for session in args.ctx.store.open()?.sessions_for(args.account)? {
        let data = client
            .get_session_data(args.account, session.public_key())
            .await?;
        sessions.push(json!({
            "public_key": format!("{:#x}", session.public_key()),
            "status": format!("{:?}", data.status).to_lowercase(),
            "valid_until": data.valid_until,
            "remaining_calls": data.remaining_calls,
        }));
    }
    let text = format!(
        "account {:#x}: class {class_hash:#x}, owner {owner:#x}, sessions epoch {epoch}, {} stored session(s)",
        args.account,
        sessions.len()
    );
    emit(
        &args.ctx.output,
        json!({
            "account": format!("{:#x}", args.account),
            "class_hash": format!("{class_hash:#x}"),
            "owner_public_key": format!("{owner:#x}"),
            "sessions_epoch": u64::try_from(epoch).unwrap_or(u64::MAX),
            "sessions": sessions,
        }),
        text,
    );
    Ok(())
}

/// The salt of `--salt`, by default the owner's public key.
fn salt_or_key(salt: Option<&str>, public_key: Felt) -> Result<Felt> {
    match salt {
        Some(text) => parse_address(text).context("--salt takes 0x… hex"),
        None => Ok(public_key),
    }
}

async fn deploy(args: DeployArgs) -> Result<()> {
    let key = args.owner.signing_key()?;
    let public_key = key.verifying_key().scalar();
    let salt = salt_or_key(args.salt.as_deref(), public_key)?;
    let (address, _) = counterfactual_address(public_key, salt)?;
    let client = args.ctx.chain.client().await?;
    let (deployed, session) = if args.gasless {
        let store = args.ctx.store.open()?;
        let session = if args.no_session {
            None
        } else {
            stored_session(&store, address, args.session_key)?
        };
        let deployed = match session.clone() {
            Some(granted) if granted.grant.is_some() => {
                deploy_and_play(&args, &client, &store, granted, public_key, salt).await?
            }
            _ => {
                if !args.calls.is_empty() {
                    anyhow::bail!(
                        "--call makes a granted session's first call; the stored session is \
                         registered by the deployment instead (grant it with `session grant`)"
                    );
                }
                let owner = Owner::new(address, key);
                let config = session.as_ref().map(SessionConfig::from);
                client
                    .deploy_account_gasless(&owner, salt, config.as_ref())
                    .await?
            }
        };
        (deployed, session.map(|s| s.public_key()))
    } else {
        (client.deploy_account(&key, salt).await?, None)
    };
    let how = if args.gasless {
        "gaslessly"
    } else {
        "self-funded"
    };
    let text = match session {
        Some(k) => format!(
            "account {address:#x} deployed {how} with session {k:#x} registered: {:#x}",
            deployed.transaction_hash
        ),
        None => format!(
            "account {address:#x} deployed {how}: {:#x}",
            deployed.transaction_hash
        ),
    };
    emit(
        &args.ctx.output,
        json!({
            "address": format!("{address:#x}"),
            "transaction_hash": format!("{:#x}", deployed.transaction_hash),
            "gasless": args.gasless,
            "session_key": session.map(|k| format!("{k:#x}")),
        }),
        text,
    );
    Ok(())
}

/// The deployment of a granted session's account with its first call (`--call`), the session
/// stored again without its grant once that lands.
async fn deploy_and_play(
    args: &DeployArgs,
    client: &SessionClient,
    store: &SessionStore,
    mut session: Session,
    owner_public_key: Felt,
    salt: Felt,
) -> Result<stark_sessions_client::Deployed> {
    if args.calls.is_empty() {
        anyhow::bail!(
            "session {:#x} is granted: it registers itself on its first call — give that call \
             with --call <to>:<entrypoint>[:<args>] (or --no-session to deploy only)",
            session.public_key()
        );
    }
    let pin = PinOpts {
        pin_file: args.session_pin_file.clone(),
        pin_env: args.session_pin_env.clone(),
    }
    .read_as("session PIN: ")?;
    let handle = session.unlock(&pin)?;
    let deployed = client
        .deploy_and_play(&mut session, &handle, owner_public_key, salt, &args.calls)
        .await?;
    handle.release();
    store.save(&session)?;
    Ok(deployed)
}

/// The session to register at deployment: `key`'s, or the newest unexpired one stored for
/// `address` (none is fine without `key`).
fn stored_session(
    store: &SessionStore,
    address: Felt,
    key: Option<Felt>,
) -> Result<Option<Session>> {
    match key {
        Some(key) => Ok(Some(store.get_key(address, key)?)),
        None => match store.get(address) {
            Ok(session) => Ok(Some(session)),
            Err(SessionError::UnknownSession { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        },
    }
}

async fn declare(args: DeclareArgs) -> Result<()> {
    let key = args.owner.signing_key()?;
    let client = args.ctx.chain.client().await?;
    let declared = client
        .declare_session_class(args.account, &key, args.compiled_class_hash)
        .await?;
    let text = match declared.transaction_hash {
        Some(hash) => format!(
            "declared class {:#x} (compiled class hash {:#x}): {hash:#x}",
            declared.class_hash, declared.compiled_class_hash
        ),
        None => format!(
            "class {:#x} is already declared on this network; nothing sent",
            declared.class_hash
        ),
    };
    emit(
        &args.ctx.output,
        json!({
            "class_hash": format!("{:#x}", declared.class_hash),
            "compiled_class_hash": format!("{:#x}", declared.compiled_class_hash),
            "transaction_hash": declared.transaction_hash.map(|h| format!("{h:#x}")),
        }),
        text,
    );
    Ok(())
}

/// Runs an account subcommand.
pub async fn run(command: AccountCommand) -> Result<()> {
    match command {
        AccountCommand::Address(args) => {
            let public_key = args.owner.signing_key()?.verifying_key().scalar();
            let salt = salt_or_key(args.salt.as_deref(), public_key)?;
            let (address, class_hash) = counterfactual_address(public_key, salt)?;
            emit(
                &args.output,
                json!({
                    "address": format!("{address:#x}"),
                    "class_hash": format!("{class_hash:#x}"),
                    "public_key": format!("{public_key:#x}"),
                    "salt": format!("{salt:#x}"),
                }),
                format!("{address:#x}"),
            );
        }
        AccountCommand::Info(args) => info(args).await?,
        AccountCommand::Deploy(args) => deploy(args).await?,
        AccountCommand::Declare(args) => declare(args).await?,
    }
    Ok(())
}
