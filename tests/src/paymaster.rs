//! A paymaster in front of the fixture's devnet, and a raw JSON-RPC client for it (raw on
//! purpose: the tests speak the wire format that SNIP-29 clients send).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use stark_sessions_abi::typed_data::parse_outside_execution;
use stark_sessions_abi::{constants, snip12, CairoSerde, Felt, OutsideExecution};
use stark_sessions_devnet::Devnet;
use stark_sessions_paymaster::engine::FailPointFuture;
use stark_sessions_paymaster::lifecycle::EXECUTION_STATES;
use stark_sessions_paymaster::store::ExecutionRecord;
use stark_sessions_paymaster::{
    Action, Database, ExecutionState, FailPoints, Paymaster, PaymasterConfig, PaymasterServer,
    RelayerConfig, Step, Store, TxState,
};
use starknet::core::types::Call;
use starknet::signers::SigningKey;

use crate::Fixture;

/// Predeployed accounts the paymaster relays from (0 deploys, 1 relays directly in tests).
pub const RELAYER_INDICES: [usize; 3] = [2, 3, 4];

/// A JSON-RPC error as the client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: i64,
    /// The message.
    pub message: String,
    /// The data, if any.
    pub data: Value,
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials.
    None,
    /// `x-paymaster-api-key`.
    ApiKey(String),
    /// `Authorization: Bearer`.
    Bearer(String),
}

/// A raw SNIP-29 client.
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    url: url::Url,
}

impl RpcClient {
    /// A client of the paymaster at `url`.
    pub fn new(url: url::Url) -> Self {
        RpcClient {
            http: reqwest::Client::new(),
            url,
        }
    }

    /// Posts a whole JSON-RPC body and returns the response body.
    pub async fn raw(&self, body: &Value, auth: &Auth) -> Result<Value> {
        let mut request = self.http.post(self.url.clone()).json(body);
        request = match auth {
            Auth::None => request,
            Auth::ApiKey(k) => request.header("x-paymaster-api-key", k),
            Auth::Bearer(t) => request.bearer_auth(t),
        };
        let response = request.send().await.context("paymaster unreachable")?;
        response.json().await.context("paymaster answered non-JSON")
    }

    /// Calls `method` with by-name `params`.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        auth: &Auth,
    ) -> Result<Result<Value, RpcError>> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = self.raw(&body, auth).await?;
        if let Some(error) = response.get("error") {
            return Ok(Err(RpcError {
                code: error["code"].as_i64().unwrap_or_default(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
                data: error.get("data").cloned().unwrap_or(Value::Null),
            }));
        }
        response
            .get("result")
            .cloned()
            .map(Ok)
            .ok_or_else(|| anyhow!("neither result nor error: {response}"))
    }
}

/// The SNIP-29 wire forms, as the SDK writes them.
pub use stark_sessions_client::paymaster::{sponsored, wire_calls};

/// A running paymaster over a fixture's devnet.
pub struct PaymasterHarness {
    /// The service (for its store and counters).
    pub paymaster: Paymaster,
    /// The HTTP server.
    pub server: PaymasterServer,
    /// A client of it.
    pub client: RpcClient,
    /// An API key with a large budget and rate.
    pub api_key: String,
    /// The relayers' addresses.
    pub relayers: Vec<Felt>,
}

impl PaymasterHarness {
    /// [`Self::config`] for instance `name` of several sharing the PostgreSQL database at
    /// `database`, with leases of `lease_ms`.
    pub fn instance_config(
        fixture: &Fixture,
        database: &stark_sessions_paymaster::store::PostgresUrl,
        name: &str,
        lease_ms: u64,
    ) -> PaymasterConfig {
        let mut config = Self::config(fixture, None);
        config.database = Some(Database::Postgres(database.clone()));
        config.instance_id = Some(name.into());
        config.relayer_lease_ms = lease_ms;
        config
    }

