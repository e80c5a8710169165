//! The paymaster's durable state — API keys (hashed), client session tokens (hashed), the
//! sponsorship ledger and tracking records — behind [`Store`], with SQLite as the default.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use stark_sessions_abi::Felt;

use crate::api::TrackingStatus;
use crate::error::PaymasterError;

/// A backend API key, as stored (the key itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Stable id (not secret), used in logs and the ledger.
    pub id: String,
    /// A human name.
    pub name: String,
    /// SHA-256 of the key.
    pub key_hash: [u8; 32],
    /// Sponsored fees allowed per UTC day, in FRI.
    pub daily_budget_fri: u128,
    /// Requests allowed per minute.
    pub requests_per_minute: u32,
    /// If set, the only contracts the sponsored calls may target.
    pub allowed_targets: Option<Vec<Felt>>,
}

/// A client session token, as stored (the secret part is stored hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTokenRecord {
    /// Public id (the token's prefix).
    pub id: String,
    /// The API key that created it; its budget and limits apply.
    pub api_key_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: [u8; 32],
    /// If set, the only user addresses it may act for.
    pub user_addresses: Option<Vec<Felt>>,
    /// Unix seconds.
    pub expires_at: u64,
    /// Revoked by its API key.
    pub revoked: bool,
}

/// What the relayer sends for a tracked execution, kept so that it can be sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingRecord {
    /// The tracking id handed to the client.
    pub id: Felt,
    /// The account executing.
    pub user_address: Felt,
    /// The outside execution's nonce (unique per account: one execution, one record).
    pub outside_nonce: Felt,
    /// The relayer's calls, serialised as felts (`Vec<Call>` Cairo serde).
    pub relayer_calls: Vec<Felt>,
    /// The latest transaction hash, once sent.
    pub latest_hash: Option<Felt>,
    /// Where it is.
    pub status: TrackingStatus,
    /// How many times it was sent again.
    pub resubmissions: u32,
    /// Unix seconds of the latest send.
    pub sent_at: u64,
}

/// Outcome of claiming an outside execution before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No one has sent it: it is ours to send under this tracking id.
    Claimed,
    /// It was claimed before; here is its record.
    Existing(TrackingRecord),
}

/// Durable paymaster state. Implementations must make `claim_execution` and `reserve_budget`
/// atomic: they are what keeps one execution from being sent twice and a budget from being
/// overspent by concurrent requests.
pub trait Store: Send + Sync {
    /// Inserts or replaces an API key.
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), PaymasterError>;
    /// The key with this hash.
    fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, PaymasterError>;
    /// The key with this id.
    fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, PaymasterError>;
    /// Stores a new client session token.
    fn put_client_token(&self, token: &ClientTokenRecord) -> Result<(), PaymasterError>;
    /// The token with this id.
    fn client_token(&self, id: &str) -> Result<Option<ClientTokenRecord>, PaymasterError>;
    /// Revokes a token created by `api_key_id`; false if there is no such token.
    fn revoke_client_token(&self, id: &str, api_key_id: &str) -> Result<bool, PaymasterError>;
    /// Atomically: if `api_key_id`'s spend on `day` plus `amount` stays within `budget`, records
    /// a reservation of `amount` for `tracking_id` and returns true.
    fn reserve_budget(
        &self,
        api_key_id: &str,
        day: u64,
        amount: u128,
        budget: u128,
        tracking_id: Felt,
    ) -> Result<bool, PaymasterError>;
    /// Replaces a reservation by the fee actually paid.
    fn settle_budget(&self, tracking_id: Felt, actual_fri: u128) -> Result<(), PaymasterError>;
    /// Drops a reservation (nothing was sent).
    fn release_budget(&self, tracking_id: Felt) -> Result<(), PaymasterError>;
    /// Reserved and paid fees of a key on a day.
    fn spent_on(&self, api_key_id: &str, day: u64) -> Result<u128, PaymasterError>;
    /// Atomically claims `(record.user_address, record.outside_nonce)` by inserting `record`.
    fn claim_execution(&self, record: &TrackingRecord) -> Result<Claim, PaymasterError>;
    /// Removes a claim whose execution was never sent.
    fn release_execution(&self, id: Felt) -> Result<(), PaymasterError>;
    /// Records a (re)send.
    fn record_send(
        &self,
        id: Felt,
        hash: Felt,
        resubmission: bool,
        now: u64,
    ) -> Result<(), PaymasterError>;
    /// Sets the status.
    fn set_status(&self, id: Felt, status: TrackingStatus) -> Result<(), PaymasterError>;
    /// The record with this tracking id.
    fn tracking(&self, id: Felt) -> Result<Option<TrackingRecord>, PaymasterError>;
}

