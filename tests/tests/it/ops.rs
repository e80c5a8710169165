//! `/health` and `/metrics` for a public deployment: behind a bearer token (`ops_token`), or
//! on a listener of their own (`ops_listen`), off the JSON-RPC listener.

use serde_json::json;
use stark_sessions_tests::paymaster::{Auth, PaymasterHarness};
use stark_sessions_tests::Fixture;
use url::Url;

const TOKEN: &str = "ops-token-0123456789";

/// The status of `GET url`, with `token` as a bearer token if given.
async fn status(url: Url, token: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("reachable").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_need_the_ops_token_and_may_listen_apart() {
    let fixture = Fixture::new(0x0b5e).await.expect("fixture");
    let mut config = PaymasterHarness::config(&fixture, None);
    config.ops_token = Some(TOKEN.parse().expect("token"));
    let pm = PaymasterHarness::start(config.clone())
        .await
        .expect("paymaster");
    let at = |path: &str| pm.server.url().join(path).expect("url");
    for path in ["health", "metrics"] {
        assert_eq!(
            status(at(path), None).await,
            401,
            "{path} without the token"
        );
        assert_eq!(
            status(at(path), Some("ops-token-0123456780")).await,
            401,
            "{path} with another token"
        );
        assert_eq!(status(at(path), Some(TOKEN)).await, 200, "{path} with it");
    }
    // The JSON-RPC methods are not behind it.
    let available = pm
        .client
        .call("paymaster_isAvailable", json!({}), &Auth::None)
        .await
        .expect("http")
        .expect("answered");
    assert_eq!(available, json!(true));
    pm.server.stop().await;

    // A listener of their own: there they answer, on the JSON-RPC listener they do not.
    config.ops_token = None;
    config.ops_listen = Some("127.0.0.1:0".parse().expect("address"));
    let pm = PaymasterHarness::start(config).await.expect("paymaster");
    let ops = pm.server.ops_url().expect("an ops listener").clone();
    assert_ne!(ops.port(), pm.server.url().port());
    for path in ["health", "metrics"] {
        assert_eq!(
            status(ops.join(path).expect("url"), None).await,
            200,
            "{path}"
        );
        let main = pm.server.url().join(path).expect("url");
        assert_eq!(
            status(main, None).await,
            404,
            "{path} on the JSON-RPC listener"
        );
    }
}