    /// The configuration for `fixture`'s devnet with the three relayers.
    pub fn config(fixture: &Fixture, database: Option<PathBuf>) -> PaymasterConfig {
        let accounts = fixture.devnet.accounts();
        let relayers = RELAYER_INDICES
            .iter()
            .map(|&i| RelayerConfig {
                address: accounts[i].address,
                private_key: accounts[i].private_key,
            })
            .collect();
        let mut config = PaymasterConfig::new(fixture.devnet.url().clone(), relayers);
        config.listen = "127.0.0.1:0".parse().expect("literal address");
        config.database = database.map(Database::Sqlite);
        config
    }

    /// Starts a paymaster with `config` and creates a generous API key.
    pub async fn start(config: PaymasterConfig) -> Result<Self> {
        let listen = config.listen;
        let paymaster = Paymaster::new(config).await?;
        let api_key = paymaster
            .create_api_key("backend", u128::MAX, 100_000, None)?
            .to_string();
        Self::serve(paymaster, listen, api_key).await
    }

    /// Serves an existing paymaster.
    pub async fn serve(
        paymaster: Paymaster,
        listen: std::net::SocketAddr,
        api_key: String,
    ) -> Result<Self> {
        let relayers = paymaster.relayers();
        let server = PaymasterServer::start(paymaster.clone(), listen).await?;
        let client = RpcClient::new(server.url().clone());
        Ok(PaymasterHarness {
            paymaster,
            server,
            client,
            api_key,
            relayers,
        })
    }

    /// The API key as credentials.
    pub fn key(&self) -> Auth {
        Auth::ApiKey(self.api_key.clone())
    }

    /// `paymaster_buildTransaction` of an invoke of `calls` on `user`.
    pub async fn build(
        &self,
        user: Felt,
        calls: &[Call],
        parameters: Value,
        auth: &Auth,
    ) -> Result<Result<Value, RpcError>> {
        self.client
            .call(
                "paymaster_buildTransaction",
                json!({
                    "transaction": { "type": "invoke", "invoke": {
                        "user_address": format!("{user:#x}"), "calls": wire_calls(calls) } },
                    "parameters": parameters,
                }),
                auth,
            )
            .await
    }

    /// `paymaster_executeTransaction` of signed typed data.
    pub async fn execute(
        &self,
        user: Felt,
        typed_data: &Value,
        signature: &[Felt],
        parameters: Value,
        auth: &Auth,
    ) -> Result<Result<Value, RpcError>> {
        self.client
            .call(
                "paymaster_executeTransaction",
                json!({
                    "transaction": { "type": "invoke", "invoke": {
                        "user_address": format!("{user:#x}"),
                        "typed_data": typed_data,
                        "signature": signature.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
                    } },
                    "parameters": parameters,
                }),
                auth,
            )
            .await
    }
}

impl PaymasterHarness {
    /// A session-signed, sponsored execution of `calls` on the fixture's account: build, sign
    /// the returned typed data with the session key, execute.
    pub async fn sponsor(
        &self,
        fixture: &Fixture,
        session: &crate::TestSession,
        calls: &[Call],
        auth: &Auth,
    ) -> Result<Result<Value, RpcError>> {
        let (user, chain) = (fixture.address(), fixture.devnet.chain_id());
        let built = match self.build(user, calls, sponsored(), auth).await? {
            Ok(built) => built,
            Err(e) => return Ok(Err(e)),
        };
        let signature = session_sign_typed(session, &built["typed_data"], user, chain)?;
        self.execute(user, &built["typed_data"], &signature, sponsored(), auth)
            .await
    }
}

impl PaymasterHarness {
    /// [`Self::sponsor`] with the API key, then waits for the receipt; any refusal is an error.
    pub async fn sponsor_and_wait(
        &self,
        fixture: &Fixture,
        session: &crate::TestSession,
        calls: &[Call],
    ) -> Result<Felt> {
        let sent = self
            .sponsor(fixture, session, calls, &self.key())
            .await?
            .map_err(|e| anyhow!("paymaster refused: {e:?}"))?;
        let hash = felt(&sent["transaction_hash"])?;
        fixture.devnet.receipt(hash).await?;
        Ok(hash)
    }
}

