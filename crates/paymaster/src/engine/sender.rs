//! One sender per relayer: the only task that signs with the relayer, so its nonce needs no
//! lock. For each batch it takes from the queue: simulate (the proposer), keep within the fee
//! cap, check default-mode fee transfers, reserve each execution's share of the maximum fee,
//! sign, store the hash, send, and hand the transaction to the tracker.
//!
//! A round either sends, or refuses executions (each with its own error; the others go on), or
//! meets trouble that names nobody. Then each execution in it counts a try (stored, so a
//! restart does not start the count again) and goes back to the queue:
//! - the relayer's nonce moved (read again from the node): at once, at the new nonce;
//! - the node answers, but not for these executions, or refuses their signed transaction:
//!   each alone, behind what waits, so that one execution's trouble holds nobody else;
//! - the node (or the store) does not answer at all: at the front, the sender pausing twice as
//!   long each time, up to [`LONGEST_PAUSE`].
//!
//! After [`MAX_TRIES`](super::MAX_TRIES) an execution is refused (178) and its reservation
//! released. A transaction signed again for the same executions at the same nonce (the node
//! refused the first outright) allows one more unit of L2 gas per earlier attempt, so that its
//! hash is new and the store takes it.

use std::sync::Arc;
use std::time::Duration;

use stark_sessions_abi::Felt;
use starknet::accounts::Account;
use starknet::core::types::BroadcastedInvokeTransaction;

use super::delivery::{deliver, Delivery};
use super::failpoint::{pass, Step};
use super::leases::LeaseFlag;
use super::proposer::{flatten, propose, Proposal, ProposeError};
use super::queue::Job;
use super::{tracker, Core};
use crate::clock::unix_now;
use crate::error::PaymasterError;
use crate::lifecycle::TxState;
use crate::node_error::NodeError;
use crate::relayer::Relayer;
use crate::store::{TxItem, TxRecord};

// The fee cap, default mode's fee transfers and budgets: checked before signing.
mod admission;

/// Proposals for one batch before what is left goes back to the queue.
const MAX_ROUNDS: usize = 8;
/// Pause of a sender after trouble.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause while the node does not answer.
const LONGEST_PAUSE: Duration = Duration::from_secs(8);

/// What a round of proposing left to do.
enum Round {
    /// Everything was sent or refused.
    Done,
    /// Propose again for these.
    Again(Vec<Job>),
    /// Nothing was sent for these because of `why`; `node_down`: the node (or the store) does
    /// not answer at all.
    Trouble {
        jobs: Vec<Job>,
        why: PaymasterError,
        node_down: bool,
    },
    /// The relayer's lease went: back to the front, as they are.
    Yield(Vec<Job>),
}

/// A signed transaction and its record.
struct Signed {
    record: TxRecord,
    request: BroadcastedInvokeTransaction,
}

pub(crate) struct Sender {
    core: Arc<Core>,
    relayer: Arc<Relayer>,
    /// Whether this instance may send with the relayer now.
    lease: Arc<LeaseFlag>,
    /// The relayer's next nonce; `None`: ask the node.
    nonce: Option<Felt>,
    /// Rounds in a row the node (or the store) did not answer.
    outage: u32,
}

fn ids(jobs: &[Job]) -> Vec<Felt> {
    jobs.iter().map(|j| j.id).collect()
}

/// The pause after the `n`th round in a row without an answer.
fn outage_pause(n: u32) -> Duration {
    FIRST_PAUSE
        .saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(LONGEST_PAUSE)
}

/// The proposal for these jobs: one more unit of L2 gas allowed per earlier attempt of the
/// most tried of them, so that signing them again at the same nonce and prices gives a new
/// transaction hash.
fn for_retry(p: Proposal, jobs: &[Job]) -> Proposal {
    let earlier = jobs.iter().map(|j| j.attempt).max().unwrap_or(1);
    Proposal {
        quote: p
            .quote
            .with_extra_l2_gas(u64::from(earlier.saturating_sub(1))),
    }
}

