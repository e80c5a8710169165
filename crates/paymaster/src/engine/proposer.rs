//! The proposer: simulates what a relayer is about to send — one `execute_from_outside_v2`
//! call (or deployment) per execution, in one transaction — by estimating its fee (signature
//! and all), and, when that would fail, finds which executions fail by estimating each alone,
//! so that each gets its own error and the others go on.
//!
//! Whether a failure is a stale relayer nonce is decided by reading the relayer's nonce again
//! from the node, never from the error's text (a user's call can panic with any text): a nonce
//! that moved is stale; with the same nonce, a refusal by the node's execution is the
//! execution's, and anything else is trouble nobody can be named for.

use stark_sessions_abi::{Call, Felt};

use super::chain_view::ChainView;
use super::queue::Job;
use crate::error::PaymasterError;
use crate::relayer::{Quote, Relayer};

/// A transaction ready to be signed: its cost bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proposal {
    /// The estimate plus margin.
    pub quote: Quote,
}

/// Why nothing can be proposed for these jobs as they are.
#[derive(Debug)]
pub(crate) enum ProposeError {
    /// Estimated one by one: `refused` would fail (each with its error), `troubled` got no
    /// usable answer from the node. The others may go on.
    Sorted {
        /// Executions the node's execution refuses.
        refused: Vec<(Felt, PaymasterError)>,
        /// Executions whose estimate the node does not answer though it answers others.
        troubled: Vec<(Felt, PaymasterError)>,
    },
    /// The bundle fails though each execution passes alone: send them one by one.
    Split,
    /// The relayer's nonce moved: the node's nonce now.
    StaleNonce(Felt),
    /// One execution: the node answers the relayer's nonce but not its estimate (no answer,
    /// or a refusal that contradicts the nonce it reports).
    Unexplained(PaymasterError),
    /// The node does not answer at all.
    Unreachable(PaymasterError),
}

/// The relayer calls of `jobs`, in order.
pub(crate) fn flatten(jobs: &[Job]) -> Vec<Call> {
    jobs.iter().flat_map(|j| j.calls.iter().cloned()).collect()
}

/// Whether the relayer's nonce is still `nonce`, read from the node.
async fn nonce_moved(
    chain: &dyn ChainView,
    relayer: &Relayer,
    nonce: Felt,
) -> Result<Option<Felt>, ProposeError> {
    let current = chain
        .nonce(relayer.address())
        .await
        .map_err(|e| ProposeError::Unreachable(e.to_paymaster()))?;
    Ok((current != nonce).then_some(current))
}

/// Simulates `jobs` in one transaction from `relayer` at `nonce`.
pub(crate) async fn propose(
    chain: &dyn ChainView,
    relayer: &Relayer,
    nonce: Felt,
    jobs: &[Job],
    margin_percent: u32,
) -> Result<Proposal, ProposeError> {
    let failure = match chain.estimate(relayer, nonce, flatten(jobs)).await {
        Ok(estimate) => {
            return Ok(Proposal {
                quote: Quote::from_estimate(&estimate, margin_percent),
            })
        }
        Err(e) => e,
    };
    if let Some(current) = nonce_moved(chain, relayer, nonce).await? {
        return Err(ProposeError::StaleNonce(current));
    }
    match jobs {
        [job] if failure.is_execution_refusal() => Err(ProposeError::Sorted {
            refused: vec![(job.id, failure.to_paymaster())],
            troubled: Vec::new(),
        }),
        [_] => Err(ProposeError::Unexplained(failure.to_paymaster())),
        _ => isolate(chain, relayer, nonce, jobs).await,
    }
}

/// Simulates each job alone to find those that fail (or that the node does not answer for),
/// so that the others go on.
async fn isolate(
    chain: &dyn ChainView,
    relayer: &Relayer,
    nonce: Felt,
    jobs: &[Job],
) -> Result<Proposal, ProposeError> {
    let (mut refused, mut troubled) = (Vec::new(), Vec::new());
    for job in jobs {
        match chain.estimate(relayer, nonce, job.calls.clone()).await {
            Ok(_) => {}
            Err(e) if e.is_execution_refusal() => refused.push((job.id, e.to_paymaster())),
            Err(e) => troubled.push((job.id, e.to_paymaster())),
        }
    }
    if refused.is_empty() && troubled.is_empty() {
        return Err(ProposeError::Split);
    }
    // The nonce may have moved while the jobs were estimated one by one: then no refusal
    // can be trusted.
    if let Some(current) = nonce_moved(chain, relayer, nonce).await? {
        return Err(ProposeError::StaleNonce(current));
    }
    Err(ProposeError::Sorted { refused, troubled })
}
