//! `stark-sessions paymaster …`: run the SNIP-29 paymaster and manage its API keys.

mod keys;

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use stark_sessions_paymaster::{Paymaster, PaymasterConfig, PaymasterServer};

pub use keys::{CreateKeyArgs, KeyIdArgs, ListKeysArgs};

/// `stark-sessions paymaster`.
#[derive(Debug, clap::Subcommand)]
pub enum PaymasterCommand {
    /// Serve the paymaster until interrupted.
    Serve(ServeArgs),
    /// Create a backend API key in the paymaster's database and print it (once).
    CreateKey(CreateKeyArgs),
    /// List the API keys: id, name, status, daily budget, use per UTC day, rate (never
    /// secrets).
    ListKeys(ListKeysArgs),
    /// Revoke an API key for good: it and every client session token it minted are refused.
    RevokeKey(KeyIdArgs),
    /// Disable an API key: it and its client session tokens are refused until enabled again.
    DisableKey(KeyIdArgs),
    /// Enable a disabled API key again (a revoked key stays revoked).
    EnableKey(KeyIdArgs),
    /// Give an API key a new secret and print it (once); its budget, history and client
    /// session tokens stay, the old secret is refused.
    RotateKey(KeyIdArgs),
}

/// The configuration file (`STARK_SESSIONS_PAYMASTER_*` variables override it).
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// TOML configuration.
    #[arg(long, default_value = "paymaster.toml")]
    config: PathBuf,
}

impl ConfigArg {
    /// The configuration, with the environment's overrides.
    fn load(&self) -> Result<PaymasterConfig> {
        PaymasterConfig::load(&self.config)
            .with_context(|| format!("reading {}", self.config.display()))
    }
}

/// How a command prints: text for people, or `--json` for machines.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct OutputArg {
    /// Print JSON (one document; `serve` prints one line when it listens and one when it
    /// stops) instead of text.
    #[arg(long)]
    json: bool,
}

impl OutputArg {
    /// Prints `value` as JSON with `--json`, else `text`.
    fn print(&self, value: &serde_json::Value, text: impl FnOnce() -> String) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(value)?);
        } else {
            println!("{}", text());
        }
        Ok(())
    }
}

/// Options of `paymaster serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    output: OutputArg,
}

async fn serve(args: &ServeArgs) -> Result<()> {
    let config = args.config.load()?;
    config.check_serving()?;
    let paymaster = Paymaster::new(config.clone())
        .await
        .context("starting the paymaster")?;
    if config.database.is_none() {
        eprintln!("warning: no `database` configured; state is kept in memory only");
    }
    let relayers = paymaster.relayers().len();
    let server = PaymasterServer::start(paymaster.clone(), config.listen).await?;
    let ops = server.ops_url().cloned();
    let listening = json!({
        "url": server.url().as_str(),
        "ops_url": ops.as_ref().map(|u| u.as_str()),
        "relayers": relayers,
        "instance": paymaster.instance(),
    });
    args.output.print(&listening, || {
        let ops = ops.map_or(String::new(), |u| format!("; /health and /metrics on {u}"));
        format!("paymaster   {} ({relayers} relayers){ops}", server.url())
    })?;
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    server.stop().await;
    // Other instances on the same database take over its relayers at once.
    paymaster.close().context("handing over relayer leases")?;
    if args.output.json {
        println!("{}", json!({ "stopped": true }));
    }
    Ok(())
}

/// Runs a paymaster subcommand.
pub async fn run(command: PaymasterCommand) -> Result<()> {
    match command {
        PaymasterCommand::Serve(args) => serve(&args).await,
        PaymasterCommand::CreateKey(args) => keys::create(&args),
        PaymasterCommand::ListKeys(args) => keys::list(&args),
        PaymasterCommand::RevokeKey(args) => keys::revoke(&args),
        PaymasterCommand::DisableKey(args) => keys::disable(&args),
        PaymasterCommand::EnableKey(args) => keys::enable(&args),
        PaymasterCommand::RotateKey(args) => keys::rotate(&args),
    }
}
