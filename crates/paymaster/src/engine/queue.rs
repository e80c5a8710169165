//! The queue of executions waiting for a relayer.
//!
//! A relayer that is free takes what is waiting at once — a lone execution goes out
//! immediately — and everything that queued while every relayer was busy goes out together,
//! up to the bundle size. An execution marked `alone` (its bundle reverted) is taken by itself.

use std::collections::VecDeque;
use std::sync::Mutex;

use stark_sessions_abi::{CairoSerde, Call, Felt};
use tokio::sync::Notify;

use crate::error::PaymasterError;
use crate::store::{ExecutionRecord, FeePayment};

/// An execution the engine is to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// Its tracking id.
    pub id: Felt,
    /// The relayer's calls for it.
    pub calls: Vec<Call>,
    /// The sponsoring key.
    pub api_key_id: String,
    /// The client session token it came through, if any.
    pub token_id: Option<String>,
    /// Default mode's signed fee transfer.
    pub fee: Option<FeePayment>,
    /// Send it in a transaction of its own.
    pub alone: bool,
    /// The attempt (transaction number) this send will be.
    pub attempt: u32,
}

impl Job {
    /// The job for a stored execution.
    pub fn from_record(record: &ExecutionRecord) -> Result<Self, PaymasterError> {
        let calls = Vec::<Call>::from_felts(&record.calls)
            .map_err(|e| PaymasterError::Unknown(format!("storage: calls: {e}")))?;
        Ok(Job {
            id: record.id,
            calls,
            api_key_id: record.api_key_id.clone(),
            token_id: record.token_id.clone(),
            fee: record.fee,
            alone: record.alone,
            attempt: record.attempts + 1,
        })
    }
}

/// Executions waiting for a relayer, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        // A panic while holding this lock cannot leave the deque inconsistent.
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a job at the back (once: a job already waiting is not added again).
    pub fn push(&self, job: Job) {
        let mut queue = self.lock();
        if queue.iter().any(|j| j.id == job.id) {
            return;
        }
        queue.push_back(job);
        drop(queue);
        self.ready.notify_one();
    }

    /// Puts jobs back at the front, in order (they were taken first).
    pub fn push_front(&self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let mut queue = self.lock();
        for job in jobs.into_iter().rev() {
            queue.push_front(job);
        }
        drop(queue);
        self.ready.notify_one();
    }

    /// How many jobs wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Waits for at least one job, then takes the next batch: the front job alone if it must
    /// go alone, else up to `max` consecutive jobs that may share a transaction.
    pub async fn take(&self, max: usize) -> Vec<Job> {
        loop {
            let notified = self.ready.notified();
            if let Some(batch) = self.try_take(max) {
                return batch;
            }
            notified.await;
        }
    }

    /// The next batch, if any job waits.
    pub fn try_take(&self, max: usize) -> Option<Vec<Job>> {
        let mut queue = self.lock();
        let first = queue.pop_front()?;
        let mut batch = vec![first];
        if !batch[0].alone {
            while batch.len() < max.max(1) && queue.front().is_some_and(|j| !j.alone) {
                batch.extend(queue.pop_front());
            }
        }
        let more = !queue.is_empty();
        drop(queue);
        if more {
            // Wake another relayer for what is left.
            self.ready.notify_one();
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u8, alone: bool) -> Job {
        Job {
            id: Felt::from(id),
            calls: vec![],
            api_key_id: "k".into(),
            token_id: None,
            fee: None,
            alone,
            attempt: 1,
        }
    }

    fn ids(batch: &[Job]) -> Vec<u8> {
        batch
            .iter()
            .map(|j| u8::try_from(j.id).expect("small id"))
            .collect()
    }

    #[tokio::test]
    async fn what_queued_meanwhile_goes_together_up_to_the_bundle_size() {
        let queue = Queue::default();
        for i in 1..=5 {
            queue.push(job(i, false));
        }
        assert_eq!(ids(&queue.take(3).await), vec![1, 2, 3]);
        assert_eq!(ids(&queue.take(3).await), vec![4, 5]);
        assert!(queue.try_take(3).is_none());
        queue.push(job(6, false));
        queue.push(job(6, false));
        assert_eq!(queue.len(), 1, "a waiting job is queued once");
    }

    #[tokio::test]
    async fn an_execution_marked_alone_goes_by_itself() {
        let queue = Queue::default();
        queue.push(job(1, false));
        queue.push(job(2, true));
        queue.push(job(3, false));
        assert_eq!(ids(&queue.take(16).await), vec![1]);
        assert_eq!(ids(&queue.take(16).await), vec![2]);
        queue.push_front(vec![job(4, false), job(5, false)]);
        assert_eq!(ids(&queue.take(16).await), vec![4, 5, 3]);
    }

    #[tokio::test]
    async fn a_waiting_relayer_takes_a_lone_execution_at_once() {
        let queue = std::sync::Arc::new(Queue::default());
        let waiting = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.take(16).await })
        };
        tokio::task::yield_now().await;
        queue.push(job(9, false));
        let batch = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("task");
        assert_eq!(ids(&batch), vec![9]);
    }
}
