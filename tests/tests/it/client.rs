//! The client SDK end to end against the embedded devnet and the paymaster.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use stark_sessions_abi::{ContractError, Felt, SessionStatus};
use stark_sessions_client::client::ErrorContext;
use stark_sessions_client::{
    create_session_key, envelope, import_legacy, EnvelopeParams, Owner, PaymasterAuth,
    PaymasterClient, Session, SessionClient, SessionError, SessionSpec, SessionStore,
    SpendingLimit, TokenLimits,
};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::client::{
    openssl_legacy_envelope, owner, session_client, Tamper, TamperingPaymaster,
};
use stark_sessions_tests::paymaster::PaymasterHarness;
use stark_sessions_tests::{sel, Fixture};
use starknet::core::types::Call;

const PIN: &str = "482193";

async fn setup(owner_secret: u64) -> (Fixture, PaymasterHarness, SessionClient) {
    let fixture = Fixture::new(owner_secret).await.expect("fixture");
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .expect("paymaster");
    let client = session_client(&fixture, &pm).await.expect("client");
    (fixture, pm, client)
}

fn game_spec(fixture: &Fixture, duration_secs: u64, max_calls: u32) -> SessionSpec {
    SessionSpec {
        duration: Duration::from_secs(duration_secs),
        max_calls,
        allowed_entrypoints: vec![sel("record_score")],
        targets: vec![fixture.scoreboard],
        spending_limits: vec![],
        limits: Default::default(),
    }
}

fn requests(pm: &PaymasterHarness) -> u64 {
    pm.paymaster.metrics().requests.load(Ordering::SeqCst)
}

