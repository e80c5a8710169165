//! Counters since start, updated where the state they count changes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters since start.
#[derive(Debug, Default)]
pub struct Metrics {
    /// JSON-RPC requests served.
    pub requests: AtomicU64,
    /// Requests refused or failed.
    pub failures: AtomicU64,
    /// Relayer transactions that reached the node (a transaction sent again with the same
    /// bytes counts once).
    pub sent: AtomicU64,
    /// Executions those transactions carried.
    pub executions_sent: AtomicU64,
    /// Transactions that carried more than one execution.
    pub bundles: AtomicU64,
    /// Executions queued again after their transaction was dropped.
    pub resubmissions: AtomicU64,
    /// Sends whose outcome was in doubt (timeout, reset, 5xx) and was asked of the node.
    pub sends_in_doubt: AtomicU64,
    /// Fees paid by the relayers, in FRI, from receipts (booked once per transaction).
    pub fees_paid_fri: Mutex<u128>,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a booked fee.
    pub fn add_fee(&self, fee: u128) {
        if let Ok(mut paid) = self.fees_paid_fri.lock() {
            *paid = paid.saturating_add(fee);
        }
    }

    /// The Prometheus text form, with the given gauges appended.
    pub fn render(&self, gauges: &[(&str, u64)]) -> String {
        let fees = self.fees_paid_fri.lock().map(|f| *f).unwrap_or_default();
        let counters = [
            ("paymaster_requests_total", &self.requests),
            ("paymaster_failures_total", &self.failures),
            ("paymaster_transactions_sent_total", &self.sent),
            ("paymaster_executions_sent_total", &self.executions_sent),
            ("paymaster_bundles_total", &self.bundles),
            ("paymaster_resubmissions_total", &self.resubmissions),
            ("paymaster_sends_in_doubt_total", &self.sends_in_doubt),
        ];
        let mut out = String::new();
        for (name, counter) in counters {
            out.push_str(&format!("{name} {}\n", counter.load(Ordering::Relaxed)));
        }
        out.push_str(&format!("paymaster_fees_paid_fri_total {fees}\n"));
        for (name, value) in gauges {
            out.push_str(&format!("{name} {value}\n"));
        }
        out
    }
}
