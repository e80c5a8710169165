//! Reading a JWKS document from its source: a file, or an HTTP(S) URL fetched with a time
//! limit, a size limit and redirects to `https` only.

use std::io::Read;
use std::path::PathBuf;

use url::Url;

use super::error::JwtError;
use super::jwks::KeySet;
use super::{JwksSource, JWKS_FETCH_TIMEOUT, MAX_JWKS_BYTES};

/// Redirects followed when fetching a JWKS URL.
const MAX_REDIRECTS: usize = 3;

/// Reads one [`JwksSource`]; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct JwksFetcher {
    source: JwksSource,
    http: reqwest::Client,
}

impl JwksFetcher {
    /// A fetcher for `source`.
    pub(super) fn new(source: JwksSource) -> Result<Self, JwtError> {
        let http = reqwest::Client::builder()
            .timeout(JWKS_FETCH_TIMEOUT)
            .connect_timeout(JWKS_FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(https_redirects_only))
            .build()
            .map_err(|e| JwtError::Config(format!("http client: {}", error_chain(&e))))?;
        Ok(JwksFetcher { source, http })
    }

    /// Where the keys come from.
    pub(super) fn source(&self) -> &JwksSource {
        &self.source
    }

    /// Reads and parses the JWKS document once; the error says why, without the source.
    pub(super) async fn fetch(&self) -> Result<KeySet, String> {
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
