//! `stark-sessions devnet`: an embedded devnet and a paymaster for local development.

use anyhow::{Context, Result};
use serde_json::json;
use stark_sessions_abi::{class, Felt};
use stark_sessions_devnet::{Devnet, DevnetOptions};
use stark_sessions_paymaster::{Paymaster, PaymasterConfig, PaymasterServer, RelayerConfig};
use starknet::signers::SigningKey;

/// 1 000 STRK in FRI: the session account's starting balance.
const THOUSAND_STRK: u128 = 1_000_000_000_000_000_000_000;

/// Options of `stark-sessions devnet`.
#[derive(Debug, clap::Args)]
pub struct DevnetArgs {
    /// Port of the devnet's JSON-RPC on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 5050)]
    port: u16,
    /// Port of the paymaster on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 5051)]
    paymaster_port: u16,
    /// Seed of the predeployed accounts.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Print one line of JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The predeployed accounts the local paymaster relays from (account 0 is left to deploy and
/// fund).
const RELAYER_ACCOUNTS: std::ops::Range<usize> = 1..4;

/// A paymaster on 127.0.0.1:`port` relaying for `devnet` from its predeployed accounts
/// [`RELAYER_ACCOUNTS`].
pub fn local_paymaster_config(devnet: &Devnet, port: u16) -> PaymasterConfig {
    let relayers = devnet.accounts()[RELAYER_ACCOUNTS]
        .iter()
        .map(|a| RelayerConfig {
            address: a.address,
            private_key: a.private_key,
        })
        .collect();
    let mut config = PaymasterConfig::new(devnet.url().clone(), relayers);
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    config
}

/// Runs the devnet and the paymaster until Ctrl-C.
pub async fn run(args: DevnetArgs) -> Result<()> {
    let devnet = Devnet::start_embedded(DevnetOptions {
        seed: args.seed,
        port: args.port,
        ..Default::default()
    })
    .await
    .with_context(|| {
        format!(
            "cannot start the devnet on port {}; is it in use? try --port 0",
            args.port
        )
    })?;
    let class_hash = devnet.declare(&class::session_account()?).await?;
    let owner = SigningKey::from_random();
    let account = devnet
        .deploy_session_account(
            owner.clone(),
            Felt::from(rand::random::<u64>()),
            THOUSAND_STRK,
        )
        .await
        .context("deploying a session account")?;

    let config = local_paymaster_config(&devnet, args.paymaster_port);
    let paymaster = Paymaster::new(config.clone()).await?;
    let api_key = paymaster.create_api_key("devnet", u128::MAX, 100_000, None)?;
    let server = PaymasterServer::start(paymaster, config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot start the paymaster on port {}; is it in use? try --paymaster-port 0",
                args.paymaster_port
            )
        })?;

    let accounts: Vec<_> = devnet
        .accounts()
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "address": format!("{:#x}", a.address),
                "private_key": format!("{:#x}", a.private_key),
                "paymaster_relayer": RELAYER_ACCOUNTS.contains(&i),
            })
        })
        .collect();
    let relayers: Vec<String> = config
        .relayers
        .iter()
        .map(|r| format!("{:#x}", r.address))
        .collect();
    if args.json {
        println!(
            "{}",
            json!({
                "rpc_url": devnet.url().as_str(),
                "paymaster_url": server.url().as_str(),
                "chain_id": format!("{:#x}", devnet.chain_id()),
                "session_account_class_hash": format!("{class_hash:#x}"),
                "session_account": format!("{:#x}", account.address),
                "session_account_owner_key": format!("{:#x}", owner.secret_scalar()),
                "paymaster_api_key": api_key.as_str(),
                "paymaster_relayers": relayers,
                "funded_accounts": accounts,
            })
        );
    } else {
        println!("devnet (test keys only — never use them on a real network)");
        println!("  rpc url            {}", devnet.url());
        println!("  paymaster url      {}", server.url());
        println!("  chain id           {:#x}", devnet.chain_id());
        println!("  paymaster api key  {}", api_key.as_str());
        println!(
            "  session account    {:#x} (class {class_hash:#x})",
            account.address
        );
        println!("  its owner key      {:#x}", owner.secret_scalar());
        println!(
            "  funded accounts (0 deploys; {}–{} relay for the paymaster: leave them be)",
            RELAYER_ACCOUNTS.start,
            RELAYER_ACCOUNTS.end - 1
        );
        for (i, a) in devnet.accounts().iter().enumerate() {
            let relays = if RELAYER_ACCOUNTS.contains(&i) {
                "  (paymaster relayer)"
            } else {
                ""
            };
            println!(
                "    #{i:<2} {:#x}  key {:#x}{relays}",
                a.address, a.private_key
            );
        }
        println!("Ctrl-C stops both.");
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    server.stop().await;
    drop(devnet);
    // With --json, stdout stays one JSON document a line and stderr holds only logs.
    if args.json {
        println!("{}", json!({ "stopped": true }));
    } else {
        eprintln!("stopped");
    }
    Ok(())
}
