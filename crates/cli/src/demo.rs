//! `stark-sessions demo`: the whole system on an embedded devnet and an in-process paymaster.
//!
//! Deploys a session account for a fresh owner, opens a one-hour game session (call budget,
//! whitelist, target set, STRK spending limit), registers it gaslessly, plays N delegated
//! calls, shows the session, shows three refusals (denied selector, spending limit, revoked)
//! and prints a summary with hashes, gas against the owner's direct call, and wall time. Every
//! step checks its outcome; the exit code is 0 only if all behaved as expected.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::json;
use stark_sessions_abi::{class, Felt};
use stark_sessions_client::client::ErrorContext;
use stark_sessions_client::{
    Owner, PaymasterAuth, PaymasterClient, SessionClient, SessionError, SessionSpec, SpendingLimit,
};
use stark_sessions_devnet::{execution_resources, Devnet, DevnetOptions, STRK_ADDRESS};
use stark_sessions_paymaster::{Paymaster, PaymasterServer};
use starknet::core::types::Call;
use starknet::core::utils::get_selector_from_name;
use starknet::signers::SigningKey;

/// One STRK in FRI.
const STRK: u128 = 1_000_000_000_000_000_000;
/// The demo session's PIN (the demo's key never leaves the process).
const DEMO_PIN: &str = "demo-pin-4821";

/// Options of `stark-sessions demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Delegated calls to make with the session.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    calls: u32,
    /// Seed of the devnet's predeployed accounts.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Print one JSON document instead of the human report.
    #[arg(long)]
    json: bool,
}

struct Progress {
    quiet: bool,
    terminal: bool,
}

impl Progress {
    fn step(&self, text: &str) {
        if !self.quiet {
            println!("  ✓ {text}");
        }
    }

    fn bar(&self, done: u32, total: u32) {
        // Redraw in place on a terminal; elsewhere (logs, CI) only the finished bar.
        if !self.quiet && (self.terminal || done == total) {
            let width = 30;
            let filled = (done * width / total.max(1)) as usize;
            print!(
                "\r  [{}{}] {done}/{total} delegated calls",
                "#".repeat(filled),
                ".".repeat(width as usize - filled)
            );
            std::io::stdout().flush().ok();
            if done == total {
                println!();
            }
        }
    }
}

fn selector(name: &str) -> Felt {
    get_selector_from_name(name).unwrap_or_default()
}

/// A refusal the demo expects, with the code it must carry.
fn expect_refusal(result: Result<Felt, SessionError>, code: &str) -> Result<SessionError> {
    match result {
        Ok(hash) => anyhow::bail!("expected {code}, but the call was sent as {hash:#x}"),
        Err(e) if e.code() == code => Ok(e),
        Err(e) => anyhow::bail!("expected {code}, got {}: {e}", e.code()),
    }
}

