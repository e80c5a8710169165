//! Paymaster: sponsored executions (build, typed-data check, session signature, execute,
//! receipt) against (w) a wallet's direct invoke of the same call as wallets send it (fee
//! estimate, sign, send, receipt: starknet-rs's default `execute_v3(…).send()`), both measured
//! at every client count in the same run, with the owner's invoke with explicit bounds (one
//! node execution) as a reference and `buildTransaction` alone. Every node request of the
//! paymaster and of the wallets goes through a counting proxy: node executions (simulations,
//! estimates, sends) per operation are counted at the node.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use stark_sessions_devnet::DevnetAccount;
use stark_sessions_tests::fault_proxy::FaultProxy;
use stark_sessions_tests::paymaster::{
    outside_of, session_sign_typed, sponsored, PaymasterHarness,
};
use stark_sessions_tests::{sel, Fixture, TestSession, HUNDRED_STRK};
use starknet::accounts::{Account, ConnectedAccount, ExecutionEncoding, SingleOwnerAccount};
use starknet::core::types::{BlockId, BlockTag, Felt};
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::JsonRpcClient;
use starknet::signers::{LocalWallet, SigningKey};

use crate::report::{Row, Sample, Section};

/// Goals of issue 21, against (w): sponsored over wallet executions per second at 8 and 32
/// clients, sponsored p99 over wallet p99 at one client, and node executions per sponsored
/// execution at one client (a wallet's own count).
const GOAL_RATIO_8: f64 = 1.0;
const GOAL_RATIO_32: f64 = 1.3;
const GOAL_P99_1: f64 = 1.5;
const GOAL_NODE_EXECUTIONS_1: f64 = 2.0;
/// How long the counting proxy in front of the devnet serves.
const PROXY_LIFETIME: Duration = Duration::from_secs(3 * 3600);

/// Runs `op(client, i)` for `i` in `0..n` from `clients` workers (client `c` is always the same
/// worker, so it may own an account or a session); records each latency.
pub(crate) async fn measure<F, Fut>(name: String, n: usize, clients: usize, op: F) -> Result<Sample>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for client in 0..clients {
        let (op, next) = (op.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t = Instant::now();
                op(client, i).await?;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.context("worker")??);
    }
    Ok(Sample {
        name,
        latencies,
        wall: started.elapsed(),
    })
}

pub(crate) fn clients_label(n: usize) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

fn goal(name: &str, measured: f64, bound: f64, at_least: bool) -> String {
    let met = if at_least {
        measured >= bound
    } else {
        measured <= bound
    };
    let verdict = if met { "met" } else { "not met" };
    let sign = if at_least { ">=" } else { "<=" };
    format!("Goal {name} {sign} {bound:.1}: {measured:.2} — {verdict}.")
}

/// Everything both sides need: the paymaster and sessions for the sponsored side, one funded
/// account per client for the wallet side, and the counting proxy both reach the node through.
struct Setup {
    fixture: Arc<Fixture>,
    node: Arc<FaultProxy>,
    pm: Arc<PaymasterHarness>,
    sessions: Arc<Vec<TestSession>>,
    wallets: Arc<Vec<DevnetAccount>>,
}

/// A sample and the node executions it caused, per operation.
struct Counted {
    sample: Sample,
    node_executions: f64,
}

/// The account at `address` signed by `key`, reaching the node through `node`.
fn wallet(fixture: &Fixture, node: &FaultProxy, address: Felt, key: SigningKey) -> DevnetAccount {
    let provider = Arc::new(JsonRpcClient::new(HttpTransport::new(node.url().clone())));
    let mut account = SingleOwnerAccount::new(
        provider,
        LocalWallet::from_signing_key(key),
        address,
        fixture.devnet.chain_id(),
        ExecutionEncoding::New,
    );
    account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
    account
}

