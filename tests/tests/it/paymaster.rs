//! The paymaster against an embedded devnet: sponsorship end to end, every error code from a
//! real bad request, tokens, budgets, restarts, concurrency and the starknet.js wire shapes.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};
use stark_sessions_abi::{snip12, Felt};
use stark_sessions_devnet::{Devnet, DevnetOptions, ETH_ADDRESS, STRK_ADDRESS};
use stark_sessions_paymaster::Paymaster;
use stark_sessions_tests::paymaster::{
    felt, outside_of, session_sign_typed, sign_typed, sponsored, wire_calls, Auth, PaymasterHarness,
};
use stark_sessions_tests::{sel, Fixture, TestSession};
use starknet::core::types::{ExecutionResult, Felt as F};
use starknet::core::utils::get_udc_deployed_address;
use starknet::signers::SigningKey;

async fn setup(owner: u64) -> (Fixture, PaymasterHarness) {
    let fixture = Fixture::new(owner).await.expect("fixture");
    let harness = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .expect("paymaster");
    (fixture, harness)
}

async fn session_for(fixture: &Fixture, secret: u64, max_calls: u32) -> TestSession {
    fixture
        .play_session(secret, max_calls)
        .await
        .expect("register")
}

async fn succeeded(fixture: &Fixture, hash: Felt) -> bool {
    let receipt = fixture
        .devnet
        .receipt_allowing_revert(hash)
        .await
        .expect("receipt");
    matches!(
        receipt.receipt.execution_result(),
        ExecutionResult::Succeeded
    )
}

