//! A fault-injecting HTTP proxy for a node's JSON-RPC: on 127.0.0.1, an ephemeral port, for a
//! bounded time. Requests pass through to the node unless a rule picks them (by JSON-RPC method
//! and position, or by method and a piece of the request body), in which case the proxy
//! forwards and loses the answer, answers too late, answers 5xx, or resets the connection —
//! before or after the node saw the request — or answers a JSON-RPC error of the test's choice
//! in the node's place (as a node answers a user's call that panics with that text).
//! Started with [`FaultProxy::start_forwarding_headers`] it also passes the named request
//! headers on (a paymaster's credentials), to stand between the SDK and a paymaster. It counts
//! what reached the upstream by JSON-RPC method ([`FaultProxy::forwarded_by_method`]), so with
//! no rule it is a counting proxy: the node work a client causes, counted at the node.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

/// Largest request the proxy reads (a bundle of signed executions is well below).
const MAX_REQUEST: usize = 4 << 20;

/// The node methods that execute a transaction: simulations, fee estimates and sends. What a
/// client costs the node is counted in these.
pub const NODE_EXECUTIONS: [&str; 5] = [
    "starknet_estimateFee",
    "starknet_simulateTransactions",
    "starknet_addInvokeTransaction",
    "starknet_addDeployAccountTransaction",
    "starknet_addDeclareTransaction",
];

/// What the proxy does to a request a rule picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards it, then closes the connection without answering.
    DropResponse,
    /// Forwards it, then answers only after this long (past the client's timeout).
    Delay(Duration),
    /// Forwards it, then answers 502 with a body that is not JSON-RPC.
    ServerErrorAfterForward,
    /// Answers 503 without forwarding.
    ServerErrorBeforeForward,
    /// Forwards it, then resets the connection.
    ResetAfterForward,
    /// Resets the connection without forwarding.
    ResetBeforeForward,
}

impl Fault {
    fn forwards(self) -> bool {
        !matches!(
            self,
            Fault::ServerErrorBeforeForward | Fault::ResetBeforeForward
        )
    }
}

/// What a rule does to a request it picks.
#[derive(Debug, Clone)]
enum Action {
    Fault(Fault),
    /// Answers this JSON-RPC `error` object without forwarding.
    Answer(Value),
}

#[derive(Debug)]
struct Rule {
    method: String,
    /// Only requests whose body contains this, if set.
    needle: Option<String>,
    /// Matching requests to let through first.
    skip: usize,
    /// Matching requests to fault after those.
    times: usize,
    action: Action,
    seen: usize,
}

struct Shared {
    upstream: Url,
    http: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    injected: AtomicUsize,
    forwarded: AtomicUsize,
    /// Requests that reached the upstream, by JSON-RPC method.
    forwarded_by_method: Mutex<HashMap<String, usize>>,
    /// Request headers passed on to the upstream (lower case).
    forward_headers: Vec<String>,
}

impl Shared {
    /// What to do to a request of `method` with this body, if a rule picks it.
    fn pick(&self, method: &str, body: &[u8]) -> Option<Action> {
        let body = String::from_utf8_lossy(body);
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let matching = rules.iter_mut().filter(|r| {
            r.method == method && r.needle.as_ref().is_none_or(|n| body.contains(n.as_str()))
        });
        for rule in matching {
            let position = rule.seen;
            rule.seen += 1;
            if position >= rule.skip && position - rule.skip < rule.times {
                self.injected.fetch_add(1, Ordering::Relaxed);
                return Some(rule.action.clone());
            }
        }
        None
    }
}