async fn setup(requests: usize, clients: usize, levels: usize) -> Result<Setup> {
    let fixture = Arc::new(Fixture::new(0xbe7c).await?);
    let node = Arc::new(FaultProxy::start(fixture.devnet.url(), PROXY_LIFETIME).await?);
    let mut config = PaymasterHarness::config(&fixture, None);
    config.rpc_url = node.url().clone().into();
    let pm = Arc::new(PaymasterHarness::start(config).await?);
    let now = fixture.devnet.block_timestamp().await?;
    let calls = u32::try_from(requests * levels + 100).context("requests")?;
    let sessions: Vec<TestSession> = (0..clients as u64)
        .map(|i| TestSession::from_secret(9000 + i, now + 24 * 3600))
        .collect();
    let registers = sessions
        .iter()
        .map(|s| fixture.register_call(s, calls, &[sel("record_score")]))
        .collect();
    fixture.owner_execute(registers).await?.receipt()?;
    let mut wallets = Vec::new();
    for i in 0..clients as u64 {
        let owner = SigningKey::from_secret_scalar(Felt::from(0x0b0b_0000 + i));
        let deployed = fixture
            .devnet
            .deploy_session_account_udc(owner.clone(), Felt::from(0xd1_0000 + i), HUNDRED_STRK)
            .await?;
        wallets.push(wallet(&fixture, &node, deployed.address, owner));
    }
    Ok(Setup {
        fixture,
        node,
        pm,
        sessions: Arc::new(sessions),
        wallets: Arc::new(wallets),
    })
}

impl Setup {
    /// Runs `op` as [`measure`] does and counts the node executions it caused.
    async fn counted<F, Fut>(
        &self,
        name: String,
        n: usize,
        clients: usize,
        op: F,
    ) -> Result<Counted>
    where
        F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send,
    {
        let before = self.node.node_executions();
        let sample = measure(name, n, clients, op).await?;
        let node_executions = (self.node.node_executions() - before) as f64 / n as f64;
        Ok(Counted {
            sample,
            node_executions,
        })
    }

    /// (w): client `c`'s wallet sends the play as wallets do — fee estimate, sign, send — and
    /// waits for the receipt.
    async fn wallet(&self, requests: usize, clients: usize) -> Result<Counted> {
        let (fixture, wallets) = (self.fixture.clone(), self.wallets.clone());
        let name = format!(
            "(w) wallet invoke: estimate, send, receipt ({})",
            clients_label(clients)
        );
        self.counted(name, requests, clients, move |c, _| {
            let (fixture, wallets) = (fixture.clone(), wallets.clone());
            async move {
                let sent = wallets[c].execute_v3(vec![fixture.play(1)]).send().await?;
                fixture.devnet.receipt(sent.transaction_hash).await?;
                Ok(())
            }
        })
        .await
    }

    /// Reference: client `c`'s owner sends the play with explicit bounds (no estimate) and
    /// waits for the receipt.
    async fn explicit(&self, requests: usize, clients: usize) -> Result<Sample> {
        let (fixture, wallets) = (self.fixture.clone(), self.wallets.clone());
        let name = format!(
            "owner invoke, explicit bounds, receipt ({})",
            clients_label(clients)
        );
        measure(name, requests, clients, move |c, _| {
            let (fixture, wallets) = (fixture.clone(), wallets.clone());
            async move {
                fixture
                    .send(&wallets[c], vec![fixture.play(1)])
                    .await?
                    .receipt()?;
                Ok(())
            }
        })
        .await
    }

    /// Sponsored: client `c` plays with its own session, through the paymaster, to the receipt.
    async fn sponsored(&self, requests: usize, clients: usize) -> Result<Counted> {
        let (fixture, pm, sessions) =
            (self.fixture.clone(), self.pm.clone(), self.sessions.clone());
        let name = format!("sponsored execution, receipt ({})", clients_label(clients));
        self.counted(name, requests, clients, move |c, _| {
            let (fixture, pm, sessions) = (fixture.clone(), pm.clone(), sessions.clone());
            async move {
                pm.sponsor_and_wait(&fixture, &sessions[c], &[fixture.play(1)])
                    .await?;
                Ok(())
            }
        })
        .await
    }

    async fn build(&self, requests: usize, clients: usize) -> Result<Counted> {
        let (pm, user, play) = (
            self.pm.clone(),
            self.fixture.address(),
            self.fixture.play(1),
        );
        let name = format!("buildTransaction ({})", clients_label(clients));
        self.counted(name, requests, clients, move |_, _| {
            let (pm, play) = (pm.clone(), play.clone());
            async move {
                pm.build(user, &[play], sponsored(), &pm.key())
                    .await?
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                Ok(())
            }
        })
        .await
    }

