//! One policy's JWKS, cached: when to fetch it again, and what to use meanwhile.
//!
//! The set is loaded on first use and fetched again when it is older than
//! [`JWKS_TTL_SECS`] or when a token names a `kid` it does not hold; but whatever asks, at most
//! one fetch is attempted per [`MIN_REFRESH_INTERVAL_SECS`]. A failed fetch keeps the cached
//! set in use (it is tried again once the interval has passed); with nothing cached, it is a
//! [`JwtError::JwksUnavailable`] naming the source and the reason.
//!
//! A fetch runs in a task of its own, so a caller that gives up (a client that hung up) does
//! not cancel it: its outcome is recorded either way, and the callers waiting for it use it.
//!
//! Time is the caller's `now` (Unix seconds). Concurrent requests may arrive a few seconds out
//! of order, which counts as no time passed; a clock that jumped back further than the minimum
//! interval counts as "long ago": it allows one fetch, which then becomes the new reference.

use std::sync::{Arc, Mutex, MutexGuard};

use jsonwebtoken::DecodingKey;

use super::error::JwtError;
use super::fetch::JwksFetcher;
use super::jwks::KeySet;
use super::token::Alg;
use super::{JwksSource, JWKS_TTL_SECS, MIN_REFRESH_INTERVAL_SECS};

/// The cached keys of one [`JwksSource`].
#[derive(Debug)]
pub(super) struct KeyCache {
    fetcher: JwksFetcher,
    state: Arc<Mutex<State>>,
    /// Held for the length of a fetch: concurrent verifications wait for that fetch and use
    /// its result instead of starting their own.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// When `keys` were fetched.
    fetched_at: u64,
    /// When the last fetch, successful or not, started.
    last_attempt: Option<u64>,
    /// Why the last fetch failed, if it did (source included).
    last_error: Option<String>,
}

impl KeyCache {
    /// An empty cache for `source`.
    pub(super) fn new(source: JwksSource) -> Result<Self, JwtError> {
        Ok(KeyCache {
            fetcher: JwksFetcher::new(source)?,
            state: Arc::default(),
            fetching: Arc::default(),
        })
    }

    /// The key to verify a token with this `kid` and algorithm, refreshing the set once if it
    /// does not know the `kid` (rate limit permitting).
    pub(super) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Alg,
        now: u64,
    ) -> Result<DecodingKey, JwtError> {
        let keys = self.current(now).await?;
        match keys.find(kid, alg) {
            Err(JwtError::UnknownKid(_)) => self.refresh(now).await?.find(kid, alg).cloned(),
            found => found.cloned(),
        }
    }

    /// The set to use at `now`: the cached one, refreshed first if absent or past its TTL.
    async fn current(&self, now: u64) -> Result<Arc<KeySet>, JwtError> {
        let cached = {
            let state = lock(&self.state);
            state
                .keys
                .clone()
                .filter(|_| elapsed(state.fetched_at, now) < JWKS_TTL_SECS)
        };
        match cached {
            Some(keys) => Ok(keys),
            None => self.refresh(now).await,
        }
    }

    /// Fetches the set if no fetch was attempted in the last interval, and returns the set to
    /// use: the new one, else the cached one.
    async fn refresh(&self, now: u64) -> Result<Arc<KeySet>, JwtError> {
        let fetching = self.fetching.clone().lock_owned().await;
        if !self.start_attempt(now) {
            return usable(&lock(&self.state));
        }
        let (fetcher, state) = (self.fetcher.clone(), self.state.clone());
        let task = tokio::spawn(async move {
            let fetched = fetcher.fetch().await;
            record(&mut lock(&state), fetcher.source(), fetched, now);
            drop(fetching);
        });
        // The task records its outcome itself; a panic in it leaves the state as it was.
        let _ = task.await;
        usable(&lock(&self.state))
    }

    /// Whether a fetch may start at `now`; if so, it is counted as started.
    fn start_attempt(&self, now: u64) -> bool {
        let mut state = lock(&self.state);
        let recent = state
            .last_attempt
            .is_some_and(|at| elapsed(at, now) < MIN_REFRESH_INTERVAL_SECS);
        if !recent {
            state.last_attempt = Some(now);
        }
        !recent
    }
}

/// Stores the outcome of the fetch started at `now`: a new set, or why it failed.
fn record(state: &mut State, source: &JwksSource, fetched: Result<KeySet, String>, now: u64) {
    match fetched {
        Ok(keys) => {
            tracing::info!(%source, keys = keys.len(), "JWKS loaded");
            state.keys = Some(Arc::new(keys));
            state.fetched_at = now;
            state.last_error = None;
        }
        Err(reason) => {
            let reason = format!("{source}: {reason}");
            tracing::warn!(cached = state.keys.is_some(), "JWKS fetch failed: {reason}");
            state.last_error = Some(reason);
        }
    }
}

/// The cached set, or why there is none.
fn usable(state: &State) -> Result<Arc<KeySet>, JwtError> {
    state.keys.clone().ok_or_else(|| {
        let reason = state.last_error.as_deref().unwrap_or("not loaded yet");
        JwtError::JwksUnavailable(format!(
            "{reason} (retried at most every {MIN_REFRESH_INTERVAL_SECS} s)"
        ))
    })
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every update of the state is a few plain assignments: a panic elsewhere while the lock
    // was held cannot leave it inconsistent.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seconds from `then` to `now`. A `now` slightly behind `then` (concurrent requests that read
/// the clock in one order and reached the cache in the other) counts as no time passed; a clock
/// that jumped back further counts as long ago.
fn elapsed(then: u64, now: u64) -> u64 {
    match now.checked_sub(then) {
        Some(seconds) => seconds,
        None if then - now <= MIN_REFRESH_INTERVAL_SECS => 0,
        None => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_slightly_behind_is_no_time_and_far_behind_is_long_ago() {
        assert_eq!(elapsed(100, 130), 30);
        assert_eq!(elapsed(130, 100), 0);
        assert_eq!(elapsed(100 + MIN_REFRESH_INTERVAL_SECS + 1, 100), u64::MAX);
    }
}