/// [`Store`] on an embedded SQLite database.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash BLOB NOT NULL UNIQUE,
    daily_budget_fri TEXT NOT NULL,
    requests_per_minute INTEGER NOT NULL,
    allowed_targets TEXT
);
CREATE TABLE IF NOT EXISTS client_tokens (
    id TEXT PRIMARY KEY,
    api_key_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    user_addresses TEXT,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ledger (
    tracking_id TEXT PRIMARY KEY,
    api_key_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    amount_fri TEXT NOT NULL,
    settled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ledger_by_key_day ON ledger (api_key_id, day);
CREATE TABLE IF NOT EXISTS tracking (
    id TEXT PRIMARY KEY,
    user_address TEXT NOT NULL,
    outside_nonce TEXT NOT NULL,
    relayer_calls TEXT NOT NULL,
    latest_hash TEXT,
    status TEXT NOT NULL,
    resubmissions INTEGER NOT NULL DEFAULT 0,
    sent_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_address, outside_nonce)
);
";

fn felts_to_text(felts: &[Felt]) -> String {
    felts
        .iter()
        .map(|f| format!("{f:#x}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn text_to_felts(text: &str) -> Result<Vec<Felt>, PaymasterError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|s| {
            Felt::from_hex(s).map_err(|_| PaymasterError::Unknown("storage: corrupt felt".into()))
        })
        .collect()
}

fn parse_felt(s: &str) -> Result<Felt, PaymasterError> {
    Felt::from_hex(s).map_err(|_| PaymasterError::Unknown("storage: corrupt felt".into()))
}

fn parse_u128(s: &str) -> Result<u128, PaymasterError> {
    s.parse()
        .map_err(|_| PaymasterError::Unknown("storage: corrupt amount".into()))
}

fn hash_from_blob(blob: Vec<u8>) -> Result<[u8; 32], PaymasterError> {
    blob.try_into()
        .map_err(|_| PaymasterError::Unknown("storage: corrupt hash".into()))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, PaymasterError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| PaymasterError::Unknown(format!("storage: {e}")))?;
        }
        let conn = Connection::open(path)?;
        restrict_permissions(path);
        Self::init(conn)
    }

    /// A private in-memory database (state ends with the process).
    pub fn in_memory() -> Result<Self, PaymasterError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, PaymasterError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, PaymasterError>,
    ) -> Result<T, PaymasterError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| PaymasterError::Unknown("storage: lock poisoned".into()))?;
        f(&mut conn)
    }

    fn api_key_where(
        &self,
        clause: &str,
        value: &dyn rusqlite::ToSql,
    ) -> Result<Option<ApiKeyRecord>, PaymasterError> {
        let sql = format!(
            "SELECT id, name, key_hash, daily_budget_fri, requests_per_minute, allowed_targets \
             FROM api_keys WHERE {clause} = ?1"
        );
        let row = self.with(|c| {
            Ok(c.query_row(&sql, [value], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .optional()?)
        })?;
        row.map(|(id, name, hash, budget, rpm, targets)| {
            Ok(ApiKeyRecord {
                id,
                name,
                key_hash: hash_from_blob(hash)?,
                daily_budget_fri: parse_u128(&budget)?,
                requests_per_minute: rpm,
                allowed_targets: targets.as_deref().map(text_to_felts).transpose()?,
            })
        })
        .transpose()
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: the database holds only hashes, but its ledger is the operator's business.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

type TrackingRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    u32,
    u64,
);

fn tracking_from_row(row: TrackingRow) -> Result<TrackingRecord, PaymasterError> {
    let (id, user, nonce, calls, hash, status, resubmissions, sent_at) = row;
    Ok(TrackingRecord {
        id: parse_felt(&id)?,
        user_address: parse_felt(&user)?,
        outside_nonce: parse_felt(&nonce)?,
        relayer_calls: text_to_felts(&calls)?,
        latest_hash: hash.as_deref().map(parse_felt).transpose()?,
        status: TrackingStatus::parse(&status)
            .ok_or_else(|| PaymasterError::Unknown("storage: corrupt status".into()))?,
        resubmissions,
        sent_at,
    })
}

const TRACKING_COLUMNS: &str =
    "id, user_address, outside_nonce, relayer_calls, latest_hash, status, resubmissions, sent_at";

fn read_tracking_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TrackingRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

impl Store for SqliteStore {
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO api_keys \
                 (id, name, key_hash, daily_budget_fri, requests_per_minute, allowed_targets) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    key.id,
                    key.name,
                    key.key_hash.as_slice(),
                    key.daily_budget_fri.to_string(),
                    key.requests_per_minute,
                    key.allowed_targets.as_deref().map(felts_to_text),
                ],
            )?;
            Ok(())
        })
    }

    fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, PaymasterError> {
        self.api_key_where("key_hash", &hash.as_slice())
    }

    fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, PaymasterError> {
        self.api_key_where("id", &id)
    }

    fn put_client_token(&self, token: &ClientTokenRecord) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO client_tokens \
                 (id, api_key_id, client_id, secret_hash, user_addresses, expires_at, revoked) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    token.id,
                    token.api_key_id,
                    token.client_id,
                    token.secret_hash.as_slice(),
                    token.user_addresses.as_deref().map(felts_to_text),
                    token.expires_at,
                    token.revoked,
                ],
            )?;
            Ok(())
        })
    }

    fn client_token(&self, id: &str) -> Result<Option<ClientTokenRecord>, PaymasterError> {
        let row = self.with(|c| {
            Ok(c.query_row(
                "SELECT id, api_key_id, client_id, secret_hash, user_addresses, expires_at, revoked \
                 FROM client_tokens WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, u64>(5)?,
                        r.get::<_, bool>(6)?,
                    ))
                },
            )
            .optional()?)
        })?;
        row.map(
            |(id, api_key_id, client_id, hash, users, expires_at, revoked)| {
                Ok(ClientTokenRecord {
                    id,
                    api_key_id,
                    client_id,
                    secret_hash: hash_from_blob(hash)?,
                    user_addresses: users.as_deref().map(text_to_felts).transpose()?,
                    expires_at,
                    revoked,
                })
            },
        )
        .transpose()
    }

    fn revoke_client_token(&self, id: &str, api_key_id: &str) -> Result<bool, PaymasterError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE client_tokens SET revoked = 1 WHERE id = ?1 AND api_key_id = ?2",
                params![id, api_key_id],
            )? == 1)
        })
    }

    fn reserve_budget(
        &self,
        api_key_id: &str,
        day: u64,
        amount: u128,
        budget: u128,
        tracking_id: Felt,
    ) -> Result<bool, PaymasterError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let spent = sum_amounts(&tx, api_key_id, day)?;
            let fits = spent
                .checked_add(amount)
                .is_some_and(|total| total <= budget);
            if fits {
                tx.execute(
                    "INSERT INTO ledger (tracking_id, api_key_id, day, amount_fri) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        format!("{tracking_id:#x}"),
                        api_key_id,
                        day,
                        amount.to_string()
                    ],
                )?;
            }
            tx.commit()?;
            Ok(fits)
        })
    }

    fn settle_budget(&self, tracking_id: Felt, actual_fri: u128) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "UPDATE ledger SET amount_fri = ?2, settled = 1 WHERE tracking_id = ?1",
                params![format!("{tracking_id:#x}"), actual_fri.to_string()],
            )?;
            Ok(())
        })
    }

    fn release_budget(&self, tracking_id: Felt) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM ledger WHERE tracking_id = ?1",
                [format!("{tracking_id:#x}")],
            )?;
            Ok(())
        })
    }

    fn spent_on(&self, api_key_id: &str, day: u64) -> Result<u128, PaymasterError> {
        self.with(|c| sum_amounts(c, api_key_id, day))
    }

    fn claim_execution(&self, record: &TrackingRecord) -> Result<Claim, PaymasterError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existing = tx
                .query_row(
                    &format!(
                        "SELECT {TRACKING_COLUMNS} FROM tracking \
                         WHERE user_address = ?1 AND outside_nonce = ?2"
                    ),
                    params![
                        format!("{:#x}", record.user_address),
                        format!("{:#x}", record.outside_nonce)
                    ],
                    read_tracking_row,
                )
                .optional()?;
            if let Some(row) = existing {
                return Ok(Claim::Existing(tracking_from_row(row)?));
            }
            tx.execute(
                &format!("INSERT INTO tracking ({TRACKING_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    format!("{:#x}", record.id),
                    format!("{:#x}", record.user_address),
                    format!("{:#x}", record.outside_nonce),
                    felts_to_text(&record.relayer_calls),
                    record.latest_hash.map(|h| format!("{h:#x}")),
                    record.status.as_str(),
                    record.resubmissions,
                    record.sent_at,
                ],
            )?;
            tx.commit()?;
            Ok(Claim::Claimed)
        })
    }

    fn release_execution(&self, id: Felt) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM tracking WHERE id = ?1 AND latest_hash IS NULL",
                [format!("{id:#x}")],
            )?;
            Ok(())
        })
    }

    fn record_send(
        &self,
        id: Felt,
        hash: Felt,
        resubmission: bool,
        now: u64,
    ) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "UPDATE tracking SET latest_hash = ?2, status = 'active', sent_at = ?3, \
                 resubmissions = resubmissions + ?4 WHERE id = ?1",
                params![
                    format!("{id:#x}"),
                    format!("{hash:#x}"),
                    now,
                    u32::from(resubmission)
                ],
            )?;
            Ok(())
        })
    }

    fn set_status(&self, id: Felt, status: TrackingStatus) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "UPDATE tracking SET status = ?2 WHERE id = ?1",
                params![format!("{id:#x}"), status.as_str()],
            )?;
            Ok(())
        })
    }

    fn tracking(&self, id: Felt) -> Result<Option<TrackingRecord>, PaymasterError> {
        let row = self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {TRACKING_COLUMNS} FROM tracking WHERE id = ?1"),
                [format!("{id:#x}")],
                read_tracking_row,
            )
            .optional()?)
        })?;
        row.map(tracking_from_row).transpose()
    }
}

