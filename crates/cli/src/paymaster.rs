//! `stark-sessions paymaster …`: run the SNIP-29 paymaster and manage its API keys.

use std::path::PathBuf;

use anyhow::{Context, Result};
use stark_sessions_abi::Felt;
use stark_sessions_paymaster::{Paymaster, PaymasterConfig, PaymasterServer};

/// `stark-sessions paymaster`.
#[derive(Debug, clap::Subcommand)]
pub enum PaymasterCommand {
    /// Serve the paymaster until interrupted.
    Serve(ConfigArg),
    /// Create a backend API key in the paymaster's database and print it (once).
    CreateKey(CreateKeyArgs),
}

/// The configuration file (`STARK_SESSIONS_PAYMASTER_*` variables override it).
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// TOML configuration.
    #[arg(long, default_value = "paymaster.toml")]
    config: PathBuf,
}

/// Options of `paymaster create-key`.
#[derive(Debug, clap::Args)]
pub struct CreateKeyArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Stable id of the key (appears in logs and the ledger).
    #[arg(long)]
    id: String,
    /// Sponsored fees allowed per UTC day, in FRI.
    #[arg(long)]
    daily_budget_fri: u128,
    /// Requests allowed per minute.
    #[arg(long, default_value_t = 600)]
    requests_per_minute: u32,
    /// Contracts sponsored calls may target (repeat; none = any).
    #[arg(long = "allow-target")]
    allowed_targets: Vec<String>,
}

async fn open(config: &ConfigArg) -> Result<(Paymaster, PaymasterConfig)> {
    let config = PaymasterConfig::load(&config.config)?;
    let paymaster = Paymaster::new(config.clone())
        .await
        .context("starting the paymaster")?;
    Ok((paymaster, config))
}

/// Runs a paymaster subcommand.
pub async fn run(command: PaymasterCommand) -> Result<()> {
    match command {
        PaymasterCommand::Serve(args) => {
            let (paymaster, config) = open(&args).await?;
            if config.database.is_none() {
                eprintln!("warning: no `database` configured; state is kept in memory only");
            }
            let relayers = paymaster.relayers().len();
            let server = PaymasterServer::start(paymaster.clone(), config.listen).await?;
            println!("paymaster   {} ({relayers} relayers)", server.url());
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            server.stop().await;
            // Other instances on the same database take over its relayers at once.
            paymaster.close().context("handing over relayer leases")?;
            Ok(())
        }
        PaymasterCommand::CreateKey(args) => {
            let (paymaster, _) = open(&args.config).await?;
            let targets = args
                .allowed_targets
                .iter()
                .map(|t| Felt::from_hex(t).with_context(|| format!("{t} is not a hex address")))
                .collect::<Result<Vec<_>>>()?;
            let key = paymaster.create_api_key(
                &args.id,
                args.daily_budget_fri,
                args.requests_per_minute,
                (!targets.is_empty()).then_some(targets),
            )?;
            println!("{}", *key);
            eprintln!("api key `{}` created; it is shown only this once", args.id);
            Ok(())
        }
    }
}