/// The outside execution in typed data, read the way a careful client reads it.
pub fn outside_of(typed_data: &Value, chain_id: Felt) -> Result<OutsideExecution> {
    Ok(parse_outside_execution(typed_data, chain_id)?)
}

/// `[r, s]` of `key` over typed data for `account`.
pub fn sign_typed(
    key: &SigningKey,
    typed_data: &Value,
    account: Felt,
    chain_id: Felt,
) -> Result<Vec<Felt>> {
    let outside = outside_of(typed_data, chain_id)?;
    let sig = key.sign(&snip12::outside_execution_hash(&outside, account, chain_id))?;
    Ok(vec![sig.r, sig.s])
}

/// `[session_pubkey, r, s, registration]` over typed data for `account`.
pub fn session_sign_typed(
    session: &crate::TestSession,
    typed_data: &Value,
    account: Felt,
    chain_id: Felt,
) -> Result<Vec<Felt>> {
    let outside = outside_of(typed_data, chain_id)?;
    session.sign(snip12::outside_execution_hash(&outside, account, chain_id))
}

/// A felt from a JSON hex string.
pub fn felt(v: &Value) -> Result<Felt> {
    v.as_str()
        .and_then(|s| Felt::from_hex(s).ok())
        .ok_or_else(|| anyhow!("not a hex felt: {v}"))
}

impl PaymasterHarness {
    /// Starts a paymaster with `config` and engine fail points, and creates a key with this
    /// daily budget.
    pub async fn start_with(
        config: PaymasterConfig,
        fail_points: Arc<dyn FailPoints>,
        budget_fri: u128,
    ) -> Result<Self> {
        let listen = config.listen;
        let store = stark_sessions_paymaster::store::open(config.database.as_ref())?;
        let paymaster = Paymaster::with_fail_points(config, store, fail_points).await?;
        let api_key = paymaster
            .create_api_key("backend", budget_fri, 100_000, None)?
            .to_string();
        Self::serve(paymaster, listen, api_key).await
    }

    /// Stops the engine as a crash would, then the server.
    pub async fn crash(self) {
        self.paymaster.shutdown();
        self.server.stop().await;
    }

