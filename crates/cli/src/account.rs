//! `stark-sessions account …`: the session account of an owner key, on any network.

use anyhow::{Context, Result};
use serde_json::json;
use stark_sessions_abi::Felt;
use stark_sessions_client::SessionClient;
use starknet::core::types::{BlockId, BlockTag, FunctionCall};
use starknet::core::utils::{get_contract_address, get_selector_from_name};
use starknet::providers::Provider;

use crate::opts::{parse_address, OwnerOpts};
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

/// The address of the session account for `public_key` deployed with `salt` (no deployer).
pub fn counterfactual_address(public_key: Felt, salt: Felt) -> Result<(Felt, Felt)> {
    let class = stark_sessions_abi::class::session_account().context("the account class")?;
    let address = get_contract_address(salt, class.class_hash, &[public_key], Felt::ZERO);
    Ok((address, class.class_hash))
}

/// A view of `account` with no arguments, as one felt.
async fn view(client: &SessionClient, account: Felt, name: &str) -> Result<Felt> {
    let out = client
        .provider()
        .call(
            FunctionCall {
                contract_address: account,
                entry_point_selector: get_selector_from_name(name)?,
                calldata: vec![],
            },
            BlockId::Tag(BlockTag::Latest),
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

/// Runs an account subcommand.
pub async fn run(command: AccountCommand) -> Result<()> {
    match command {
        AccountCommand::Address(args) => {
            let public_key = args.owner.signing_key()?.verifying_key().scalar();
            let salt = match &args.salt {
                Some(text) => parse_address(text).context("--salt takes 0x… hex")?,
                None => public_key,
            };
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
    }
    Ok(())
}
