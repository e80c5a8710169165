//! The submission engine: every sponsored execution goes through it.
//!
//! In the manner of an ERC-4337 bundler it keeps apart
//! - the **queue** (`engine/queue.rs`): executions waiting for a relayer;
//! - the **proposer** (`engine/proposer.rs`): chooses and simulates what goes into a transaction,
//!   dropping executions that would fail, each with its own error;
//! - one **sender** per relayer (`engine/sender.rs`): owns the relayer's nonce; reserves budget, signs,
//!   stores the hash, sends, and settles doubt about a send by asking the node. An execution it
//!   takes and can neither send nor refuse counts a try (stored); after [`MAX_TRIES`] it is
//!   refused (178), so that nothing is tried forever, and a batch-mate's trouble never holds
//!   the others;
//! - the **tracker** (`engine/tracker.rs`): follows every sent transaction to its receipt (books the
//!   fee through [`crate::settlement`]), sends the same bytes again while the node has lost
//!   them and their nonce is free, and queues the executions of a transaction that can no
//!   longer be included;
//! - **leases** (`engine/leases.rs`): instances sharing a database use each relayer one at a
//!   time, under a lease they renew; a relayer taken over is recovered first;
//! - **recovery** (`engine/recovery.rs`): walks every state that is not final — at start, and
//!   for what an instance that stopped left behind.
//!
//! Its life cycle is [`crate::lifecycle`]; fail points ([`failpoint`]) let tests stop it at
//! each step. Its parts see the chain through `chain_view::ChainView` and the database
//! through [`Store`], so that each is tested against a scripted chain as well as a node.

pub(crate) mod chain_view;
mod delivery;
pub mod failpoint;
mod leases;
mod proposer;
pub(crate) mod queue;
mod recovery;
#[cfg(test)]
mod scripted;
mod sender;
mod tracker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stark_sessions_abi::Felt;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

pub use failpoint::{Action, FailPointFuture, FailPoints, NoFailPoints, Step};
pub use recovery::RecoveryReport;

use crate::clock::{now_ms, unix_now};
use crate::config::PaymasterConfig;
use crate::error::PaymasterError;
use crate::lifecycle::ExecutionState;
use crate::metrics::Metrics;
use crate::relayer::Relayer;
use crate::store::Database;
use crate::store::Store;
use chain_view::{ChainView, RpcChain};
use leases::{Holdings, LeaseFlag};
use queue::{Job, Queue};

type HashResult = Result<Felt, PaymasterError>;

/// Times the engine takes an execution and can neither send nor refuse it (a relayer nonce
/// that moved, the node's trouble with it, a relayer transaction the node refused) before it
/// refuses it with [`PaymasterError::AttemptsExhausted`].
pub const MAX_TRIES: u32 = 16;

/// How often a request for an execution claimed before asks the store whether it was sent.
const POLL_STORE: Duration = Duration::from_millis(250);

/// Requests waiting for their execution's transaction hash.
#[derive(Default)]
struct Waiters {
    map: Mutex<HashMap<Felt, Vec<oneshot::Sender<HashResult>>>>,
    /// Set at shutdown: nobody will answer any more.
    closed: std::sync::atomic::AtomicBool,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Felt, Vec<oneshot::Sender<HashResult>>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn subscribe(&self, id: Felt) -> oneshot::Receiver<HashResult> {
        let (tx, rx) = oneshot::channel();
        let mut map = self.lock();
        // Dropping the sender at once tells a request that came after shutdown.
        if !self.closed.load(std::sync::atomic::Ordering::Acquire) {
            map.entry(id).or_default().push(tx);
        }
        rx
    }

    fn resolve(&self, id: Felt, result: &HashResult) {
        for waiter in self.lock().remove(&id).unwrap_or_default() {
            let _ = waiter.send(result.clone());
        }
    }

    fn close(&self) {
        let mut map = self.lock();
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        map.clear();
    }
}

/// What every part of the engine shares.
pub(crate) struct Core {
    pub config: PaymasterConfig,
    pub chain: Arc<dyn ChainView>,
    pub store: Arc<dyn Store>,
    pub relayers: Vec<Arc<Relayer>>,
    pub metrics: Arc<Metrics>,
    pub hooks: Arc<dyn FailPoints>,
    /// This instance's name among those sharing the database.
    pub instance: String,
    /// Whether this instance holds each relayer's lease (by index in `relayers`).
    leases: Vec<Arc<LeaseFlag>>,
    queue: Queue,
    waiters: Waiters,
    tasks: Mutex<JoinSet<()>>,
}