    /// Waits until nothing is pending: every execution final, every transaction booked or
    /// dropped, no reservation open. False if that did not happen within `limit`.
    pub async fn settled(&self, limit: Duration) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if pending(self.paymaster.store().as_ref())? == 0 {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until at least `n` executions are in one of `states`. False if that did not
    /// happen within `limit`.
    pub async fn reached(
        &self,
        states: &[ExecutionState],
        n: usize,
        limit: Duration,
    ) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.paymaster.store().executions_in(states)?.len() >= n {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Executions not final, transactions not final and reservations not settled.
pub fn pending(store: &dyn Store) -> Result<usize> {
    let open_executions = store
        .executions_in(&EXECUTION_STATES)?
        .iter()
        .filter(|e| !e.state.is_final())
        .count();
    let open_transactions = store
        .transactions_in(&[
            TxState::Signed,
            TxState::Sent,
            TxState::Included,
            TxState::Reverted,
        ])?
        .len();
    Ok(open_executions + open_transactions + store.ledger(true)?.len())
}

/// What a fail point does when its turn comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Stops the engine task there for good, as a crash would.
    Halt,
    /// Holds it until [`ScriptedFailPoints::release`].
    Hold,
}

/// Hears each fail point that acts: the step, the transaction hash, the executions.
pub type Reached = tokio::sync::mpsc::UnboundedReceiver<(Step, Felt, Vec<Felt>)>;

/// Fail points that act at given occurrences of given steps and report every occurrence
/// they act on.
pub struct ScriptedFailPoints {
    script: Vec<(Step, usize, Turn)>,
    counts: std::sync::Mutex<std::collections::HashMap<Step, usize>>,
    reached: tokio::sync::mpsc::UnboundedSender<(Step, Felt, Vec<Felt>)>,
    release: Arc<tokio::sync::Semaphore>,
}

impl ScriptedFailPoints {
    /// Acts at `(step, occurrence from 0, turn)`; the receiver hears each time one acts.
    pub fn new(script: Vec<(Step, usize, Turn)>) -> (Arc<Self>, Reached) {
        let (reached, heard) = tokio::sync::mpsc::unbounded_channel();
        let points = ScriptedFailPoints {
            script,
            counts: Default::default(),
            reached,
            release: Arc::new(tokio::sync::Semaphore::new(0)),
        };
        (Arc::new(points), heard)
    }

    /// Lets one held step go on.
    pub fn release(&self) {
        self.release.add_permits(1);
    }
}

impl FailPoints for ScriptedFailPoints {
    fn at(&self, step: Step, transaction: Felt, executions: &[Felt]) -> FailPointFuture {
        let occurrence = {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let count = counts.entry(step).or_default();
            *count += 1;
            *count - 1
        };
        let turn = self
            .script
            .iter()
            .find(|(s, n, _)| *s == step && *n == occurrence)
            .map(|(_, _, t)| *t);
        let Some(turn) = turn else {
            return Box::pin(std::future::ready(Action::Continue));
        };
        let _ = self.reached.send((step, transaction, executions.to_vec()));
        let release = self.release.clone();
        Box::pin(async move {
            match turn {
                Turn::Halt => Action::Halt,
                Turn::Hold => {
                    if let Ok(permit) = release.acquire().await {
                        permit.forget();
                    }
                    Action::Continue
                }
            }
        })
    }
}

/// What the chain and the paymaster's books say about a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    /// Executions the paymaster accepted (claimed and not refused before any transaction).
    pub accepted: usize,
    /// Of those, executed by exactly one successful transaction on chain.
    pub landed_once: usize,
    /// Extra successful executions of an accepted execution.
    pub duplicates: usize,
    /// Accepted executions never executed on chain.
    pub lost: usize,
    /// The paymaster's transactions on chain whose fee is not booked exactly (or executions
    /// landed by them without exactly one charge for it), and charges of no such transaction.
    pub unbooked: usize,
    /// Keys charged beyond their daily budget.
    pub overspend: usize,
    /// The paymaster's transactions on chain that reverted.
    pub reverted: usize,
    /// The paymaster's transactions on chain.
    pub transactions: usize,
}

/// One transaction on chain carrying outside executions.
struct Carrier {
    hash: Felt,
    sender: Felt,
    succeeded: bool,
    fee: u128,
    executions: Vec<(Felt, Felt)>,
}

async fn carriers(devnet: &Devnet, first_block: u64) -> Result<Vec<Carrier>> {
    use starknet::core::types::{
        BlockId, ExecutionResult, InvokeTransaction, MaybePreConfirmedBlockWithTxs, Transaction,
        TransactionReceipt,
    };
    use starknet::providers::Provider;
    let provider = devnet.provider();
    let last = provider.block_number().await?;
    let mut found = Vec::new();
    for number in first_block..=last {
        let MaybePreConfirmedBlockWithTxs::Block(block) = provider
            .get_block_with_txs(BlockId::Number(number), None)
            .await?
        else {
            continue;
        };
        for tx in block.transactions {
            let Transaction::Invoke(InvokeTransaction::V3(tx)) = tx else {
                continue;
            };
            let calls =
                Vec::<stark_sessions_abi::Call>::from_felts(&tx.calldata).unwrap_or_default();
            let executions: Vec<(Felt, Felt)> = calls
                .iter()
                .filter(|c| c.selector == constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2)
                .filter_map(|c| {
                    OutsideExecution::cairo_deserialize(&c.calldata, 0)
                        .ok()
                        .map(|(o, _)| (c.to, o.nonce))
                })
                .collect();
            let receipt = provider
                .get_transaction_receipt(tx.transaction_hash)
                .await?;
            let fee = match &receipt.receipt {
                TransactionReceipt::Invoke(r) => u128::try_from(r.actual_fee.amount)?,
                _ => 0,
            };
            let succeeded = matches!(
                receipt.receipt.execution_result(),
                ExecutionResult::Succeeded
            );
            found.push(Carrier {
                hash: tx.transaction_hash,
                sender: tx.sender_address,
                succeeded,
                fee,
                executions,
            });
        }
    }
    Ok(found)
}

/// Audits what happened since `first_block`: every execution the paymaster (`store`, relaying
/// from `relayers`) accepted against the chain, every one of its transactions against its
/// books, and each key's charges against `budgets` (key id, daily budget). `foreign` are
/// transactions a test itself sent from a relayer account.
pub async fn audit(
    devnet: &Devnet,
    store: &dyn Store,
    relayers: &[Felt],
    first_block: u64,
    budgets: &[(&str, u128)],
    foreign: &[Felt],
) -> Result<Audit> {
    let chain = carriers(devnet, first_block).await?;
    let executions: Vec<ExecutionRecord> = store
        .executions_in(&EXECUTION_STATES)?
        .into_iter()
        .filter(|e| e.state != ExecutionState::Failed || e.attempts > 0)
        .collect();
    let ledger = store.ledger(false)?;
    let mut audit = Audit {
        accepted: executions.len(),
        ..Audit::default()
    };
    for e in &executions {
        let key = (e.user_address, e.outside_nonce);
        let landings: Vec<&Carrier> = chain
            .iter()
            .filter(|c| c.succeeded && c.executions.contains(&key))
            .collect();
        match landings.len() {
            0 => audit.lost += 1,
            n => {
                audit.landed_once += usize::from(n == 1);
                audit.duplicates += n - 1;
            }
        }
        // Landed by the paymaster: exactly one charge for that transaction.
        for landing in landings.iter().filter(|c| relayers.contains(&c.sender)) {
            let charges = ledger
                .iter()
                .filter(|l| l.tracking_id == e.id && l.tx_hash == Some(landing.hash))
                .filter(|l| l.charged_fri.is_some())
                .count();
            audit.unbooked += usize::from(charges != 1);
        }
    }
    let ours: Vec<&Carrier> = chain
        .iter()
        .filter(|c| relayers.contains(&c.sender) && !foreign.contains(&c.hash))
        .collect();
    audit.transactions = ours.len();
    audit.reverted = ours.iter().filter(|c| !c.succeeded).count();
    for c in &ours {
        let booked = store
            .transaction(c.hash)?
            .is_some_and(|t| t.state == TxState::Settled && t.actual_fee == Some(c.fee));
        let charged: u128 = ledger
            .iter()
            .filter(|l| l.tx_hash == Some(c.hash))
            .filter_map(|l| l.charged_fri)
            .sum();
        audit.unbooked += usize::from(!booked || charged != c.fee);
    }
    // Charges for transactions that are not on chain.
    audit.unbooked += ledger
        .iter()
        .filter(|l| l.charged_fri.is_some_and(|c| c > 0))
        .filter(|l| !ours.iter().any(|c| Some(c.hash) == l.tx_hash))
        .count();
    for (key, budget) in budgets {
        let mut by_day: std::collections::HashMap<u64, u128> = Default::default();
        for l in ledger.iter().filter(|l| l.api_key_id == *key) {
            *by_day.entry(l.day).or_default() += l.charged_fri.unwrap_or(l.reserved_fri);
        }
        audit.overspend += by_day.values().filter(|spent| **spent > *budget).count();
        for (day, spent) in &by_day {
            // The running total the budget checks against is the ledger's.
            audit.unbooked += usize::from(store.spent_on(key, *day)? != *spent);
        }
    }
    Ok(audit)
}
