//! API key life cycle and client session token limits against an embedded devnet: a key
//! disabled, enabled, revoked or rotated in the database is seen at once by every instance
//! serving it (two paymasters on one database: PostgreSQL when `STARK_SESSIONS_TEST_POSTGRES`
//! names a server, else an SQLite file), with every token it minted; tokens of one key keep
//! limits of their own.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use stark_sessions_paymaster::auth::{hash_secret, new_api_key};
use stark_sessions_paymaster::service::unix_now;
use stark_sessions_paymaster::store::scratch::{ScratchDatabase, SERVER_ENV};
use stark_sessions_paymaster::store::KeyStatus;
use stark_sessions_paymaster::{Database, Paymaster};
use stark_sessions_tests::paymaster::{felt, sponsored, Auth, PaymasterHarness, RpcError};
use stark_sessions_tests::{Fixture, TestSession};

/// The harness's key.
const KEY: &str = "backend";

/// The database both instances share, dropped at the end.
enum Shared {
    /// A file in a directory of its own.
    Sqlite(PathBuf),
    /// A scratch database on the test server.
    Postgres(ScratchDatabase),
}

impl Shared {
    /// PostgreSQL when the test server is named, else an SQLite file.
    fn new() -> Self {
        match std::env::var_os(SERVER_ENV).and_then(|_| ScratchDatabase::from_env()) {
            Some(db) => Shared::Postgres(db),
            None => Shared::Sqlite(
                std::env::temp_dir().join(format!("it-keys-{:016x}", rand::random::<u64>())),
            ),
        }
    }

