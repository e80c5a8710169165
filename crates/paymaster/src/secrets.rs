//! Configuration values that are secrets in part or whole, shown redacted wherever they are
//! printed: the node's URL (a provider's key rides in its path or query) and the token that
//! guards `/health` and `/metrics`.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use starknet::providers::jsonrpc::{HttpTransportError, JsonRpcClientError};
use starknet::providers::ProviderError;
use subtle::ConstantTimeEq;
use url::Url;
use zeroize::Zeroizing;

use crate::error::PaymasterError;

/// What stands in for a URL's path and query.
const ELIDED: &str = "…";

/// The Starknet node's URL. `Display` and `Debug` show its scheme, host and port only: node
/// providers put the account's key in the path (`/v3/<key>`, `/v2/<key>`) or the query.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeUrl(Url);

impl NodeUrl {
    /// The whole URL, for the HTTP client only.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// `text` with every occurrence of this URL (or of its path and query) redacted: for
    /// messages that came from the HTTP client, which quotes the URL it failed on.
    pub fn scrub(&self, text: &str) -> String {
        let shown = self.to_string();
        let mut out = text.replace(self.0.as_str(), &shown);
        let secret = &self.0[url::Position::BeforePath..];
        if secret.len() > 1 {
            out = out.replace(secret, ELIDED);
        }
        out
    }
}

impl From<Url> for NodeUrl {
    fn from(url: Url) -> Self {
        NodeUrl(url)
    }
}

impl FromStr for NodeUrl {
    type Err = url::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Url::parse(s).map(NodeUrl)
    }
}

impl fmt::Display for NodeUrl {
    /// `scheme://host[:port]`, then `/…` if the URL has more (without user name or password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.0.host_str().unwrap_or_default();
        write!(f, "{}://{host}", self.0.scheme())?;
        if let Some(port) = self.0.port() {
            write!(f, ":{port}")?;
        }
        if self.0[url::Position::BeforePath..].len() > 1 {
            write!(f, "/{ELIDED}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeUrl({self})")
    }
}

impl<'de> serde::Deserialize<'de> for NodeUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        // The parser's error never quotes the input.
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A node error's text without the URL the HTTP client quotes in it (`error sending request
/// for url (…)`): the URL it names, path and query, becomes `scheme://host/…`.
pub fn node_error_text(e: &ProviderError) -> String {
    let text = e.to_string();
    let quoted = match e {
        ProviderError::Other(inner) => inner
            .as_any()
            .downcast_ref::<JsonRpcClientError<HttpTransportError>>()
            .and_then(|e| match e {
                JsonRpcClientError::TransportError(HttpTransportError::Reqwest(e)) => {
                    e.url().cloned()
                }
                _ => None,
            }),
        _ => None,
    };
    match quoted {
        Some(url) => NodeUrl(url).scrub(&text),
        None => text,
    }
}

/// Shortest `ops_token` accepted.
pub const MIN_OPS_TOKEN_CHARS: usize = 16;

/// The bearer token `/health` and `/metrics` require (`ops_token`).
#[derive(Clone, PartialEq, Eq)]
pub struct OpsToken(Zeroizing<String>);

impl OpsToken {
    /// Whether `presented` is the token, compared in constant time (over SHA-256 digests, so
    /// that not even the length is learnt from the time taken).
    pub fn matches(&self, presented: &str) -> bool {
        let want = Sha256::digest(self.0.as_bytes());
        let got = Sha256::digest(presented.as_bytes());
        want.ct_eq(&got).into()
    }
}

impl FromStr for OpsToken {
    type Err = PaymasterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.chars().count() < MIN_OPS_TOKEN_CHARS {
            return Err(PaymasterError::Config(format!(
                "ops_token must be at least {MIN_OPS_TOKEN_CHARS} characters"
            )));
        }
        Ok(OpsToken(Zeroizing::new(s.to_owned())))
    }
}

impl fmt::Debug for OpsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpsToken(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for OpsToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_url_shows_no_path_query_or_credentials() {
        for (text, shown) in [
            (
                "https://starknet-mainnet.infura.io/v3/0123456789abcdef",
                "https://starknet-mainnet.infura.io/…",
            ),
            (
                "https://user:pw@node.example:8443/rpc?apikey=0123456789abcdef",
                "https://node.example:8443/…",
            ),
            ("http://127.0.0.1:5050/", "http://127.0.0.1:5050"),
        ] {
            let url: NodeUrl = text.parse().expect("url");
            assert_eq!(url.to_string(), shown);
            assert_eq!(format!("{url:?}"), format!("NodeUrl({shown})"));
            assert_eq!(
                url.expose().as_str(),
                Url::parse(text).expect("url").as_str()
            );
        }
    }

    #[test]
    fn scrubbing_removes_the_url_and_its_secret_part_from_messages() {
        let url: NodeUrl = "https://node.example/v3/0123456789abcdef"
            .parse()
            .expect("url");
        let message = "error sending request for url \
                       (https://node.example/v3/0123456789abcdef): connection refused; \
                       path /v3/0123456789abcdef";
        let scrubbed = url.scrub(message);
        assert!(!scrubbed.contains("0123456789abcdef"), "{scrubbed}");
        assert!(scrubbed.contains("https://node.example/…"), "{scrubbed}");
        assert!(scrubbed.contains("connection refused"), "{scrubbed}");
    }

    #[tokio::test]
    async fn a_node_error_names_the_node_without_its_key() {
        // The discard port: nothing listens, the request fails at once.
        let url: Url = "http://127.0.0.1:9/v3/nodekey0123456789"
            .parse()
            .expect("url");
        let node =
            stark_sessions_rpc::connect(url, std::time::Duration::from_secs(2)).expect("client");
        let e = stark_sessions_rpc::chain_id(&node)
            .await
            .expect_err("nobody listens");
        assert!(
            e.to_string().contains("nodekey0123456789"),
            "the HTTP client quotes the URL: {e}"
        );
        let text = node_error_text(&e);
        assert!(!text.contains("nodekey0123456789"), "{text}");
        assert!(text.contains("http://127.0.0.1:9/…"), "{text}");
    }

    #[tokio::test]
    async fn a_paymaster_whose_node_is_unreachable_says_so_without_the_key() {
        let url: Url = "http://127.0.0.1:9/v3/nodekey0123456789"
            .parse()
            .expect("url");
        let mut config = crate::PaymasterConfig::new(url, Vec::new());
        config.rpc_timeout_ms = 2_000;
        let e = crate::Paymaster::new(config)
            .await
            .map(|_| ())
            .expect_err("no node");
        let shown = e.to_string();
        assert!(
            shown.contains("node http://127.0.0.1:9/… unreachable"),
            "{shown}"
        );
        assert!(!shown.contains("nodekey0123456789"), "{shown}");
    }

    #[test]
    fn an_ops_token_matches_only_itself_and_is_never_shown() {
        let token: OpsToken = "correct-horse-battery".parse().expect("token");
        assert!(token.matches("correct-horse-battery"));
        assert!(!token.matches("correct-horse-batter"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("horse"));
        let e = "short".parse::<OpsToken>().expect_err("too short");
        assert!(e.to_string().contains("16"), "{e}");
    }
}