impl Core {
    /// Runs `task` until it ends or the engine stops (nothing starts after a shutdown).
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if self
            .waiters
            .closed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return;
        }
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    /// Queues stored executions again (after a dropped transaction or a reverted bundle),
    /// held by this instance from now on.
    pub fn requeue(&self, ids: &[Felt]) -> Result<(), PaymasterError> {
        for id in ids {
            if !self.store.own_queued(*id, &self.instance)? {
                continue;
            }
            if let Some(record) = self.store.execution(*id)? {
                self.queue.push(Job::from_record(&record)?);
            }
        }
        Ok(())
    }

    /// Tells the requests waiting for these executions.
    fn resolve(&self, ids: &[Felt], result: &HashResult) {
        for id in ids {
            self.waiters.resolve(*id, result);
        }
    }

    /// Refuses an execution that was never sent: `failed`, its reservation released, its
    /// waiting requests told why.
    fn refuse(&self, id: Felt, error: PaymasterError) {
        tracing::info!(tracking_id = %format_args!("{id:#x}"), code = error.code(), %error, "refused");
        if let Err(e) = self
            .store
            .fail_execution(id, &error.to_string(), unix_now())
        {
            tracing::error!(error = %e, "could not record a refusal");
        }
        self.waiters.resolve(id, &Err(error));
    }

    /// Counts a try for each of these `queued` executions (taken, and neither sent nor
    /// refused, because of `why`); refuses those that used their [`MAX_TRIES`]. Returns the
    /// others, in order — all of them if the store cannot count (the caller pauses), none that
    /// is no longer queued.
    fn count_tries(&self, ids: &[Felt], why: &PaymasterError) -> Vec<Felt> {
        let counted = match self.store.count_tries(ids) {
            Ok(counted) => counted,
            Err(e) => {
                tracing::warn!(error = %e, "could not count tries");
                return ids.to_vec();
            }
        };
        let mut kept = Vec::with_capacity(counted.len());
        for (id, tries) in counted {
            if tries >= MAX_TRIES {
                self.refuse(
                    id,
                    PaymasterError::AttemptsExhausted(format!(
                        "tried {tries} times without sending it; last: {why}"
                    )),
                );
            } else {
                kept.push(id);
            }
        }
        kept
    }
}

/// The engine: its tasks stop when it is dropped or shut down.
pub(crate) struct Engine {
    core: Arc<Core>,
}

impl Engine {
    pub fn new(
        config: PaymasterConfig,
        provider: stark_sessions_rpc::Node,
        chain_id: Felt,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        hooks: Arc<dyn FailPoints>,
    ) -> Self {
        let relayers: Vec<_> = config
            .relayers
            .iter()
            .map(|r| Arc::new(Relayer::new(provider.clone(), chain_id, r)))
            .collect();
        let chain = Arc::new(RpcChain::new(provider));
        Self::on_chain(config, chain, relayers, store, metrics, hooks)
    }

    /// The engine with these relayers, seeing the chain through `chain`.
    fn on_chain(
        config: PaymasterConfig,
        chain: Arc<dyn ChainView>,
        relayers: Vec<Arc<Relayer>>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        hooks: Arc<dyn FailPoints>,
    ) -> Self {
        let instance = instance_name(&config);
        Engine {
            core: Arc::new(Core {
                leases: relayers.iter().map(|_| Arc::default()).collect(),
                config,
                chain,
                store,
                relayers,
                metrics,
                hooks,
                instance,
                queue: Queue::default(),
                waiters: Waiters::default(),
                tasks: Mutex::new(JoinSet::new()),
            }),
        }
    }

    /// The relayers.
    pub fn relayers(&self) -> &[Arc<Relayer>] {
        &self.core.relayers
    }

    /// Executions waiting for a relayer.
    pub fn queue_len(&self) -> usize {
        self.core.queue.len()
    }

    /// This instance's name among those sharing the database.
    pub fn instance(&self) -> &str {
        &self.core.instance
    }

    /// Adopts the waiting executions a previous run (or a stopped instance) left, takes this
    /// instance's share of the relayer leases — recovering those relayers' unfinished
    /// transactions first — then starts the lease keeper and one sender per relayer (each
    /// sends only while its lease is held).
    pub async fn start(&self) -> Result<RecoveryReport, PaymasterError> {
        let core = &self.core;
        // Alive before adopting: no other instance adopts what this one takes.
        core.store
            .heartbeat(&core.instance, now_ms(), core.config.relayer_lease_ms)?;
        let mut report = RecoveryReport {
            requeued: recovery::adopt(core, true)?,
            ..RecoveryReport::default()
        };
        let mut holdings = Holdings::new(core.relayers.len());
        report.add(leases::tick(core, &mut holdings).await?);
        report.log();
        core.spawn(leases::keep(core.clone(), holdings));
        for (relayer, lease) in core.relayers.iter().zip(&core.leases) {
            let sender = sender::Sender::new(core.clone(), relayer.clone(), lease.clone());
            core.spawn(sender.run());
        }
        Ok(report)
    }

