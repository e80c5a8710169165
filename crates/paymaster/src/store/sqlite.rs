//! [`Store`] on an embedded SQLite database (WAL, full synchronous commits; one connection
//! behind a mutex, every multi-row change in an immediate transaction).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use stark_sessions_abi::Felt;

use super::codec::{corrupt, felts_to_text, hex, parse_u128, text_to_felts};
use super::limits::book_on_token;
use super::migrations::{self, Migration};
use super::FORGET_INSTANCES_AFTER_MS;
use super::{
    ApiKeyListing, ApiKeyRecord, Claim, ClientTokenRecord, DayUsage, ExecutionRecord, FeePayment,
    IdentityBinding, KeyStatus, Lease, LedgerEntry, NewExecution, Reservation, ReserveOutcome,
    Settlement, SlotClaim, Store, TxItem, TxRecord,
};
use crate::error::PaymasterError;
use crate::lifecycle::{ExecutionState, TxState};

mod identity;
mod keys;

/// [`Store`] on an embedded SQLite database.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// A column conversion failure, as rusqlite reports them.
fn bad_column(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, format!("corrupt {what}").into())
}

fn felt_at(r: &Row<'_>, index: usize) -> rusqlite::Result<Felt> {
    let text: String = r.get(index)?;
    Felt::from_hex(&text).map_err(|_| bad_column(index, "felt"))
}

fn opt_felt_at(r: &Row<'_>, index: usize) -> rusqlite::Result<Option<Felt>> {
    let text: Option<String> = r.get(index)?;
    text.map(|t| Felt::from_hex(&t).map_err(|_| bad_column(index, "felt")))
        .transpose()
}

fn u128_at(r: &Row<'_>, index: usize) -> rusqlite::Result<u128> {
    let text: String = r.get(index)?;
    text.parse().map_err(|_| bad_column(index, "amount"))
}

fn opt_u128_at(r: &Row<'_>, index: usize) -> rusqlite::Result<Option<u128>> {
    let text: Option<String> = r.get(index)?;
    text.map(|t| t.parse().map_err(|_| bad_column(index, "amount")))
        .transpose()
}

const EXECUTION_COLUMNS: &str = "id, user_address, outside_nonce, api_key_id, token_id, calls, \
     fee_token, fee_amount, state, latest_hash, attempts, resubmissions, alone, error, tries";

fn execution_from_row(r: &Row<'_>) -> rusqlite::Result<ExecutionRecord> {
    let calls: String = r.get(5)?;
    let fee = match (opt_felt_at(r, 6)?, opt_u128_at(r, 7)?) {
        (Some(token), Some(amount)) => Some(FeePayment { token, amount }),
        _ => None,
    };
    let state: String = r.get(8)?;
    Ok(ExecutionRecord {
        id: felt_at(r, 0)?,
        user_address: felt_at(r, 1)?,
        outside_nonce: felt_at(r, 2)?,
        api_key_id: r.get(3)?,
        token_id: r.get(4)?,
        calls: text_to_felts(&calls).map_err(|_| bad_column(5, "calls"))?,
        fee,
        state: ExecutionState::parse(&state).ok_or_else(|| bad_column(8, "state"))?,
        latest_hash: opt_felt_at(r, 9)?,
        attempts: r.get(10)?,
        resubmissions: r.get(11)?,
        alone: r.get(12)?,
        error: r.get(13)?,
        tries: r.get(14)?,
    })
}

const TX_COLUMNS: &str =
    "hash, relayer, nonce, request, max_fee, state, actual_fee, reason, sent_at";

fn tx_from_row(r: &Row<'_>) -> rusqlite::Result<TxRecord> {
    let state: String = r.get(5)?;
    Ok(TxRecord {
        hash: felt_at(r, 0)?,
        relayer: felt_at(r, 1)?,
        nonce: felt_at(r, 2)?,
        request: r.get(3)?,
        items: Vec::new(),
        max_fee: u128_at(r, 4)?,
        state: TxState::parse(&state).ok_or_else(|| bad_column(5, "state"))?,
        actual_fee: opt_u128_at(r, 6)?,
        reason: r.get(7)?,
        sent_at: r.get(8)?,
    })
}

