//! Versioned schema migrations, one numbered SQL file per step and backend
//! (`migrations/{sqlite,postgres}/NNNN_name.sql`), compiled into the binary.
//!
//! Each backend records the versions it applied in a `schema_migrations` table and, when it
//! opens a database, applies the missing ones in order inside one transaction (SQLite:
//! `BEGIN IMMEDIATE`; PostgreSQL: under an advisory lock, so that instances starting together
//! migrate once). A database with a version this build does not know is refused rather than
//! used by older code.

use crate::error::PaymasterError;

/// One step of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migration {
    /// Its number: 1, 2, … in order, the prefix of its file name.
    pub version: i64,
    /// Its file name, without `.sql`.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Lists a backend's migrations, numbered by their position (a test checks the file names).
macro_rules! migrations {
    ($backend:literal: $($name:literal),+ $(,)?) => {{
        let names: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("migrations/", $backend, "/", $name, ".sql")))),+
        ];
        names
    }};
}

fn numbered(files: &'static [(&'static str, &'static str)]) -> Vec<Migration> {
    files
        .iter()
        .zip(1..)
        .map(|(&(name, sql), version)| Migration { version, name, sql })
        .collect()
}

/// The SQLite schema's steps.
pub(crate) fn sqlite() -> Vec<Migration> {
    numbered(migrations!(
        "sqlite": "0001_initial",
        "0002_instances",
        "0003_key_life_cycle",
        "0004_execution_tries",
        "0005_identity_tokens",
    ))
}

/// The PostgreSQL schema's steps.
pub(crate) fn postgres() -> Vec<Migration> {
    numbered(migrations!(
        "postgres": "0001_initial",
        "0002_instances",
        "0003_key_life_cycle",
        "0004_execution_tries",
        "0005_identity_tokens",
    ))
}

/// The `schema_migrations` table, the same in both backends.
pub(crate) const VERSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// The steps of `all` missing from `applied`, in order; an error if the database has a
/// version this build does not know (it was migrated by newer code).
pub(crate) fn pending(
    all: &[Migration],
    applied: &[i64],
) -> Result<Vec<Migration>, PaymasterError> {
    let latest = all.last().map_or(0, |m| m.version);
    if let Some(newer) = applied.iter().find(|&&v| v > latest) {
        return Err(PaymasterError::Unknown(format!(
            "storage: the database has schema version {newer}; this paymaster knows up to {latest}"
        )));
    }
    Ok(all
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .copied()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_are_numbered_in_order_for_both_backends() {
        for list in [sqlite(), postgres()] {
            for m in &list {
                assert_eq!(
                    m.name[..4].parse::<i64>().ok(),
                    Some(m.version),
                    "{}",
                    m.name
                );
            }
        }
        let names = |l: Vec<Migration>| l.iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(
            names(sqlite()),
            names(postgres()),
            "one history for both backends"
        );
    }

    #[test]
    fn only_missing_steps_are_pending_and_newer_databases_are_refused() {
        let all = sqlite();
        assert_eq!(pending(&all, &[]).expect("pending").len(), all.len());
        assert!(pending(&all, &[1])
            .expect("pending")
            .iter()
            .all(|m| m.version > 1));
        assert!(pending(&all, &[all.len() as i64 + 1]).is_err());
    }
}
