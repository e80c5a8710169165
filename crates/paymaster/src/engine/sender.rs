//! One sender per relayer: the only task that signs with the relayer, so its nonce needs no
//! lock. For each batch it takes from the queue: simulate (the proposer), keep within the fee
//! cap, check default-mode fee transfers, reserve each execution's share of the maximum fee,
//! sign, store the hash, send, and hand the transaction to the tracker.

use std::sync::Arc;
use std::time::Duration;

use stark_sessions_abi::Felt;
use starknet::accounts::{Account, ConnectedAccount};
use starknet::core::types::BroadcastedInvokeTransaction;

use super::delivery::{deliver, Delivery};
use super::failpoint::{pass, Step};
use super::leases::LeaseFlag;
use super::proposer::{flatten, propose, Proposal, ProposeError};
use super::queue::Job;
use super::{tracker, Core};
use crate::error::PaymasterError;
use crate::lifecycle::TxState;
use crate::relayer::Relayer;
use crate::service::unix_now;
use crate::settlement::{reservation_shares, split_fee};
use crate::store::{Reservation, TxItem, TxRecord};

/// Proposals for one batch before what is left goes back to the queue.
const MAX_ROUNDS: usize = 8;
/// Transactions the node may refuse outright for one execution before it is refused.
const MAX_ATTEMPTS: u32 = 8;
/// Pause of a sender after node trouble.
const BACKOFF: Duration = Duration::from_millis(250);

/// What a round of proposing left to do.
enum Round {
    /// Everything was sent or refused.
    Done,
    /// Propose again for these.
    Again(Vec<Job>),
    /// Put these back in the queue and pause.
    Later(Vec<Job>, PaymasterError),
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
}

fn ids(jobs: &[Job]) -> Vec<Felt> {
    jobs.iter().map(|j| j.id).collect()
}