fn ledger_from_row(r: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    Ok(LedgerEntry {
        tracking_id: felt_at(r, 0)?,
        attempt: r.get(1)?,
        api_key_id: r.get(2)?,
        token_id: r.get(7)?,
        day: r.get(3)?,
        reserved_fri: u128_at(r, 4)?,
        charged_fri: opt_u128_at(r, 5)?,
        tx_hash: opt_felt_at(r, 6)?,
    })
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The key's usage of the day.
fn usage(tx: &Transaction<'_>, api_key_id: &str, day: u64) -> Result<u128, PaymasterError> {
    let used: Option<String> = tx
        .query_row(
            "SELECT used_fri FROM budget_usage WHERE api_key_id = ?1 AND day = ?2",
            params![api_key_id, day],
            |r| r.get(0),
        )
        .optional()?;
    used.as_deref()
        .map(parse_u128)
        .transpose()
        .map(Option::unwrap_or_default)
}

fn set_usage(
    tx: &Transaction<'_>,
    api_key_id: &str,
    day: u64,
    used: u128,
) -> Result<(), PaymasterError> {
    tx.execute(
        "INSERT INTO budget_usage (api_key_id, day, used_fri) VALUES (?1, ?2, ?3) \
         ON CONFLICT (api_key_id, day) DO UPDATE SET used_fri = excluded.used_fri",
        params![api_key_id, day, used.to_string()],
    )?;
    Ok(())
}

/// Replaces one ledger entry's weight in its key's daily usage (`from` → `to`).
fn adjust_usage(
    tx: &Transaction<'_>,
    entry: &LedgerEntry,
    from: u128,
    to: u128,
) -> Result<(), PaymasterError> {
    let used = usage(tx, &entry.api_key_id, entry.day)?;
    set_usage(
        tx,
        &entry.api_key_id,
        entry.day,
        used.saturating_sub(from).saturating_add(to),
    )
}

fn ledger_where(
    tx: &Transaction<'_>,
    clause: &str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<Vec<LedgerEntry>, PaymasterError> {
    let sql = format!(
        "SELECT tracking_id, attempt, api_key_id, day, reserved_fri, charged_fri, tx_hash, \
         token_id FROM budget_ledger WHERE {clause}"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(values, ledger_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether an execution holds any ledger entry (a reservation or a charge).
fn has_entries(tx: &Transaction<'_>, id: Felt) -> Result<bool, PaymasterError> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM budget_ledger WHERE tracking_id = ?1)",
        [hex(id)],
        |r| r.get(0),
    )?)
}

/// Deletes unsettled ledger entries, giving their reservations back to the day's usage and
/// their tokens' (an execution left without entries no longer counts for its token).
fn release_entries(tx: &Transaction<'_>, entries: &[LedgerEntry]) -> Result<(), PaymasterError> {
    for e in entries.iter().filter(|e| e.charged_fri.is_none()) {
        adjust_usage(tx, e, e.reserved_fri, 0)?;
        tx.execute(
            "DELETE FROM budget_ledger WHERE tracking_id = ?1 AND attempt = ?2",
            params![hex(e.tracking_id), e.attempt],
        )?;
        if let Some(token) = &e.token_id {
            let gone = !has_entries(tx, e.tracking_id)?;
            keys::reweigh_on_token(tx, token, e.reserved_fri, 0, gone)?;
        }
    }
    Ok(())
}

fn items_of(tx: &Transaction<'_>, hash: Felt) -> Result<Vec<TxItem>, PaymasterError> {
    let mut stmt = tx.prepare_cached(
        "SELECT tracking_id, attempt FROM transaction_items WHERE tx_hash = ?1 \
         ORDER BY position",
    )?;
    let rows = stmt.query_map([hex(hash)], |r| {
        Ok(TxItem {
            tracking_id: felt_at(r, 0)?,
            attempt: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn tx_state(tx: &Transaction<'_>, hash: Felt) -> Result<Option<TxState>, PaymasterError> {
    let state: Option<String> = tx
        .query_row(
            "SELECT state FROM relayer_transactions WHERE hash = ?1",
            [hex(hash)],
            |r| r.get(0),
        )
        .optional()?;
    state
        .map(|s| TxState::parse(&s).ok_or_else(|| corrupt("state")))
        .transpose()
}

fn execution_state(
    tx: &Transaction<'_>,
    id: Felt,
) -> Result<Option<ExecutionState>, PaymasterError> {
    let state: Option<String> = tx
        .query_row(
            "SELECT state FROM executions WHERE id = ?1",
            [hex(id)],
            |r| r.get(0),
        )
        .optional()?;
    state
        .map(|s| ExecutionState::parse(&s).ok_or_else(|| corrupt("state")))
        .transpose()
}

/// Moves the transaction and those of its items still carried by it to `state`.
fn move_tx(
    tx: &Transaction<'_>,
    hash: Felt,
    from: &[TxState],
    state: TxState,
    items_to: ExecutionState,
) -> Result<bool, PaymasterError> {
    let froms: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let sql = format!(
        "UPDATE relayer_transactions SET state = ? WHERE hash = ? AND state IN ({})",
        placeholders(froms.len())
    );
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::new();
    let (state_str, hash_hex) = (state.as_str(), hex(hash));
    values.push(&state_str);
    values.push(&hash_hex);
    for f in &froms {
        values.push(f);
    }
    if tx.execute(&sql, values.as_slice())? == 0 {
        return Ok(false);
    }
    // Item states are named like the transaction states they mirror.
    let sql = format!(
        "UPDATE executions SET state = ? WHERE latest_hash = ? AND state IN ({})",
        placeholders(froms.len())
    );
    let items_to = items_to.as_str();
    values[0] = &items_to;
    tx.execute(&sql, values.as_slice())?;
    Ok(true)
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

    fn init(mut conn: Connection) -> Result<Self, PaymasterError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Every step of the life cycle is on disk before the side effect it guards, even
        // across a power loss.
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn, &migrations::sqlite())?;
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

    /// Runs `f` in an immediate transaction, committed if it succeeds.
    fn atomically<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, PaymasterError>,
    ) -> Result<T, PaymasterError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn insert_execution(
        tx: &Transaction<'_>,
        new: &NewExecution,
        now: u64,
    ) -> Result<(), PaymasterError> {
        tx.execute(
            &format!(
                "INSERT INTO executions ({EXECUTION_COLUMNS}, created_at, updated_at, owner) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'accepted', NULL, 0, 0, 0, NULL, 0, ?9, ?9, ?10)"
            ),
            params![
                hex(new.id),
                hex(new.user_address),
                hex(new.outside_nonce),
                new.api_key_id,
                new.token_id,
                felts_to_text(&new.calls),
                new.fee.map(|f| hex(f.token)),
                new.fee.map(|f| f.amount.to_string()),
                now,
                new.owner,
            ],
        )?;
        Ok(())
    }
}

/// Applies the missing migrations in one immediate transaction (a second process opening the
/// same file waits for it).
fn migrate(conn: &mut Connection, all: &[Migration]) -> Result<(), PaymasterError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(migrations::VERSIONS_TABLE)?;
    let applied: Vec<i64> = {
        let mut stmt = tx.prepare("SELECT version FROM schema_migrations")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for m in migrations::pending(all, &applied)? {
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, crate::clock::unix_now()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: the database holds only hashes, but its ledger is the operator's business.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

impl Store for SqliteStore {
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), PaymasterError> {
        self.atomically(|tx| keys::put_api_key(tx, key))
    }

    fn create_api_key(&self, key: &ApiKeyRecord) -> Result<bool, PaymasterError> {
        self.atomically(|tx| keys::create_api_key(tx, key))
    }

    fn list_api_keys(&self, day: u64) -> Result<Vec<ApiKeyListing>, PaymasterError> {
        self.with(|c| keys::list_api_keys(c, day))
    }

    fn set_api_key_status(&self, id: &str, status: KeyStatus) -> Result<bool, PaymasterError> {
        self.with(|c| keys::set_status(c, id, status))
    }

    fn rotate_api_key(
        &self,
        id: &str,
        key_hash: &[u8; 32],
        now: u64,
    ) -> Result<bool, PaymasterError> {
        self.with(|c| keys::rotate(c, id, key_hash, now))
    }

    fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, PaymasterError> {
        self.with(|c| keys::api_key_where(c, "key_hash", &hash.as_slice()))
    }

    fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, PaymasterError> {
        self.with(|c| keys::api_key_where(c, "id", &id))
    }

    fn put_client_token(&self, token: &ClientTokenRecord) -> Result<(), PaymasterError> {
        self.with(|c| keys::put_client_token(c, token))
    }

    fn client_token(&self, id: &str) -> Result<Option<ClientTokenRecord>, PaymasterError> {
        self.with(|c| keys::client_token(c, id))
    }

    fn revoke_client_token(&self, id: &str, api_key_id: &str) -> Result<bool, PaymasterError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE client_tokens SET revoked = 1 WHERE id = ?1 AND api_key_id = ?2",
                params![id, api_key_id],
            )? == 1)
        })
    }

    fn bind_identity(
        &self,
        binding: &IdentityBinding,
        now: u64,
    ) -> Result<Vec<Felt>, PaymasterError> {
        self.atomically(|tx| identity::bind(tx, binding, now))
    }

    fn put_slotted_client_token(
        &self,
        token: &ClientTokenRecord,
        slot: &str,
        now: u64,
    ) -> Result<SlotClaim, PaymasterError> {
        self.atomically(|tx| identity::put_slotted(tx, token, slot, now))
    }

    fn claim_execution(&self, new: &NewExecution, now: u64) -> Result<Claim, PaymasterError> {
        self.atomically(|tx| {
            let existing = tx
                .query_row(
                    &format!(
                        "SELECT {EXECUTION_COLUMNS} FROM executions \
                         WHERE user_address = ?1 AND outside_nonce = ?2"
                    ),
                    params![hex(new.user_address), hex(new.outside_nonce)],
                    execution_from_row,
                )
                .optional()?;
            match existing {
                Some(e) if e.state != ExecutionState::Failed => Ok(Claim::Existing(Box::new(e))),
                Some(e) => {
                    tx.execute("DELETE FROM executions WHERE id = ?1", [hex(e.id)])?;
                    Self::insert_execution(tx, new, now)?;
                    Ok(Claim::Claimed)
                }
                None => {
                    Self::insert_execution(tx, new, now)?;
                    Ok(Claim::Claimed)
                }
            }
        })
    }

    fn execution(&self, id: Felt) -> Result<Option<ExecutionRecord>, PaymasterError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?1"),
                [hex(id)],
                execution_from_row,
            )
            .optional()?)
        })
    }

    fn executions_in(
        &self,
        states: &[ExecutionState],
    ) -> Result<Vec<ExecutionRecord>, PaymasterError> {
        let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE state IN ({}) \
             ORDER BY created_at, rowid",
            placeholders(names.len())
        );
        self.with(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(names), execution_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn mark_queued(&self, id: Felt, owner: &str, now: u64) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "UPDATE executions SET state = 'queued', owner = ?3, updated_at = ?2 \
                 WHERE id = ?1 AND state = 'accepted'",
                params![hex(id), now, owner],
            )?;
            Ok(())
        })
    }

    fn own_queued(&self, id: Felt, owner: &str) -> Result<bool, PaymasterError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE executions SET owner = ?2 WHERE id = ?1 AND state = 'queued'",
                params![hex(id), owner],
            )? == 1)
        })
    }

    fn adopt_waiting(
        &self,
        owner: &str,
        now_ms: u64,
        with_own_past: bool,
    ) -> Result<Vec<ExecutionRecord>, PaymasterError> {
        self.atomically(|tx| {
            let mut adopted: Vec<ExecutionRecord> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions \
                     WHERE state IN ('accepted', 'queued') AND (owner IS NULL \
                        OR (owner = ?1 AND ?3) \
                        OR (owner <> ?1 AND owner NOT IN \
                            (SELECT id FROM paymaster_instances WHERE alive_until_ms > ?2))) \
                     ORDER BY created_at, rowid"
                ))?;
                let rows =
                    stmt.query_map(params![owner, now_ms, with_own_past], execution_from_row)?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for e in &mut adopted {
                let id = hex(e.id);
                tx.execute(
                    "UPDATE executions SET state = 'queued', owner = ?2 WHERE id = ?1",
                    params![id, owner],
                )?;
                e.state = ExecutionState::Queued;
                let entries = ledger_where(
                    tx,
                    "tracking_id = ?1 AND tx_hash IS NULL",
                    &[&id as &dyn rusqlite::ToSql],
                )?;
                release_entries(tx, &entries)?;
            }
            Ok(adopted)
        })
    }

    fn fail_execution(&self, id: Felt, error: &str, now: u64) -> Result<bool, PaymasterError> {
        self.atomically(|tx| {
            let changed = tx.execute(
                "UPDATE executions SET state = 'failed', error = ?2, updated_at = ?3 \
                 WHERE id = ?1 AND state IN ('accepted', 'queued')",
                params![hex(id), error, now],
            )?;
            let entries = ledger_where(
                tx,
                "tracking_id = ?1 AND tx_hash IS NULL",
                &[&hex(id) as &dyn rusqlite::ToSql],
            )?;
            release_entries(tx, &entries)?;
            Ok(changed == 1)
        })
    }

    fn count_tries(&self, ids: &[Felt]) -> Result<Vec<(Felt, u32)>, PaymasterError> {
        self.atomically(|tx| {
            let mut counted = Vec::with_capacity(ids.len());
            for id in ids {
                let tries: Option<u32> = tx
                    .query_row(
                        "UPDATE executions SET tries = tries + 1 \
                         WHERE id = ?1 AND state = 'queued' RETURNING tries",
                        [hex(*id)],
                        |r| r.get(0),
                    )
                    .optional()?;
                counted.extend(tries.map(|t| (*id, t)));
            }
            Ok(counted)
        })
    }

    fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, PaymasterError> {
        self.atomically(|tx| {
            let (id, attempt) = (hex(r.tracking_id), r.attempt);
            let current = ledger_where(
                tx,
                "tracking_id = ?1 AND attempt = ?2",
                &[&id as &dyn rusqlite::ToSql, &attempt],
            )?;
            if current.iter().any(|e| e.tx_hash.is_some()) {
                return Err(PaymasterError::Unknown(
                    "storage: this attempt is already in a transaction".into(),
                ));
            }
            let token = match &r.token_id {
                Some(token) => match reserve_on_token(tx, r, token, current.first())? {
                    Ok(usage) => Some((token, usage)),
                    Err(refused) => return Ok(refused),
                },
                None => None,
            };
            // Re-sizing one's own reservation does not count it twice; an entry of another
            // day (or key) leaves that day's usage instead.
            let (same_day, other_day): (Vec<_>, Vec<_>) = current
                .iter()
                .partition(|e| e.api_key_id == r.api_key_id && e.day == r.day);
            let previous = same_day.first().map_or(0, |e| e.reserved_fri);
            let used = usage(tx, &r.api_key_id, r.day)?.saturating_sub(previous);
            if used.checked_add(r.amount).is_none_or(|t| t > r.budget) {
                return Ok(ReserveOutcome::OverKeyBudget);
            }
            for old in other_day {
                adjust_usage(tx, old, old.reserved_fri, 0)?;
            }
            tx.execute(
                "DELETE FROM budget_ledger WHERE tracking_id = ?1 AND attempt = ?2",
                params![id, attempt],
            )?;
            tx.execute(
                "INSERT INTO budget_ledger \
                 (tracking_id, attempt, api_key_id, day, reserved_fri, token_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    attempt,
                    r.api_key_id,
                    r.day,
                    r.amount.to_string(),
                    r.token_id
                ],
            )?;
            set_usage(tx, &r.api_key_id, r.day, used + r.amount)?;
            if let Some((token, usage)) = token {
                keys::set_token_usage(tx, token, usage)?;
            }
            Ok(ReserveOutcome::Granted)
        })
    }

    fn release_unlinked(&self, ids: &[Felt]) -> Result<(), PaymasterError> {
        self.atomically(|tx| {
            for id in ids {
                let entries = ledger_where(
                    tx,
                    "tracking_id = ?1 AND tx_hash IS NULL",
                    &[&hex(*id) as &dyn rusqlite::ToSql],
                )?;
                release_entries(tx, &entries)?;
            }
            Ok(())
        })
    }

    fn spent_on(&self, api_key_id: &str, day: u64) -> Result<u128, PaymasterError> {
        self.atomically(|tx| usage(tx, api_key_id, day))
    }

    fn usage_by_day(&self, from: u64, to: u64) -> Result<Vec<DayUsage>, PaymasterError> {
        self.with(|c| keys::usage_by_day(c, from, to))
    }

    fn ledger(&self, pending_only: bool) -> Result<Vec<LedgerEntry>, PaymasterError> {
        let clause = if pending_only {
            "charged_fri IS NULL ORDER BY rowid"
        } else {
            "1 = 1 ORDER BY rowid"
        };
        self.atomically(|tx| ledger_where(tx, clause, &[]))
    }

    fn transaction_ledger(&self, hash: Felt) -> Result<Vec<LedgerEntry>, PaymasterError> {
        self.atomically(|tx| {
            ledger_where(
                tx,
                "tx_hash = ?1 ORDER BY rowid",
                &[&hex(hash) as &dyn rusqlite::ToSql],
            )
        })
    }

    fn record_signed(&self, record: &TxRecord) -> Result<(), PaymasterError> {
        self.atomically(|tx| {
            let hash = hex(record.hash);
            tx.execute(
                &format!("INSERT INTO relayer_transactions ({TX_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, 'signed', NULL, NULL, 0)"),
                params![hash, hex(record.relayer), hex(record.nonce), record.request, record.max_fee.to_string()],
            )?;
            for (position, item) in record.items.iter().enumerate() {
                let id = hex(item.tracking_id);
                let moved = tx.execute(
                    "UPDATE executions SET state = 'signed', latest_hash = ?2, attempts = ?3 \
                     WHERE id = ?1 AND state = 'queued'",
                    params![id, hash, item.attempt],
                )?;
                let linked = tx.execute(
                    "UPDATE budget_ledger SET tx_hash = ?3 \
                     WHERE tracking_id = ?1 AND attempt = ?2 AND tx_hash IS NULL",
                    params![id, item.attempt, hash],
                )?;
                if moved != 1 || linked != 1 {
                    return Err(PaymasterError::Unknown(format!(
                        "storage: execution {id} is not queued with a reservation"
                    )));
                }
                tx.execute(
                    "INSERT INTO transaction_items (tx_hash, position, tracking_id, attempt) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![hash, position, id, item.attempt],
                )?;
            }
            Ok(())
        })
    }

    fn mark_sent(&self, hash: Felt, now: u64) -> Result<(), PaymasterError> {
        self.atomically(|tx| {
            if move_tx(
                tx,
                hash,
                &[TxState::Signed],
                TxState::Sent,
                ExecutionState::Sent,
            )? {
                tx.execute(
                    "UPDATE relayer_transactions SET sent_at = ?2 WHERE hash = ?1",
                    params![hex(hash), now],
                )?;
            }
            Ok(())
        })
    }

    fn record_outcome(
        &self,
        hash: Felt,
        succeeded: bool,
        actual_fee: u128,
        reason: Option<&str>,
    ) -> Result<(), PaymasterError> {
        let (state, items) = TxState::in_block(succeeded);
        self.atomically(|tx| {
            if move_tx(tx, hash, &[TxState::Signed, TxState::Sent], state, items)? {
                tx.execute(
                    "UPDATE relayer_transactions SET actual_fee = ?2, reason = ?3 WHERE hash = ?1",
                    params![hex(hash), actual_fee.to_string(), reason],
                )?;
            }
            Ok(())
        })
    }

    fn settle_transaction(
        &self,
        hash: Felt,
        charges: &[(Felt, u128)],
        requeue_alone: bool,
    ) -> Result<Settlement, PaymasterError> {
        self.atomically(|tx| {
            let state = tx_state(tx, hash)?;
            if !matches!(state, Some(TxState::Included | TxState::Reverted)) {
                return Ok(Settlement::default());
            }
            let hash_hex = hex(hash);
            for e in ledger_where(tx, "tx_hash = ?1", &[&hash_hex as &dyn rusqlite::ToSql])? {
                let charge = charges
                    .iter()
                    .find(|(id, _)| *id == e.tracking_id)
                    .map_or(0, |(_, c)| *c);
                if e.charged_fri.is_none() {
                    adjust_usage(tx, &e, e.reserved_fri, charge)?;
                    if let Some(token) = &e.token_id {
                        keys::reweigh_on_token(tx, token, e.reserved_fri, charge, false)?;
                    }
                    tx.execute(
                        "UPDATE budget_ledger SET charged_fri = ?3 WHERE tracking_id = ?1 AND attempt = ?2",
                        params![hex(e.tracking_id), e.attempt, charge.to_string()],
                    )?;
                }
            }
            tx.execute(
                "UPDATE relayer_transactions SET state = 'settled' WHERE hash = ?1",
                [&hash_hex],
            )?;
            let mut requeued = Vec::new();
            for item in items_of(tx, hash)? {
                let id = hex(item.tracking_id);
                let carried = execution_state(tx, item.tracking_id)?
                    .is_some_and(|s| matches!(s, ExecutionState::Included | ExecutionState::Reverted));
                if !carried {
                    continue;
                }
                let state = if requeue_alone { "queued" } else { "settled" };
                tx.execute(
                    "UPDATE executions SET state = ?3, alone = alone OR ?4 \
                     WHERE id = ?1 AND latest_hash = ?2",
                    params![id, hash_hex, state, requeue_alone],
                )?;
                if requeue_alone {
                    requeued.push(item.tracking_id);
                }
            }
            Ok(Settlement {
                booked: true,
                requeued,
            })
        })
    }

    fn drop_transaction(
        &self,
        hash: Felt,
        reason: &str,
        resubmission: bool,
        max_resubmissions: u32,
    ) -> Result<Vec<Felt>, PaymasterError> {
        self.atomically(|tx| {
            let hash_hex = hex(hash);
            let live = tx_state(tx, hash)?.is_some_and(TxState::is_live);
            if !live {
                return Ok(Vec::new());
            }
            tx.execute(
                "UPDATE relayer_transactions SET state = 'dropped', reason = ?2 WHERE hash = ?1",
                params![hash_hex, reason],
            )?;
            let entries = ledger_where(tx, "tx_hash = ?1", &[&hash_hex as &dyn rusqlite::ToSql])?;
            release_entries(tx, &entries)?;
            let mut requeued = Vec::new();
            for item in items_of(tx, hash)? {
                let id = hex(item.tracking_id);
                let changed = tx.execute(
                    "UPDATE executions SET state = 'queued', resubmissions = resubmissions + ?2 \
                     WHERE id = ?1 AND latest_hash = ?3 AND state IN ('signed', 'sent')",
                    params![id, u32::from(resubmission), hash_hex],
                )?;
                if changed == 0 {
                    continue;
                }
                let gave_up = tx.execute(
                    "UPDATE executions SET state = 'dropped', error = ?2 \
                     WHERE id = ?1 AND resubmissions > ?3",
                    params![
                        id,
                        format!("dropped too often; last: {reason}"),
                        max_resubmissions
                    ],
                )?;
                if gave_up == 0 {
                    requeued.push(item.tracking_id);
                }
            }
            Ok(requeued)
        })
    }

    fn transaction(&self, hash: Felt) -> Result<Option<TxRecord>, PaymasterError> {
        self.atomically(|tx| {
            let record = tx
                .query_row(
                    &format!("SELECT {TX_COLUMNS} FROM relayer_transactions WHERE hash = ?1"),
                    [hex(hash)],
                    tx_from_row,
                )
                .optional()?;
            record
                .map(|mut r| {
                    r.items = items_of(tx, r.hash)?;
                    Ok(r)
                })
                .transpose()
        })
    }

    fn transactions_in(&self, states: &[TxState]) -> Result<Vec<TxRecord>, PaymasterError> {
        let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let sql = format!(
            "SELECT {TX_COLUMNS} FROM relayer_transactions WHERE state IN ({}) ORDER BY rowid",
            placeholders(names.len())
        );
        self.atomically(|tx| {
            let mut records: Vec<TxRecord> = {
                let mut stmt = tx.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(names), tx_from_row)?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for r in &mut records {
                r.items = items_of(tx, r.hash)?;
            }
            records.sort_by_key(|r| (r.relayer, r.nonce));
            Ok(records)
        })
    }

    fn heartbeat(
        &self,
        instance: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Vec<String>, PaymasterError> {
        self.atomically(|tx| {
            tx.execute(
                "INSERT INTO paymaster_instances (id, alive_until_ms) VALUES (?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET alive_until_ms = excluded.alive_until_ms",
                params![instance, now_ms.saturating_add(ttl_ms)],
            )?;
            tx.execute(
                "DELETE FROM paymaster_instances WHERE alive_until_ms < ?1",
                params![now_ms.saturating_sub(FORGET_INSTANCES_AFTER_MS)],
            )?;
            let mut stmt = tx.prepare(
                "SELECT id FROM paymaster_instances WHERE alive_until_ms > ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([now_ms], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn end_instance(&self, instance: &str) -> Result<(), PaymasterError> {
        self.atomically(|tx| {
            tx.execute("DELETE FROM paymaster_instances WHERE id = ?1", [instance])?;
            tx.execute("DELETE FROM relayer_leases WHERE holder = ?1", [instance])?;
            Ok(())
        })
    }

    fn acquire_lease(
        &self,
        relayer: Felt,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, PaymasterError> {
        self.atomically(|tx| {
            let relayer_hex = hex(relayer);
            tx.execute(
                "INSERT INTO relayer_leases (relayer, holder, expires_at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (relayer) DO UPDATE \
                 SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms \
                 WHERE relayer_leases.holder = excluded.holder OR relayer_leases.expires_at_ms <= ?4",
                params![relayer_hex, holder, now_ms.saturating_add(ttl_ms), now_ms],
            )?;
            let (holder, expires_at_ms) = tx.query_row(
                "SELECT holder, expires_at_ms FROM relayer_leases WHERE relayer = ?1",
                [relayer_hex],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Lease {
                relayer,
                holder,
                expires_at_ms,
            })
        })
    }

    fn release_lease(&self, relayer: Felt, holder: &str) -> Result<(), PaymasterError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM relayer_leases WHERE relayer = ?1 AND holder = ?2",
                params![hex(relayer), holder],
            )?;
            Ok(())
        })
    }

    fn leases(&self) -> Result<Vec<Lease>, PaymasterError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT relayer, holder, expires_at_ms FROM relayer_leases ORDER BY relayer",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Lease {
                    relayer: felt_at(r, 0)?,
                    holder: r.get(1)?,
                    expires_at_ms: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn count_request(
        &self,
        api_key_id: &str,
        minute: u64,
        limit: u32,
    ) -> Result<bool, PaymasterError> {
        let table = ("request_counts", "api_key_id");
        self.atomically(|tx| keys::count_in(tx, table, api_key_id, minute, limit))
    }

    fn count_token_request(
        &self,
        token_id: &str,
        minute: u64,
        limit: u32,
    ) -> Result<bool, PaymasterError> {
        let table = ("token_request_counts", "token_id");
        self.atomically(|tx| keys::count_in(tx, table, token_id, minute, limit))
    }
}

/// The token's usage once `r` replaces `current` (the attempt's entry, if any), or why not.
fn reserve_on_token(
    tx: &Transaction<'_>,
    r: &Reservation,
    token: &str,
    current: Option<&LedgerEntry>,
) -> Result<Result<super::TokenUsage, ReserveOutcome>, PaymasterError> {
    let previous = current
        .filter(|e| e.token_id.as_deref() == Some(token))
        .map_or(0, |e| e.reserved_fri);
    let first = !has_entries(tx, r.tracking_id)?;
    Ok(book_on_token(
        keys::token_row(tx, token)?,
        previous,
        r.amount,
        first,
    ))
}

#[cfg(test)]
mod tests;