fn sum_amounts(c: &Connection, api_key_id: &str, day: u64) -> Result<u128, PaymasterError> {
    let mut stmt =
        c.prepare_cached("SELECT amount_fri FROM ledger WHERE api_key_id = ?1 AND day = ?2")?;
    let amounts = stmt.query_map(params![api_key_id, day], |r| r.get::<_, String>(0))?;
    let mut total: u128 = 0;
    for amount in amounts {
        total = total.saturating_add(parse_u128(&amount?)?);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u8, nonce: u8) -> TrackingRecord {
        TrackingRecord {
            id: Felt::from(id),
            user_address: Felt::from(0xacc0u32),
            outside_nonce: Felt::from(nonce),
            relayer_calls: vec![Felt::ONE, Felt::TWO],
            latest_hash: None,
            status: TrackingStatus::Active,
            resubmissions: 0,
            sent_at: 0,
        }
    }

    #[test]
    fn one_outside_execution_is_claimed_once() {
        let store = SqliteStore::in_memory().expect("store");
        assert_eq!(
            store.claim_execution(&record(1, 7)).expect("claim"),
            Claim::Claimed
        );
        match store.claim_execution(&record(2, 7)).expect("claim") {
            Claim::Existing(existing) => assert_eq!(existing.id, Felt::ONE),
            Claim::Claimed => panic!("claimed twice"),
        }
        store.release_execution(Felt::ONE).expect("release");
        assert_eq!(
            store.claim_execution(&record(3, 7)).expect("claim"),
            Claim::Claimed
        );
        // A sent execution cannot be released.
        store
            .record_send(Felt::THREE, Felt::from(0x4a54u32), false, 10)
            .expect("send");
        store.release_execution(Felt::THREE).expect("release");
        assert!(store.tracking(Felt::THREE).expect("read").is_some());
    }

    #[test]
    fn budget_reservations_never_exceed_the_budget() {
        let store = SqliteStore::in_memory().expect("store");
        assert!(store.reserve_budget("k", 1, 60, 100, Felt::ONE).expect("r"));
        assert!(!store.reserve_budget("k", 1, 60, 100, Felt::TWO).expect("r"));
        // Another day, another key: separate budgets.
        assert!(store
            .reserve_budget("k", 2, 60, 100, Felt::THREE)
            .expect("r"));
        assert!(store
            .reserve_budget("j", 1, 60, 100, Felt::from(4u8))
            .expect("r"));
        store.settle_budget(Felt::ONE, 10).expect("settle");
        assert_eq!(store.spent_on("k", 1).expect("spent"), 10);
        assert!(store.reserve_budget("k", 1, 60, 100, Felt::TWO).expect("r"));
        store.release_budget(Felt::TWO).expect("release");
        assert_eq!(store.spent_on("k", 1).expect("spent"), 10);
    }
}