/// A running proxy; it stops when dropped or when its lifetime is over.
pub struct FaultProxy {
    url: Url,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` that serves for at most `lifetime`.
    pub async fn start(upstream: &Url, lifetime: Duration) -> Result<Self> {
        Self::start_forwarding_headers(upstream, lifetime, &[]).await
    }

    /// [`Self::start`], passing the request headers named in `headers` on to `upstream`
    /// (e.g. `x-paymaster-api-key` and `authorization` in front of a paymaster).
    pub async fn start_forwarding_headers(
        upstream: &Url,
        lifetime: Duration,
        headers: &[&str],
    ) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the proxy")?;
        let address = listener.local_addr()?;
        let url = Url::parse(&format!("http://{address}/"))?;
        let shared = Arc::new(Shared {
            upstream: upstream.clone(),
            http: reqwest::Client::new(),
            rules: Mutex::new(Vec::new()),
            injected: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
            forwarded_by_method: Mutex::new(HashMap::new()),
            forward_headers: headers.iter().map(|h| h.to_ascii_lowercase()).collect(),
        });
        let deadline = Instant::now() + lifetime;
        let task = tokio::spawn(accept(listener, shared.clone(), deadline));
        Ok(FaultProxy { url, shared, task })
    }

    /// The proxy's URL, to give the client in place of the node's.
    pub fn url(&self) -> &Url {
        &self.url
    }

    fn add(&self, method: &str, needle: Option<&str>, skip: usize, times: usize, action: Action) {
        self.shared
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Rule {
                method: method.to_owned(),
                needle: needle.map(str::to_owned),
                skip,
                times,
                action,
                seen: 0,
            });
    }

    /// Faults `times` requests of JSON-RPC `method`, after letting `skip` of them through.
    pub fn inject(&self, method: &str, skip: usize, times: usize, fault: Fault) {
        self.add(method, None, skip, times, Action::Fault(fault));
    }

    /// Faults every request of JSON-RPC `method` whose body contains `needle`.
    pub fn inject_matching(&self, method: &str, needle: &str, fault: Fault) {
        self.add(method, Some(needle), 0, usize::MAX, Action::Fault(fault));
    }

    /// Answers `times` requests of JSON-RPC `method`, after letting `skip` of them through,
    /// with the JSON-RPC `error` object given, in the node's place.
    pub fn answer(&self, method: &str, skip: usize, times: usize, error: Value) {
        self.add(method, None, skip, times, Action::Answer(error));
    }

    /// Answers every request of JSON-RPC `method` whose body contains `needle` with the
    /// JSON-RPC `error` object given, in the node's place.
    pub fn answer_matching(&self, method: &str, needle: &str, error: Value) {
        self.add(method, Some(needle), 0, usize::MAX, Action::Answer(error));
    }

    /// How many requests were faulted so far.
    pub fn injected(&self) -> usize {
        self.shared.injected.load(Ordering::Relaxed)
    }

    /// How many requests reached the node.
    pub fn forwarded(&self) -> usize {
        self.shared.forwarded.load(Ordering::Relaxed)
    }

    /// How many requests of JSON-RPC `method` reached the upstream.
    pub fn forwarded_of(&self, method: &str) -> usize {
        self.forwarded_by_method()
            .get(method)
            .copied()
            .unwrap_or_default()
    }

    /// How many transaction executions ([`NODE_EXECUTIONS`]) reached the upstream so far.
    pub fn node_executions(&self) -> usize {
        let counts = self.forwarded_by_method();
        NODE_EXECUTIONS.iter().filter_map(|m| counts.get(*m)).sum()
    }

    /// How many requests of each JSON-RPC method reached the upstream so far.
    pub fn forwarded_by_method(&self) -> HashMap<String, usize> {
        self.shared
            .forwarded_by_method
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, deadline: Instant) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok(Ok((stream, _))) = tokio::time::timeout_at(deadline, listener.accept()).await {
        connections.spawn(serve(stream, shared.clone()));
        while connections.try_join_next().is_some() {}
    }
    // Lifetime over: the connections end with the task set.
}

/// Serves the requests of one connection until it closes or a fault ends it.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    loop {
        let Ok(Some((headers, body))) = read_request(&stream, &mut buffer).await else {
            return;
        };
        let request = serde_json::from_slice::<Value>(&body).unwrap_or_default();
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let fault = match shared.pick(&method, &body) {
            Some(Action::Answer(error)) => {
                let id = request.get("id").cloned().unwrap_or(Value::Null);
                let answer = serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error });
                if !respond(
                    &stream,
                    200,
                    "application/json",
                    answer.to_string().as_bytes(),
                )
                .await
                {
                    return;
                }
                continue;
            }
            Some(Action::Fault(fault)) => Some(fault),
            None => None,
        };
        let answer = match fault {
            Some(f) if !f.forwards() => None,
            _ => match forward(&shared, &headers, body).await {
                Ok(answer) => {
                    *shared
                        .forwarded_by_method
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(method)
                        .or_default() += 1;
                    Some(answer)
                }
                Err(_) => return,
            },
        };
        let keep_open = match (fault, answer) {
            (None, Some(answer)) => respond(&stream, 200, "application/json", &answer).await,
            (Some(fault), answer) => apply(&stream, fault, answer).await,
            (None, None) => false,
        };
        if !keep_open {
            return;
        }
    }
}

/// Applies a fault; whether the connection stays usable.
async fn apply(stream: &TcpStream, fault: Fault, answer: Option<Vec<u8>>) -> bool {
    match fault {
        Fault::DropResponse => false,
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            let body = answer.unwrap_or_default();
            respond(stream, 200, "application/json", &body).await
        }
        Fault::ServerErrorAfterForward => {
            respond(stream, 502, "text/plain", b"Bad Gateway").await;
            false
        }
        Fault::ServerErrorBeforeForward => {
            respond(stream, 503, "text/plain", b"Service Unavailable").await;
            false
        }
        Fault::ResetAfterForward | Fault::ResetBeforeForward => {
            // An abortive close: the peer sees a reset, not an end of stream.
            let _ = stream.set_zero_linger();
            false
        }
    }
}

async fn forward(shared: &Shared, headers: &[(String, String)], body: Vec<u8>) -> Result<Vec<u8>> {
    let mut request = shared
        .http
        .post(shared.upstream.clone())
        .header("content-type", "application/json");
    for (name, value) in headers {
        if shared.forward_headers.contains(name) {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    let response = request.body(body).send().await?;
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    Ok(response.bytes().await?.to_vec())
}

/// One request's headers: names in lower case, values as sent.
type Headers = Vec<(String, String)>;

/// Reads one HTTP/1.1 request (headers, then a `Content-Length` body); `None` at a clean end.
async fn read_request(
    stream: &TcpStream,
    buffer: &mut Vec<u8>,
) -> io::Result<Option<(Headers, Vec<u8>)>> {
    let header_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > MAX_REQUEST || read_some(stream, buffer).await? == 0 {
            return Ok(None);
        }
    };
    let headers: Headers = String::from_utf8_lossy(&buffer[..header_end])
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return Ok(None);
    }
    while buffer.len() < header_end + length {
        if read_some(stream, buffer).await? == 0 {
            return Ok(None);
        }
    }
    let body = buffer[header_end..header_end + length].to_vec();
    buffer.drain(..header_end + length);
    Ok(Some((headers, body)))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn read_some(stream: &TcpStream, buffer: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut chunk) {
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes a response; whether the connection stays usable.
async fn respond(stream: &TcpStream, status: u16, content_type: &str, body: &[u8]) -> bool {
    let reason = match status {
        200 => "OK",
        502 => "Bad Gateway",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    write_all(stream, head.as_bytes()).await.is_ok() && write_all(stream, body).await.is_ok()
}
