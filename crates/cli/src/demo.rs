//! `stark-sessions demo`: the whole system on an embedded devnet and an in-process paymaster.
//!
//! Deploys a session account for a fresh owner, opens a one-hour game session (call budget,
//! whitelist, target set, STRK spending limit), registers it gaslessly, plays N delegated
//! calls, shows the session, shows three refusals (denied selector, spending limit, revoked)
//! and prints a summary with hashes, the gas of a session call against the same call relayed as
//! an OpenZeppelin account's outside execution, and wall time. Every step checks its outcome;
//! the exit code is 0 only if all behaved as expected.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::json;
use stark_sessions_abi::constants::ANY_CALLER;
use stark_sessions_abi::{class, snip12, Felt, OutsideExecution};
use stark_sessions_client::client::ErrorContext;
use stark_sessions_client::{
    Owner, PaymasterAuth, PaymasterClient, Session, SessionClient, SessionError, SessionHandle,
    SessionInfo, SessionSpec, SpendingLimit,
};
use stark_sessions_devnet::{
    execution_resources, Devnet, DevnetOptions, SessionAccountHandle, STRK_ADDRESS,
};
use stark_sessions_paymaster::{Paymaster, PaymasterServer};
use starknet::core::types::{Call, TransactionReceiptWithBlockInfo};
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

/// What the demo set up: the chain, the account, the game, the paymaster and a client.
struct Stage {
    devnet: Devnet,
    account: SessionAccountHandle,
    game: Felt,
    _server: PaymasterServer,
    client: SessionClient,
    owner: Owner,
}

/// The delegated calls made with the session.
struct Played {
    hashes: Vec<Felt>,
    gas: Vec<u64>,
}

/// The three refusals, and the revocation between them.
struct Refusals {
    denied: SessionError,
    overspend: SessionError,
    revoke: Felt,
    revoked: SessionError,
}

/// Runs the demo; fails if any step does not behave as expected.
pub async fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let progress = Progress {
        quiet: args.json,
        terminal: std::io::IsTerminal::is_terminal(&std::io::stdout()),
    };
    let stage = set_up(&args, &progress).await?;
    let user_balance = stage.devnet.strk_balance(stage.account.address).await?;
    let max_calls = args.calls + 2;
    let session = stage
        .client
        .create_session(&stage.owner, DEMO_PIN, &game_spec(stage.game, max_calls))
        .await
        .context("creating and registering the session")?;
    progress.step(&format!(
        "one-hour session {:#x} registered gaslessly (max {max_calls} calls, 2 entry points, 1 STRK per transfer)",
        session.public_key()
    ));
    let player = player_client(&stage).await?;
    let handle = session.unlock(DEMO_PIN)?;
    let played = play(&stage, &player, &session, &handle, args.calls, &progress).await?;
    ensure!(
        stage.devnet.strk_balance(stage.account.address).await? == user_balance,
        "the user paid gas"
    );
    let info = stage
        .client
        .get_session_data(stage.account.address, session.public_key())
        .await?;
    ensure!(
        info.is_active && info.remaining_calls == max_calls - args.calls,
        "the session reports {info:?}"
    );
    let refusals = refuse(&stage, &player, &session, &handle).await?;
    handle.release();
    let baseline = relayed_baseline(&stage)
        .await
        .context("the relayed baseline")?;
    let report = Report {
        stage: &stage,
        session: &session,
        max_calls,
        info: &info,
        played: &played,
        refusals: &refusals,
        baseline: *baseline.receipt.transaction_hash(),
        baseline_gas: execution_resources(&baseline.receipt).l2_gas,
        wall: started.elapsed(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        report.print();
    }
    Ok(())
}

/// The like-for-like baseline of a relayed session call: the same `record_score` as an
/// outside execution of an OpenZeppelin account (predeployed #6, its owner's signature),
/// relayed by predeployed #7 — one relayer transaction, one outside execution, as the
/// paymaster sends a session call.
async fn relayed_baseline(stage: &Stage) -> Result<TransactionReceiptWithBlockInfo> {
    let devnet = &stage.devnet;
    let oz = &devnet.accounts()[6];
    let now = devnet.block_timestamp().await?;
    let outside = OutsideExecution {
        caller: ANY_CALLER,
        nonce: Felt::from(rand::random::<u64>()),
        execute_after: 0,
        execute_before: now + 600,
        calls: vec![play_call(stage.game, 1)],
    };
    let hash = snip12::outside_execution_hash(&outside, oz.address, devnet.chain_id());
    let signature = SigningKey::from_secret_scalar(oz.private_key).sign(&hash)?;
    let relay = outside.relay_call(oz.address, &[signature.r, signature.s]);
    Ok(devnet.invoke(&devnet.predeployed(7)?, vec![relay]).await?)
}

