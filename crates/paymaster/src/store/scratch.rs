//! Throw-away databases on a PostgreSQL server, for tests: each test makes its own, so tests
//! run in parallel, and it is dropped (with its connections) when the test ends.
//!
//! The server comes from [`SERVER_ENV`] (`scripts/test.sh` starts one); without it,
//! [`ScratchDatabase::from_env`] prints why the test is skipped. A test that did run appends
//! its name to the file named by [`MARKER_ENV`], so that the script can tell that the
//! PostgreSQL tests ran.

use std::io::Write;

use super::location::PostgresUrl;
use crate::error::PaymasterError;

/// A `postgres://` URL of a role that may `CREATE DATABASE`.
pub const SERVER_ENV: &str = "STARK_SESSIONS_TEST_POSTGRES";

/// A file to which each PostgreSQL test that ran appends its name.
pub const MARKER_ENV: &str = "STARK_SESSIONS_TEST_POSTGRES_MARKER";

/// A database that exists until this is dropped.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: PostgresUrl,
    name: String,
    url: PostgresUrl,
}

/// Runs `sql` on the server's default database. On a thread of its own: the synchronous
/// client may not run inside an async runtime, and tests may be in one.
fn admin(server: &PostgresUrl, sql: String) -> Result<(), PaymasterError> {
    let server = server.clone();
    std::thread::spawn(move || {
        let mut client = server
            .expose()
            .parse::<postgres::Config>()
            .and_then(|c| c.connect(postgres::NoTls))
            .map_err(|e| super::postgres::storage_error(&e))?;
        client
            .batch_execute(&sql)
            .map_err(|e| super::postgres::storage_error(&e))
    })
    .join()
    .map_err(|_| PaymasterError::Unknown("storage: admin thread panicked".into()))?
}

impl ScratchDatabase {
    /// A fresh database on `server`.
    pub fn create(server: &PostgresUrl) -> Result<Self, PaymasterError> {
        let name = format!("pm_test_{:016x}", rand::random::<u64>());
        admin(server, format!("CREATE DATABASE {name}"))?;
        let url = server.with_database(&name)?;
        Ok(ScratchDatabase {
            server: server.clone(),
            name,
            url,
        })
    }

    /// A fresh database on the server of [`SERVER_ENV`]; `None`, saying why, without one.
    ///
    /// # Panics
    /// If the variable is set but the database cannot be made: a test asked to use
    /// PostgreSQL must not pass without it.
    pub fn from_env() -> Option<Self> {
        let Ok(server) = std::env::var(SERVER_ENV) else {
            println!("skipped: {SERVER_ENV} not set (scripts/test.sh starts a PostgreSQL)");
            return None;
        };
        let server: PostgresUrl = server
            .parse()
            .unwrap_or_else(|e| panic!("{SERVER_ENV}: {e}"));
        let db = Self::create(&server).unwrap_or_else(|e| panic!("scratch database: {e}"));
        mark_ran();
        Some(db)
    }

    /// Its URL.
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }
}

/// Notes in the [`MARKER_ENV`] file that the current test used PostgreSQL.
fn mark_ran() {
    let Ok(path) = std::env::var(MARKER_ENV) else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{test}"));
    if let Err(e) = written {
        panic!("{MARKER_ENV} ({path}): {e}");
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.server, sql) {
            eprintln!("could not drop {}: {e}", self.name);
        }
    }
}
