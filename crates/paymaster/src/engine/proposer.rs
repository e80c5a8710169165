//! The proposer: simulates what a relayer is about to send — one `execute_from_outside_v2`
//! call (or deployment) per execution, in one transaction — and, when that would fail, finds
//! which executions fail by simulating each alone, so that each gets its own error and the
//! others go on.

use stark_sessions_abi::{Call, Felt};
use starknet::accounts::{Account, AccountError};
use starknet::core::types::{
    ExecuteInvocation, SimulatedTransaction, StarknetError, TransactionTrace,
};
use starknet::providers::ProviderError;

use super::queue::Job;
use crate::error::PaymasterError;
use crate::relayer::{classify, classify_reason, is_nonce_error, Quote, Relayer};

/// A transaction ready to be signed: its cost bounds and each execution's weight in the fee
/// split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proposal {
    /// The estimate plus margin.
    pub quote: Quote,
    /// One per job: the L2 gas its calls used in the simulation.
    pub weights: Vec<u128>,
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
    Passed(Box<SimulatedTransaction>),
    Failed(PaymasterError),
    StaleNonce,
    Node(PaymasterError),
}

/// The relayer calls of `jobs`, in order.
pub(crate) fn flatten(jobs: &[Job]) -> Vec<Call> {
    jobs.iter().flat_map(|j| j.calls.iter().cloned()).collect()
}

async fn simulate(relayer: &Relayer, nonce: Felt, calls: Vec<Call>) -> Simulated {
    let result = relayer
        .account
        .execute_v3(calls)
        .nonce(nonce)
        .tip(0)
        .simulate(false, true)
        .await;
    match result {
        Ok(sim) => match &sim.transaction_trace {
            TransactionTrace::Invoke(trace) => match &trace.execute_invocation {
                ExecuteInvocation::Success(_) => Simulated::Passed(Box::new(sim)),
                ExecuteInvocation::Reverted(r) => {
                    Simulated::Failed(classify_reason(r.revert_reason.clone()))
                }
            },
            _ => Simulated::Node(PaymasterError::Unknown(
                "node: the simulation is not of an invoke".into(),
            )),
        },
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

/// Each job's weight: the L2 gas of its top-level calls in the relayer's `__execute__`.
fn weights(sim: &SimulatedTransaction, jobs: &[Job]) -> Vec<u128> {
    let calls = match &sim.transaction_trace {
        TransactionTrace::Invoke(trace) => match &trace.execute_invocation {
            ExecuteInvocation::Success(invocation) => &invocation.calls,
            ExecuteInvocation::Reverted(_) => return vec![1; jobs.len()],
        },
        _ => return vec![1; jobs.len()],
    };
    let expected: usize = jobs.iter().map(|j| j.calls.len()).sum();
    if calls.len() != expected {
        return vec![1; jobs.len()];
    }
    let mut gas = calls
        .iter()
        .map(|c| u128::from(c.execution_resources.l2_gas));
    jobs.iter()
        .map(|j| gas.by_ref().take(j.calls.len()).sum::<u128>().max(1))
        .collect()
}

/// Simulates `jobs` in one transaction from `relayer` at `nonce`.
pub(crate) async fn propose(
    relayer: &Relayer,
    nonce: Felt,
    jobs: &[Job],
    margin_percent: u32,
) -> Result<Proposal, ProposeError> {
    match simulate(relayer, nonce, flatten(jobs)).await {
        Simulated::Passed(sim) => Ok(Proposal {
            quote: Quote::from_estimate(&sim.fee_estimation, margin_percent),
            weights: weights(&sim, jobs),
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
