//! The store suite on PostgreSQL: each test on a scratch database of the server named by
//! `STARK_SESSIONS_TEST_POSTGRES` (skipped, saying so, without it), and what only PostgreSQL
//! has: instances migrating one database at once.

use super::*;
use crate::store::scratch::ScratchDatabase;
use crate::store::tests::{store_suite, Fixture};

struct PostgresFixture {
    // Dropped first: its connections close before the database is dropped.
    store: PostgresStore,
    db: ScratchDatabase,
}

fn fresh() -> Option<PostgresFixture> {
    let db = ScratchDatabase::from_env()?;
    let store = PostgresStore::open(db.url()).expect("open");
    Some(PostgresFixture { store, db })
}

impl Fixture for PostgresFixture {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    fn reopen(&self) -> Box<dyn Store> {
        Box::new(PostgresStore::open(self.db.url()).expect("reopen"))
    }
}

store_suite!(fresh);

#[test]
fn instances_opening_a_new_database_together_migrate_it_once() {
    let Some(db) = ScratchDatabase::from_env() else {
        return;
    };
    let opened: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url().clone();
            std::thread::spawn(move || PostgresStore::open_with(&url, 1))
        })
        .collect();
    let stores: Vec<PostgresStore> = opened
        .into_iter()
        .map(|t| t.join().expect("thread").expect("open"))
        .collect();
    let versions: Vec<i64> = stores[0]
        .pool
        .run(|c| {
            let rows = c
                .query(
                    "SELECT version FROM schema_migrations ORDER BY version",
                    &[],
                )
                .map_err(|e| storage_error(&e))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .expect("versions");
    let all: Vec<i64> = migrations::postgres().iter().map(|m| m.version).collect();
    assert_eq!(versions, all);
}

#[test]
fn a_server_that_refuses_is_reported_without_the_password() {
    // A port nobody listens on (the discard port), a password in the URL.
    let url: PostgresUrl = "postgres://pm:s3cret@127.0.0.1:9/pm?connect_timeout=2"
        .parse()
        .expect("url");
    let err = PostgresStore::open(&url).expect_err("refused");
    let shown = err.to_string();
    assert!(shown.contains("127.0.0.1"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

/// The scratch database's URL with `query` appended.
fn with_query(db: &ScratchDatabase, query: &str) -> PostgresUrl {
    let url = db.url().expose();
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}{query}").parse().expect("url")
}

#[test]
fn sslmode_require_against_a_server_without_tls_fails_clearly_and_prefer_connects() {
    let Some(db) = ScratchDatabase::from_env() else {
        return;
    };
    // The test server runs without TLS.
    let url = with_query(&db, "sslmode=require&connect_timeout=5");
    let e = PostgresStore::open_with(&url, 1)
        .map(|_| ())
        .expect_err("no TLS, no connection");
    let shown = e.to_string();
    assert!(shown.contains("server does not support TLS"), "{shown}");
    assert!(shown.contains("sslmode=require"), "{shown}");
    assert!(shown.contains("127.0.0.1"), "{shown}");
    for mode in ["prefer", "disable"] {
        let url = with_query(&db, &format!("sslmode={mode}"));
        let store = PostgresStore::open_with(&url, 1).expect(mode);
        assert!(store.api_key("none").expect("a read").is_none());
    }
}

#[test]
fn a_statement_running_past_the_statement_timeout_is_cancelled() {
    let Some(db) = ScratchDatabase::from_env() else {
        return;
    };
    let options = StoreOptions {
        statement_timeout: Some(std::time::Duration::from_millis(200)),
    };
    let store = PostgresStore::connect(db.url(), 1, options).expect("open");
    let sleep = |client: &mut Client| {
        client
            .batch_execute("SELECT pg_sleep(5)")
            .map_err(|e| storage_error(&e))
    };
    let started = std::time::Instant::now();
    let e = store.pool.run(sleep).expect_err("cancelled");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // 57014: query_canceled ("canceling statement due to statement timeout").
    assert!(e.to_string().contains("57014"), "{e}");
    // The connection goes on serving quick statements.
    assert!(store.api_key("none").expect("a read").is_none());
    let shown: String = store
        .pool
        .run(|c| {
            let row = c
                .query_one("SHOW statement_timeout", &[])
                .map_err(|e| storage_error(&e))?;
            Ok(row.get(0))
        })
        .expect("show");
    assert_eq!(shown, "200ms");
}
