//! The `stark-sessions` command.

mod demo;
mod paymaster;

use clap::{Parser, Subcommand};

/// Session keys for Starknet smart accounts.
#[derive(Debug, Parser)]
#[command(name = "stark-sessions", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start an embedded devnet, deploy a session account for a fresh owner and show it.
    Demo(demo::DemoArgs),
    /// Run the SNIP-29 paymaster or manage its API keys.
    #[command(subcommand)]
    Paymaster(paymaster::PaymasterCommand),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Paymaster(command) => paymaster::run(command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
