//! Relayer leases: instances sharing one database and one relayer pool use each relayer one at
//! a time.
//!
//! Every third of the lease period the keeper ([`tick`]) records this instance as alive, works
//! out its share of the pool (the relayers divided among the live instances, rounded up), lets
//! go of relayers beyond it and takes or renews leases up to it — starting at an offset of its
//! own so that instances prefer different relayers. A relayer newly taken (from an instance
//! whose lease expired, or at start) has its unfinished transactions recovered before its
//! sender may use it. The sender sends only while [`LeaseFlag::is_held`]: until a little before
//! the stored expiry, so that it stops before another instance may take over. Waiting
//! executions of instances that are no longer alive are adopted at each tick.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::recovery::{self, RecoveryReport};
use super::Core;
use crate::clock::now_ms;
use crate::error::PaymasterError;

/// How often the keeper runs: a third of the lease period.
pub(crate) fn renew_every(lease_ms: u64) -> Duration {
    Duration::from_millis((lease_ms / 3).max(1))
}

/// Whether this instance may send with one relayer, and until when.
#[derive(Debug, Default)]
pub(crate) struct LeaseFlag {
    held_until_ms: AtomicU64,
    changed: Notify,
}

impl LeaseFlag {
    /// The lease is ours now.
    pub fn is_held(&self) -> bool {
        now_ms() < self.held_until_ms.load(Ordering::Acquire)
    }

    /// Waits until the lease is ours.
    pub async fn wait_held(&self) {
        while !self.is_held() {
            let changed = self.changed.notified();
            // Also wakes when a holding period simply ran out or a tick was missed.
            let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
        }
    }

    fn hold_until(&self, until_ms: u64) {
        self.held_until_ms.store(until_ms, Ordering::Release);
        self.changed.notify_waiters();
    }
}

/// What this instance held at the last tick, by relayer index.
pub(crate) struct Holdings {
    /// Leased and recovered: its sender may use it.
    held: Vec<bool>,
    /// Beyond this instance's share: its sender stopped; the lease goes at the next tick
    /// (a send under way meanwhile finishes under the lease).
    releasing: Vec<bool>,
}

impl Holdings {
    pub fn new(relayers: usize) -> Self {
        Holdings {
            held: vec![false; relayers],
            releasing: vec![false; relayers],
        }
    }

    fn count(&self) -> usize {
        self.held.iter().filter(|h| **h).count()
    }
}

/// One round of the keeper; returns what it recovered and adopted.
pub(crate) async fn tick(
    core: &Arc<Core>,
    holdings: &mut Holdings,
) -> Result<RecoveryReport, PaymasterError> {
    let (me, lease_ms) = (core.instance.as_str(), core.config.relayer_lease_ms);
    let now = now_ms();
    let live = core.store.heartbeat(me, now, lease_ms)?;
    for (i, releasing) in holdings.releasing.iter_mut().enumerate() {
        if std::mem::take(releasing) {
            core.store.release_lease(core.relayers[i].address(), me)?;
        }
    }
    let n = core.relayers.len();
    let share = n.div_ceil(live.len().max(1));
    let rank = live.iter().position(|i| i == me).unwrap_or(0);
    // This instance's order of preference.
    let order: Vec<usize> = (0..n).map(|k| (k + rank * share) % n.max(1)).collect();
    for &i in order.iter().rev() {
        if holdings.count() <= share {
            break;
        }
        if holdings.held[i] {
            // Beyond our share: stop sending with it now, let it go at the next tick.
            core.leases[i].hold_until(0);
            holdings.held[i] = false;
            holdings.releasing[i] = true;
        }
    }
    let mut taken = Vec::new();
    for &i in &order {
        let wanted = holdings.count() + taken.len() < share;
        if holdings.releasing[i] || !(holdings.held[i] || wanted) {
            continue;
        }
        let relayer = core.relayers[i].address();
        let lease = core.store.acquire_lease(relayer, me, now, lease_ms)?;
        // Stop a quarter period early: another instance takes over only once it expired.
        let until = lease.expires_at_ms.saturating_sub(lease_ms / 4);
        if lease.holder != me {
            core.leases[i].hold_until(0);
            holdings.held[i] = false;
        } else if holdings.held[i] {
            core.leases[i].hold_until(until);
        } else {
            taken.push((i, until));
        }
    }
    // Every lease is renewed before the (possibly slow) recovery of those newly taken; each is
    // used only once recovered.
    let mut report = RecoveryReport::default();
    for (i, until) in taken {
        let relayer = core.relayers[i].address();
        tracing::info!(relayer = %format_args!("{relayer:#x}"), instance = me, "relayer leased");
        report.add(recovery::recover_relayer(core, relayer).await?);
        holdings.held[i] = true;
        core.leases[i].hold_until(until);
    }
    report.requeued += recovery::adopt(core, false)?;
    Ok(report)
}