/// The devnet, a session account for a fresh owner, the game, and the paymaster in process
/// relaying from three predeployed accounts.
async fn set_up(args: &DemoArgs, progress: &Progress) -> Result<Stage> {
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
    let owner = Owner::new(account.address, owner_key);
    Ok(Stage {
        devnet,
        account,
        game,
        _server: server,
        client,
        owner,
    })
}

/// A one-hour game session: plays on the game, small STRK transfers, a call budget.
fn game_spec(game: Felt, max_calls: u32) -> SessionSpec {
    SessionSpec {
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
        limits: Default::default(),
    }
}

/// The game client's view: the same client with a short-lived token from the backend.
async fn player_client(stage: &Stage) -> Result<SessionClient> {
    let token = stage
        .client
        .paymaster()
        .create_client_session("demo-player", &[stage.account.address], None)
        .await?;
    Ok(stage
        .client
        .clone()
        .with_paymaster(stage.client.paymaster().with_auth(token.auth())))
}

/// `record_score(points)` on the game.
fn play_call(game: Felt, points: u64) -> Call {
    Call {
        to: game,
        selector: selector("record_score"),
        calldata: vec![Felt::from(points)],
    }
}

/// `calls` delegated plays, each waited for; the game must count every one.
async fn play(
    stage: &Stage,
    player: &SessionClient,
    session: &Session,
    handle: &SessionHandle,
    calls: u32,
    progress: &Progress,
) -> Result<Played> {
    let mut played = Played {
        hashes: Vec::new(),
        gas: Vec::new(),
    };
    for i in 1..=calls {
        let hash = player
            .execute_and_wait(session, handle, &[play_call(stage.game, u64::from(i))])
            .await
            .with_context(|| format!("delegated call {i}"))?;
        let receipt = stage.devnet.receipt(hash).await?;
        played
            .gas
            .push(execution_resources(&receipt.receipt).l2_gas);
        played.hashes.push(hash);
        handle.renew()?;
        progress.bar(i, calls);
    }
    let plays = stage
        .devnet
        .call(stage.game, selector("get_plays"), vec![])
        .await?;
    ensure!(
        plays == vec![Felt::from(calls)],
        "the game counted {plays:?} plays, expected {calls}"
    );
    Ok(played)
}

/// A denied selector, an overspend, and — after the owner revokes it — the revoked session:
/// each refused before anything is signed or sent.
async fn refuse(
    stage: &Stage,
    player: &SessionClient,
    session: &Session,
    handle: &SessionHandle,
) -> Result<Refusals> {
    let get_plays = Call {
        to: stage.game,
        selector: selector("get_plays"),
        calldata: vec![],
    };
    let denied = expect_refusal(
        player
            .execute_transaction_with_session(session, handle, &[get_plays])
            .await,
        "SESSION_ENTRYPOINT_NOT_ALLOWED",
    )?;
    let transfer = Call {
        to: STRK_ADDRESS,
        selector: selector("transfer"),
        calldata: vec![
            stage.devnet.accounts()[5].address,
            Felt::from(5 * STRK),
            Felt::ZERO,
        ],
    };
    let overspend = expect_refusal(
        player
            .execute_transaction_with_session(session, handle, &[transfer])
            .await,
        "SPENDING_LIMIT_EXCEEDED",
    )?;
    let revoke = stage
        .client
        .revoke_session_key(&stage.owner, session.public_key())
        .await?;
    stage
        .client
        .wait_for_transaction(revoke, &ErrorContext::for_key(session.public_key()))
        .await?;
    let revoked = expect_refusal(
        player
            .execute_transaction_with_session(session, handle, &[play_call(stage.game, 1)])
            .await,
        "SESSION_REVOKED",
    )?;
    let after = stage
        .client
        .get_session_data(stage.account.address, session.public_key())
        .await?;
    ensure!(!after.is_active, "the revoked session still reports active");
    Ok(Refusals {
        denied,
        overspend,
        revoke,
        revoked,
    })
}

