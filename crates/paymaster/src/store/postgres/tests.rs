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