impl Sender {
    pub fn new(core: Arc<Core>, relayer: Arc<Relayer>, lease: Arc<LeaseFlag>) -> Self {
        Sender {
            core,
            relayer,
            lease,
            nonce: None,
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
                Round::Later(rest, why) => return self.put_back(rest, why).await,
            }
        }
        let why = PaymasterError::Unknown("the batch kept changing".into());
        self.put_back(jobs, why).await;
    }

    async fn put_back(&mut self, jobs: Vec<Job>, why: PaymasterError) {
        tracing::warn!(relayer = %format_args!("{:#x}", self.relayer.address()), error = %why, "sending later");
        self.nonce = None;
        self.core.queue.push_front(jobs);
        tokio::time::sleep(BACKOFF).await;
    }

    async fn nonce(&mut self) -> Result<Felt, PaymasterError> {
        if self.relayer.take_resync() {
            self.nonce = None;
        }
        if let Some(n) = self.nonce {
            return Ok(n);
        }
        let n = self
            .relayer
            .account
            .get_nonce()
            .await
            .map_err(|e| PaymasterError::Unknown(format!("node: {e}")))?;
        self.nonce = Some(n);
        Ok(n)
    }

    async fn round(&mut self, jobs: Vec<Job>) -> Round {
        let nonce = match self.nonce().await {
            Ok(n) => n,
            Err(e) => return Round::Later(jobs, e),
        };
        let margin = self.core.config.fee_margin_percent;
        let proposal = match propose(&self.relayer, nonce, &jobs, margin).await {
            Ok(p) => p,
            Err(ProposeError::StaleNonce) => {
                self.nonce = None;
                return Round::Again(jobs);
            }
            Err(ProposeError::Refused(failures)) => {
                return Round::Again(self.refuse(jobs, failures))
            }
            Err(ProposeError::Split) => {
                let alone = jobs.into_iter().map(|j| Job { alone: true, ..j }).collect();
                self.core.queue.push_front(alone);
                return Round::Done;
            }
            Err(ProposeError::Node(e)) => return Round::Later(jobs, e),
        };
        let jobs = match self.within_cap(jobs, &proposal) {
            Ok(jobs) => jobs,
            Err(rest) => return Round::Again(rest),
        };
        let (jobs, refused) = self.check_fee_transfers(jobs, &proposal);
        if refused {
            return Round::Again(jobs);
        }
        match self.reserve(jobs, &proposal) {
            Ok((jobs, false)) => self.sign_and_send(jobs, nonce, proposal).await,
            Ok((jobs, true)) => Round::Again(jobs),
            Err((jobs, e)) => Round::Later(jobs, e),
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

    /// A transaction over the fee cap is halved (the rest goes back to the queue); a single
    /// execution over it is refused.
    fn within_cap(&self, mut jobs: Vec<Job>, p: &Proposal) -> Result<Vec<Job>, Vec<Job>> {
        let cap = self.core.config.max_fee_per_tx_fri;
        if p.quote.max_fee <= cap {
            return Ok(jobs);
        }
        if jobs.len() > 1 {
            let back = jobs.split_off(jobs.len() / 2);
            self.core.queue.push_front(back);
            return Err(jobs);
        }
        for job in jobs {
            self.core.refuse(
                job.id,
                PaymasterError::FeeCapExceeded(format!(
                    "this transaction may cost up to {} FRI; the cap is {cap} FRI",
                    p.quote.max_fee
                )),
            );
        }
        Err(Vec::new())
    }

    /// In default mode the user's signed fee transfer must cover its share of the estimate.
    fn check_fee_transfers(&self, jobs: Vec<Job>, p: &Proposal) -> (Vec<Job>, bool) {
        let shares = split_fee(p.quote.estimated_fee, &vec![1; jobs.len()]);
        let mut kept = Vec::with_capacity(jobs.len());
        let mut refused = false;
        for (job, share) in jobs.into_iter().zip(shares) {
            let Some(fee) = job.fee else {
                kept.push(job);
                continue;
            };
            let token = self
                .core
                .config
                .gas_tokens
                .iter()
                .find(|t| t.address == fee.token);
            let required = match token {
                Some(t) => crate::quote::to_token_units(share, t),
                None => Err(PaymasterError::TokenNotSupported(format!(
                    "{:#x} is no longer accepted",
                    fee.token
                ))),
            };
            match required {
                Ok(required) if fee.amount >= required => kept.push(job),
                Ok(required) => {
                    refused = true;
                    self.core.refuse(
                        job.id,
                        PaymasterError::MaxAmountTooLow(format!(
                            "the signed fee transfer is {}, the fee is now {required}",
                            fee.amount
                        )),
                    );
                }
                Err(e) => {
                    refused = true;
                    self.core.refuse(job.id, e);
                }
            }
        }
        (kept, refused)
    }

    /// Reserves each execution's share of the maximum fee; refuses those over budget.
    /// Returns the jobs kept and whether any was refused.
    fn reserve(
        &self,
        jobs: Vec<Job>,
        p: &Proposal,
    ) -> Result<(Vec<Job>, bool), (Vec<Job>, PaymasterError)> {
        let shares = reservation_shares(p.quote.max_fee, jobs.len());
        let day = unix_now() / 86_400;
        let mut kept = Vec::with_capacity(jobs.len());
        let mut refused = false;
        let mut pending = jobs.into_iter().zip(shares);
        while let Some((job, amount)) = pending.next() {
            match self.reserve_one(&job, amount, day) {
                Ok(None) => kept.push(job),
                Ok(Some(error)) => {
                    refused = true;
                    self.core.refuse(job.id, error);
                }
                Err(e) => {
                    kept.push(job);
                    kept.extend(pending.map(|(j, _)| j));
                    return Err((kept, e));
                }
            }
        }
        Ok((kept, refused))
    }

    fn reserve_one(
        &self,
        job: &Job,
        amount: u128,
        day: u64,
    ) -> Result<Option<PaymasterError>, PaymasterError> {
        let store = &self.core.store;
        let Some(key) = store.api_key(&job.api_key_id)? else {
            return Ok(Some(PaymasterError::Unauthorized(
                "the sponsoring API key no longer exists".into(),
            )));
        };
        if let Err(refused) = crate::auth::check_active(&key) {
            return Ok(Some(refused));
        }
        let budget = key.daily_budget_fri;
        let reservation = Reservation {
            tracking_id: job.id,
            attempt: job.attempt,
            api_key_id: key.id,
            token_id: job.token_id.clone(),
            day,
            amount,
            budget,
        };
        Ok(store.reserve(&reservation)?.refusal(amount, budget))
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
            Err(e) => return Round::Later(jobs, e),
        };
        if !self.lease.is_held() {
            return Round::Later(jobs, PaymasterError::Unknown("relayer lease lost".into()));
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
            Delivery::Rejected { error, stale_nonce } => {
                if stale_nonce {
                    self.nonce = None;
                }
                self.rejected(jobs, hash, error, stale_nonce)
            }
            Delivery::InDoubt => {
                // Likely sent; the tracker sends the same bytes again or gives the
                // executions back to the queue once the nonce is used by another.
                self.nonce = None;
                self.core.resolve(&ids, &Ok(hash));
                tracker::watch(&self.core, hash);
                tokio::time::sleep(BACKOFF).await;
                Round::Done
            }
        }
    }

    /// The store refused the transaction: keeps the jobs whose executions are still queued
    /// (another task may have moved one on).
    fn keep_queued(&self, jobs: Vec<Job>, error: PaymasterError) -> Round {
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
            Round::Later(kept, error)
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
    /// queued again (refused after too many such attempts).
    fn rejected(
        &self,
        jobs: Vec<Job>,
        hash: Felt,
        error: PaymasterError,
        stale_nonce: bool,
    ) -> Round {
        let requeued =
            match self
                .core
                .store
                .drop_transaction(hash, &error.to_string(), false, u32::MAX)
            {
                Ok(ids) => ids,
                Err(e) => return Round::Later(jobs, e),
            };
        let mut again = Vec::new();
        for job in jobs.into_iter().filter(|j| requeued.contains(&j.id)) {
            if job.attempt >= MAX_ATTEMPTS {
                self.core.refuse(job.id, error.clone());
            } else {
                again.push(Job {
                    attempt: job.attempt + 1,
                    ..job
                });
            }
        }
        if stale_nonce {
            Round::Again(again)
        } else {
            Round::Later(again, error)
        }
    }
}