/// Runs the keeper every third of the lease period, for as long as the engine runs.
pub(crate) async fn keep(core: Arc<Core>, mut holdings: Holdings) {
    loop {
        tokio::time::sleep(renew_every(core.config.relayer_lease_ms)).await;
        match tick(&core, &mut holdings).await {
            Ok(report) => report.log(),
            Err(e) => tracing::warn!(error = %e, "could not renew relayer leases"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use stark_sessions_abi::Felt;

    use super::*;
    use crate::config::{PaymasterConfig, RelayerConfig};
    use crate::engine::{Engine, NoFailPoints};
    use crate::store::{SqliteStore, Store};

    const LEASE_MS: u64 = 300;

    /// An engine named `name` over the database at `path`, with three relayers and a node
    /// nobody listens to (a tick without unfinished transactions never asks it).
    fn engine(path: &Path, name: &str) -> Engine {
        let url: url::Url = "http://127.0.0.1:9/rpc".parse().expect("url");
        let relayers = (1..=3u8)
            .map(|i| RelayerConfig {
                address: Felt::from(0x100 + u32::from(i)),
                private_key: Felt::from(i),
            })
            .collect();
        let mut config = PaymasterConfig::new(url.clone(), relayers);
        config.instance_id = Some(name.into());
        config.relayer_lease_ms = LEASE_MS;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).expect("store"));
        let provider = stark_sessions_rpc::connect(url, Duration::from_secs(1)).expect("client");
        let metrics = Arc::default();
        Engine::new(
            config,
            provider,
            Felt::ONE,
            store,
            metrics,
            Arc::new(NoFailPoints),
        )
    }

    fn held(engine: &Engine) -> Vec<bool> {
        engine.core.leases.iter().map(|l| l.is_held()).collect()
    }

    #[tokio::test]
    async fn the_pool_is_shared_among_live_instances_and_taken_over_when_one_stops() {
        let dir = std::env::temp_dir().join(format!("pm-leases-{:016x}", rand::random::<u64>()));
        let path = dir.join("db.sqlite");
        let (a, b) = (engine(&path, "a"), engine(&path, "b"));
        let (mut held_a, mut held_b) = (Holdings::new(3), Holdings::new(3));
        assert_eq!(
            held(&a),
            [false; 3],
            "nothing is sent before a lease is held"
        );

        tick(&a.core, &mut held_a).await.expect("tick");
        assert_eq!(held(&a), [true; 3], "alone, a takes the whole pool");
        tick(&b.core, &mut held_b).await.expect("tick");
        assert_eq!(held(&b), [false; 3], "b waits for a to give up its extra");
        tick(&a.core, &mut held_a).await.expect("tick");
        assert_eq!(
            held(&a).iter().filter(|h| **h).count(),
            2,
            "a stops using its extra"
        );
        tick(&a.core, &mut held_a).await.expect("tick");
        tick(&b.core, &mut held_b).await.expect("tick");
        let (ha, hb) = (held(&a), held(&b));
        assert_eq!(ha.iter().filter(|h| **h).count(), 2, "{ha:?}");
        assert!(ha.iter().zip(&hb).all(|(x, y)| x != y), "{ha:?} {hb:?}");

        // a stops renewing; once its leases ran out, b takes them.
        tokio::time::sleep(Duration::from_millis(LEASE_MS + 50)).await;
        assert_eq!(
            held(&a),
            [false; 3],
            "a stops sending before its leases expire"
        );
        tick(&b.core, &mut held_b).await.expect("tick");
        assert_eq!(held(&b), [true; 3]);
        let holders: Vec<String> = b
            .core
            .store
            .leases()
            .expect("leases")
            .into_iter()
            .map(|l| l.holder)
            .collect();
        assert_eq!(holders, ["b", "b", "b"]);

        // Closed, b hands everything over at once.
        b.close().expect("close");
        assert!(b.core.store.leases().expect("leases").is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