    fn database(&self) -> Database {
        match self {
            Shared::Sqlite(dir) => Database::Sqlite(dir.join("paymaster.sqlite")),
            Shared::Postgres(db) => Database::Postgres(db.url().clone()),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Shared::Sqlite(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Two paymasters on one database (the second under its own instance id), sharing the key.
struct TwoInstances {
    fixture: Fixture,
    first: PaymasterHarness,
    second: PaymasterHarness,
    _db: Shared,
}

impl TwoInstances {
    async fn start(owner: u64) -> Self {
        let fixture = Fixture::new(owner).await.expect("fixture");
        let db = Shared::new();
        let mut config = PaymasterHarness::config(&fixture, None);
        config.database = Some(db.database());
        config.instance_id = Some("first".into());
        let first = PaymasterHarness::start(config.clone())
            .await
            .expect("first paymaster");
        config.instance_id = Some("second".into());
        let listen = config.listen;
        let paymaster = Paymaster::new(config).await.expect("second paymaster");
        let second = PaymasterHarness::serve(paymaster, listen, first.api_key.clone())
            .await
            .expect("second server");
        TwoInstances {
            fixture,
            first,
            second,
            _db: db,
        }
    }

    fn both(&self) -> [&PaymasterHarness; 2] {
        [&self.first, &self.second]
    }

    fn set_status(&self, status: KeyStatus) -> bool {
        self.first
            .paymaster
            .store()
            .set_api_key_status(KEY, status)
            .expect("status")
    }
}

/// An authenticated read: `Ok` when the credentials pass (an unknown tracking id answers 160
/// only after authentication), else the refusal.
async fn read(pm: &PaymasterHarness, auth: &Auth, tracking_id: &str) -> Result<Value, RpcError> {
    let answer = pm
        .client
        .call(
            "paymaster_trackingIdToLatestHash",
            json!({ "tracking_id": tracking_id }),
            auth,
        )
        .await
        .expect("http");
    match answer {
        Err(e) if e.code == 160 => Ok(Value::Null),
        other => other,
    }
}

/// `paymaster_createClientSession` with `params` and the key; the bearer credentials.
async fn mint(pm: &PaymasterHarness, params: Value) -> Result<Auth, RpcError> {
    let created = pm
        .client
        .call("paymaster_createClientSession", params, &pm.key())
        .await
        .expect("http")?;
    let token = created["client_session_token"].as_str().expect("token");
    Ok(Auth::Bearer(token.to_owned()))
}

async fn session_for(fixture: &Fixture, secret: u64, max_calls: u32) -> TestSession {
    fixture
        .play_session(secret, max_calls)
        .await
        .expect("register")
}

fn refused_as(e: &RpcError, code: i64, words: &str) {
    assert_eq!(e.code, code, "{e:?}");
    assert!(e.data.to_string().contains(words), "{words:?} not in {e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_or_revoked_key_and_its_tokens_are_refused_at_once_by_every_instance() {
    let pms = TwoInstances::start(0x0b01).await;
    let token = mint(&pms.first, json!({ "client_id": "player-1" }))
        .await
        .expect("minted");
    for pm in pms.both() {
        read(pm, &pm.key(), "0x1").await.expect("key");
        read(pm, &token, "0x1").await.expect("token");
    }

    assert!(pms.set_status(KeyStatus::Disabled));
    for pm in pms.both() {
        for auth in [&pm.key(), &token] {
            let e = read(pm, auth, "0x1").await.expect_err("disabled");
            refused_as(&e, 170, "is disabled");
        }
        let e = mint(pm, json!({ "client_id": "player-2" }))
            .await
            .expect_err("no tokens from a disabled key");
        refused_as(&e, 170, "is disabled");
    }

    assert!(pms.set_status(KeyStatus::Active));
    for pm in pms.both() {
        read(pm, &pm.key(), "0x1").await.expect("enabled key");
        read(pm, &token, "0x1").await.expect("its token again");
    }

    assert!(pms.set_status(KeyStatus::Revoked));
    assert!(!pms.set_status(KeyStatus::Active), "revoked for good");
    for pm in pms.both() {
        for auth in [&pm.key(), &token] {
            let e = read(pm, auth, "0x1").await.expect_err("revoked");
            refused_as(&e, 170, "is revoked");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_keeps_its_budget_history_and_tokens_and_only_the_new_secret_works() {
    let pms = TwoInstances::start(0x0b02).await;
    let (fixture, pm) = (&pms.fixture, &pms.first);
    let session = session_for(fixture, 90, 5).await;
    let token = mint(pm, json!({ "client_id": "player-1" }))
        .await
        .expect("minted");
    let sent = pm
        .sponsor(fixture, &session, &[fixture.play(1)], &pm.key())
        .await
        .expect("http")
        .expect("sponsored");
    let tracking_id = sent["tracking_id"]
        .as_str()
        .expect("tracking id")
        .to_owned();
    fixture
        .devnet
        .receipt(felt(&sent["transaction_hash"]).expect("hash"))
        .await
        .expect("receipt");
    assert!(pm.settled(Duration::from_secs(30)).await.expect("settled"));
    let store = pm.paymaster.store();
    let today = unix_now() / 86_400;
    let spent = store.spent_on(KEY, today).expect("spent");
    assert!(spent > 0);

    let (secret, hash) = new_api_key();
    assert!(store
        .rotate_api_key(KEY, &hash, unix_now())
        .expect("rotate"));
    let fresh = Auth::ApiKey(secret.to_string());
    for pm in pms.both() {
        let e = read(pm, &pm.key(), &tracking_id)
            .await
            .expect_err("old secret");
        refused_as(&e, 170, "unknown API key");
        // Its history: the execution sponsored under the old secret is the key's.
        let latest = read(pm, &fresh, &tracking_id).await.expect("new secret");
        assert_eq!(latest["transaction_hash"], sent["transaction_hash"]);
        read(pm, &token, "0x1").await.expect("tokens stay");
    }
    let listed = store.list_api_keys(today).expect("list");
    let key = listed.iter().find(|l| l.key.id == KEY).expect("listed");
    assert_eq!(
        (key.used_fri, key.key.key_hash),
        (spent, hash_secret(&secret))
    );
    assert!(key.rotated_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_one_key_spend_their_own_limits_and_not_each_others() {
    let pms = TwoInstances::start(0x0b03).await;
    let (fixture, pm) = (&pms.fixture, &pms.first);
    let session = session_for(fixture, 91, 10).await;
    let once = mint(pm, json!({ "client_id": "once", "max_executions": 1 }))
        .await
        .expect("minted");
    let poor = mint(pm, json!({ "client_id": "poor", "max_fee_fri": "1" }))
        .await
        .expect("minted");
    let free = mint(pm, json!({ "client_id": "free" }))
        .await
        .expect("minted");
    let session = &session;
    let sponsor = |auth: Auth| async move {
        pm.sponsor(fixture, session, &[fixture.play(1)], &auth)
            .await
            .expect("http")
    };

    sponsor(once.clone()).await.expect("its one execution");
    let e = sponsor(once.clone()).await.expect_err("a second one");
    refused_as(&e, 174, "used its 1 executions");
    let e = sponsor(poor.clone()).await.expect_err("over its fee");
    refused_as(&e, 174, "may spend 1 FRI");
    sponsor(free.clone())
        .await
        .expect("another token is untouched");
    // Through the other instance too: the limits are the database's.
    let e = pms
        .second
        .sponsor(fixture, session, &[fixture.play(1)], &once)
        .await
        .expect("http")
        .expect_err("still spent");
    assert_eq!(e.code, 174);
    sponsor(free).await.expect("and again");

    // Limits above the key's are refused when minting.
    let e = mint(
        pm,
        json!({ "client_id": "x", "requests_per_minute": 100_001 }),
    )
    .await
    .expect_err("over the key's rate");
    assert_eq!(e.code, -32602);

    // A token's own rate: two requests a minute, whatever its key allows.
    let slow = mint(pm, json!({ "client_id": "slow", "requests_per_minute": 2 }))
        .await
        .expect("minted");
    let (user, call) = (fixture.address(), [fixture.play(1)]);
    for _ in 0..2 {
        pm.build(user, &call, sponsored(), &slow)
            .await
            .expect("http")
            .expect("within its rate");
    }
    let e = pms
        .second
        .build(user, &call, sponsored(), &slow)
        .await
        .expect("http")
        .expect_err("third request");
    refused_as(&e, 175, "client session token");
    pm.build(user, &call, sponsored(), &pm.key())
        .await
        .expect("http")
        .expect("the key is not limited by its token");
}