async fn relayer_balances(fixture: &Fixture, relayers: &[Felt]) -> u128 {
    let mut total = 0;
    for r in relayers {
        total += fixture.devnet.strk_balance(*r).await.expect("balance");
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_and_session_executions_are_sponsored_end_to_end() {
    let (fixture, pm) = setup(0x0a11).await;
    let chain = fixture.devnet.chain_id();
    let user = fixture.address();
    let user_before = fixture.devnet.strk_balance(user).await.expect("balance");
    let relayers_before = relayer_balances(&fixture, &pm.relayers).await;

    // Owner: registers a session key, gaslessly.
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let session = TestSession::from_secret(77, now + 3600);
    let register = fixture.register_call(&session, 5, &[sel("record_score")]);
    let built = pm
        .build(
            user,
            std::slice::from_ref(&register),
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("built");
    assert_eq!(built["type"], "invoke");
    let outside = outside_of(&built["typed_data"], chain).expect("typed data");
    assert_eq!(outside.calls, vec![register], "exactly the user's calls");
    assert_eq!(outside.caller, snip12::ANY_CALLER);
    let signature =
        sign_typed(&fixture.account.owner, &built["typed_data"], user, chain).expect("sign");
    let sent = pm
        .execute(
            user,
            &built["typed_data"],
            &signature,
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("executed");
    let hash = felt(&sent["transaction_hash"]).expect("hash");
    assert!(succeeded(&fixture, hash).await);
    assert_eq!(
        fixture
            .session_status(session.public_key)
            .await
            .expect("status"),
        stark_sessions_abi::SessionStatus::Active
    );

    // Session: plays, gaslessly.
    let play = fixture.play(5);
    let sent = pm
        .sponsor(&fixture, &session, &[play], &pm.key())
        .await
        .expect("http")
        .expect("executed");
    let hash = felt(&sent["transaction_hash"]).expect("hash");
    assert!(succeeded(&fixture, hash).await);
    assert_eq!(fixture.plays().await.expect("plays"), 1);

    let track = |auth: Auth| {
        let body = json!({ "tracking_id": sent["tracking_id"] });
        let client = pm.client.clone();
        async move {
            client
                .call("paymaster_trackingIdToLatestHash", body, &auth)
                .await
                .expect("http")
        }
    };
    let tracked = track(pm.key()).await.expect("tracked");
    assert_eq!(felt(&tracked["transaction_hash"]).expect("hash"), hash);
    assert_eq!(tracked["status"], "accepted");
    // Only the sponsoring key (or one of its tokens) may read it.
    assert_eq!(track(Auth::None).await.expect_err("anonymous").code, 170);
    let other = pm
        .paymaster
        .create_api_key("other", u128::MAX, 100, None)
        .expect("key");
    let e = track(Auth::ApiKey(other.to_string()))
        .await
        .expect_err("another key");
    assert_eq!(e.code, 160);
    let token = pm
        .client
        .call(
            "paymaster_createClientSession",
            json!({ "client_id": "reader" }),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("token");
    let bearer = Auth::Bearer(
        token["client_session_token"]
            .as_str()
            .expect("token")
            .to_owned(),
    );
    assert_eq!(
        track(bearer).await.expect("a token of the key")["transaction_hash"],
        tracked["transaction_hash"]
    );

    let user_after = fixture.devnet.strk_balance(user).await.expect("balance");
    let relayers_after = relayer_balances(&fixture, &pm.relayers).await;
    println!(
        "user balance {user_before} -> {user_after}; relayers paid {} FRI",
        relayers_before - relayers_after
    );
    assert_eq!(user_after, user_before, "the user paid nothing");
    assert!(relayers_after < relayers_before, "the relayers paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_execution_is_sent_once() {
    let (fixture, pm) = setup(0x0a12).await;
    let chain = fixture.devnet.chain_id();
    let user = fixture.address();
    let session = session_for(&fixture, 78, 5).await;
    let built = pm
        .build(user, &[fixture.play(1)], sponsored(), &pm.key())
        .await
        .expect("http")
        .expect("built");
    let signature = session_sign_typed(&session, &built["typed_data"], user, chain).expect("sign");
    let first = pm
        .execute(
            user,
            &built["typed_data"],
            &signature,
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("first");
    let again = pm
        .execute(
            user,
            &built["typed_data"],
            &signature,
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("retry answers with the first send");
    assert_eq!(first, again);
    assert!(succeeded(&fixture, felt(&first["transaction_hash"]).expect("hash")).await);
    assert_eq!(fixture.plays().await.expect("plays"), 1);
    assert_eq!(
        pm.paymaster
            .metrics()
            .sent
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_comes_from_a_real_bad_request() {
    let (fixture, pm) = setup(0x0a13).await;
    let chain = fixture.devnet.chain_id();
    let user = fixture.address();
    let key = pm.key();
    let code = |r: Result<Value, stark_sessions_tests::paymaster::RpcError>| match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    };

    // 150: no contract at the address.
    let e = code(
        pm.build(F::from(0x1234u32), &[fixture.play(1)], sponsored(), &key)
            .await
            .expect("http"),
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (150, "An error occurred (INVALID_ADDRESS)")
    );

    // 151: a gas token the paymaster does not take.
    let eth_mode = json!({ "version": "0x1", "fee_mode": { "mode": "default", "gas_token": format!("{ETH_ADDRESS:#x}") } });
    let e = code(
        pm.build(user, &[fixture.play(1)], eth_mode, &key)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 151);

    // 155: a deployed contract that is not a SNIP-9 account.
    let e = code(
        pm.build(fixture.scoreboard, &[fixture.play(1)], sponsored(), &key)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 155);

    // 156 at build: a call that cannot succeed.
    let bad_call = starknet::core::types::Call {
        to: fixture.scoreboard,
        selector: sel("no_such_entrypoint"),
        calldata: vec![],
    };
    let e = code(
        pm.build(user, &[bad_call], sponsored(), &key)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 156);
    assert!(e.data["execution_error"].is_string(), "{e:?}");

    // 157: a window already over, given as decimal strings.
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let past = json!({ "version": "0x1", "fee_mode": { "mode": "sponsored" },
        "time_bounds": { "execute_after": "1", "execute_before": (now - 1).to_string() } });
    let e = code(
        pm.build(user, &[fixture.play(1)], past, &key)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 157);

    // 153: signed by a key that is not the owner; refused in simulation, nothing sent.
    let built = pm
        .build(user, &[fixture.play(1)], sponsored(), &key)
        .await
        .expect("http")
        .expect("built");
    let stranger = SigningKey::from_secret_scalar(F::from(0xbadu32));
    let signature = sign_typed(&stranger, &built["typed_data"], user, chain).expect("sign");
    let e = code(
        pm.execute(user, &built["typed_data"], &signature, sponsored(), &key)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 153, "{e:?}");

    // 156 at execute: a session that may not call this selector.
    let session = session_for(&fixture, 79, 5).await;
    let transfer = starknet::core::types::Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![F::ONE, F::ONE, F::ZERO],
    };
    let built = pm
        .build(user, &[transfer], sponsored(), &key)
        .await
        .expect("http")
        .expect("built");
    let signature = session_sign_typed(&session, &built["typed_data"], user, chain).expect("sign");
    let e = code(
        pm.execute(user, &built["typed_data"], &signature, sponsored(), &key)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 156);
    assert!(
        e.data["execution_error"]
            .as_str()
            .unwrap_or_default()
            .contains("session/selector-denied"),
        "{e:?}"
    );

    // 154: default mode, the user signs a smaller fee transfer than the fee.
    let strk_mode = json!({ "version": "0x1", "fee_mode": { "mode": "default", "gas_token": format!("{STRK_ADDRESS:#x}") } });
    let built = pm
        .build(user, &[fixture.play(1)], strk_mode.clone(), &key)
        .await
        .expect("http")
        .expect("built");
    let mut typed = built["typed_data"].clone();
    let calls = typed["message"]["Calls"].as_array_mut().expect("calls");
    assert_eq!(calls.len(), 2, "the fee transfer is appended");
    calls[1]["Calldata"][1] = json!("0x1");
    let signature = sign_typed(&fixture.account.owner, &typed, user, chain).expect("sign");
    let e = code(
        pm.execute(user, &typed, &signature, strk_mode.clone(), &key)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 154, "{e:?}");
    // The untouched default-mode execution goes through, and the user pays the collector.
    let before = fixture.devnet.strk_balance(user).await.expect("balance");
    let signature =
        sign_typed(&fixture.account.owner, &built["typed_data"], user, chain).expect("sign");
    let sent = pm
        .execute(user, &built["typed_data"], &signature, strk_mode, &key)
        .await
        .expect("http")
        .expect("default mode");
    assert!(succeeded(&fixture, felt(&sent["transaction_hash"]).expect("hash")).await);
    assert!(fixture.devnet.strk_balance(user).await.expect("balance") < before);

    // 158: deployment data that does not give its address; 155: a class not served.
    let class_hash = stark_sessions_abi::class::session_account()
        .expect("class")
        .class_hash;
    let deployment = |address: F, class_hash: F| {
        json!({ "type": "deploy", "deployment": {
        "address": format!("{address:#x}"), "class_hash": format!("{class_hash:#x}"),
        "salt": "0x5", "calldata": ["0x77"], "version": 1 } })
    };
    let e = code(pm.client.call("paymaster_buildTransaction",
        json!({ "transaction": deployment(F::from(0x999u32), class_hash), "parameters": sponsored() }), &key).await.expect("http"));
    assert_eq!(e.code, 158);
    let e = code(pm.client.call("paymaster_buildTransaction",
        json!({ "transaction": deployment(F::from(0x999u32), F::from(0xc1a55u32)), "parameters": sponsored() }), &key).await.expect("http"));
    assert_eq!(e.code, 155);

    // 160: an unknown tracking id.
    let e = code(
        pm.client
            .call(
                "paymaster_trackingIdToLatestHash",
                json!({ "tracking_id": "0x1234" }),
                &key,
            )
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 160);

    // JSON-RPC level: unknown method, malformed params, malformed body.
    let e = code(
        pm.client
            .call("paymaster_nope", json!({}), &key)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, -32601);
    let e = code(
        pm.client
            .call(
                "paymaster_buildTransaction",
                json!({ "transaction": 5, "parameters": sponsored() }),
                &key,
            )
            .await
            .expect("http"),
    );
    assert_eq!(e.code, -32602);
    let raw = pm
        .client
        .raw(&json!("not a request"), &key)
        .await
        .expect("http");
    assert_eq!(raw["error"]["code"], -32600);

    // 170: no credentials; a wrong key.
    let e = code(
        pm.build(user, &[fixture.play(1)], sponsored(), &Auth::None)
            .await
            .expect("http"),
    );
    assert_eq!(e.code, 170);
    let e = code(
        pm.build(
            user,
            &[fixture.play(1)],
            sponsored(),
            &Auth::ApiKey("sspk_wrong".into()),
        )
        .await
        .expect("http"),
    );
    assert_eq!(e.code, 170);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_class_is_invalid_and_a_dead_node_is_an_unknown_error() {
    let fixture = Fixture::new(0x0a14).await.expect("fixture");
    let undeclared = F::from(0xc1a55u32);
    let mut config = PaymasterHarness::config(&fixture, None);
    config.supported_account_classes = vec![undeclared];
    let pm = PaymasterHarness::start(config).await.expect("paymaster");
    let calldata = vec![F::from(0x77u8)];
    let address = get_udc_deployed_address(
        F::from(5u8),
        undeclared,
        &starknet::core::utils::UdcUniqueness::NotUnique,
        &calldata,
    );
    let request = json!({ "transaction": { "type": "deploy", "deployment": {
        "address": format!("{address:#x}"), "class_hash": format!("{undeclared:#x}"),
        "salt": "0x5", "calldata": ["0x77"], "version": 1 } }, "parameters": sponsored() });
    let e = pm
        .client
        .call("paymaster_buildTransaction", request, &pm.key())
        .await
        .expect("http")
        .expect_err("159");
    assert_eq!(e.code, 159);

    // A paymaster whose node goes away answers 163 and says why.
    let devnet = Devnet::start_embedded(DevnetOptions::default())
        .await
        .expect("devnet");
    let accounts = devnet.accounts().to_vec();
    let mut config = stark_sessions_paymaster::PaymasterConfig::new(
        devnet.url().clone(),
        vec![stark_sessions_paymaster::RelayerConfig {
            address: accounts[2].address,
            private_key: accounts[2].private_key,
        }],
    );
    config.listen = "127.0.0.1:0".parse().expect("addr");
    let orphan = PaymasterHarness::start(config).await.expect("paymaster");
    drop(devnet);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let e = orphan
        .build(F::from(0x1234u32), &[], sponsored(), &orphan.key())
        .await
        .expect("http")
        .expect_err("node is gone");
    assert_eq!(e.code, 163);
    assert!(
        e.data.as_str().unwrap_or_default().contains("node"),
        "{e:?}"
    );
    let available = orphan
        .client
        .call("paymaster_isAvailable", Value::Null, &Auth::None)
        .await
        .expect("http")
        .expect("answers");
    assert_eq!(available, json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_session_tokens_are_scoped_expire_and_revoke() {
    let (fixture, pm) = setup(0x0a15).await;
    let user = fixture.address();
    let session = session_for(&fixture, 80, 10).await;
    let key = pm.key();
    let create = |params: Value| {
        pm.client
            .call("paymaster_createClientSession", params, &key)
    };

    let token =
        create(json!({ "client_id": "player-1", "user_addresses": [format!("{user:#x}")] }))
            .await
            .expect("http")
            .expect("created");
    assert!(
        token["expires_at"].as_u64().expect("expiry")
            > stark_sessions_paymaster::service::unix_now() + 800
    );
    let bearer = Auth::Bearer(
        token["client_session_token"]
            .as_str()
            .expect("token")
            .to_owned(),
    );

    // The token builds and executes in place of the key.
    let sent = pm
        .sponsor(&fixture, &session, &[fixture.play(1)], &bearer)
        .await
        .expect("http")
        .expect("executed");
    assert!(succeeded(&fixture, felt(&sent["transaction_hash"]).expect("hash")).await);

    // Out of scope: another user address.
    let e = pm
        .build(fixture.scoreboard, &[fixture.play(1)], sponsored(), &bearer)
        .await
        .expect("http")
        .expect_err("scope");
    assert_eq!(e.code, 173);
    // A token cannot mint tokens.
    let e = pm
        .client
        .call(
            "paymaster_createClientSession",
            json!({ "client_id": "x" }),
            &bearer,
        )
        .await
        .expect("http")
        .expect_err("token");
    assert_eq!(e.code, 170);

    // Revoked.
    let revoked = pm
        .client
        .call(
            "paymaster_revokeClientSession",
            json!({ "id": token["id"] }),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("revoked");
    assert_eq!(revoked, json!(true));
    let e = pm
        .build(user, &[fixture.play(1)], sponsored(), &bearer)
        .await
        .expect("http")
        .expect_err("revoked");
    assert_eq!(
        (e.code, e.message.as_str()),
        (172, "An error occurred (TOKEN_REVOKED)")
    );
    let e = pm
        .client
        .call(
            "paymaster_revokeClientSession",
            json!({ "id": "nope" }),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect_err("unknown");
    assert_eq!(e.code, 160);

    // Expired.
    let short = create(json!({ "client_id": "player-2", "ttl_seconds": 1 }))
        .await
        .expect("http")
        .expect("created");
    let bearer = Auth::Bearer(
        short["client_session_token"]
            .as_str()
            .expect("token")
            .to_owned(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let e = pm
        .build(user, &[fixture.play(1)], sponsored(), &bearer)
        .await
        .expect("http")
        .expect_err("expired");
    assert_eq!(e.code, 171);
    let e = create(json!({ "client_id": "x", "ttl_seconds": 0 }))
        .await
        .expect("http")
        .expect_err("ttl");
    assert_eq!(e.code, -32602);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_rates_allow_lists_and_the_fee_cap_refuse_before_anything_is_sent() {
    let (fixture, pm) = setup(0x0a16).await;
    let user = fixture.address();
    let session = session_for(&fixture, 81, 10).await;
    let relayers_before = relayer_balances(&fixture, &pm.relayers).await;

    let signed = |auth: Auth| {
        let (pm, fixture, session) = (&pm, &fixture, &session);
        async move {
            pm.sponsor(fixture, session, &[fixture.play(1)], &auth)
                .await
                .expect("http")
        }
    };

    // A budget of 1 FRI cannot sponsor anything.
    let poor = pm
        .paymaster
        .create_api_key("poor", 1, 100, None)
        .expect("key");
    let e = signed(Auth::ApiKey(poor.to_string()))
        .await
        .expect_err("budget");
    assert_eq!(e.code, 174);

    // Two requests a minute: build passes, execute is the third request and is refused.
    let slow = pm
        .paymaster
        .create_api_key("slow", u128::MAX, 2, None)
        .expect("key");
    let auth = Auth::ApiKey(slow.to_string());
    pm.build(user, &[fixture.play(1)], sponsored(), &auth)
        .await
        .expect("http")
        .expect("first");
    pm.build(user, &[fixture.play(1)], sponsored(), &auth)
        .await
        .expect("http")
        .expect("second");
    let e = pm
        .build(user, &[fixture.play(1)], sponsored(), &auth)
        .await
        .expect("http")
        .expect_err("third");
    assert_eq!(e.code, 175);

    // An allow-list without the scoreboard.
    let narrow = pm
        .paymaster
        .create_api_key("narrow", u128::MAX, 100, Some(vec![STRK_ADDRESS]))
        .expect("key");
    let e = signed(Auth::ApiKey(narrow.to_string()))
        .await
        .expect_err("target");
    assert_eq!(e.code, 176);

    // Nothing was sent, nothing was paid, the session was not used.
    assert_eq!(
        relayer_balances(&fixture, &pm.relayers).await,
        relayers_before
    );
    assert_eq!(
        fixture
            .session_data(session.public_key)
            .await
            .expect("data")
            .calls_used,
        0
    );

    // A fee cap of 1 FRI refuses every transaction.
    let mut config = PaymasterHarness::config(&fixture, None);
    config.max_fee_per_tx_fri = 1;
    let capped = PaymasterHarness::start(config).await.expect("paymaster");
    let e = capped
        .sponsor(&fixture, &session, &[fixture.play(1)], &capped.key())
        .await
        .expect("http")
        .expect_err("cap");
    assert_eq!(e.code, 177);
    assert_eq!(
        relayer_balances(&fixture, &pm.relayers).await,
        relayers_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let fixture = Fixture::new(0x0a17).await.expect("fixture");
    let chain = fixture.devnet.chain_id();
    let user = fixture.address();
    let session = session_for(&fixture, 82, 10).await;
    let dir = std::env::temp_dir().join(format!("stark-sessions-pm-{}", rand::random::<u64>()));
    let db = dir.join("paymaster.sqlite");
    let config = PaymasterHarness::config(&fixture, Some(db.clone()));

    let pm = PaymasterHarness::start(config.clone())
        .await
        .expect("paymaster");
    let token = pm
        .client
        .call(
            "paymaster_createClientSession",
            json!({ "client_id": "p" }),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("token");
    let built = pm
        .build(user, &[fixture.play(1)], sponsored(), &pm.key())
        .await
        .expect("http")
        .expect("built");
    let signature = session_sign_typed(&session, &built["typed_data"], user, chain).expect("sign");
    let sent = pm
        .execute(
            user,
            &built["typed_data"],
            &signature,
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("sent");
    assert!(succeeded(&fixture, felt(&sent["transaction_hash"]).expect("hash")).await);
    // Let the settlement book the actual fee.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let day = stark_sessions_paymaster::service::unix_now() / 86_400;
    let spent = pm
        .paymaster
        .store()
        .spent_on("backend", day)
        .expect("spent");
    assert!(spent > 0);
    let api_key = pm.api_key.clone();
    pm.server.stop().await;
    drop(pm.paymaster);

    let paymaster = Paymaster::new(config.clone()).await.expect("restarted");
    let pm = PaymasterHarness::serve(paymaster, config.listen, api_key)
        .await
        .expect("serve");
    assert_eq!(
        pm.paymaster
            .store()
            .spent_on("backend", day)
            .expect("spent"),
        spent
    );
    let tracked = pm
        .client
        .call(
            "paymaster_trackingIdToLatestHash",
            json!({ "tracking_id": sent["tracking_id"] }),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("tracked");
    assert_eq!(tracked["transaction_hash"], sent["transaction_hash"]);
    assert_eq!(tracked["status"], "accepted");
    // The key and the token from before the restart still work; the same execution is not sent again.
    let bearer = Auth::Bearer(
        token["client_session_token"]
            .as_str()
            .expect("token")
            .to_owned(),
    );
    pm.build(user, &[fixture.play(1)], sponsored(), &bearer)
        .await
        .expect("http")
        .expect("token works");
    let again = pm
        .execute(
            user,
            &built["typed_data"],
            &signature,
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("idempotent");
    assert_eq!(again, sent);
    assert_eq!(fixture.plays().await.expect("plays"), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).expect("db").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the database is owner-only");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_executions_from_twenty_clients_over_three_relayers() {
    const CLIENTS: u64 = 20;
    const PER_CLIENT: u64 = 10;
    let (fixture, pm) = setup(0x0a19).await;
    let sessions = fixture
        .play_sessions(1000, CLIENTS, PER_CLIENT as u32, 3600)
        .await
        .expect("registered");

    let pm = Arc::new(pm);
    let fixture = Arc::new(fixture);
    let mut tasks = Vec::new();
    for session in sessions {
        let (pm, fixture) = (pm.clone(), fixture.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..PER_CLIENT {
                let outcome = pm
                    .sponsor(&fixture, &session, &[fixture.play(1)], &pm.key())
                    .await
                    .expect("http");
                outcomes.push(outcome);
            }
            outcomes
        }));
    }
    let mut sent = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        for outcome in task.await.expect("client task") {
            match outcome {
                Ok(answer) => sent.push((
                    felt(&answer["tracking_id"]).expect("tracking id"),
                    felt(&answer["transaction_hash"]).expect("hash"),
                )),
                Err(e) => errors.push(e),
            }
        }
    }
    // Executions share transactions when bundled: count both.
    let mut per_transaction: std::collections::HashMap<Felt, usize> = Default::default();
    for (_, hash) in &sent {
        *per_transaction.entry(*hash).or_default() += 1;
    }
    let (mut accepted, mut reverted) = (0, 0);
    for (hash, executions) in &per_transaction {
        if succeeded(&fixture, *hash).await {
            accepted += executions;
        } else {
            reverted += 1;
        }
    }
    let tracking_ids: HashSet<_> = sent.iter().map(|(id, _)| id).collect();
    let plays = fixture.plays().await.expect("plays");
    let duplicates = (sent.len() - tracking_ids.len())
        + usize::try_from(plays.saturating_sub(accepted as u64)).expect("small")
        + reverted;
    let nonce_errors = errors
        .iter()
        .filter(|e| e.data.to_string().to_ascii_lowercase().contains("nonce"))
        .count();
    let bundles = per_transaction.values().filter(|n| **n > 1).count();
    let largest = per_transaction.values().copied().max().unwrap_or_default();
    println!(
        "concurrency: {} requested, {} sent in {} transactions ({bundles} bundles, up to {largest} \
         executions each), {accepted} accepted, {} errors ({nonce_errors} nonce errors), \
         {duplicates} duplicates, relayers {}",
        CLIENTS * PER_CLIENT,
        sent.len(),
        per_transaction.len(),
        errors.len(),
        pm.relayers.len()
    );
    assert!(errors.is_empty(), "errors surfaced to users: {errors:?}");
    assert_eq!(accepted, (CLIENTS * PER_CLIENT) as usize);
    assert_eq!(duplicates, 0, "duplicates");
    assert_eq!(plays, CLIENTS * PER_CLIENT);
    assert!(
        bundles > 0,
        "twenty clients over three relayers never bundled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starknet_js_paymaster_rpc_request_shapes_are_understood() {
    let (fixture, pm) = setup(0x0a1a).await;
    let chain = fixture.devnet.chain_id();
    let user = fixture.address();
    let session = session_for(&fixture, 84, 5).await;
    let key = pm.key();

    // isAvailable and getSupportedTokens: no `params` at all, as PaymasterRpc sends them.
    let available = pm
        .client
        .raw(
            &json!({ "id": 1, "jsonrpc": "2.0", "method": "paymaster_isAvailable" }),
            &Auth::None,
        )
        .await
        .expect("http");
    assert_eq!(available["result"], json!(true));
    let tokens = pm
        .client
        .raw(
            &json!({ "id": 2, "jsonrpc": "2.0", "method": "paymaster_getSupportedTokens" }),
            &Auth::None,
        )
        .await
        .expect("http");
    assert_eq!(
        felt(&tokens["result"][0]["token_address"]).expect("token"),
        STRK_ADDRESS
    );
    assert_eq!(tokens["result"][0]["decimals"], 18);

    // buildTransaction exactly as PaymasterRpc.buildTransaction serialises it (time_bounds undefined → absent).
    let calls = wire_calls(&[fixture.play(3)]);
    let build = json!({ "id": 3, "jsonrpc": "2.0", "method": "paymaster_buildTransaction", "params": {
        "transaction": { "type": "invoke", "invoke": { "user_address": format!("{user:#x}"), "calls": calls } },
        "parameters": { "version": "0x1", "fee_mode": { "mode": "sponsored" } } } });
    let built = pm.client.raw(&build, &key).await.expect("http");
    let result = &built["result"];
    assert_eq!(result["type"], "invoke");
    for field in [
        "gas_token_price_in_strk",
        "estimated_fee_in_strk",
        "estimated_fee_in_gas_token",
        "suggested_max_fee_in_strk",
        "suggested_max_fee_in_gas_token",
    ] {
        assert!(
            result["fee"][field]
                .as_str()
                .is_some_and(|s| s.starts_with("0x")),
            "fee.{field}"
        );
    }
    assert_eq!(result["parameters"]["fee_mode"]["mode"], "sponsored");
    assert!(result["parameters"]["time_bounds"]["execute_before"]
        .as_u64()
        .is_some());
    assert_eq!(
        result["typed_data"]["domain"]["name"],
        "Account.execute_from_outside"
    );

    // executeTransaction with the returned typed data and a hex signature array.
    let signature: Vec<String> = session_sign_typed(&session, &result["typed_data"], user, chain)
        .expect("sign")
        .iter()
        .map(|f| format!("{f:#x}"))
        .collect();
    let execute = json!({ "id": 4, "jsonrpc": "2.0", "method": "paymaster_executeTransaction", "params": {
        "transaction": { "type": "invoke", "invoke": { "user_address": format!("{user:#x}"), "typed_data": result["typed_data"], "signature": signature } },
        "parameters": { "version": "0x1", "fee_mode": { "mode": "sponsored" } } } });
    let executed = pm.client.raw(&execute, &key).await.expect("http");
    assert_eq!(executed["id"], 4);
    let hash = felt(&executed["result"]["transaction_hash"]).expect("hash");
    assert!(felt(&executed["result"]["tracking_id"]).is_ok());
    assert!(succeeded(&fixture, hash).await);
    assert_eq!(fixture.plays().await.expect("plays"), 1);

    // The one-element-array form and numeric time bounds are the same request.
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let array_form = json!({ "id": 5, "jsonrpc": "2.0", "method": "paymaster_buildTransaction", "params": [{
        "transaction": { "type": "invoke", "invoke": { "user_address": format!("{user:#x}"), "calls": wire_calls(&[fixture.play(1)]) } },
        "parameters": { "version": "0x1", "fee_mode": { "mode": "sponsored" }, "time_bounds": { "execute_after": 0, "execute_before": now + 600 } } }] });
    let built = pm.client.raw(&array_form, &key).await.expect("http");
    assert_eq!(
        built["result"]["parameters"]["time_bounds"]["execute_before"],
        now + 600
    );
    let outside = outside_of(&built["result"]["typed_data"], chain).expect("typed data");
    assert_eq!(outside.execute_before, now + 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_deployed_and_deployed_with_calls_gaslessly() {
    let (fixture, pm) = setup(0x0a1b).await;
    let chain = fixture.devnet.chain_id();
    let class_hash = stark_sessions_abi::class::session_account()
        .expect("class")
        .class_hash;
    let deployment = |owner: &SigningKey, salt: u64| {
        let calldata = vec![owner.verifying_key().scalar()];
        let address = get_udc_deployed_address(
            F::from(salt),
            class_hash,
            &starknet::core::utils::UdcUniqueness::NotUnique,
            &calldata,
        );
        (
            address,
            json!({ "address": format!("{address:#x}"), "class_hash": format!("{class_hash:#x}"),
            "salt": format!("{:#x}", F::from(salt)), "calldata": [format!("{:#x}", calldata[0])], "version": 1 }),
        )
    };

    // deploy
    let owner = SigningKey::from_secret_scalar(F::from(0xd1u32));
    let (address, data) = deployment(&owner, 1);
    let built = pm.client.call("paymaster_buildTransaction", json!({ "transaction": { "type": "deploy", "deployment": data }, "parameters": sponsored() }), &pm.key())
        .await.expect("http").expect("built");
    assert_eq!(built["type"], "deploy");
    assert!(built.get("typed_data").is_none());
    let sent = pm.client.call("paymaster_executeTransaction", json!({ "transaction": { "type": "deploy", "deployment": data }, "parameters": sponsored() }), &pm.key())
        .await.expect("http").expect("deployed");
    assert!(succeeded(&fixture, felt(&sent["transaction_hash"]).expect("hash")).await);
    let class_at = fixture
        .devnet
        .call(address, sel("get_public_key"), vec![])
        .await
        .expect("deployed account answers");
    assert_eq!(class_at, vec![owner.verifying_key().scalar()]);
    // Deploying it again is refused.
    let e = pm.client.call("paymaster_executeTransaction", json!({ "transaction": { "type": "deploy", "deployment": data }, "parameters": sponsored() }), &pm.key())
        .await.expect("http").expect_err("already deployed");
    assert_eq!(e.code, 158);

    // deploy_and_invoke: the owner registers a session in the same transaction.
    let owner = SigningKey::from_secret_scalar(F::from(0xd2u32));
    let (address, data) = deployment(&owner, 2);
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let session = TestSession::from_secret(85, now + 3600);
    let mut register = fixture.register_call(&session, 3, &[]);
    register.to = address;
    let built = pm.client.call("paymaster_buildTransaction", json!({ "transaction": { "type": "deploy_and_invoke", "deployment": data,
        "invoke": { "user_address": format!("{address:#x}"), "calls": wire_calls(&[register]) } }, "parameters": sponsored() }), &pm.key())
        .await.expect("http").expect("built");
    let signature: Vec<String> = sign_typed(&owner, &built["typed_data"], address, chain)
        .expect("sign")
        .iter()
        .map(|f| format!("{f:#x}"))
        .collect();
    let sent = pm.client.call("paymaster_executeTransaction", json!({ "transaction": { "type": "deploy_and_invoke", "deployment": data,
        "invoke": { "user_address": format!("{address:#x}"), "typed_data": built["typed_data"], "signature": signature } }, "parameters": sponsored() }), &pm.key())
        .await.expect("http").expect("deployed and invoked");
    assert!(succeeded(&fixture, felt(&sent["transaction_hash"]).expect("hash")).await);
    let status = fixture
        .devnet
        .call(address, sel("get_session_status"), vec![session.public_key])
        .await
        .expect("status");
    assert_eq!(
        status,
        vec![F::ONE],
        "the session is active on the new account"
    );
    assert_eq!(
        fixture.devnet.strk_balance(address).await.expect("balance"),
        0,
        "the new account holds no gas"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_answer_over_http() {
    let (fixture, pm) = setup(0x0a1c).await;
    let base = pm.server.url().clone();
    let health: Value = reqwest::get(base.join("health").expect("url"))
        .await
        .expect("http")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["node"], true);
    assert_eq!(health["database"], true);
    assert_eq!(health["relayers_funded"], 3, "{health}");
    pm.client
        .call("paymaster_nope", json!({}), &Auth::None)
        .await
        .expect("http")
        .expect_err("unknown");
    let session = session_for(&fixture, 87, 10).await;
    let sent = pm
        .sponsor(&fixture, &session, &[fixture.play(1)], &pm.key())
        .await
        .expect("http")
        .expect("sponsored");
    assert!(succeeded(&fixture, felt(&sent["transaction_hash"]).expect("hash")).await);

    let response = reqwest::get(base.join("metrics").expect("url"))
        .await
        .expect("http");
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain")));
    let text = response.text().await.expect("text");
    let samples = parse_prometheus(&text);
    let value = |name: &str| {
        *samples
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
    };
    assert_eq!(
        value("paymaster_request_failures_total{code=\"-32601\",method=\"other\"}"),
        1.0
    );
    assert_eq!(
        value("paymaster_requests_by_method_total{method=\"paymaster_executeTransaction\"}"),
        1.0
    );
    assert_eq!(value("paymaster_executions_sent_total"), 1.0);
    assert_eq!(value("paymaster_transaction_executions_count"), 1.0);
    assert_eq!(value("paymaster_queued_executions"), 0.0);
    assert_eq!(value("paymaster_node_up"), 1.0);
    assert_eq!(value("paymaster_database_up"), 1.0);
    let relayer_gauges = samples
        .keys()
        .filter(|k| k.starts_with("paymaster_relayer_balance_fri{"))
        .count();
    assert_eq!(relayer_gauges, 3, "one balance per relayer");
    assert!(
        samples
            .iter()
            .filter(|(k, _)| k.starts_with("paymaster_relayer_nonce{"))
            .any(|(_, v)| *v >= 1.0),
        "a relayer that sent has a nonce"
    );
    assert!(value("paymaster_fees_paid_fri_total") >= 0.0);
    assert!(
        value("paymaster_budget_used_fri{api_key=\"backend\"}") > 0.0,
        "the sponsored execution is in today's budget use"
    );
    assert!(
        !text.contains("paymaster_nope"),
        "client-chosen names are not labels"
    );
}

/// The samples of a Prometheus text exposition: `name{labels}` → value; every line that is
/// not a comment must parse.
fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let value = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad sample {line}")),
            };
            (series.to_owned(), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayer_nonces_resync_after_transactions_the_paymaster_did_not_send() {
    let (fixture, pm) = setup(0x0a1d).await;
    let session = session_for(&fixture, 86, 10).await;
    let sponsored_play = || async {
        pm.sponsor(&fixture, &session, &[fixture.play(1)], &pm.key())
            .await
            .expect("http")
    };
    // One execution per relayer so that every relayer has a cached nonce.
    for _ in 0..3 {
        let sent = sponsored_play().await.expect("sent");
        assert!(succeeded(&fixture, felt(&sent["transaction_hash"]).expect("hash")).await);
    }
    // Someone else spends every relayer's next nonce.
    for index in stark_sessions_tests::paymaster::RELAYER_INDICES {
        let relayer = fixture.devnet.predeployed(index).expect("relayer");
        let transfer = starknet::core::types::Call {
            to: STRK_ADDRESS,
            selector: sel("transfer"),
            calldata: vec![F::from(0x1u8), F::ONE, F::ZERO],
        };
        fixture
            .devnet
            .invoke(&relayer, vec![transfer])
            .await
            .expect("outside transaction");
    }
    // The paymaster's cached nonces are now stale; users see no error.
    for _ in 0..3 {
        let sent = sponsored_play()
            .await
            .expect("no nonce error reaches the user");
        assert!(succeeded(&fixture, felt(&sent["transaction_hash"]).expect("hash")).await);
    }
    assert_eq!(fixture.plays().await.expect("plays"), 6);
}
