//! Before a sender signs: the operator's fee cap, default mode's signed fee transfers, and each
//! execution's share of the maximum fee reserved against its key's budget (and its token's
//! limits). An execution that does not pass is refused with its own error; the others go on.

use super::super::proposer::Proposal;
use super::super::queue::Job;
use super::Sender;
use crate::clock::today;
use crate::error::PaymasterError;
use crate::settlement::{reservation_shares, split_fee};
use crate::store::Reservation;

impl Sender {
    /// A transaction over the fee cap is halved (the rest goes back to the queue); a single
    /// execution over it is refused.
    pub(super) fn within_cap(
        &self,
        mut jobs: Vec<Job>,
        p: &Proposal,
    ) -> Result<Vec<Job>, Vec<Job>> {
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
    pub(super) fn check_fee_transfers(&self, jobs: Vec<Job>, p: &Proposal) -> (Vec<Job>, bool) {
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
    pub(super) fn reserve(
        &self,
        jobs: Vec<Job>,
        p: &Proposal,
    ) -> Result<(Vec<Job>, bool), (Vec<Job>, PaymasterError)> {
        let shares = reservation_shares(p.quote.max_fee, jobs.len());
        let day = today();
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
}
