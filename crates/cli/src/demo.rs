//! `stark-sessions demo`: the on-chain half end to end on an embedded devnet.
//!
//! Until the client SDK and paymaster land, the demo starts the devnet, declares the session
//! account class, deploys an account for a fresh owner by DEPLOY_ACCOUNT, and reads it back.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use stark_sessions_abi::{class, constants, CairoSerde, SessionStatus};
use stark_sessions_devnet::Devnet;
use starknet::core::types::Felt;
use starknet::core::utils::get_selector_from_name;
use starknet::signers::SigningKey;

/// Options of `stark-sessions demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Seed of the devnet's predeployed accounts.
    #[arg(long, default_value_t = 0)]
    seed: u32,
}

/// Runs the demo; fails if any step does not behave as expected.
pub async fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let devnet = Devnet::start_embedded(stark_sessions_devnet::DevnetOptions {
        seed: args.seed,
        ..Default::default()
    })
    .await
    .context("starting the embedded devnet")?;
    println!(
        "devnet      {} (chain id {:#x})",
        devnet.url(),
        devnet.chain_id()
    );

    let account_class = class::session_account()?;
    let declared = devnet
        .declare(&account_class)
        .await
        .context("declaring the session account")?;
    println!("class hash  {declared:#x}");

    let owner = SigningKey::from_random();
    let handle = devnet
        .deploy_session_account(
            owner.clone(),
            Felt::from(rand::random::<u64>()),
            10u128.pow(20),
        )
        .await
        .context("deploying the session account")?;
    println!(
        "account     {:#x} (deployed by its own DEPLOY_ACCOUNT)",
        handle.address
    );

    let call = |name: &str, calldata: Vec<Felt>| {
        let selector = get_selector_from_name(name).expect("ASCII entry point name");
        devnet.call(handle.address, selector, calldata)
    };
    let public_key = call("get_public_key", vec![]).await?;
    ensure!(
        public_key == vec![owner.verifying_key().scalar()],
        "owner key not stored"
    );
    let supports = call(
        "supports_interface",
        vec![constants::ISESSION_KEY_MANAGER_ID],
    )
    .await?;
    ensure!(
        supports == vec![Felt::ONE],
        "session interface not advertised"
    );
    let status =
        SessionStatus::from_felts(&call("get_session_status", vec![Felt::from(0x5e55u32)]).await?)?;
    ensure!(
        status == SessionStatus::None,
        "a fresh account has no sessions"
    );
    println!("checks      owner key stored, ISessionKeyManager advertised, no sessions yet");
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