impl Sender {
    pub fn new(core: Arc<Core>, relayer: Arc<Relayer>, lease: Arc<LeaseFlag>) -> Self {
        Sender {
            core,
            relayer,
            lease,
            nonce: None,
            outage: 0,
        }
    }

    /// Sends what the queue holds, forever, while the relayer's lease is held.
    pub async fn run(mut self) {
        let max = self.core.config.max_bundle_size.max(1);
        loop {
            if !self.lease.is_held() {
                // Another instance may have used the relayer meanwhile: ask for its nonce.
                self.nonce = None;
                self.lease.wait_held().await;
            }
            let jobs = self.core.queue.take(max).await;
            if !self.lease.is_held() {
                self.core.queue.push_front(jobs);
                continue;
            }
            self.process(jobs).await;
        }
    }

    async fn process(&mut self, mut jobs: Vec<Job>) {
        pass(&*self.core.hooks, Step::Picked, Felt::ZERO, &ids(&jobs)).await;
        for _ in 0..MAX_ROUNDS {
            if jobs.is_empty() {
                return;
            }
            match self.round(jobs).await {
                Round::Done => return,
                Round::Again(rest) => jobs = rest,
                Round::Trouble {
                    jobs,
                    why,
                    node_down,
                } => return self.troubled(jobs, why, node_down).await,
                Round::Yield(rest) => return self.core.queue.push_front(rest),
            }
        }
        let why = PaymasterError::Unknown("the batch kept changing".into());
        self.troubled(jobs, why, false).await;
    }

    /// Counts a try for each job; returns those not refused for it.
    fn tried(&self, jobs: Vec<Job>, why: &PaymasterError) -> Vec<Job> {
        let kept = self.core.count_tries(&ids(&jobs), why);
        jobs.into_iter().filter(|j| kept.contains(&j.id)).collect()
    }

    /// Puts troubled jobs back (each counting a try) and pauses.
    async fn troubled(&mut self, jobs: Vec<Job>, why: PaymasterError, node_down: bool) {
        tracing::warn!(
            relayer = %format_args!("{:#x}", self.relayer.address()),
            executions = jobs.len(),
            error = %why,
            "sending later"
        );
        self.nonce = None;
        let jobs = self.tried(jobs, &why);
        let pause = if node_down {
            self.outage = self.outage.saturating_add(1);
            self.core.queue.push_front(jobs);
            outage_pause(self.outage)
        } else {
            self.back_alone(jobs);
            FIRST_PAUSE
        };
        tokio::time::sleep(pause).await;
    }

    /// Queues jobs again behind what waits, each to go alone.
    fn back_alone(&self, jobs: Vec<Job>) {
        for job in jobs {
            self.core.queue.push(Job { alone: true, ..job });
        }
    }