/// Everything the demo prints.
struct Report<'a> {
    stage: &'a Stage,
    session: &'a Session,
    max_calls: u32,
    info: &'a SessionInfo,
    played: &'a Played,
    refusals: &'a Refusals,
    baseline: Felt,
    baseline_gas: u64,
    wall: Duration,
}

impl Report<'_> {
    fn median_session_gas(&self) -> u64 {
        let mut sorted = self.played.gas.clone();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }

    fn gas_ratio(&self) -> f64 {
        self.median_session_gas() as f64 / self.baseline_gas.max(1) as f64
    }

    fn json(&self) -> serde_json::Value {
        let hex = |f: &Felt| format!("{f:#x}");
        json!({
            "ok": true,
            "devnet": self.stage.devnet.url().as_str(),
            "chain_id": hex(&self.stage.devnet.chain_id()),
            "account": hex(&self.stage.account.address),
            "game": hex(&self.stage.game),
            "session": {
                "public_key": hex(&self.session.public_key()),
                "valid_until": self.session.valid_until(),
                "max_calls": self.max_calls,
            },
            "calls": self.played.hashes.len(),
            "session_data": {
                "is_active": self.info.is_active,
                "valid_until": self.info.valid_until,
                "remaining_calls": self.info.remaining_calls,
                "allowed_entrypoints": self.info.allowed_entrypoints.iter().map(hex).collect::<Vec<_>>(),
            },
            "refusals": {
                "denied_selector": self.refusals.denied.code(),
                "spending_limit": self.refusals.overspend.code(),
                "revoked": self.refusals.revoked.code(),
            },
            "transactions": {
                "revoke": hex(&self.refusals.revoke),
                "relayed_baseline": hex(&self.baseline),
                "session_calls": self.played.hashes.iter().map(hex).collect::<Vec<_>>(),
            },
            "l2_gas": {
                "session_call_median": self.median_session_gas(),
                "relayed_baseline": self.baseline_gas,
                "ratio": self.gas_ratio(),
            },
            "user_fee_paid_fri": 0,
            "wall_seconds": self.wall.as_secs_f64(),
        })
    }

    fn print(&self) {
        self.print_session_data();
        let r = self.refusals;
        println!();
        println!("refused, before anything was signed or sent");
        println!("  denied selector   {}  {}", r.denied.code(), r.denied);
        println!(
            "  spending limit    {}  {}",
            r.overspend.code(),
            r.overspend
        );
        println!("  after revoke      {}  {}", r.revoked.code(), r.revoked);
        self.print_summary();
    }

    fn print_session_data(&self) {
        let info = self.info;
        println!();
        println!("get_session_data after {} calls", self.played.hashes.len());
        println!("  ┌─────────────────────┬────────────────────────────────────────────────────────────────────┐");
        let row = |k: &str, v: String| println!("  │ {k:<19} │ {v:<66} │");
        row("is_active", info.is_active.to_string());
        row("valid_until", info.valid_until.to_string());
        row(
            "remaining_calls",
            format!("{} of {}", info.remaining_calls, self.max_calls),
        );
        for (i, e) in info.allowed_entrypoints.iter().enumerate() {
            let name = ["record_score", "transfer"]
                .into_iter()
                .find(|n| selector(n) == *e)
                .unwrap_or("?");
            let label = if i == 0 { "allowed_entrypoints" } else { "" };
            let hex = format!("{e:#x}");
            row(label, format!("{name} ({}…)", &hex[..hex.len().min(18)]));
        }
        println!("  └─────────────────────┴────────────────────────────────────────────────────────────────────┘");
    }

    fn print_summary(&self) {
        let hashes = &self.played.hashes;
        println!();
        println!("summary");
        println!("  account           {:#x}", self.stage.account.address);
        println!("  session key       {:#x}", self.session.public_key());
        if let (Some(first), Some(last)) = (hashes.first(), hashes.last()) {
            println!(
                "  session calls     {} (first {first:#x}, last {last:#x})",
                hashes.len()
            );
        }
        println!("  revoke            {:#x}", self.refusals.revoke);
        println!(
            "  L2 gas            {} per session call (median, relayed) vs {} for the same call as an OpenZeppelin account's relayed outside execution = {:.2}x",
            self.median_session_gas(),
            self.baseline_gas,
            self.gas_ratio()
        );
        println!("  user's fee        0 FRI (sponsored by the paymaster)");
        println!("  wall time         {:.1} s", self.wall.as_secs_f64());
    }
}