/// Runs the demo; fails if any step does not behave as expected.
pub async fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let progress = Progress {
        quiet: args.json,
        terminal: std::io::IsTerminal::is_terminal(&std::io::stdout()),
    };
    let devnet = Devnet::start_embedded(DevnetOptions {
        seed: args.seed,
        ..Default::default()
    })
    .await
    .context("starting the embedded devnet")?;
    progress.step(&format!(
        "devnet {} (chain id {:#x})",
        devnet.url(),
        devnet.chain_id()
    ));

    // The session account for a fresh owner, and the game it will play.
    let owner_key = SigningKey::from_random();
    let account = devnet
        .deploy_session_account(
            owner_key.clone(),
            Felt::from(rand::random::<u64>()),
            100 * STRK,
        )
        .await
        .context("deploying the session account")?;
    let game_class = devnet.declare(&class::scoreboard()?).await?;
    let game = devnet
        .deploy_contract(game_class, vec![], Felt::from(rand::random::<u64>()))
        .await
        .context("deploying the game contract")?;
    progress.step(&format!(
        "session account {:#x} (fresh owner)",
        account.address
    ));

    // The paymaster, in process, relaying from three predeployed accounts.
    let config = crate::devnet::local_paymaster_config(&devnet, 0);
    let listen = config.listen;
    let paymaster = Paymaster::new(config)
        .await
        .context("starting the paymaster")?;
    let api_key = paymaster.create_api_key("demo-backend", 1_000 * STRK, 10_000, None)?;
    let server = PaymasterServer::start(paymaster.clone(), listen).await?;
    progress.step(&format!("paymaster {} (3 relayers)", server.url()));

    let client = SessionClient::connect(
        devnet.url().clone(),
        PaymasterClient::new(
            server.url().clone(),
            PaymasterAuth::api_key(api_key.to_string()),
        ),
    )
    .await?;
    let owner = Owner::new(account.address, owner_key.clone());
    let user_balance = devnet.strk_balance(account.address).await?;

    // A one-hour game session: plays on the game, small STRK transfers, a call budget.
    let max_calls = args.calls + 2;
    let spec = SessionSpec {
        duration: Duration::from_secs(3600),
        max_calls,
        allowed_entrypoints: vec![selector("record_score"), selector("transfer")],
        targets: vec![game, STRK_ADDRESS],
        spending_limits: vec![SpendingLimit {
            token: STRK_ADDRESS,
            max_per_call: STRK,
            max_per_window: 2 * STRK,
            window_seconds: 3600,
        }],
    };
    let session = client
        .create_session(&owner, DEMO_PIN, &spec)
        .await
        .context("creating and registering the session")?;
    progress.step(&format!(
        "one-hour session {:#x} registered gaslessly (max {max_calls} calls, 2 entry points, 1 STRK per transfer)",
        session.public_key()
    ));

    // The game client: a short-lived token from the backend, the key unlocked once.
    let token = client
        .paymaster()
        .create_client_session("demo-player", &[account.address], None)
        .await?;
    let player = client
        .clone()
        .with_paymaster(client.paymaster().with_auth(token.auth()));
    let handle = session.unlock(DEMO_PIN)?;
    let play = |points: u64| Call {
        to: game,
        selector: selector("record_score"),
        calldata: vec![Felt::from(points)],
    };
    let mut hashes = Vec::new();
    let mut session_gas = Vec::new();
    for i in 1..=args.calls {
        let hash = player
            .execute_and_wait(&session, &handle, &[play(u64::from(i))])
            .await
            .with_context(|| format!("delegated call {i}"))?;
        let receipt = devnet.receipt(hash).await?;
        session_gas.push(execution_resources(&receipt.receipt).l2_gas);
        hashes.push(hash);
        handle.renew()?;
        progress.bar(i, args.calls);
    }
    let plays = devnet.call(game, selector("get_plays"), vec![]).await?;
    ensure!(
        plays == vec![Felt::from(args.calls)],
        "the game counted {plays:?} plays, expected {}",
        args.calls
    );
    ensure!(
        devnet.strk_balance(account.address).await? == user_balance,
        "the user paid gas"
    );

    let info = client
        .get_session_data(account.address, session.public_key())
        .await?;
    ensure!(
        info.is_active && info.remaining_calls == max_calls - args.calls,
        "the session reports {info:?}"
    );

    // Refusals, each before anything is signed or sent.
    let denied = expect_refusal(
        player
            .execute_transaction_with_session(
                &session,
                &handle,
                &[Call {
                    to: game,
                    selector: selector("get_plays"),
                    calldata: vec![],
                }],
            )
            .await,
        "SESSION_ENTRYPOINT_NOT_ALLOWED",
    )?;
    let transfer = Call {
        to: STRK_ADDRESS,
        selector: selector("transfer"),
        calldata: vec![
            devnet.accounts()[5].address,
            Felt::from(5 * STRK),
            Felt::ZERO,
        ],
    };
    let overspend = expect_refusal(
        player
            .execute_transaction_with_session(&session, &handle, &[transfer])
            .await,
        "SPENDING_LIMIT_EXCEEDED",
    )?;
    let revoke = client
        .revoke_session_key(&owner, session.public_key())
        .await?;
    client
        .wait_for_transaction(revoke, &ErrorContext::for_key(session.public_key()))
        .await?;
    let revoked = expect_refusal(
        player
            .execute_transaction_with_session(&session, &handle, &[play(1)])
            .await,
        "SESSION_REVOKED",
    )?;
    handle.release();
    let after = client
        .get_session_data(account.address, session.public_key())
        .await?;
    ensure!(!after.is_active, "the revoked session still reports active");

    // The same play made directly by the owner, for gas.
    let direct = devnet
        .invoke(&account.account, vec![play(1)])
        .await
        .context("the owner's direct call")?;
    let owner_gas = execution_resources(&direct.receipt).l2_gas;
    let mut sorted = session_gas.clone();
    sorted.sort_unstable();
    let median_session_gas = sorted[sorted.len() / 2];
    let wall = started.elapsed();

    if args.json {
        let report = json!({
            "ok": true,
            "devnet": devnet.url().as_str(),
            "chain_id": format!("{:#x}", devnet.chain_id()),
            "account": format!("{:#x}", account.address),
            "game": format!("{game:#x}"),
            "session": {
                "public_key": format!("{:#x}", session.public_key()),
                "valid_until": session.valid_until(),
                "max_calls": max_calls,
            },
            "calls": args.calls,
            "session_data": {
                "is_active": info.is_active,
                "valid_until": info.valid_until,
                "remaining_calls": info.remaining_calls,
                "allowed_entrypoints": info.allowed_entrypoints.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
            },
            "refusals": {
                "denied_selector": denied.code(),
                "spending_limit": overspend.code(),
                "revoked": revoked.code(),
            },
            "transactions": {
                "revoke": format!("{revoke:#x}"),
                "owner_direct": format!("{:#x}", direct.receipt.transaction_hash()),
                "session_calls": hashes.iter().map(|h| format!("{h:#x}")).collect::<Vec<_>>(),
            },
            "l2_gas": {
                "session_call_median": median_session_gas,
                "owner_direct": owner_gas,
                "ratio": median_session_gas as f64 / owner_gas.max(1) as f64,
            },
            "user_fee_paid_fri": 0,
            "wall_seconds": wall.as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }

    println!();
    println!("get_session_data after {} calls", args.calls);
    println!("  ┌─────────────────────┬────────────────────────────────────────────────────────────────────┐");
    let row = |k: &str, v: String| println!("  │ {k:<19} │ {v:<66} │");
    row("is_active", info.is_active.to_string());
    row("valid_until", info.valid_until.to_string());
    row(
        "remaining_calls",
        format!("{} of {max_calls}", info.remaining_calls),
    );
    for (i, e) in info.allowed_entrypoints.iter().enumerate() {
        let name = if *e == selector("record_score") {
            "record_score"
        } else if *e == selector("transfer") {
            "transfer"
        } else {
            "?"
        };
        let label = if i == 0 { "allowed_entrypoints" } else { "" };
        let hex = format!("{e:#x}");
        row(label, format!("{name} ({}…)", &hex[..hex.len().min(18)]));
    }
    println!("  └─────────────────────┴────────────────────────────────────────────────────────────────────┘");
    println!();
    println!("refused, before anything was signed or sent");
    println!("  denied selector   {}  {denied}", denied.code());
    println!("  spending limit    {}  {overspend}", overspend.code());
    println!("  after revoke      {}  {revoked}", revoked.code());
    println!();
    println!("summary");
    println!("  account           {:#x}", account.address);
    println!("  session key       {:#x}", session.public_key());
    println!(
        "  session calls     {} (first {:#x}, last {:#x})",
        hashes.len(),
        hashes[0],
        hashes[hashes.len() - 1]
    );
    println!("  revoke            {revoke:#x}");
    println!(
        "  L2 gas            {median_session_gas} per session call (median, relayed) vs {owner_gas} by the owner directly = {:.2}x",
        median_session_gas as f64 / owner_gas.max(1) as f64
    );
    println!("  user's fee        0 FRI (sponsored by the paymaster)");
    println!("  wall time         {:.1} s", wall.as_secs_f64());
    Ok(())
}
