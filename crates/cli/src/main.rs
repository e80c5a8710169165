//! The `stark-sessions` command.

mod account;
mod config;
#[cfg(feature = "devnet")]
mod demo;
#[cfg(feature = "devnet")]
mod devnet;
mod grant;
mod limits;
mod opts;
mod owner;
mod paymaster;
mod session;

use clap::{Parser, Subcommand};

/// Session keys for Starknet smart accounts: delegate limited, expiring, revocable authority
/// to a session key and use it gaslessly through a SNIP-29 paymaster.
#[derive(Debug, Parser)]
#[command(name = "stark-sessions", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole system on an embedded devnet and paymaster: a one-hour game session,
    /// delegated calls, refusals, gas and time.
    #[cfg(feature = "devnet")]
    Demo(demo::DemoArgs),
    /// Start an embedded devnet and a paymaster for local development (Ctrl-C stops them).
    #[cfg(feature = "devnet")]
    Devnet(devnet::DevnetArgs),
    /// Create, register, use, inspect, revoke and forget session keys.
    #[command(subcommand)]
    Session(Box<session::SessionCommand>),
    /// Create, encrypt and inspect the owner's key (kept in an Argon2id envelope under a passphrase).
    #[command(subcommand)]
    Owner(owner::OwnerCommand),
    /// The owner's session account on any network.
    #[command(subcommand)]
    Account(Box<account::AccountCommand>),
    /// Show or set the RPC and paymaster URLs of each network and the default network.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Run the SNIP-29 paymaster or manage its API keys.
    #[command(subcommand)]
    Paymaster(paymaster::PaymasterCommand),
}

/// Names the log format: `json` for one JSON object per line (log shippers), else text.
const LOG_FORMAT_ENV: &str = "STARK_SESSIONS_LOG_FORMAT";

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`), as text or JSON lines. Nothing
/// logged carries a key, token, PIN or password: credentials are redacted by type.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var(LOG_FORMAT_ENV).is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs();
    let result = match cli.command {
        #[cfg(feature = "devnet")]
        Command::Demo(args) => demo::run(args).await,
        #[cfg(feature = "devnet")]
        Command::Devnet(args) => devnet::run(args).await,
        Command::Session(command) => session::run(*command).await,
        Command::Owner(command) => owner::run(command),
        Command::Account(command) => account::run(*command).await,
        Command::Config(command) => config::run(command),
        Command::Paymaster(command) => paymaster::run(command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the SDK's code when there is one, what is wrong, and the causes.
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<stark_sessions_client::SessionError>())
                .map(stark_sessions_client::SessionError::code);
            match code {
                Some(code) => eprintln!("error: [{code}] {e:#}"),
                None => eprintln!("error: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}
