//! One policy's JWKS, cached.
//!
//! The set is loaded on first use and fetched again when it is older than
//! [`JWKS_TTL_SECS`] or when a token names a `kid` it does not hold; but whatever asks, at most
//! one fetch is attempted per [`MIN_REFRESH_INTERVAL_SECS`]. A failed fetch keeps the cached
//! set in use (it is tried again once the interval has passed); with nothing cached, it is a
//! [`JwtError::JwksUnavailable`] naming the source and the reason.
//!
//! Time is the caller's `now` (Unix seconds). Concurrent requests may arrive a few seconds out
//! of order, which counts as no time passed; a clock that jumped back further than the minimum
//! interval counts as "long ago": it allows one fetch, which then becomes the new reference.

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use jsonwebtoken::DecodingKey;
use url::Url;

use super::error::JwtError;
use super::jwks::KeySet;
use super::token::Alg;
use super::{
    JwksSource, JWKS_FETCH_TIMEOUT, JWKS_TTL_SECS, MAX_JWKS_BYTES, MIN_REFRESH_INTERVAL_SECS,
};

/// Redirects followed when fetching a JWKS URL.
const MAX_REDIRECTS: usize = 3;

/// The cached keys of one [`JwksSource`].
#[derive(Debug)]
pub(super) struct KeyCache {
    source: JwksSource,
    http: reqwest::Client,
    state: Mutex<State>,
    /// Held for the length of a fetch: concurrent verifications wait for that fetch and use
    /// its result instead of starting their own.
    fetching: tokio::sync::Mutex<()>,
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
        let http = reqwest::Client::builder()
            .timeout(JWKS_FETCH_TIMEOUT)
            .connect_timeout(JWKS_FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(https_redirects_only))
            .build()
            .map_err(|e| JwtError::Config(format!("http client: {}", error_chain(&e))))?;
        Ok(KeyCache {
            source,
            http,
            state: Mutex::default(),
            fetching: tokio::sync::Mutex::new(()),
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
            let state = self.state();
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
        let _fetching = self.fetching.lock().await;
        {
            let mut state = self.state();
            if let Some(at) = state.last_attempt {
                if elapsed(at, now) < MIN_REFRESH_INTERVAL_SECS {
                    return self.usable(&state);
                }
            }
            state.last_attempt = Some(now);
        }
        let fetched = self.fetch().await;
        let mut state = self.state();
        match fetched {
            Ok(keys) => {
                tracing::info!(source = %self.source, keys = keys.len(), "JWKS loaded");
                state.keys = Some(Arc::new(keys));
                state.fetched_at = now;
                state.last_error = None;
            }
            Err(reason) => {
                let reason = format!("{}: {reason}", self.source);
                tracing::warn!(cached = state.keys.is_some(), "JWKS fetch failed: {reason}");
                state.last_error = Some(reason);
            }
        }
        self.usable(&state)
    }

    /// The cached set, or why there is none.
    fn usable(&self, state: &State) -> Result<Arc<KeySet>, JwtError> {
        state.keys.clone().ok_or_else(|| {
            let reason = state.last_error.as_deref().unwrap_or("not loaded yet");
            JwtError::JwksUnavailable(format!(
                "{reason} (retried at most every {MIN_REFRESH_INTERVAL_SECS} s)"
            ))
        })
    }

    /// Reads and parses the JWKS document once.
    async fn fetch(&self) -> Result<KeySet, String> {
        let document = match &self.source {
            JwksSource::File(path) => read_file(path.clone()).await?,
            JwksSource::Url(url) => self.download(url).await?,
        };
        KeySet::parse(&document)
    }

    /// GETs `url`, refusing a body over [`MAX_JWKS_BYTES`].
    async fn download(&self, url: &Url) -> Result<Vec<u8>, String> {
        let failed = |e: reqwest::Error| error_chain(&e.without_url());
        let mut response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(format!("the document is over {MAX_JWKS_BYTES} bytes"));
            }
        }
        Ok(body)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update of the state is a few plain assignments: a panic elsewhere while the
        // lock was held cannot leave it inconsistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads a JWKS file off the async runtime, refusing one over [`MAX_JWKS_BYTES`].
async fn read_file(path: PathBuf) -> Result<Vec<u8>, String> {
    let read = tokio::task::spawn_blocking(move || {
        let mut document = Vec::new();
        std::fs::File::open(&path)?
            .take(MAX_JWKS_BYTES as u64 + 1)
            .read_to_end(&mut document)?;
        Ok::<_, std::io::Error>(document)
    });
    let document = read
        .await
        .map_err(|e| format!("reading task failed: {e}"))?
        .map_err(|e| e.to_string())?;
    if document.len() > MAX_JWKS_BYTES {
        return Err(format!("the document is over {MAX_JWKS_BYTES} bytes"));
    }
    Ok(document)
}

/// Follows a few redirects, to `https` only: a redirect must not move the keys to clear text.
fn https_redirects_only(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
    } else if attempt.url().scheme() != "https" {
        attempt.error("redirected to a URL that is not https")
    } else {
        attempt.follow()
    }
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

/// An error and its causes, `: `-separated (reqwest's own message alone says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
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