    /// Stops as [`Engine::shutdown`], then gives up this instance's leases and liveness, so
    /// that other instances take over its relayers and waiting executions at once.
    pub fn close(&self) -> Result<(), PaymasterError> {
        self.shutdown();
        self.core.store.end_instance(&self.core.instance)
    }

    /// Queues an `accepted` execution (stored `queued` first) and waits (at most `timeout`)
    /// for the hash of the transaction that carries it to reach the node; its refusal, with
    /// its own error, if it is refused.
    pub async fn submit(&self, id: Felt, timeout: Duration) -> HashResult {
        // Listening before queueing: a refusal cannot come before anyone hears it.
        let answer = self.core.waiters.subscribe(id);
        self.core
            .store
            .mark_queued(id, &self.core.instance, unix_now())?;
        let record = self
            .core
            .store
            .execution(id)?
            .ok_or_else(|| PaymasterError::Unknown("storage: the execution vanished".into()))?;
        self.core.queue.push(Job::from_record(&record)?);
        Self::answer(id, answer, timeout).await
    }

    /// Waits (at most `timeout`) for the hash of the transaction that carries the existing
    /// execution `id` to reach the node. The store is asked again every [`POLL_STORE`]:
    /// another instance sharing the database may be the one that sends it.
    pub async fn wait_for_hash(&self, id: Felt, timeout: Duration) -> HashResult {
        let mut answer = self.core.waiters.subscribe(id);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(result) = self.stored_hash(id)? {
                return result;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Self::not_yet(id));
            }
            match tokio::time::timeout(left.min(POLL_STORE), &mut answer).await {
                Ok(Ok(result)) => return result,
                Ok(Err(_)) => return Err(Self::stopping(id)),
                Err(_) => {}
            }
        }
    }

    /// What the store says of an existing execution: its hash once sent, its refusal; `None`
    /// while it waits.
    fn stored_hash(&self, id: Felt) -> Result<Option<HashResult>, PaymasterError> {
        let Some(record) = self.core.store.execution(id)? else {
            return Ok(None);
        };
        Ok(match (record.state, record.latest_hash) {
            (ExecutionState::Failed, _) => Some(Err(PaymasterError::Unknown(
                record.error.unwrap_or_default(),
            ))),
            (ExecutionState::Accepted | ExecutionState::Queued, _) | (_, None) => None,
            (_, Some(hash)) => Some(Ok(hash)),
        })
    }

    fn stopping(id: Felt) -> PaymasterError {
        PaymasterError::Unknown(format!(
            "the paymaster is stopping; tracking id {id:#x} will be sent after it restarts"
        ))
    }

    fn not_yet(id: Felt) -> PaymasterError {
        PaymasterError::Unknown(format!(
            "tracking id {id:#x} is queued but the node has not taken it yet; \
             send the same request again to get its transaction hash"
        ))
    }

    async fn answer(
        id: Felt,
        answer: oneshot::Receiver<HashResult>,
        timeout: Duration,
    ) -> HashResult {
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Self::stopping(id)),
            Err(_) => Err(Self::not_yet(id)),
        }
    }

    /// Stops every task, as a crash would; waiting requests are told.
    pub fn shutdown(&self) {
        let mut tasks = self.core.tasks.lock().unwrap_or_else(|p| p.into_inner());
        self.core.waiters.close();
        tasks.abort_all();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The configured instance name, else: `local` for SQLite or memory (one instance; started
/// again, it takes back what it held at once), a random one for PostgreSQL (started again, it
/// takes over once its former self's leases expired).
fn instance_name(config: &PaymasterConfig) -> String {
    if let Some(name) = &config.instance_id {
        return name.clone();
    }
    match config.database {
        Some(Database::Postgres(_)) => {
            format!("pm-{}-{:08x}", std::process::id(), rand::random::<u32>())
        }
        _ => "local".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_local_with_sqlite_and_distinct_with_postgres() {
        let url: url::Url = "http://127.0.0.1:9/rpc".parse().expect("url");
        let mut config = PaymasterConfig::new(url, Vec::new());
        assert_eq!(instance_name(&config), "local");
        config.database = Some("postgres://pm@db/pm".parse().expect("url"));
        let (a, b) = (instance_name(&config), instance_name(&config));
        assert!(a.starts_with("pm-") && a != b, "{a} {b}");
        config.instance_id = Some("eu-1".into());
        assert_eq!(instance_name(&config), "eu-1");
    }
}
