//! Counters since start, updated where the state they count changes, and their Prometheus text
//! form (with gauges read at scrape time: queue, reservations, relayers, budgets, health).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The JSON-RPC methods counted by name; anything else is counted as `other` (a client cannot
/// grow the label set).
const METHODS: [&str; 7] = [
    "paymaster_isAvailable",
    "paymaster_getSupportedTokens",
    "paymaster_buildTransaction",
    "paymaster_executeTransaction",
    "paymaster_trackingIdToLatestHash",
    "paymaster_createClientSession",
    "paymaster_revokeClientSession",
];

/// Bundle sizes the histogram tells apart.
const BUNDLE_BUCKETS: [f64; 6] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];

/// Counters since start.
#[derive(Debug)]
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
    registry: Registry,
    by_method: IntCounterVec,
    failed_by_code: IntCounterVec,
    bundle_size: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let by_method = IntCounterVec::new(
            Opts::new(
                "paymaster_requests_by_method_total",
                "JSON-RPC requests by method",
            ),
            &["method"],
        )
        .expect("a valid metric");
        let failed_by_code = IntCounterVec::new(
            Opts::new(
                "paymaster_request_failures_total",
                "JSON-RPC requests refused or failed, by method and SNIP-29 error code",
            ),
            &["method", "code"],
        )
        .expect("a valid metric");
        let bundle_size = Histogram::with_opts(
            HistogramOpts::new(
                "paymaster_transaction_executions",
                "Executions carried by each relayer transaction sent (bundle size)",
            )
            .buckets(BUNDLE_BUCKETS.to_vec()),
        )
        .expect("a valid metric");
        for metric in [
            Box::new(by_method.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failed_by_code.clone()),
            Box::new(bundle_size.clone()),
        ] {
            registry.register(metric).expect("registered once");
        }
        Metrics {
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            executions_sent: AtomicU64::new(0),
            bundles: AtomicU64::new(0),
            resubmissions: AtomicU64::new(0),
            sends_in_doubt: AtomicU64::new(0),
            fees_paid_fri: Mutex::new(0),
            registry,
            by_method,
            failed_by_code,
            bundle_size,
        }
    }
}

/// The method as a label: its name when it is one of ours, else `other`.
fn method_label(method: &str) -> &'static str {
    METHODS
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("other")
}

/// Values read at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Executions waiting for a relayer.
    pub queue_depth: u64,
    /// Budget reservations not settled yet.
    pub pending_reservations: u64,
    /// Per relayer (hex address): STRK balance in FRI and next nonce.
    pub relayers: Vec<(String, f64, f64)>,
    /// Per API key (id): FRI reserved or charged today, and the daily budget.
    pub budgets: Vec<(String, f64, f64)>,
    /// The node answered.
    pub node_up: bool,
    /// The database answered.
    pub database_up: bool,
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

    /// Counts a request to `method`.
    pub fn request(&self, method: &str) {
        Metrics::bump(&self.requests);
        self.by_method
            .with_label_values(&[method_label(method)])
            .inc();
    }

    /// Counts a request to `method` refused with SNIP-29 error `code`.
    pub fn failure(&self, method: &str, code: i64) {
        Metrics::bump(&self.failures);
        self.failed_by_code
            .with_label_values(&[method_label(method), &code.to_string()])
            .inc();
    }

    /// Counts a relayer transaction sent with `executions` executions.
    pub fn transaction_sent(&self, executions: usize) {
        Metrics::bump(&self.sent);
        self.executions_sent
            .fetch_add(executions as u64, Ordering::Relaxed);
        if executions > 1 {
            Metrics::bump(&self.bundles);
        }
        self.bundle_size.observe(executions as f64);
    }

    /// The Prometheus text form: the counters since start and `snapshot`'s gauges.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let scrape = Registry::new();
        let result = self
            .register_totals(&scrape)
            .and_then(|()| register_snapshot(&scrape, snapshot));
        if let Err(e) = result {
            tracing::error!(error = %e, "metrics could not be rendered");
        }
        let mut families = self.registry.gather();
        families.extend(scrape.gather());
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// The unlabelled totals, as counters of a scrape-time registry.
    fn register_totals(&self, scrape: &Registry) -> prometheus::Result<()> {
        let fees = self.fees_paid_fri.lock().map(|f| *f).unwrap_or_default();
        let counters = [
            (
                "paymaster_requests_total",
                "JSON-RPC requests served",
                &self.requests,
            ),
            (
                "paymaster_failures_total",
                "Requests refused or failed",
                &self.failures,
            ),
            (
                "paymaster_transactions_sent_total",
                "Relayer transactions sent",
                &self.sent,
            ),
            (
                "paymaster_executions_sent_total",
                "Sponsored executions sent",
                &self.executions_sent,
            ),
            (
                "paymaster_bundles_total",
                "Transactions carrying several executions",
                &self.bundles,
            ),
            (
                "paymaster_resubmissions_total",
                "Executions queued again",
                &self.resubmissions,
            ),
            (
                "paymaster_sends_in_doubt_total",
                "Sends asked of the node",
                &self.sends_in_doubt,
            ),
        ];
        for (name, help, value) in counters {
            let counter = prometheus::IntCounter::new(name, help)?;
            counter.inc_by(value.load(Ordering::Relaxed));
            scrape.register(Box::new(counter))?;
        }
        let paid = prometheus::Counter::new(
            "paymaster_fees_paid_fri_total",
            "Fees paid by the relayers, in FRI, booked from receipts",
        )?;
        paid.inc_by(fees as f64);
        scrape.register(Box::new(paid))
    }
}