    /// One of each kind per client for the first three: accounts, sessions and the
    /// paymaster's estimate of the play's shape are warm before anything is measured.
    async fn warm_up(&self) -> Result<()> {
        for c in 0..3.min(self.wallets.len()) {
            let sent = self.wallets[c]
                .execute_v3(vec![self.fixture.play(1)])
                .send()
                .await?;
            self.fixture.devnet.receipt(sent.transaction_hash).await?;
            self.pm
                .sponsor_and_wait(&self.fixture, &self.sessions[c], &[self.fixture.play(1)])
                .await?;
        }
        Ok(())
    }
}

/// Where the devnet's time goes: a relayer transaction carrying `n` sponsored executions, its
/// fee estimate (the engine's simulation) and its send, per execution (median of 5). Sent from
/// a predeployed account the paymaster does not use.
async fn relay_cost(s: &Setup, n: usize) -> Result<Row> {
    let (user, chain) = (s.fixture.address(), s.fixture.devnet.chain_id());
    let relayer = s.fixture.devnet.predeployed(5)?;
    let (mut estimates, mut sends) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let mut calls = Vec::with_capacity(n);
        for _ in 0..n {
            let built =
                s.pm.build(user, &[s.fixture.play(1)], sponsored(), &s.pm.key())
                    .await?
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let signature = session_sign_typed(&s.sessions[0], &built["typed_data"], user, chain)?;
            let outside = outside_of(&built["typed_data"], chain)?;
            calls.push(s.fixture.relay_call(&outside, signature));
        }
        let nonce = relayer.get_nonce().await?;
        let t = Instant::now();
        let estimate = relayer
            .execute_v3(calls.clone())
            .nonce(nonce)
            .estimate_fee()
            .await?;
        estimates.push(t.elapsed());
        let t = Instant::now();
        let sent = relayer
            .execute_v3(calls)
            .nonce(nonce)
            .l1_gas(estimate.l1_gas_consumed * 2)
            .l1_gas_price(estimate.l1_gas_price * 2)
            .l2_gas(estimate.l2_gas_consumed * 2)
            .l2_gas_price(estimate.l2_gas_price * 2)
            .l1_data_gas(estimate.l1_data_gas_consumed * 2)
            .l1_data_gas_price(estimate.l1_data_gas_price * 2)
            .tip(0)
            .send()
            .await?;
        sends.push(t.elapsed());
        s.fixture.devnet.receipt(sent.transaction_hash).await?;
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3 / n as f64
    };
    let (estimate, send) = (median(&mut estimates), median(&mut sends));
    Ok(Row {
        name: format!("devnet time per execution, relayer transaction of {n}"),
        cells: vec![
            ("fee estimate ms", format!("{estimate:.2}")),
            ("send ms", format!("{send:.2}")),
        ],
        ratio: None,
        data: json!({ "executions": n, "estimate_ms_per_execution": estimate, "send_ms_per_execution": send }),
    })
}

/// A row with its node executions per operation.
fn with_node_executions(counted: &Counted, baseline: Option<&Sample>) -> Row {
    let mut row = counted.sample.row(baseline);
    row.cells
        .push(("node exec/op", format!("{:.2}", counted.node_executions)));
    if let Value::Object(data) = &mut row.data {
        data.insert(
            "node_executions_per_operation".into(),
            json!(counted.node_executions),
        );
    }
    row
}

/// A sponsored row, with its throughput against the wallet row at the same count.
fn compared(sponsored: &Counted, wallet: &Sample) -> (Row, f64) {
    let ratio = sponsored.sample.per_second() / wallet.per_second();
    let mut row = with_node_executions(sponsored, Some(wallet));
    row.cells.push(("vs (w) req/s", format!("{ratio:.2}x")));
    if let Value::Object(data) = &mut row.data {
        data.insert("ratio_per_second_to_wallet".into(), json!(ratio));
    }
    (row, ratio)
}

/// What one client count measured, for the summary.
struct Level {
    clients: usize,
    ratio: f64,
    p99_ratio: f64,
    node_executions: f64,
    wallet_node_executions: f64,
}

/// The four rows at `n` clients.
async fn level(s: &Setup, requests: usize, n: usize, rows: &mut Vec<Row>) -> Result<Level> {
    let wallet = s.wallet(requests, n).await?;
    let explicit = s.explicit(requests, n).await?;
    let sponsored = s.sponsored(requests, n).await?;
    let build = s.build(requests, n).await?;
    let (row, ratio) = compared(&sponsored, &wallet.sample);
    rows.push(with_node_executions(&wallet, None));
    rows.push(explicit.row(Some(&wallet.sample)));
    rows.push(row);
    rows.push(with_node_executions(&build, Some(&wallet.sample)));
    let secs = |d: Duration| d.as_secs_f64();
    Ok(Level {
        clients: n,
        ratio,
        p99_ratio: secs(sponsored.sample.percentile(99.0)) / secs(wallet.sample.percentile(99.0)),
        node_executions: sponsored.node_executions,
        wallet_node_executions: wallet.node_executions,
    })
}

