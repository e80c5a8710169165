//! The proposer: simulates what a relayer is about to send — one `execute_from_outside_v2`
//! call (or deployment) per execution, in one transaction — by estimating its fee (signature
//! and all), and, when that would fail, finds which executions fail by estimating each alone,
//! so that each gets its own error and the others go on.

use stark_sessions_abi::{Call, Felt};
use starknet::accounts::{Account, AccountError};
use starknet::core::types::{FeeEstimate, StarknetError};
use starknet::providers::ProviderError;

use super::queue::Job;
use crate::error::PaymasterError;
use crate::relayer::{classify, is_nonce_error, Quote, Relayer};

/// A transaction ready to be signed: its cost bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proposal {
    /// The estimate plus margin.
    pub quote: Quote,
}

/// Why nothing can be proposed for these jobs as they are.
#[derive(Debug)]
pub(crate) enum ProposeError {
    /// These executions would fail; each with its error. The others may go on.
    Refused(Vec<(Felt, PaymasterError)>),
    /// The bundle fails though each execution passes alone: send them one by one.
    Split,
    /// The relayer's nonce is stale.
    StaleNonce,
    /// The node could not simulate (unreachable, overloaded).
    Node(PaymasterError),
}

/// How a simulation came out.
enum Simulated {
    Passed(FeeEstimate),
    Failed(PaymasterError),
    StaleNonce,
    Node(PaymasterError),
}

/// The relayer calls of `jobs`, in order.
pub(crate) fn flatten(jobs: &[Job]) -> Vec<Call> {
    jobs.iter().flat_map(|j| j.calls.iter().cloned()).collect()
}

/// Estimates the fee of sending `calls` (validation included): the node executes the
/// transaction, so an execution that would fail fails here.
async fn simulate(relayer: &Relayer, nonce: Felt, calls: Vec<Call>) -> Simulated {
    let result = relayer
        .account
        .execute_v3(calls)
        .nonce(nonce)
        .tip(0)
        .estimate_fee()
        .await;
    match result {
        Ok(estimate) => Simulated::Passed(estimate),
        Err(e) if is_nonce_error(&e) => Simulated::StaleNonce,
        Err(e) => judge_failure(e),
    }
}

/// A refusal by the node's execution is the execution's fault; anything else is the node's.
fn judge_failure<S: std::fmt::Display>(e: AccountError<S>) -> Simulated {
    let refused = matches!(
        &e,
        AccountError::Provider(ProviderError::StarknetError(
            StarknetError::TransactionExecutionError(_)
                | StarknetError::ValidationFailure(_)
                | StarknetError::ContractError(_)
        ))
    );
    if refused {
        Simulated::Failed(classify(e))
    } else {
        Simulated::Node(classify(e))
    }
}

/// Simulates `jobs` in one transaction from `relayer` at `nonce`.
pub(crate) async fn propose(
    relayer: &Relayer,
    nonce: Felt,
    jobs: &[Job],
    margin_percent: u32,
) -> Result<Proposal, ProposeError> {
    match simulate(relayer, nonce, flatten(jobs)).await {
        Simulated::Passed(estimate) => Ok(Proposal {
            quote: Quote::from_estimate(&estimate, margin_percent),
        }),
        Simulated::StaleNonce => Err(ProposeError::StaleNonce),
        Simulated::Node(e) => Err(ProposeError::Node(e)),
        Simulated::Failed(e) if jobs.len() == 1 => {
            Err(ProposeError::Refused(vec![(jobs[0].id, e)]))
        }
        Simulated::Failed(_) => isolate(relayer, nonce, jobs).await,
    }
}

/// Simulates each job alone to find those that fail.
async fn isolate(relayer: &Relayer, nonce: Felt, jobs: &[Job]) -> Result<Proposal, ProposeError> {
    let mut refused = Vec::new();
    for job in jobs {
        match simulate(relayer, nonce, job.calls.clone()).await {
            Simulated::Passed(_) => {}
            Simulated::Failed(e) => refused.push((job.id, e)),
            Simulated::StaleNonce => return Err(ProposeError::StaleNonce),
            Simulated::Node(e) => return Err(ProposeError::Node(e)),
        }
    }
    if refused.is_empty() {
        Err(ProposeError::Split)
    } else {
        Err(ProposeError::Refused(refused))
    }
}
