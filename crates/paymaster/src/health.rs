//! What `/health` and `/metrics` read at request time: the node, the database, each relayer's
//! balance and nonce, the queue and the reservations.

use serde_json::{json, Value};
use stark_sessions_abi::Felt;
use starknet::core::types::{BlockId, BlockTag};
use starknet::providers::Provider;

use crate::metrics::Snapshot;
use crate::service::Paymaster;

/// One relayer as `/health` shows it.
#[derive(Debug, Clone)]
pub struct RelayerHealth {
    /// Its address.
    pub address: Felt,
    /// STRK balance in FRI, if the node answered.
    pub balance_fri: Option<u128>,
    /// Its next nonce, if the node answered.
    pub nonce: Option<Felt>,
}

/// The state `/health` reports.
#[derive(Debug, Clone)]
pub struct Health {
    /// The node answered `starknet_chainId`.
    pub node: bool,
    /// The database answered a read.
    pub database: bool,
    /// Budget reservations not settled yet (the read that tells the database answers).
    pub pending_reservations: Option<usize>,
    /// Every relayer.
    pub relayers: Vec<RelayerHealth>,
    /// The balance a relayer needs to count as funded.
    pub min_balance_fri: u128,
}

impl Health {
    /// Serving is possible: node and database up, at least one relayer funded.
    pub fn ok(&self) -> bool {
        self.node && self.database && self.funded() > 0
    }

    /// Relayers holding at least the minimum balance.
    pub fn funded(&self) -> usize {
        self.relayers
            .iter()
            .filter(|r| r.balance_fri.is_some_and(|b| b >= self.min_balance_fri))
            .count()
    }

    /// The `/health` body.
    pub fn to_json(&self, chain_id: Felt) -> Value {
        let relayers: Vec<Value> = self
            .relayers
            .iter()
            .map(|r| {
                json!({
                    "address": format!("{:#x}", r.address),
                    "balance_fri": r.balance_fri.map(|b| b.to_string()),
                    "funded": r.balance_fri.is_some_and(|b| b >= self.min_balance_fri),
                })
            })
            .collect();
        json!({
            "status": if self.ok() { "ok" } else { "unavailable" },
            "chain_id": format!("{chain_id:#x}"),
            "node": self.node,
            "database": self.database,
            "relayers_funded": self.funded(),
            "relayers": relayers,
        })
    }
}

impl Paymaster {
    /// Asks the node and the database, and each relayer's balance and nonce.
    pub async fn health(&self) -> Health {
        let node = self.inner.provider.chain_id().await.is_ok();
        let pending_reservations = self.inner.store.ledger(true).ok().map(|l| l.len());
        let mut relayers = Vec::new();
        for address in self.relayers() {
            let nonce = self
                .inner
                .provider
                .get_nonce(BlockId::Tag(BlockTag::PreConfirmed), address)
                .await
                .ok();
            relayers.push(RelayerHealth {
                address,
                balance_fri: self.strk_balance(address).await.ok(),
                nonce,
            });
        }
        Health {
            node,
            database: pending_reservations.is_some(),
            pending_reservations,
            relayers,
            min_balance_fri: self.inner.config.min_relayer_balance_fri,
        }
    }

    /// `/metrics`: the counters since start and the gauges read now.
    pub async fn metrics_text(&self) -> String {
        let health = self.health().await;
        let to_f64 = |f: Felt| u64::try_from(f).map_or(f64::NAN, |n| n as f64);
        let snapshot = Snapshot {
            queue_depth: self.inner.engine.queue_len() as u64,
            pending_reservations: health.pending_reservations.unwrap_or_default() as u64,
            relayers: health
                .relayers
                .iter()
                .map(|r| {
                    (
                        format!("{:#x}", r.address),
                        r.balance_fri.map_or(f64::NAN, |b| b as f64),
                        r.nonce.map_or(f64::NAN, to_f64),
                    )
                })
                .collect(),
            budgets: self.budget_rows(),
            node_up: health.node,
            database_up: health.database,
        };
        self.inner.metrics.render(&snapshot)
    }

    /// Per API key: what today's (UTC) budget has used, and the budget.
    fn budget_rows(&self) -> Vec<(String, f64, f64)> {
        let day = crate::service::unix_now() / 86_400;
        match self.inner.store.list_api_keys(day) {
            Ok(keys) => keys
                .into_iter()
                .map(|k| (k.key.id, k.used_fri as f64, k.key.daily_budget_fri as f64))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "budget gauges unavailable");
                Vec::new()
            }
        }
    }
}