/// The goals' notes and the summary's figures.
fn judged(levels: &[Level]) -> (Vec<String>, Vec<(&'static str, Value)>) {
    let at = |n: usize| levels.iter().find(|l| l.clients == n);
    let (mut notes, mut summary) = (Vec::new(), Vec::new());
    for (n, bound, key) in [
        (8, GOAL_RATIO_8, "sponsored_per_s_ratio_8"),
        (32, GOAL_RATIO_32, "sponsored_per_s_ratio_32"),
    ] {
        if let Some(l) = at(n) {
            let name = format!("sponsored / (w) executions per second at {n} clients");
            notes.push(goal(&name, l.ratio, bound, true));
            summary.push((key, json!(l.ratio)));
        }
    }
    if let Some(l) = at(1) {
        let name = "sponsored p99 / (w) p99 at 1 client";
        notes.push(goal(name, l.p99_ratio, GOAL_P99_1, false));
        summary.push(("p99_ratio_1", json!(l.p99_ratio)));
        let name = "node executions per sponsored execution at 1 client";
        notes.push(goal(name, l.node_executions, GOAL_NODE_EXECUTIONS_1, false));
        summary.push(("node_executions_per_sponsored", json!(l.node_executions)));
        summary.push((
            "node_executions_per_wallet_invoke",
            json!(l.wallet_node_executions),
        ));
    }
    for (n, key) in [
        (8, "node_executions_per_sponsored_8"),
        (32, "node_executions_per_sponsored_32"),
    ] {
        if let Some(l) = at(n) {
            summary.push((key, json!(l.node_executions)));
        }
    }
    (notes, summary)
}

/// Measures at each of `concurrencies`, `requests` operations per row.
pub async fn run(requests: usize, concurrencies: &[usize]) -> Result<Section> {
    let clients = concurrencies.iter().copied().max().unwrap_or(1);
    let s = setup(requests, clients, concurrencies.len() + 1).await?;
    s.warm_up().await?;
    let mut rows = Vec::new();
    let mut levels = Vec::new();
    for &n in concurrencies {
        levels.push(level(&s, requests, n, &mut rows).await?);
    }
    for n in [1, 16] {
        rows.push(relay_cost(&s, n).await?);
    }
    let (mut notes, summary) = judged(&levels);
    for note in &notes {
        println!("{note}");
    }
    let metrics = s.pm.paymaster.metrics();
    let (sent, executions) = (
        metrics.sent.load(Ordering::Relaxed),
        metrics.executions_sent.load(Ordering::Relaxed),
    );
    notes.push(format!(
        "{requests} operations per row after a warm-up; at every client count the rows are \
         measured one after the other on the same devnet, each client with its own account \
         (wallet, explicit bounds) or session (sponsored). (w) is a wallet's direct invoke as \
         wallets send it: starknet-rs's `execute_v3(…).send()` (fee estimate, sign, send) + \
         receipt. A sponsored execution is buildTransaction + typed-data check + session \
         signature + executeTransaction + receipt. The explicit-bounds row (the owner's signed \
         INVOKE without an estimate, one node execution) is a reference. `node exec/op` counts \
         simulations, fee estimates and sends at the node (a counting proxy in front of the \
         devnet's RPC, which the paymaster and the wallets go through): a wallet estimates and \
         sends; the paymaster quotes buildTransaction from a remembered estimate of the call's \
         shape and simulates the relayer transaction before sending it, so a bundle costs one \
         estimate and one send however many executions it carries. The paymaster sent \
         {executions} executions in {sent} relayer transactions (3 relayers, bundles of up to 16)."
    ));
    Ok(Section {
        title: "Paymaster (embedded devnet, 3 relayers)".into(),
        baseline: "(w): a wallet's direct invoke of the same call (estimate, send, receipt) to the same devnet, at the same client count (ratio of p50 latency; `vs (w) req/s` compares throughput)".into(),
        rows,
        summary,
        notes,
    })
}
