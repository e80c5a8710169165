//! The store suite on SQLite (a file, so that a second handle can open it), and what only
//! SQLite has: files made before migrations were versioned.

use std::path::PathBuf;

use rusqlite::Connection;

use super::*;
use crate::store::tests::{store_suite, Fixture};
use crate::store::{TokenLimits, TokenUsage};

/// A fresh database file, removed with its directory at the end.
struct SqliteFixture {
    dir: PathBuf,
    store: SqliteStore,
}

impl SqliteFixture {
    fn path(dir: &std::path::Path) -> PathBuf {
        dir.join("db.sqlite")
    }
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("pm-store-{:016x}", rand::random::<u64>()))
}

fn fresh() -> Option<SqliteFixture> {
    let dir = temp_dir();
    let store = SqliteStore::open(&SqliteFixture::path(&dir)).expect("open");
    Some(SqliteFixture { dir, store })
}

impl Fixture for SqliteFixture {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    fn reopen(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&Self::path(&self.dir)).expect("reopen"))
    }
}

impl Drop for SqliteFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

store_suite!(fresh);

#[test]
fn a_file_made_before_versioned_migrations_opens_as_version_one() {
    let dir = temp_dir();
    let path = SqliteFixture::path(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    {
        // What earlier releases made: the first schema, no record of versions.
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(migrations::sqlite()[0].sql)
            .expect("schema");
        conn.execute(
            "INSERT INTO budget_usage (api_key_id, day, used_fri) VALUES ('k', 1, '42')",
            [],
        )
        .expect("row");
    }
    let fixture = SqliteFixture {
        store: SqliteStore::open(&path).expect("open"),
        dir,
    };
    let store = &fixture.store;
    assert_eq!(store.spent_on("k", 1).expect("spent"), 42);
    let versions: Vec<i64> = store
        .with(|c| {
            let mut stmt = c.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .expect("versions");
    let all: Vec<i64> = migrations::sqlite().iter().map(|m| m.version).collect();
    assert_eq!(versions, all);
}

#[test]
fn a_database_from_newer_code_is_refused() {
    let fixture = fresh().expect("fixture");
    fixture
        .store
        .with(|c| {
            c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
                [],
            )?;
            Ok(())
        })
        .expect("insert");
    let err = SqliteStore::open(&SqliteFixture::path(&fixture.dir)).expect_err("refused");
    assert!(err.to_string().contains("999"), "{err}");
}

#[test]
fn keys_and_tokens_from_before_the_key_life_cycle_come_out_active_and_unlimited() {
    let dir = temp_dir();
    let path = SqliteFixture::path(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    {
        // A database at schema version 2, with a key and a token.
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(migrations::VERSIONS_TABLE)
            .expect("versions");
        for m in &migrations::sqlite()[..2] {
            conn.execute_batch(m.sql).expect("schema");
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
                params![m.version, m.name],
            )
            .expect("version");
        }
        conn.execute_batch(
            "INSERT INTO api_keys VALUES ('k', 'k', x'0707070707070707070707070707070707070707070707070707070707070707', '5', 60, NULL);
             INSERT INTO client_tokens VALUES ('t', 'k', 'c', x'0909090909090909090909090909090909090909090909090909090909090909', NULL, 99, 0);",
        )
        .expect("rows");
    }
    let fixture = SqliteFixture {
        store: SqliteStore::open(&path).expect("migrated"),
        dir,
    };
    let store = &fixture.store;
    let key = store.api_key("k").expect("read").expect("key");
    assert_eq!((key.status, key.daily_budget_fri), (KeyStatus::Active, 5));
    let token = store.client_token("t").expect("read").expect("token");
    assert_eq!(
        (token.limits, token.usage),
        (TokenLimits::default(), TokenUsage::default())
    );
}
