//! `stark-sessions account …`: the session account of an owner key, on any network.

use anyhow::{Context, Result};
use serde_json::json;
use stark_sessions_abi::Felt;
use starknet::core::utils::get_contract_address;

use crate::opts::{parse_address, OwnerOpts};
use crate::session::{emit, OutputOpts};

/// `stark-sessions account`.
#[derive(Debug, clap::Subcommand)]
pub enum AccountCommand {
    /// The counterfactual address of an owner's session account: where a DEPLOY_ACCOUNT of
    /// this class, or a paymaster's deployment, with this key and salt puts it. Needs no node.
    Address(AddressArgs),
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

/// Runs an account subcommand.
pub fn run(command: AccountCommand) -> Result<()> {
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
    }
    Ok(())
}