fn sent(pm: &PaymasterHarness) -> u64 {
    pm.paymaster.metrics().sent.load(Ordering::SeqCst)
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "stark-sessions-{tag}-{:016x}",
        rand::random::<u64>()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_hour_game_session_is_registered_used_counted_and_revoked_gaslessly() {
    let (fixture, pm, client) = setup(0xc11e).await;
    let owner = owner(&fixture);
    let user_strk = fixture
        .devnet
        .strk_balance(fixture.address())
        .await
        .expect("balance");

    let session = client
        .create_session(&owner, PIN, &game_spec(&fixture, 3600, 12))
        .await
        .expect("session created and registered");
    let info = client
        .get_session_data(fixture.address(), session.public_key())
        .await
        .expect("data");
    assert!(info.is_active);
    assert_eq!(info.remaining_calls, 12);
    assert_eq!(info.allowed_entrypoints, vec![sel("record_score")]);
    assert_eq!(info.valid_until, session.valid_until());
    // About an hour: anchored at the latest block, which may be some seconds old.
    assert!((3300..=3600).contains(&session.expires_in_secs()));

    // The game client gets the session from the store and a client session token from the
    // backend: it never sees the API key.
    let dir = temp_dir("client-store");
    let store = SessionStore::open(&dir).expect("store");
    store.save(&session).expect("saved");
    let stored = SessionStore::open(&dir)
        .expect("reopened")
        .get(fixture.address())
        .expect("stored session");
    assert_eq!(stored, session);
    let token = client
        .paymaster()
        .create_client_session("player-1", &[fixture.address()], None)
        .await
        .expect("token");
    let game = client
        .clone()
        .with_paymaster(client.paymaster().with_auth(token.auth()));
    let handle = stored.unlock(PIN).expect("unlocked");

    for i in 1..=10u32 {
        game.execute_and_wait(&stored, &handle, &[fixture.play(u64::from(i))])
            .await
            .expect("delegated call");
        let info = game
            .get_session_data(fixture.address(), stored.public_key())
            .await
            .expect("data");
        assert_eq!(info.remaining_calls, 12 - i, "after call {i}");
    }
    assert_eq!(fixture.plays().await.expect("plays"), 10);
    assert_eq!(
        fixture
            .devnet
            .strk_balance(fixture.address())
            .await
            .expect("balance"),
        user_strk,
        "the user paid no gas"
    );

    let revoked = client
        .revoke_session_key(&owner, session.public_key())
        .await
        .expect("revoke sent");
    client
        .wait_for_transaction(revoked, &ErrorContext::for_key(session.public_key()))
        .await
        .expect("revoked");
    let info = client
        .get_session_data(fixture.address(), session.public_key())
        .await
        .expect("data");
    assert!(!info.is_active);
    assert_eq!(info.status, SessionStatus::Revoked);

    let before = requests(&pm);
    let e = game
        .execute_transaction_with_session(&stored, &handle, &[fixture.play(1)])
        .await
        .expect_err("revoked");
    assert_eq!(e.code(), "SESSION_REVOKED");
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");
    assert_eq!(fixture.plays().await.expect("plays"), 10);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_codes_come_from_real_refusals() {
    let (fixture, pm, client) = setup(0xc12e).await;

    // INVALID_WALLET_TYPE_FOR_SESSION: a predeployed OpenZeppelin account is not a session
    // account.
    let oz = fixture.devnet.accounts()[4].clone();
    let oz_owner = Owner::new(
        oz.address,
        starknet::signers::SigningKey::from_secret_scalar(oz.private_key),
    );
    let before = requests(&pm);
    let e = client
        .create_session(&oz_owner, PIN, &game_spec(&fixture, 3600, 5))
        .await
        .expect_err("not a session account");
    assert_eq!(e.code(), "INVALID_WALLET_TYPE_FOR_SESSION");
    // SESSION_CREATION_FAILED: rules the account would refuse, and a zero duration.
    let e = client
        .create_session(&owner(&fixture), PIN, &game_spec(&fixture, 3600, 0))
        .await
        .expect_err("zero calls");
    assert_eq!(e.code(), "SESSION_CREATION_FAILED");
    assert!(e.to_string().contains("session/invalid-config"), "{e}");
    let e = client
        .create_session(&owner(&fixture), PIN, &game_spec(&fixture, 0, 5))
        .await
        .expect_err("zero duration");
    assert_eq!(e.code(), "SESSION_CREATION_FAILED");
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");

    // SESSION_NOT_REGISTERED: a key that was created but never registered.
    let key = create_session_key(PIN, Duration::from_secs(3600)).expect("key");
    let unregistered = Session {
        account: fixture.address(),
        chain_id: client.chain_id(),
        key,
        max_calls: 5,
        allowed_entrypoints: vec![],
        targets: vec![],
        spending_limits: vec![],
        limits: Default::default(),
        created_at: 0,
        grant: None,
    };
    let handle = unregistered.unlock(PIN).expect("unlock");
    let e = client
        .execute_transaction_with_session(&unregistered, &handle, &[fixture.play(1)])
        .await
        .expect_err("unregistered");
    assert_eq!(e.code(), "SESSION_NOT_REGISTERED");
    // (Revoking a key never registered is not refused: a granted key is revoked before its
    // first use — client_grants.rs.)
    assert_eq!(requests(&pm), before, "nothing reached the paymaster");

    // SESSION_REVOKED through revoke-all.
    let session = client
        .create_session(&owner(&fixture), PIN, &game_spec(&fixture, 3600, 5))
        .await
        .expect("session");
    let all = client
        .revoke_all_sessions(&owner(&fixture))
        .await
        .expect("revoke all");
    client
        .wait_for_transaction(all, &ErrorContext::default())
        .await
        .expect("landed");
    let handle = session.unlock(PIN).expect("unlock");
    let e = client
        .execute_transaction_with_session(&session, &handle, &[fixture.play(1)])
        .await
        .expect_err("revoked");
    assert_eq!(e.code(), "SESSION_REVOKED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_codes_come_from_real_refusals_before_anything_is_sent() {
    let (fixture, pm, client) = setup(0xc13e).await;
    let owner = owner(&fixture);

    // SESSION_ENTRYPOINT_NOT_ALLOWED, SPENDING_LIMIT_EXCEEDED and SESSION_MAX_CALLS_EXCEEDED
    // on one session: plays and small STRK transfers, three calls.
    let spec = SessionSpec {
        duration: Duration::from_secs(3600),
        max_calls: 2,
        allowed_entrypoints: vec![sel("record_score"), sel("transfer")],
        targets: vec![fixture.scoreboard, STRK_ADDRESS],
        spending_limits: vec![SpendingLimit {
            token: STRK_ADDRESS,
            max_per_call: 10,
            max_per_window: 15,
            window_seconds: 3600,
        }],
        limits: Default::default(),
    };
    let session = client
        .create_session(&owner, PIN, &spec)
        .await
        .expect("session");
    let handle = session.unlock(PIN).expect("unlock");
    let transfer = |amount: u64| Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![Felt::from(0x1234u32), Felt::from(amount), Felt::ZERO],
    };
    let before = (requests(&pm), sent(&pm));
    let refused = |calls: Vec<Call>| {
        let (client, session, handle) = (&client, &session, &handle);
        async move {
            client
                .execute_transaction_with_session(session, handle, &calls)
                .await
                .expect_err("refused")
        }
    };
    let e = refused(vec![Call {
        selector: sel("get_plays"),
        ..fixture.play(1)
    }])
    .await;
    assert_eq!(e.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
    assert!(matches!(
        e,
        SessionError::EntrypointNotAllowed {
            reason: ContractError::SessionSelectorDenied,
            call_index: 0,
            ..
        }
    ));
    let e = refused(vec![
        fixture.play(1),
        Call {
            to: fixture.devnet.accounts()[5].address,
            ..fixture.play(1)
        },
    ])
    .await;
    assert!(matches!(
        e,
        SessionError::EntrypointNotAllowed {
            reason: ContractError::SessionTargetDenied,
            call_index: 1,
            ..
        }
    ));
    let e = refused(vec![transfer(11)]).await;
    assert_eq!(e.code(), "SPENDING_LIMIT_EXCEEDED");
    assert!(matches!(
        e,
        SessionError::SpendingLimit(ContractError::SpendingPerCall)
    ));
    assert_eq!(
        (requests(&pm), sent(&pm)),
        before,
        "nothing reached the paymaster"
    );

    client
        .execute_and_wait(&session, &handle, &[transfer(10)])
        .await
        .expect("within the limit");
    let e = refused(vec![transfer(6)]).await;
    assert!(matches!(
        e,
        SessionError::SpendingLimit(ContractError::SpendingWindow)
    ));
    client
        .execute_and_wait(&session, &handle, &[fixture.play(1)])
        .await
        .expect("second call");
    let before = (requests(&pm), sent(&pm));
    let e = refused(vec![fixture.play(1)]).await;
    assert_eq!(e.code(), "SESSION_MAX_CALLS_EXCEEDED");
    assert_eq!(
        (requests(&pm), sent(&pm)),
        before,
        "nothing reached the paymaster"
    );

    // SESSION_EXPIRED: a one-minute session, two minutes later by the chain's clock.
    let short = client
        .create_session(&owner, PIN, &game_spec(&fixture, 60, 5))
        .await
        .expect("session");
    let short_handle = short.unlock(PIN).expect("unlock");
    fixture.devnet.increase_time(120).await.expect("time");
    let before = (requests(&pm), sent(&pm));
    let e = client
        .execute_transaction_with_session(&short, &short_handle, &[fixture.play(1)])
        .await
        .expect_err("expired");
    assert_eq!(e.code(), "SESSION_EXPIRED");
    assert_eq!(
        (requests(&pm), sent(&pm)),
        before,
        "nothing reached the paymaster"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pins_and_one_bit_changes_fail_decryption() {
    let key = create_session_key(PIN, Duration::from_secs(3600)).expect("key");
    let e = envelope::open(&key.encrypted_private_key, "4822").expect_err("wrong PIN");
    assert_eq!(e.code(), "SESSION_DECRYPTION_FAILED");
    let envelope_text = key.encrypted_private_key.clone();
    let fields: Vec<usize> = envelope_text
        .match_indices(':')
        .map(|(i, _)| i + 1)
        .collect();
    // One bit flipped in the iteration count, the salt, the IV, the ciphertext and the MAC.
    for start in [fields[1], fields[4], fields[5], fields[6], fields[7]] {
        let mut bytes = envelope_text.clone().into_bytes();
        bytes[start + 1] ^= 0x01;
        let tampered = String::from_utf8(bytes).expect("ascii");
        let e = envelope::open(&tampered, PIN).expect_err("tampered");
        assert_eq!(e.code(), "SESSION_DECRYPTION_FAILED", "flip at {start}");
    }
    // And the handle refuses the same way.
    let tampered = stark_sessions_client::SessionKeyData {
        encrypted_private_key: envelope_text.replacen("600000", "600001", 1),
        ..key.clone()
    };
    assert_eq!(
        stark_sessions_client::SessionHandle::unlock(&tampered, PIN)
            .expect_err("tampered")
            .code(),
        "SESSION_DECRYPTION_FAILED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_cryptojs_envelope_made_by_openssl_is_imported() {
    let secret = stark_sessions_client::SessionSecret::generate();
    let legacy =
        openssl_legacy_envelope(&secret, "correct horse").expect("openssl wrote an envelope");
    assert!(legacy.starts_with("U2FsdGVkX1"), "openssl wrote Salted__");

    let imported =
        import_legacy(&legacy, "correct horse", PIN, EnvelopeParams::default()).expect("imported");
    assert!(imported.starts_with("sskey1:pbkdf2-sha256:600000:"));
    let opened = envelope::open(&imported, PIN).expect("opens under the new PIN");
    assert_eq!(opened.public_key(), secret.public_key());
    let e = import_legacy(&legacy, "wrong horse", PIN, EnvelopeParams::default())
        .expect_err("wrong passphrase");
    assert_eq!(e.code(), "SESSION_DECRYPTION_FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paymaster_that_alters_the_typed_data_is_refused_before_signing() {
    let (fixture, pm, client) = setup(0xc14e).await;
    let session = client
        .create_session(&owner(&fixture), PIN, &game_spec(&fixture, 3600, 5))
        .await
        .expect("session");
    let handle = session.unlock(PIN).expect("unlock");
    let tampers: [fn(&mut serde_json::Value); 4] = [
        |t| t["message"]["Calls"][0]["Calldata"][0] = json!("0x3e8"),
        |t| {
            let extra = t["message"]["Calls"][0].clone();
            t["message"]["Calls"]
                .as_array_mut()
                .expect("calls")
                .push(extra);
        },
        |t| t["domain"]["chainId"] = json!("SN_MAIN"),
        |t| t["message"]["Execute Before"] = json!("0xffffffffff"),
    ];
    for (i, tamper) in tampers.into_iter().enumerate() {
        let double = TamperingPaymaster::start(pm.server.url().clone(), tamper)
            .await
            .expect("double");
        let lying = client.clone().with_paymaster(PaymasterClient::new(
            double.url.clone(),
            PaymasterAuth::api_key(pm.api_key.clone()),
        ));
        let e = lying
            .execute_transaction_with_session(&session, &handle, &[fixture.play(7)])
            .await
            .expect_err("refused");
        assert_eq!(e.code(), "PAYMASTER_TYPED_DATA_MISMATCH", "tamper {i}: {e}");
        assert_eq!(double.executes(), 0, "tamper {i}: nothing signed was sent");
        // The owner path checks the same way.
        let e = lying
            .revoke_session_key(&owner(&fixture), session.public_key())
            .await
            .expect_err("refused");
        assert_eq!(e.code(), "PAYMASTER_TYPED_DATA_MISMATCH");
        assert_eq!(double.executes(), 0);
    }
    assert_eq!(fixture.plays().await.expect("plays"), 0);
    // The honest paymaster still works with the same session.
    client
        .execute_and_wait(&session, &handle, &[fixture.play(7)])
        .await
        .expect("honest");
    assert_eq!(fixture.plays().await.expect("plays"), 1);
}

/// A time bound of typed data, as a number.
fn bound(t: &serde_json::Value, name: &str) -> u64 {
    stark_sessions_abi::typed_data::felt_value(&t["message"][name])
        .and_then(|f| u64::try_from(f).ok())
        .expect("a time bound")
}

fn shift(t: &mut serde_json::Value, name: &str, seconds: u64) {
    let moved = Felt::from(bound(t, name) + seconds);
    t["message"][name] = json!(format!("{moved:#x}"));
}

/// The typed data of the last execution the recording double built.
static LAST_TYPED: std::sync::Mutex<Option<serde_json::Value>> = std::sync::Mutex::new(None);

fn last_typed() -> serde_json::Value {
    LAST_TYPED
        .lock()
        .expect("typed data")
        .clone()
        .expect("the recording double built an execution")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_data_past_the_window_the_session_or_with_a_used_nonce_is_refused_before_signing() {
    let (fixture, pm, client) = setup(0xc16e).await;
    // A session that ends in two minutes: sooner than the ten-minute window.
    let short = client
        .create_session(&owner(&fixture), PIN, &game_spec(&fixture, 120, 5))
        .await
        .expect("session");
    let long = client
        .create_session(&owner(&fixture), PIN, &game_spec(&fixture, 3600, 5))
        .await
        .expect("session");
    let through = |double: &TamperingPaymaster| {
        client.clone().with_paymaster(PaymasterClient::new(
            double.url.clone(),
            PaymasterAuth::api_key(pm.api_key.clone()),
        ))
    };
    let refusal = |e: SessionError| {
        assert_eq!(e.code(), "PAYMASTER_TYPED_DATA_MISMATCH", "{e}");
        e.to_string()
    };

    // The honest paymaster, asked for the client's window, gets it: the short session's
    // execution ends with the session.
    let recording = TamperingPaymaster::start(pm.server.url().clone(), |t| {
        *LAST_TYPED.lock().expect("typed data") = Some(t.clone());
    })
    .await
    .expect("double");
    let handle = short.unlock(PIN).expect("unlock");
    through(&recording)
        .execute_and_wait(&short, &handle, &[fixture.play(1)])
        .await
        .expect("within the window");
    assert_eq!(recording.executes(), 1);
    assert_eq!(fixture.plays().await.expect("plays"), 1);
    assert!(bound(&last_typed(), "Execute Before") <= short.valid_until());

    let long_handle = long.unlock(PIN).expect("unlock");
    let cases: [(Tamper, &SessionSpecKind, &str); 4] = [
        // Still within the paymaster's own 24 h, but past the client's ten minutes.
        (
            |t| shift(t, "Execute Before", 3600),
            &SessionSpecKind::Long,
            "more than the 600 s",
        ),
        // Within ten minutes, but past the end of the two-minute session.
        (
            |t| shift(t, "Execute Before", 300),
            &SessionSpecKind::Short,
            "after the session ends",
        ),
        // Not valid yet.
        (
            |t| shift(t, "Execute After", 120),
            &SessionSpecKind::Long,
            "starts in the future",
        ),
        // The nonce of the execution that already ran.
        (
            |t| {
                t["message"]["Nonce"] = last_typed()["message"]["Nonce"].clone();
            },
            &SessionSpecKind::Long,
            "already used",
        ),
    ];
    for (tamper, kind, why) in cases {
        let double = TamperingPaymaster::start(pm.server.url().clone(), tamper)
            .await
            .expect("double");
        let (session, handle) = match kind {
            SessionSpecKind::Short => (&short, &handle),
            SessionSpecKind::Long => (&long, &long_handle),
        };
        let e = through(&double)
            .execute_transaction_with_session(session, handle, &[fixture.play(2)])
            .await
            .expect_err("refused");
        let message = refusal(e);
        assert!(message.contains(why), "{why}: {message}");
        assert_eq!(double.executes(), 0, "{why}: nothing signed was sent");
    }
    assert_eq!(fixture.plays().await.expect("plays"), 1);

    // A client configured for a 30-minute window asks for one, and signs it. Its "now" is the
    // later of the chain's time and its own clock (a quiet devnet's last block can be old).
    let now = client
        .block_timestamp()
        .await
        .expect("time")
        .max(wall_clock_secs());
    through(&recording)
        .with_max_execution_window(Duration::from_secs(1800))
        .execute_and_wait(&long, &long_handle, &[fixture.play(3)])
        .await
        .expect("within a 30-minute window");
    assert_eq!(fixture.plays().await.expect("plays"), 2);
    let elapsed = wall_clock_secs() - now.min(wall_clock_secs());
    let window = bound(&last_typed(), "Execute Before") - now;
    assert!(
        (1700..=1800 + elapsed).contains(&window),
        "asked for {window} s ({elapsed} s elapsed)"
    );
}

/// Seconds since the Unix epoch on this machine's clock.
fn wall_clock_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Which session a tampering case uses.
enum SessionSpecKind {
    Short,
    Long,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_on_chain_maps_back_to_its_code() {
    let (fixture, _pm, client) = setup(0xc15e).await;
    let session = client
        .create_session(&owner(&fixture), PIN, &game_spec(&fixture, 3600, 1))
        .await
        .expect("session");
    let handle = session.unlock(PIN).expect("unlock");
    client
        .execute_and_wait(&session, &handle, &[fixture.play(1)])
        .await
        .expect("the one call");
    // A relayer sends a second session execution straight to the chain, past any preflight:
    // it lands reverted, and the client reads the revert back into its code.
    let outside = fixture
        .outside(vec![fixture.play(1)])
        .await
        .expect("outside");
    let secret = envelope::open(&session.key.encrypted_private_key, PIN).expect("open");
    let (r, s) = secret.sign(&fixture.message_hash(&outside)).expect("sign");
    let signature = vec![
        session.public_key(),
        r,
        s,
        Felt::from(session.valid_until()),
    ];
    let hash = fixture
        .submit(
            &fixture.relayer,
            vec![fixture.relay_call(&outside, signature)],
        )
        .await
        .expect("submit")
        .expect("accepted for execution");
    let e = client
        .wait_for_transaction(hash, &ErrorContext::for_key(session.public_key()))
        .await
        .expect_err("reverted");
    assert_eq!(e.code(), "SESSION_MAX_CALLS_EXCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_and_an_expired_handle_are_clear_errors() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead =
        url::Url::parse(&format!("http://{}", listener.local_addr().expect("addr"))).expect("url");
    drop(listener);
    let paymaster = PaymasterClient::new(dead.clone(), PaymasterAuth::None);
    let e = SessionClient::connect(dead, paymaster)
        .await
        .expect_err("dead node");
    assert_eq!(e.code(), "PROVIDER_ERROR");

    let key = create_session_key(PIN, Duration::from_secs(3600)).expect("key");
    let handle =
        stark_sessions_client::SessionHandle::unlock_for(&key, PIN, Duration::from_millis(100))
            .expect("unlock");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        handle.sign(&Felt::ONE).expect_err("expired").code(),
        "SESSION_HANDLE_UNAVAILABLE"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_mints_client_session_tokens_with_limits_of_their_own() {
    let (fixture, pm, client) = setup(0xc1b0).await;
    let limits = TokenLimits {
        requests_per_minute: Some(30),
        max_fee_fri: Some(5 * 10u128.pow(17)),
        max_executions: Some(1),
    };
    let token = client
        .paymaster()
        .create_limited_client_session("player-9", &[fixture.address()], None, &limits)
        .await
        .expect("minted");
    let record = pm
        .paymaster
        .store()
        .client_token(&token.id)
        .expect("store")
        .expect("stored");
    assert_eq!(record.limits.requests_per_minute, Some(30));
    assert_eq!(record.limits.max_fee_fri, Some(5 * 10u128.pow(17)));
    assert_eq!(record.limits.max_executions, Some(1));

    let session = client
        .create_session(&owner(&fixture), PIN, &game_spec(&fixture, 3600, 5))
        .await
        .expect("session");
    let handle = session.unlock(PIN).expect("unlock");
    let player = client
        .clone()
        .with_paymaster(client.paymaster().with_auth(token.auth()));
    player
        .execute_and_wait(&session, &handle, &[fixture.play(1)])
        .await
        .expect("its one execution");
    let e = player
        .execute_transaction_with_session(&session, &handle, &[fixture.play(1)])
        .await
        .expect_err("a second one");
    assert!(
        matches!(e, SessionError::Paymaster { code: 174, .. }),
        "{e:?}"
    );
    assert_eq!(fixture.plays().await.expect("plays"), 1);

    // Limits above the key's are refused when minting.
    let e = client
        .paymaster()
        .create_limited_client_session(
            "greedy",
            &[],
            None,
            &TokenLimits {
                requests_per_minute: Some(u32::MAX),
                ..TokenLimits::default()
            },
        )
        .await
        .expect_err("over the key's rate");
    assert!(
        matches!(e, SessionError::Paymaster { code: -32602, .. }),
        "{e:?}"
    );
}