/// `snapshot`'s values as gauges of the scrape-time registry.
fn register_snapshot(scrape: &Registry, s: &Snapshot) -> prometheus::Result<()> {
    let plain = [
        (
            "paymaster_queued_executions",
            "Executions waiting for a relayer (queue depth)",
            s.queue_depth as f64,
        ),
        (
            "paymaster_pending_reservations",
            "Budget reservations not settled yet",
            s.pending_reservations as f64,
        ),
        (
            "paymaster_node_up",
            "1 if the node answered",
            f64::from(u8::from(s.node_up)),
        ),
        (
            "paymaster_database_up",
            "1 if the database answered",
            f64::from(u8::from(s.database_up)),
        ),
    ];
    for (name, help, value) in plain {
        let gauge = prometheus::Gauge::new(name, help)?;
        gauge.set(value);
        scrape.register(Box::new(gauge))?;
    }
    let labelled = [
        (
            "paymaster_relayer_balance_fri",
            "Relayer STRK balance, FRI",
            "relayer",
            &s.relayers,
            1,
        ),
        (
            "paymaster_relayer_nonce",
            "Relayer account nonce",
            "relayer",
            &s.relayers,
            2,
        ),
        (
            "paymaster_budget_used_fri",
            "FRI reserved or charged today",
            "api_key",
            &s.budgets,
            1,
        ),
        (
            "paymaster_budget_daily_fri",
            "Daily budget, FRI",
            "api_key",
            &s.budgets,
            2,
        ),
    ];
    for (name, help, label, rows, column) in labelled {
        let gauge = GaugeVec::new(Opts::new(name, help), &[label])?;
        for (key, first, second) in rows.iter() {
            let value = if column == 1 { *first } else { *second };
            gauge.with_label_values(&[key.as_str()]).set(value);
        }
        scrape.register(Box::new(gauge))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label_and_the_text_names_every_family() {
        let m = Metrics::default();
        m.request("paymaster_buildTransaction");
        m.request("attacker_chosen_name_1");
        m.failure("attacker_chosen_name_2", 150);
        m.transaction_sent(4);
        let text = m.render(&Snapshot {
            relayers: vec![("0x1".into(), 5.0, 7.0)],
            ..Snapshot::default()
        });
        assert!(
            text.contains("paymaster_requests_by_method_total{method=\"other\"} 1"),
            "{text}"
        );
        assert!(!text.contains("attacker_chosen"), "{text}");
        assert!(text.contains("paymaster_request_failures_total{code=\"150\",method=\"other\"} 1"));
        assert!(text.contains("paymaster_transaction_executions_bucket{le=\"4\"} 1"));
        assert!(text.contains("paymaster_relayer_nonce{relayer=\"0x1\"} 7"));
        assert!(text.contains("paymaster_requests_total 2"));
    }
}
