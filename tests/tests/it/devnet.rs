//! The devnet helpers: a dead or malformed node address gives a clear error.

use stark_sessions_devnet::{Devnet, DevnetError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_dead_node_names_the_failed_request() {
    // Bind and drop a listener so the port is closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let err = Devnet::connect(&format!("http://127.0.0.1:{port}/rpc"))
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(&err, DevnetError::Rpc { method, .. } if method == "starknet_chainId"),
        "{err}"
    );
    let err = Devnet::connect("not a url")
        .await
        .expect_err("malformed URL");
    assert!(
        matches!(err, DevnetError::Start(ref m) if m.contains("invalid node URL")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_devnet_has_funded_accounts_and_stops_on_drop() {
    let devnet = Devnet::start().await.expect("devnet");
    let url = devnet.url().to_string();
    assert_eq!(devnet.accounts().len(), 10);
    let first = devnet.accounts()[0].address;
    assert!(devnet.strk_balance(first).await.expect("balance") >= 10u128.pow(21) / 2);
    // Same seed, same accounts.
    let again = Devnet::start().await.expect("second devnet");
    assert_eq!(again.accounts()[0].address, first);
    drop(devnet);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        Devnet::connect(&url).await.is_err(),
        "the dropped devnet still answers"
    );
}
