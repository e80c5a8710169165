//! What users' calls cost, remembered per account class and call shape, so that
//! `buildTransaction` quotes without a node execution of its own.
//!
//! The first request of a shape (the account's class; each call's target, selector and
//! calldata length) simulates the calls, which also refuses calls that cannot succeed; later
//! requests of the shape are quoted from that estimate, which is simulated again in the
//! background, once, when it is older than [`REFRESH_AFTER`]. The quote is advisory either
//! way: the engine simulates the real relayer transaction (signatures and all) before it sends
//! anything, refuses an execution that would fail with its own error, and in default mode
//! refuses a signed fee transfer below its share of that estimate (154).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stark_sessions_abi::{Call, Felt};

/// How old a remembered estimate may be before a request of its shape refreshes it.
pub(crate) const REFRESH_AFTER: Duration = Duration::from_secs(300);
/// How long an account's class hash is remembered (an upgrade changes it).
const CLASS_TTL: Duration = Duration::from_secs(600);
/// The most shapes remembered: requests cannot grow the memory without bound.
const MAX_SHAPES: usize = 4096;
/// The most accounts whose class is remembered.
const MAX_CLASSES: usize = 65_536;

/// What decides the cost of a user's calls, as far as a quote cares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    class_hash: Felt,
    calls: Vec<(Felt, Felt, usize)>,
}

impl Shape {
    /// The shape of `calls` made by an account of `class_hash`.
    pub(crate) fn new(class_hash: Felt, calls: &[Call]) -> Self {
        Shape {
            class_hash,
            calls: calls
                .iter()
                .map(|c| (c.to, c.selector, c.calldata.len()))
                .collect(),
        }
    }
}

/// A remembered estimate: the fee in L2-gas units (the fee over the L2 gas price it was
/// estimated at), so that a quote follows today's price; when it is due for a refresh.
#[derive(Debug, Clone, Copy)]
struct Entry {
    gas: u128,
    due: Instant,
    refreshing: bool,
}

/// What is known of a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// An estimate recent enough (or being refreshed already), in L2-gas units.
    Fresh(u128),
    /// An estimate to serve and refresh: the caller is the one to refresh it.
    Stale(u128),
    /// Nothing: simulate.
    Missing,
}

/// The remembered estimates and account classes.
#[derive(Debug, Default)]
pub(crate) struct ShapeEstimates {
    classes: Mutex<HashMap<Felt, (Felt, Instant)>>,
    shapes: Mutex<HashMap<Shape, Entry>>,
}