    async fn nonce(&mut self) -> Result<Felt, PaymasterError> {
        if self.relayer.take_resync() {
            self.nonce = None;
        }
        if let Some(n) = self.nonce {
            return Ok(n);
        }
        let n = self
            .core
            .chain
            .nonce(self.relayer.address())
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, "could not read the relayer's nonce");
                e.to_paymaster()
            })?;
        self.nonce = Some(n);
        Ok(n)
    }

    async fn round(&mut self, jobs: Vec<Job>) -> Round {
        let nonce = match self.nonce().await {
            Ok(n) => n,
            Err(why) => {
                return Round::Trouble {
                    jobs,
                    why,
                    node_down: true,
                }
            }
        };
        let margin = self.core.config.fee_margin_percent;
        let chain = &*self.core.chain;
        let proposal = match propose(chain, &self.relayer, nonce, &jobs, margin).await {
            Ok(p) => p,
            Err(e) => return self.not_proposed(jobs, e),
        };
        self.outage = 0;
        let jobs = match self.within_cap(jobs, &proposal) {
            Ok(jobs) => jobs,
            Err(rest) => return Round::Again(rest),
        };
        let (jobs, refused) = self.check_fee_transfers(jobs, &proposal);
        if refused {
            return Round::Again(jobs);
        }
        let proposal = for_retry(proposal, &jobs);
        match self.reserve(jobs, &proposal) {
            Ok((jobs, false)) => self.sign_and_send(jobs, nonce, proposal).await,
            Ok((jobs, true)) => Round::Again(jobs),
            Err((jobs, why)) => Round::Trouble {
                jobs,
                why,
                node_down: true,
            },
        }
    }

    /// What to do with jobs the proposer could not propose as they are.
    fn not_proposed(&mut self, jobs: Vec<Job>, e: ProposeError) -> Round {
        match e {
            ProposeError::StaleNonce(current) => {
                self.nonce = Some(current);
                let why =
                    PaymasterError::Unknown(format!("the relayer's nonce moved to {current:#x}"));
                Round::Again(self.tried(jobs, &why))
            }
            ProposeError::Sorted { refused, troubled } => {
                let jobs = self.refuse(jobs, refused);
                let (troubled_jobs, rest): (Vec<Job>, Vec<Job>) = jobs
                    .into_iter()
                    .partition(|j| troubled.iter().any(|(id, _)| *id == j.id));
                for (id, why) in &troubled {
                    let job = troubled_jobs.iter().find(|j| j.id == *id).cloned();
                    let kept = self.tried(job.into_iter().collect(), why);
                    self.back_alone(kept);
                }
                Round::Again(rest)
            }
            ProposeError::Split => {
                let alone = jobs.into_iter().map(|j| Job { alone: true, ..j }).collect();
                self.core.queue.push_front(alone);
                Round::Done
            }
            ProposeError::Unexplained(why) => Round::Trouble {
                jobs,
                why,
                node_down: false,
            },
            ProposeError::Unreachable(why) => Round::Trouble {
                jobs,
                why,
                node_down: true,
            },
        }
    }

    /// Refuses the executions that would fail; returns the others.
    fn refuse(&self, jobs: Vec<Job>, failures: Vec<(Felt, PaymasterError)>) -> Vec<Job> {
        let failed: Vec<Felt> = failures.iter().map(|(id, _)| *id).collect();
        for (id, error) in failures {
            self.core.refuse(id, error);
        }
        jobs.into_iter()
            .filter(|j| !failed.contains(&j.id))
            .collect()
    }

    async fn sign(
        &self,
        jobs: &[Job],
        nonce: Felt,
        p: &Proposal,
    ) -> Result<Signed, PaymasterError> {
        let b = p.quote.bounds;
        let prepared = self
            .relayer
            .account
            .execute_v3(flatten(jobs))
            .nonce(nonce)
            .l1_gas(b.l1_gas)
            .l1_gas_price(b.l1_gas_price)
            .l2_gas(b.l2_gas)
            .l2_gas_price(b.l2_gas_price)
            .l1_data_gas(b.l1_data_gas)
            .l1_data_gas_price(b.l1_data_gas_price)
            .tip(0)
            .prepared()
            .map_err(|_| PaymasterError::Unknown("incomplete transaction".into()))?;
        let hash = prepared.transaction_hash(false);
        let request = prepared
            .get_invoke_request(false, false)
            .await
            .map_err(|e| PaymasterError::Unknown(format!("signing: {e}")))?;
        let stored = serde_json::to_string(&request)
            .map_err(|e| PaymasterError::Unknown(format!("encoding: {e}")))?;
        let items = jobs
            .iter()
            .map(|j| TxItem {
                tracking_id: j.id,
                attempt: j.attempt,
            })
            .collect();
        let record = TxRecord {
            hash,
            relayer: self.relayer.address(),
            nonce,
            request: stored,
            items,
            max_fee: p.quote.max_fee,
            state: TxState::Signed,
            actual_fee: None,
            reason: None,
            sent_at: 0,
        };
        Ok(Signed { record, request })
    }

    async fn sign_and_send(&mut self, jobs: Vec<Job>, nonce: Felt, p: Proposal) -> Round {
        let signed = match self.sign(&jobs, nonce, &p).await {
            Ok(s) => s,
            Err(why) => {
                return Round::Trouble {
                    jobs,
                    why,
                    node_down: false,
                }
            }
        };
        if !self.lease.is_held() {
            return Round::Yield(jobs);
        }
        // The hash is stored before the transaction leaves the process.
        if let Err(e) = self.core.store.record_signed(&signed.record) {
            return self.keep_queued(jobs, e);
        }
        let (hash, ids) = (signed.record.hash, ids(&jobs));
        pass(&*self.core.hooks, Step::BeforeSend, hash, &ids).await;
        match deliver(&self.core, &signed.request, hash).await {
            Delivery::Accepted => {
                self.nonce = Some(nonce + Felt::ONE);
                self.sent(&signed.record, &ids).await;
                Round::Done
            }
            Delivery::Rejected(error) => self.rejected(jobs, hash, nonce, error).await,
            Delivery::InDoubt => {
                // Likely sent; the tracker sends the same bytes again or gives the
                // executions back to the queue once the nonce is used by another.
                self.nonce = None;
                self.core.resolve(&ids, &Ok(hash));
                tracker::watch(&self.core, hash);
                tokio::time::sleep(FIRST_PAUSE).await;
                Round::Done
            }
        }
    }

    /// The store refused the transaction: keeps the jobs whose executions are still queued
    /// (another task may have moved one on).
    fn keep_queued(&self, jobs: Vec<Job>, why: PaymasterError) -> Round {
        let total = jobs.len();
        let mut kept = Vec::with_capacity(total);
        for job in jobs {
            match self.core.store.execution(job.id) {
                Ok(Some(r)) if r.state == crate::lifecycle::ExecutionState::Queued => {
                    kept.push(job)
                }
                Ok(_) => {
                    tracing::warn!(tracking_id = %format_args!("{:#x}", job.id), "no longer queued")
                }
                Err(_) => kept.push(job),
            }
        }
        if kept.len() < total {
            Round::Again(kept)
        } else {
            Round::Trouble {
                jobs: kept,
                why,
                node_down: true,
            }
        }
    }

    async fn sent(&self, record: &TxRecord, ids: &[Felt]) {
        let hash = record.hash;
        pass(&*self.core.hooks, Step::AfterSend, hash, ids).await;
        if let Err(e) = self.core.store.mark_sent(hash, unix_now()) {
            tracing::error!(error = %e, "could not record a send; the tracker will");
        }
        self.core.metrics.transaction_sent(ids.len());
        tracing::info!(
            tx = %format_args!("{hash:#x}"),
            relayer = %format_args!("{:#x}", record.relayer),
            executions = ids.len(),
            max_fee = record.max_fee,
            "sent"
        );
        self.core.resolve(ids, &Ok(hash));
        tracker::watch(&self.core, hash);
    }

    /// The node refused the transaction outright: it never entered; its executions are
    /// queued again, at their next attempt. Whether the relayer's nonce was the cause is the
    /// node's error code or the nonce read again, never the refusal's text.
    async fn rejected(
        &mut self,
        jobs: Vec<Job>,
        hash: Felt,
        nonce: Felt,
        error: NodeError,
    ) -> Round {
        let why = error.to_paymaster();
        let requeued =
            match self
                .core
                .store
                .drop_transaction(hash, &why.to_string(), false, u32::MAX)
            {
                Ok(ids) => ids,
                Err(e) => {
                    return Round::Trouble {
                        jobs,
                        why: e,
                        node_down: true,
                    }
                }
            };
        let again: Vec<Job> = jobs
            .into_iter()
            .filter(|j| requeued.contains(&j.id))
            .map(|j| Job {
                attempt: j.attempt + 1,
                ..j
            })
            .collect();
        self.nonce = None;
        let moved = matches!(
            self.core.chain.nonce(self.relayer.address()).await,
            Ok(current) if current != nonce
        );
        if error.is_invalid_nonce() || moved {
            Round::Again(self.tried(again, &why))
        } else {
            Round::Trouble {
                jobs: again,
                why,
                node_down: false,
            }
        }
    }
}
