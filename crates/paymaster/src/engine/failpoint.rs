//! Fail points: the steps of the life cycle at which a test may stop the engine exactly as a
//! crash would (the task stops there and never resumes), or hold it while it changes the
//! world. The service runs with [`NoFailPoints`].

use std::future::Future;
use std::pin::Pin;

use stark_sessions_abi::Felt;

/// A step of the life cycle, reached by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// A relayer took queued executions; nothing is reserved or signed for them yet.
    Picked,
    /// The transaction is signed and its hash stored; it has not left the process.
    BeforeSend,
    /// The node acknowledged the transaction; `sent` is not stored yet.
    AfterSend,
    /// The transaction's receipt was read; its outcome and fee are not stored yet.
    AfterInclusion,
}

/// What the engine does at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Go on.
    Continue,
    /// Stop here for good, as if the process died.
    Halt,
}

/// The future a fail point returns.
pub type FailPointFuture = Pin<Box<dyn Future<Output = Action> + Send>>;

/// Consulted at every [`Step`]. `transaction` is the relayer transaction's hash (zero at
/// [`Step::Picked`]); `executions` are the tracking ids involved.
pub trait FailPoints: Send + Sync {
    /// What to do at `step`; the engine waits for the answer.
    fn at(&self, step: Step, transaction: Felt, executions: &[Felt]) -> FailPointFuture;
}

/// Never stops anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFailPoints;

impl FailPoints for NoFailPoints {
    fn at(&self, _step: Step, _transaction: Felt, _executions: &[Felt]) -> FailPointFuture {
        Box::pin(std::future::ready(Action::Continue))
    }
}

/// Passes `step`, or never returns if the fail point halts there.
pub(crate) async fn pass(
    hooks: &dyn FailPoints,
    step: Step,
    transaction: Felt,
    executions: &[Felt],
) {
    if hooks.at(step, transaction, executions).await == Action::Halt {
        tracing::warn!(?step, tx = %format_args!("{transaction:#x}"), "halted by a fail point");
        std::future::pending::<()>().await;
    }
}