/// Removes the entry `age` finds oldest when `map` is full.
fn make_room<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    max: usize,
    age: impl Fn(&V) -> Instant,
) {
    if map.len() < max {
        return;
    }
    if let Some(oldest) = map
        .iter()
        .min_by_key(|(_, v)| age(v))
        .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

impl ShapeEstimates {
    /// The remembered class of `account`, if recent.
    pub(crate) fn class_of(&self, account: Felt) -> Option<Felt> {
        let classes = self.classes.lock().ok()?;
        classes
            .get(&account)
            .filter(|(_, at)| at.elapsed() < CLASS_TTL)
            .map(|(class, _)| *class)
    }

    /// Remembers that `account` is of `class_hash`.
    pub(crate) fn remember_class(&self, account: Felt, class_hash: Felt) {
        if let Ok(mut classes) = self.classes.lock() {
            make_room(&mut classes, MAX_CLASSES, |(_, at)| *at);
            classes.insert(account, (class_hash, Instant::now()));
        }
    }

    /// What is known of `shape`. A stale estimate is reported [`Lookup::Stale`] to one caller
    /// only; the others get it as fresh until that caller's refresh is recorded.
    pub(crate) fn lookup(&self, shape: &Shape) -> Lookup {
        let Ok(mut shapes) = self.shapes.lock() else {
            return Lookup::Missing;
        };
        match shapes.get_mut(shape) {
            None => Lookup::Missing,
            Some(e) if !e.refreshing && Instant::now() >= e.due => {
                e.refreshing = true;
                Lookup::Stale(e.gas)
            }
            Some(e) => Lookup::Fresh(e.gas),
        }
    }

    /// Records a simulation of `shape`: its estimate, or `None` if it failed (the previous
    /// estimate stays, and is not refreshed again before another period).
    pub(crate) fn record(&self, shape: Shape, gas: Option<u128>) {
        let Ok(mut shapes) = self.shapes.lock() else {
            return;
        };
        let due = Instant::now() + REFRESH_AFTER;
        match (shapes.get_mut(&shape), gas) {
            (Some(e), gas) => {
                e.gas = gas.unwrap_or(e.gas);
                e.due = due;
                e.refreshing = false;
            }
            (None, Some(gas)) => {
                make_room(&mut shapes, MAX_SHAPES, |e| e.due);
                shapes.insert(
                    shape,
                    Entry {
                        gas,
                        due,
                        refreshing: false,
                    },
                );
            }
            (None, None) => {}
        }
    }

    /// Makes `shape`'s estimate due for a refresh now.
    #[cfg(test)]
    fn expire(&self, shape: &Shape) {
        if let Some(e) = self.shapes.lock().expect("lock").get_mut(shape) {
            e.due = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(to: u64, selector: u64, args: usize) -> Call {
        Call {
            to: Felt::from(to),
            selector: Felt::from(selector),
            calldata: vec![Felt::ONE; args],
        }
    }

    #[test]
    fn a_shape_is_the_class_targets_selectors_and_calldata_lengths() {
        let class = Felt::from(7u8);
        let mut other_values = call(1, 2, 1);
        other_values.calldata = vec![Felt::from(99u8)];
        assert_eq!(
            Shape::new(class, &[call(1, 2, 1)]),
            Shape::new(class, &[other_values])
        );
        for different in [
            Shape::new(Felt::from(8u8), &[call(1, 2, 1)]),
            Shape::new(class, &[call(3, 2, 1)]),
            Shape::new(class, &[call(1, 4, 1)]),
            Shape::new(class, &[call(1, 2, 2)]),
            Shape::new(class, &[call(1, 2, 1), call(1, 2, 1)]),
        ] {
            assert_ne!(Shape::new(class, &[call(1, 2, 1)]), different);
        }
    }

    #[test]
    fn an_estimate_is_served_then_refreshed_by_one_caller_once_it_is_old() {
        let estimates = ShapeEstimates::default();
        let shape = Shape::new(Felt::ONE, &[call(1, 2, 1)]);
        assert_eq!(estimates.lookup(&shape), Lookup::Missing);
        // A failed first simulation remembers nothing.
        estimates.record(shape.clone(), None);
        assert_eq!(estimates.lookup(&shape), Lookup::Missing);
        estimates.record(shape.clone(), Some(500));
        assert_eq!(estimates.lookup(&shape), Lookup::Fresh(500));
        estimates.expire(&shape);
        assert_eq!(estimates.lookup(&shape), Lookup::Stale(500));
        // While that refresh runs, everyone else is served the old estimate.
        assert_eq!(estimates.lookup(&shape), Lookup::Fresh(500));
        estimates.record(shape.clone(), Some(650));
        assert_eq!(estimates.lookup(&shape), Lookup::Fresh(650));
        // A failed refresh keeps the estimate and waits another period.
        estimates.expire(&shape);
        assert_eq!(estimates.lookup(&shape), Lookup::Stale(650));
        estimates.record(shape.clone(), None);
        assert_eq!(estimates.lookup(&shape), Lookup::Fresh(650));
    }

    #[test]
    fn memory_is_bounded() {
        let estimates = ShapeEstimates::default();
        for i in 0..(MAX_SHAPES as u64 + 10) {
            estimates.record(Shape::new(Felt::ONE, &[call(i, 2, 1)]), Some(1));
        }
        assert_eq!(estimates.shapes.lock().expect("lock").len(), MAX_SHAPES);
        estimates.remember_class(Felt::ONE, Felt::TWO);
        assert_eq!(estimates.class_of(Felt::ONE), Some(Felt::TWO));
        assert_eq!(estimates.class_of(Felt::TWO), None);
    }
}
