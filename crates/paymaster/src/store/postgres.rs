//! [`Store`] on PostgreSQL: one database shared by several paymaster instances.
//!
//! # Threads
//! Each connection lives on a thread of its own ([`pool`]); a call sends its work there and
//! blocks on the answer, as an SQLite call blocks on that store's mutex.
//!
//! # Why no interleaving breaks an invariant
//! Transactions run at READ COMMITTED: every statement sees the latest committed rows, and an
//! `UPDATE` or `DELETE` that waited for a row lock re-checks its `WHERE` clause on the row as
//! the other transaction left it. So every invariant is kept by a statement that tests and
//! changes in one step:
//! - **claims**: `SELECT … FOR UPDATE` of the `(account, nonce)` row, then a plain `INSERT`;
//!   two instances inserting the same pair meet on the unique index, the loser's transaction
//!   is run again and finds the winner's row. A `failed` row is replaced under its row lock.
//! - **budgets**: a reservation is one conditional `UPDATE` of the key's daily usage row
//!   (`used - previous + amount <= budget`); a concurrent reservation waits on that row and is
//!   then tested against the total the first one left, so no two can both fit in the same room.
//! - **ledger**: each change deletes or updates entries under a condition (`tx_hash IS NULL`,
//!   `charged_fri IS NULL`) and `RETURNING` what it changed, and moves the usage row by exactly
//!   that: an amount is released or charged by the one transaction that changed its entry.
//! - **life cycle**: a transaction's or execution's state moves by conditional `UPDATE`
//!   (`WHERE state IN (…)`): one settler books a transaction, one dropper queues its items.
//! - **instances**: a relayer lease is one upsert whose `WHERE` (same holder, or expired) is
//!   tested on the locked row, so of two instances taking an expired lease one gets it; the
//!   waiting executions of a stopped instance are adopted by one `UPDATE` whose owner test is
//!   re-run on each locked row, so each goes to one instance; a request is counted by one
//!   upsert that tests the minute's count against the key's limit.
//!
//! Rows are locked in one order — relayer transaction, executions, ledger entries, usage rows
//! (sorted) — which keeps deadlocks rare. A deadlock, a serialization failure, or a unique
//! violation from a concurrent insert rolls the transaction back; it is run again, at most
//! [`TRIES`] times.

mod pool;

use std::collections::BTreeMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, Row, Transaction};
use stark_sessions_abi::Felt;

use super::codec::{
    corrupt, felts_to_text, hash_from_blob, hex, parse_felt, parse_u128, text_to_felts,
};
use super::location::PostgresUrl;
use super::migrations::{self, Migration};
use super::FORGET_INSTANCES_AFTER_MS;
use super::{
    ApiKeyRecord, Claim, ClientTokenRecord, ExecutionRecord, FeePayment, Lease, LedgerEntry,
    NewExecution, Reservation, Settlement, Store, TxItem, TxRecord,
};
use crate::error::PaymasterError;
use crate::lifecycle::{ExecutionState, TxState};
pub(crate) use pool::storage_error;
use pool::Pool;

/// Connections per store unless told otherwise: calls come from the tokio workers, and each
/// blocks its worker while it runs, so a few suffice.
pub const DEFAULT_CONNECTIONS: usize = 4;

/// How many times a transaction is run before a retryable failure is reported.
pub const TRIES: u32 = 12;

/// The advisory lock key that serialises migrations (advisory locks are per database).
const MIGRATION_LOCK: i64 = 0x5353_504d_4d49_4752; // "SSPMMIGR"

/// [`Store`] on a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

/// Why a transaction stopped: the database, or the store's own refusal (rolled back alike).
enum Failure {
    Db(postgres::Error),
    Refused(PaymasterError),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<PaymasterError> for Failure {
    fn from(e: PaymasterError) -> Self {
        Failure::Refused(e)
    }
}

type Res<T> = Result<T, Failure>;

impl Failure {
    fn into_error(self) -> PaymasterError {
        match self {
            Failure::Db(e) => storage_error(&e),
            Failure::Refused(e) => e,
        }
    }

    /// A conflict with a concurrent transaction, gone if the transaction runs again.
    fn is_retryable(&self) -> bool {
        let Failure::Db(e) = self else { return false };
        [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::UNIQUE_VIOLATION,
        ]
        .iter()
        .any(|state| e.code() == Some(state))
    }
}

/// Runs `f` in a READ COMMITTED transaction, again after a retryable failure.
fn transact<T>(
    client: &mut Client,
    mut f: impl FnMut(&mut Transaction<'_>) -> Res<T>,
) -> Result<T, PaymasterError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = client
            .transaction()
            .map_err(Failure::from)
            .and_then(|mut tx| {
                let out = f(&mut tx)?;
                tx.commit()?;
                Ok(out)
            });
        match outcome {
            Ok(out) => return Ok(out),
            Err(e) if tries < TRIES && e.is_retryable() => {
                // A little random wait, growing, so that racers do not meet again at once.
                let jitter = rand::random::<u64>() % 4;
                std::thread::sleep(Duration::from_millis(u64::from(tries) + jitter));
            }
            Err(e) => return Err(e.into_error()),
        }
    }
}

/// Runs `f` in a read-only REPEATABLE READ transaction: several reads of one snapshot.
fn snapshot<T>(
    client: &mut Client,
    f: impl FnOnce(&mut Transaction<'_>) -> Res<T>,
) -> Result<T, PaymasterError> {
    let run = |client: &mut Client| -> Res<T> {
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    };
    run(client).map_err(Failure::into_error)
}

/// Applies the missing migrations in one transaction, under an advisory lock so that instances
/// opening the database together migrate it once.
fn migrate(client: &mut Client, all: &[Migration]) -> Result<(), PaymasterError> {
    let mut run = || -> Res<()> {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(migrations::VERSIONS_TABLE)?;
        let applied: Vec<i64> = tx
            .query("SELECT version FROM schema_migrations", &[])?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        for m in migrations::pending(all, &applied)? {
            tx.batch_execute(m.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &int(crate::service::unix_now())?],
            )?;
        }
        tx.commit()?;
        Ok(())
    };
    run().map_err(Failure::into_error)
}

/// An unsigned count or time as a `BIGINT`.
fn int(v: impl TryInto<i64>) -> Result<i64, PaymasterError> {
    v.try_into()
        .map_err(|_| PaymasterError::Unknown("storage: number out of range".into()))
}

/// A `BIGINT` read back as an unsigned value.
fn uint<T: TryFrom<i64>>(row: &Row, index: usize) -> Res<T> {
    let v: i64 = row.try_get(index)?;
    Ok(T::try_from(v).map_err(|_| corrupt("number"))?)
}

fn felt(row: &Row, index: usize) -> Res<Felt> {
    Ok(parse_felt(row.try_get(index)?)?)
}

fn opt_felt(row: &Row, index: usize) -> Res<Option<Felt>> {
    let text: Option<&str> = row.try_get(index)?;
    Ok(text.map(parse_felt).transpose()?)
}

fn amount(row: &Row, index: usize) -> Res<u128> {
    Ok(parse_u128(row.try_get(index)?)?)
}

fn opt_amount(row: &Row, index: usize) -> Res<Option<u128>> {
    let text: Option<&str> = row.try_get(index)?;
    Ok(text.map(parse_u128).transpose()?)
}

/// Text for a state list bound as `ANY($n)`.
fn names<S: Copy>(states: &[S], name: impl Fn(S) -> &'static str) -> Vec<&'static str> {
    states.iter().map(|s| name(*s)).collect()
}

const API_KEY_COLUMNS: &str =
    "id, name, key_hash, daily_budget_fri::text, requests_per_minute, allowed_targets";

fn api_key_from_row(r: &Row) -> Res<ApiKeyRecord> {
    let targets: Option<&str> = r.try_get(5)?;
    Ok(ApiKeyRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        key_hash: hash_from_blob(r.try_get(2)?)?,
        daily_budget_fri: amount(r, 3)?,
        requests_per_minute: uint(r, 4)?,
        allowed_targets: targets.map(text_to_felts).transpose()?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, api_key_id, client_id, secret_hash, user_addresses, expires_at, revoked";

fn token_from_row(r: &Row) -> Res<ClientTokenRecord> {
    let users: Option<&str> = r.try_get(4)?;
    Ok(ClientTokenRecord {
        id: r.try_get(0)?,
        api_key_id: r.try_get(1)?,
        client_id: r.try_get(2)?,
        secret_hash: hash_from_blob(r.try_get(3)?)?,
        user_addresses: users.map(text_to_felts).transpose()?,
        expires_at: uint(r, 5)?,
        revoked: r.try_get(6)?,
    })
}

const EXECUTION_COLUMNS: &str = "id, user_address, outside_nonce, api_key_id, token_id, calls, \
     fee_token, fee_amount::text, state, latest_hash, attempts, resubmissions, alone, error";

fn execution_from_row(r: &Row) -> Res<ExecutionRecord> {
    let fee = match (opt_felt(r, 6)?, opt_amount(r, 7)?) {
        (Some(token), Some(amount)) => Some(FeePayment { token, amount }),
        _ => None,
    };
    let state: &str = r.try_get(8)?;
    Ok(ExecutionRecord {
        id: felt(r, 0)?,
        user_address: felt(r, 1)?,
        outside_nonce: felt(r, 2)?,
        api_key_id: r.try_get(3)?,
        token_id: r.try_get(4)?,
        calls: text_to_felts(r.try_get(5)?)?,
        fee,
        state: ExecutionState::parse(state).ok_or_else(|| corrupt("state"))?,
        latest_hash: opt_felt(r, 9)?,
        attempts: uint(r, 10)?,
        resubmissions: uint(r, 11)?,
        alone: r.try_get(12)?,
        error: r.try_get(13)?,
    })
}

const TX_COLUMNS: &str =
    "hash, relayer, nonce, request, max_fee::text, state, actual_fee::text, reason, sent_at";

fn tx_from_row(r: &Row) -> Res<TxRecord> {
    let state: &str = r.try_get(5)?;
    Ok(TxRecord {
        hash: felt(r, 0)?,
        relayer: felt(r, 1)?,
        nonce: felt(r, 2)?,
        request: r.try_get(3)?,
        items: Vec::new(),
        max_fee: amount(r, 4)?,
        state: TxState::parse(state).ok_or_else(|| corrupt("state"))?,
        actual_fee: opt_amount(r, 6)?,
        reason: r.try_get(7)?,
        sent_at: uint(r, 8)?,
    })
}

const LEDGER_COLUMNS: &str =
    "tracking_id, attempt, api_key_id, day, reserved_fri::text, charged_fri::text, tx_hash";

fn ledger_from_row(r: &Row) -> Res<LedgerEntry> {
    Ok(LedgerEntry {
        tracking_id: felt(r, 0)?,
        attempt: uint(r, 1)?,
        api_key_id: r.try_get(2)?,
        day: uint(r, 3)?,
        reserved_fri: amount(r, 4)?,
        charged_fri: opt_amount(r, 5)?,
        tx_hash: opt_felt(r, 6)?,
    })
}

fn rows<T>(rows: Vec<Row>, f: impl Fn(&Row) -> Res<T>) -> Res<Vec<T>> {
    rows.iter().map(f).collect()
}

/// Changes to keys' daily usage, applied together in key order (one lock order everywhere).
#[derive(Default)]
struct UsageChanges(BTreeMap<(String, i64), (u128, u128)>);

impl UsageChanges {
    /// `entry` weighed `from` and now weighs `to`.
    fn reweigh(&mut self, entry: &LedgerEntry, from: u128, to: u128) -> Res<()> {
        let slot = self
            .0
            .entry((entry.api_key_id.clone(), int(entry.day)?))
            .or_default();
        slot.0 = slot.0.saturating_add(from);
        slot.1 = slot.1.saturating_add(to);
        Ok(())
    }

    fn apply(self, tx: &mut Transaction<'_>) -> Res<()> {
        for ((key, day), (minus, plus)) in self.0 {
            tx.execute(
                "UPDATE budget_usage \
                 SET used_fri = GREATEST(used_fri - $3::text::numeric, 0) + $4::text::numeric \
                 WHERE api_key_id = $1 AND day = $2",
                &[&key, &day, &minus.to_string(), &plus.to_string()],
            )?;
        }
        Ok(())
    }
}

/// Deletes the unsettled ledger entries matching `clause` (over `$1`), giving their
/// reservations back to their days' usage.
fn release_where(
    tx: &mut Transaction<'_>,
    clause: &str,
    value: &(dyn postgres::types::ToSql + Sync),
) -> Res<()> {
    let deleted = tx.query(
        &format!(
            "DELETE FROM budget_ledger WHERE {clause} AND charged_fri IS NULL \
             RETURNING {LEDGER_COLUMNS}"
        ),
        &[value],
    )?;
    let mut usage = UsageChanges::default();
    for e in rows(deleted, ledger_from_row)? {
        usage.reweigh(&e, e.reserved_fri, 0)?;
    }
    usage.apply(tx)
}

fn items_of(tx: &mut Transaction<'_>, hashes: &[String]) -> Res<Vec<(String, TxItem)>> {
    let found = tx.query(
        "SELECT tx_hash, tracking_id, attempt FROM transaction_items \
         WHERE tx_hash = ANY($1) ORDER BY tx_hash, position",
        &[&hashes],
    )?;
    rows(found, |r| {
        Ok((
            r.try_get(0)?,
            TxItem {
                tracking_id: felt(r, 1)?,
                attempt: uint(r, 2)?,
            },
        ))
    })
}

/// Fills in the items of `records`.
fn with_items(tx: &mut Transaction<'_>, mut records: Vec<TxRecord>) -> Res<Vec<TxRecord>> {
    let hashes: Vec<String> = records.iter().map(|r| hex(r.hash)).collect();
    for (hash, item) in items_of(tx, &hashes)? {
        if let Some(r) = records.iter_mut().find(|r| hex(r.hash) == hash) {
            r.items.push(item);
        }
    }
    Ok(records)
}

fn insert_execution(tx: &mut Transaction<'_>, new: &NewExecution, now: i64) -> Res<()> {
    tx.execute(
        "INSERT INTO executions (id, user_address, outside_nonce, api_key_id, token_id, calls, \
         fee_token, fee_amount, state, created_at, updated_at, owner) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::numeric, 'accepted', $9, $9, $10)",
        &[
            &hex(new.id),
            &hex(new.user_address),
            &hex(new.outside_nonce),
            &new.api_key_id,
            &new.token_id,
            &felts_to_text(&new.calls),
            &new.fee.map(|f| hex(f.token)),
            &new.fee.map(|f| f.amount.to_string()),
            &now,
            &new.owner,
        ],
    )?;
    Ok(())
}

fn claim(tx: &mut Transaction<'_>, new: &NewExecution, now: i64) -> Res<Claim> {
    let existing = tx.query_opt(
        &format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions \
             WHERE user_address = $1 AND outside_nonce = $2 FOR UPDATE"
        ),
        &[&hex(new.user_address), &hex(new.outside_nonce)],
    )?;
    match existing.as_ref().map(execution_from_row).transpose()? {
        Some(e) if e.state != ExecutionState::Failed => return Ok(Claim::Existing(Box::new(e))),
        Some(e) => {
            tx.execute("DELETE FROM executions WHERE id = $1", &[&hex(e.id)])?;
        }
        None => {}
    }
    // A concurrent claim of the same pair makes this fail on the unique index; run again,
    // the transaction finds that claim.
    insert_execution(tx, new, now)?;
    Ok(Claim::Claimed)
}

fn reserve(tx: &mut Transaction<'_>, r: &Reservation) -> Res<bool> {
    let (id, attempt, day) = (hex(r.tracking_id), int(r.attempt)?, int(r.day)?);
    let current = tx
        .query_opt(
            &format!(
                "SELECT {LEDGER_COLUMNS} FROM budget_ledger \
                 WHERE tracking_id = $1 AND attempt = $2 FOR UPDATE"
            ),
            &[&id, &attempt],
        )?
        .as_ref()
        .map(ledger_from_row)
        .transpose()?;
    if current.as_ref().is_some_and(|e| e.tx_hash.is_some()) {
        return Err(PaymasterError::Unknown(
            "storage: this attempt is already in a transaction".into(),
        )
        .into());
    }
    // Re-sizing one's own reservation does not count it twice.
    let same_day = current
        .as_ref()
        .is_some_and(|e| e.api_key_id == r.api_key_id && e.day == r.day);
    let previous = current
        .as_ref()
        .filter(|_| same_day)
        .map_or(0, |e| e.reserved_fri);
    tx.execute(
        "INSERT INTO budget_usage (api_key_id, day, used_fri) VALUES ($1, $2, 0) \
         ON CONFLICT DO NOTHING",
        &[&r.api_key_id, &day],
    )?;
    let fits = tx.execute(
        "UPDATE budget_usage \
         SET used_fri = GREATEST(used_fri - $3::text::numeric, 0) + $4::text::numeric \
         WHERE api_key_id = $1 AND day = $2 \
         AND GREATEST(used_fri - $3::text::numeric, 0) + $4::text::numeric <= $5::text::numeric",
        &[
            &r.api_key_id,
            &day,
            &previous.to_string(),
            &r.amount.to_string(),
            &r.budget.to_string(),
        ],
    )? == 1;
    if !fits {
        return Ok(false);
    }
    if let Some(old) = current {
        let mut usage = UsageChanges::default();
        if !same_day {
            usage.reweigh(&old, old.reserved_fri, 0)?;
        }
        tx.execute(
            "DELETE FROM budget_ledger WHERE tracking_id = $1 AND attempt = $2",
            &[&id, &attempt],
        )?;
        usage.apply(tx)?;
    }
    tx.execute(
        "INSERT INTO budget_ledger (tracking_id, attempt, api_key_id, day, reserved_fri) \
         VALUES ($1, $2, $3, $4, $5::text::numeric)",
        &[&id, &attempt, &r.api_key_id, &day, &r.amount.to_string()],
    )?;
    Ok(true)
}

fn record_signed(tx: &mut Transaction<'_>, record: &TxRecord) -> Res<()> {
    let hash = hex(record.hash);
    tx.execute(
        "INSERT INTO relayer_transactions (hash, relayer, nonce, request, max_fee, state) \
         VALUES ($1, $2, $3, $4, $5::text::numeric, 'signed')",
        &[
            &hash,
            &hex(record.relayer),
            &hex(record.nonce),
            &record.request,
            &record.max_fee.to_string(),
        ],
    )?;
    for (position, item) in record.items.iter().enumerate() {
        let (id, attempt) = (hex(item.tracking_id), int(item.attempt)?);
        let moved = tx.execute(
            "UPDATE executions SET state = 'signed', latest_hash = $2, attempts = $3 \
             WHERE id = $1 AND state = 'queued'",
            &[&id, &hash, &attempt],
        )?;
        let linked = tx.execute(
            "UPDATE budget_ledger SET tx_hash = $3 \
             WHERE tracking_id = $1 AND attempt = $2 AND tx_hash IS NULL",
            &[&id, &attempt, &hash],
        )?;
        if moved != 1 || linked != 1 {
            return Err(PaymasterError::Unknown(format!(
                "storage: execution {id} is not queued with a reservation"
            ))
            .into());
        }
        tx.execute(
            "INSERT INTO transaction_items (tx_hash, position, tracking_id, attempt) \
             VALUES ($1, $2, $3, $4)",
            &[&hash, &int(position)?, &id, &attempt],
        )?;
    }
    Ok(())
}

/// Moves a transaction from one of `from` to `to` (with `extra` set, e.g. `sent_at = $3`), and
/// the items it still carries alike. False if it was not in `from`.
fn move_tx(
    tx: &mut Transaction<'_>,
    hash: &str,
    from: &[TxState],
    to: TxState,
    items_to: ExecutionState,
    extra: (&str, &[&(dyn postgres::types::ToSql + Sync)]),
) -> Res<bool> {
    let from = names(from, |s| s.as_str());
    let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&hash, &from];
    values.extend_from_slice(extra.1);
    let moved = tx.execute(
        &format!(
            "UPDATE relayer_transactions SET state = '{}'{} WHERE hash = $1 AND state = ANY($2)",
            to.as_str(),
            extra.0
        ),
        &values,
    )?;
    if moved == 0 {
        return Ok(false);
    }
    // Item states are named like the transaction states they mirror.
    tx.execute(
        &format!(
            "UPDATE executions SET state = '{}' WHERE latest_hash = $1 AND state = ANY($2)",
            items_to.as_str()
        ),
        &[&hash, &from],
    )?;
    Ok(true)
}

fn settle(
    tx: &mut Transaction<'_>,
    hash: &str,
    charges: &[(Felt, u128)],
    requeue_alone: bool,
) -> Res<Settlement> {
    let settled = tx.execute(
        "UPDATE relayer_transactions SET state = 'settled' \
         WHERE hash = $1 AND state IN ('included', 'reverted')",
        &[&hash],
    )?;
    if settled == 0 {
        return Ok(Settlement::default());
    }
    let mut requeued = Vec::new();
    let state = if requeue_alone { "queued" } else { "settled" };
    for (_, item) in items_of(tx, &[hash.to_owned()])? {
        let moved = tx.execute(
            "UPDATE executions SET state = $3, alone = alone OR $4 \
             WHERE id = $1 AND latest_hash = $2 AND state IN ('included', 'reverted')",
            &[&hex(item.tracking_id), &hash, &state, &requeue_alone],
        )?;
        if moved == 1 && requeue_alone {
            requeued.push(item.tracking_id);
        }
    }
    let entries = tx.query(
        &format!(
            "SELECT {LEDGER_COLUMNS} FROM budget_ledger \
             WHERE tx_hash = $1 AND charged_fri IS NULL ORDER BY seq FOR UPDATE"
        ),
        &[&hash],
    )?;
    let mut usage = UsageChanges::default();
    for e in rows(entries, ledger_from_row)? {
        let charge = charges
            .iter()
            .find(|(id, _)| *id == e.tracking_id)
            .map_or(0, |(_, c)| *c);
        tx.execute(
            "UPDATE budget_ledger SET charged_fri = $3::text::numeric \
             WHERE tracking_id = $1 AND attempt = $2",
            &[&hex(e.tracking_id), &int(e.attempt)?, &charge.to_string()],
        )?;
        usage.reweigh(&e, e.reserved_fri, charge)?;
    }
    usage.apply(tx)?;
    Ok(Settlement {
        booked: true,
        requeued,
    })
}

fn drop_tx(
    tx: &mut Transaction<'_>,
    hash: &str,
    reason: &str,
    resubmission: bool,
    max_resubmissions: u32,
) -> Res<Vec<Felt>> {
    let dropped = tx.execute(
        "UPDATE relayer_transactions SET state = 'dropped', reason = $2 \
         WHERE hash = $1 AND state IN ('signed', 'sent')",
        &[&hash, &reason],
    )?;
    if dropped == 0 {
        return Ok(Vec::new());
    }
    let gave_up_reason = format!("dropped too often; last: {reason}");
    let mut requeued = Vec::new();
    for (_, item) in items_of(tx, &[hash.to_owned()])? {
        let id = hex(item.tracking_id);
        let state = tx.query_opt(
            "UPDATE executions SET resubmissions = resubmissions + $3, \
             state = CASE WHEN resubmissions + $3 > $4 THEN 'dropped' ELSE 'queued' END, \
             error = CASE WHEN resubmissions + $3 > $4 THEN $5 ELSE error END \
             WHERE id = $1 AND latest_hash = $2 AND state IN ('signed', 'sent') \
             RETURNING state",
            &[
                &id,
                &hash,
                &i64::from(resubmission),
                &i64::from(max_resubmissions),
                &gave_up_reason,
            ],
        )?;
        let state: Option<String> = state.map(|r| r.try_get(0)).transpose()?;
        if state.as_deref() == Some("queued") {
            requeued.push(item.tracking_id);
        }
    }
    release_where(tx, "tx_hash = $1", &hash)?;
    Ok(requeued)
}

fn adopt(
    tx: &mut Transaction<'_>,
    owner: &str,
    now_ms: i64,
    with_own_past: bool,
) -> Res<Vec<ExecutionRecord>> {
    // Row locks: of two instances adopting the same orphans, the second re-tests the owner
    // after the first committed, finds a live one and skips them.
    let adopted = tx.query(
        &format!(
            "UPDATE executions SET state = 'queued', owner = $1 \
             WHERE state IN ('accepted', 'queued') AND (owner IS NULL \
                OR (owner = $1 AND $3) \
                OR (owner <> $1 AND owner NOT IN \
                    (SELECT id FROM paymaster_instances WHERE alive_until_ms > $2))) \
             RETURNING {EXECUTION_COLUMNS}, created_at, seq"
        ),
        &[&owner, &now_ms, &with_own_past],
    )?;
    let mut adopted: Vec<(i64, i64, ExecutionRecord)> = rows(adopted, |r| {
        Ok((r.try_get(14)?, r.try_get(15)?, execution_from_row(r)?))
    })?;
    adopted.sort_by_key(|(created, seq, _)| (*created, *seq));
    let ids: Vec<String> = adopted.iter().map(|(_, _, e)| hex(e.id)).collect();
    release_where(tx, "tracking_id = ANY($1) AND tx_hash IS NULL", &ids)?;
    Ok(adopted.into_iter().map(|(_, _, e)| e).collect())
}

impl PostgresStore {
    /// Connects to the database at `url` (which must exist) and brings its schema up to date.
    pub fn open(url: &PostgresUrl) -> Result<Self, PaymasterError> {
        Self::open_with(url, DEFAULT_CONNECTIONS)
    }

    /// As [`PostgresStore::open`], with `connections` connections.
    pub fn open_with(url: &PostgresUrl, connections: usize) -> Result<Self, PaymasterError> {
        let config: postgres::Config = url.expose().parse().map_err(|e| {
            PaymasterError::Config(format!("database {url}: {}", storage_error(&e)))
        })?;
        let pool = Pool::start(config, connections, url.to_string())?;
        pool.run(|client| migrate(client, &migrations::postgres()))?;
        Ok(PostgresStore { pool })
    }

    /// Runs `f` in a transaction on some connection (again after a retryable failure).
    fn transact<T: Send + 'static>(
        &self,
        f: impl FnMut(&mut Transaction<'_>) -> Res<T> + Send + 'static,
    ) -> Result<T, PaymasterError> {
        self.pool.run(move |client| transact(client, f))
    }

    /// Runs `f` on one snapshot of the database.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Res<T> + Send + 'static,
    ) -> Result<T, PaymasterError> {
        self.pool.run(move |client| snapshot(client, f))
    }
}

impl Store for PostgresStore {
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), PaymasterError> {
        let key = key.clone();
        self.transact(move |tx| {
            // As SQLite's INSERT OR REPLACE: a key replaces any with its id or its hash.
            tx.execute(
                "DELETE FROM api_keys WHERE id = $1 OR key_hash = $2",
                &[&key.id, &key.key_hash.as_slice()],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO api_keys ({}) VALUES ($1, $2, $3, $4::text::numeric, $5, $6)",
                    API_KEY_COLUMNS.replace("::text", "")
                ),
                &[
                    &key.id,
                    &key.name,
                    &key.key_hash.as_slice(),
                    &key.daily_budget_fri.to_string(),
                    &i64::from(key.requests_per_minute),
                    &key.allowed_targets.as_deref().map(felts_to_text),
                ],
            )?;
            Ok(())
        })
    }

    fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, PaymasterError> {
        let hash = hash.to_vec();
        self.read(move |tx| {
            let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
            tx.query_opt(&sql, &[&hash])?
                .as_ref()
                .map(api_key_from_row)
                .transpose()
        })
    }

    fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, PaymasterError> {
        let id = id.to_owned();
        self.read(move |tx| {
            let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1");
            tx.query_opt(&sql, &[&id])?
                .as_ref()
                .map(api_key_from_row)
                .transpose()
        })
    }

    fn put_client_token(&self, token: &ClientTokenRecord) -> Result<(), PaymasterError> {
        let token = token.clone();
        self.transact(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO client_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ),
                &[
                    &token.id,
                    &token.api_key_id,
                    &token.client_id,
                    &token.secret_hash.as_slice(),
                    &token.user_addresses.as_deref().map(felts_to_text),
                    &int(token.expires_at)?,
                    &token.revoked,
                ],
            )?;
            Ok(())
        })
    }

    fn client_token(&self, id: &str) -> Result<Option<ClientTokenRecord>, PaymasterError> {
        let id = id.to_owned();
        self.read(move |tx| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM client_tokens WHERE id = $1");
            tx.query_opt(&sql, &[&id])?
                .as_ref()
                .map(token_from_row)
                .transpose()
        })
    }

    fn revoke_client_token(&self, id: &str, api_key_id: &str) -> Result<bool, PaymasterError> {
        let (id, api_key_id) = (id.to_owned(), api_key_id.to_owned());
        self.transact(move |tx| {
            Ok(tx.execute(
                "UPDATE client_tokens SET revoked = TRUE WHERE id = $1 AND api_key_id = $2",
                &[&id, &api_key_id],
            )? == 1)
        })
    }

    fn claim_execution(&self, new: &NewExecution, now: u64) -> Result<Claim, PaymasterError> {
        let (new, now) = (new.clone(), int(now)?);
        self.transact(move |tx| claim(tx, &new, now))
    }

    fn execution(&self, id: Felt) -> Result<Option<ExecutionRecord>, PaymasterError> {
        self.read(move |tx| {
            let sql = format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1");
            tx.query_opt(&sql, &[&hex(id)])?
                .as_ref()
                .map(execution_from_row)
                .transpose()
        })
    }

    fn executions_in(
        &self,
        states: &[ExecutionState],
    ) -> Result<Vec<ExecutionRecord>, PaymasterError> {
        let states = names(states, |s| s.as_str());
        self.read(move |tx| {
            let sql = format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions WHERE state = ANY($1) \
                 ORDER BY created_at, seq"
            );
            rows(tx.query(&sql, &[&states])?, execution_from_row)
        })
    }

    fn mark_queued(&self, id: Felt, owner: &str, now: u64) -> Result<(), PaymasterError> {
        let (owner, now) = (owner.to_owned(), int(now)?);
        self.transact(move |tx| {
            tx.execute(
                "UPDATE executions SET state = 'queued', owner = $3, updated_at = $2 \
                 WHERE id = $1 AND state = 'accepted'",
                &[&hex(id), &now, &owner],
            )?;
            Ok(())
        })
    }

    fn own_queued(&self, id: Felt, owner: &str) -> Result<bool, PaymasterError> {
        let owner = owner.to_owned();
        self.transact(move |tx| {
            Ok(tx.execute(
                "UPDATE executions SET owner = $2 WHERE id = $1 AND state = 'queued'",
                &[&hex(id), &owner],
            )? == 1)
        })
    }

    fn adopt_waiting(
        &self,
        owner: &str,
        now_ms: u64,
        with_own_past: bool,
    ) -> Result<Vec<ExecutionRecord>, PaymasterError> {
        let (owner, now_ms) = (owner.to_owned(), int(now_ms)?);
        self.transact(move |tx| adopt(tx, &owner, now_ms, with_own_past))
    }

    fn fail_execution(&self, id: Felt, error: &str, now: u64) -> Result<bool, PaymasterError> {
        let (error, now) = (error.to_owned(), int(now)?);
        self.transact(move |tx| {
            let id = hex(id);
            let changed = tx.execute(
                "UPDATE executions SET state = 'failed', error = $2, updated_at = $3 \
                 WHERE id = $1 AND state IN ('accepted', 'queued')",
                &[&id, &error, &now],
            )?;
            release_where(tx, "tracking_id = $1 AND tx_hash IS NULL", &id)?;
            Ok(changed == 1)
        })
    }

    fn reserve(&self, r: &Reservation) -> Result<bool, PaymasterError> {
        let r = r.clone();
        self.transact(move |tx| reserve(tx, &r))
    }

    fn release_unlinked(&self, ids: &[Felt]) -> Result<(), PaymasterError> {
        let ids: Vec<String> = ids.iter().map(|id| hex(*id)).collect();
        self.transact(move |tx| {
            release_where(tx, "tracking_id = ANY($1) AND tx_hash IS NULL", &ids)
        })
    }

    fn spent_on(&self, api_key_id: &str, day: u64) -> Result<u128, PaymasterError> {
        let (key, day) = (api_key_id.to_owned(), int(day)?);
        self.read(move |tx| {
            tx.query_opt(
                "SELECT used_fri::text FROM budget_usage WHERE api_key_id = $1 AND day = $2",
                &[&key, &day],
            )?
            .map_or(Ok(0), |r| amount(&r, 0))
        })
    }

    fn ledger(&self, pending_only: bool) -> Result<Vec<LedgerEntry>, PaymasterError> {
        self.read(move |tx| {
            let sql = format!(
                "SELECT {LEDGER_COLUMNS} FROM budget_ledger \
                 WHERE charged_fri IS NULL OR NOT $1 ORDER BY seq"
            );
            rows(tx.query(&sql, &[&pending_only])?, ledger_from_row)
        })
    }

    fn transaction_ledger(&self, hash: Felt) -> Result<Vec<LedgerEntry>, PaymasterError> {
        self.read(move |tx| {
            let sql = format!(
                "SELECT {LEDGER_COLUMNS} FROM budget_ledger WHERE tx_hash = $1 ORDER BY seq"
            );
            rows(tx.query(&sql, &[&hex(hash)])?, ledger_from_row)
        })
    }

    fn record_signed(&self, record: &TxRecord) -> Result<(), PaymasterError> {
        let record = record.clone();
        self.transact(move |tx| record_signed(tx, &record))
    }

    fn mark_sent(&self, hash: Felt, now: u64) -> Result<(), PaymasterError> {
        let now = int(now)?;
        self.transact(move |tx| {
            move_tx(
                tx,
                &hex(hash),
                &[TxState::Signed],
                TxState::Sent,
                ExecutionState::Sent,
                (", sent_at = $3", &[&now]),
            )?;
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
        let (state, items) = if succeeded {
            (TxState::Included, ExecutionState::Included)
        } else {
            (TxState::Reverted, ExecutionState::Reverted)
        };
        let (fee, reason) = (actual_fee.to_string(), reason.map(str::to_owned));
        self.transact(move |tx| {
            move_tx(
                tx,
                &hex(hash),
                &[TxState::Signed, TxState::Sent],
                state,
                items,
                (
                    ", actual_fee = $3::text::numeric, reason = $4",
                    &[&fee, &reason],
                ),
            )?;
            Ok(())
        })
    }

    fn settle_transaction(
        &self,
        hash: Felt,
        charges: &[(Felt, u128)],
        requeue_alone: bool,
    ) -> Result<Settlement, PaymasterError> {
        let charges = charges.to_vec();
        self.transact(move |tx| settle(tx, &hex(hash), &charges, requeue_alone))
    }

    fn drop_transaction(
        &self,
        hash: Felt,
        reason: &str,
        resubmission: bool,
        max_resubmissions: u32,
    ) -> Result<Vec<Felt>, PaymasterError> {
        let reason = reason.to_owned();
        self.transact(move |tx| drop_tx(tx, &hex(hash), &reason, resubmission, max_resubmissions))
    }

    fn transaction(&self, hash: Felt) -> Result<Option<TxRecord>, PaymasterError> {
        self.read(move |tx| {
            let sql = format!("SELECT {TX_COLUMNS} FROM relayer_transactions WHERE hash = $1");
            let found = rows(tx.query(&sql, &[&hex(hash)])?, tx_from_row)?;
            Ok(with_items(tx, found)?.pop())
        })
    }

    fn transactions_in(&self, states: &[TxState]) -> Result<Vec<TxRecord>, PaymasterError> {
        let states = names(states, |s| s.as_str());
        self.read(move |tx| {
            let sql = format!(
                "SELECT {TX_COLUMNS} FROM relayer_transactions WHERE state = ANY($1) ORDER BY seq"
            );
            let found = rows(tx.query(&sql, &[&states])?, tx_from_row)?;
            let mut records = with_items(tx, found)?;
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
        let instance = instance.to_owned();
        let (now, until) = (int(now_ms)?, int(now_ms.saturating_add(ttl_ms))?);
        let forget = int(now_ms.saturating_sub(FORGET_INSTANCES_AFTER_MS))?;
        self.transact(move |tx| {
            tx.execute(
                "INSERT INTO paymaster_instances (id, alive_until_ms) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET alive_until_ms = excluded.alive_until_ms",
                &[&instance, &until],
            )?;
            tx.execute(
                "DELETE FROM paymaster_instances WHERE alive_until_ms < $1",
                &[&forget],
            )?;
            let live = tx.query(
                "SELECT id FROM paymaster_instances WHERE alive_until_ms > $1 ORDER BY id",
                &[&now],
            )?;
            rows(live, |r| Ok(r.try_get(0)?))
        })
    }

    fn end_instance(&self, instance: &str) -> Result<(), PaymasterError> {
        let instance = instance.to_owned();
        self.transact(move |tx| {
            tx.execute(
                "DELETE FROM paymaster_instances WHERE id = $1",
                &[&instance],
            )?;
            tx.execute("DELETE FROM relayer_leases WHERE holder = $1", &[&instance])?;
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
        let holder = holder.to_owned();
        let (now, until) = (int(now_ms)?, int(now_ms.saturating_add(ttl_ms))?);
        self.transact(move |tx| {
            // The upsert locks the row and tests the holder and expiry on its latest version:
            // of two instances taking an expired lease, the second finds the first's.
            tx.execute(
                "INSERT INTO relayer_leases (relayer, holder, expires_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (relayer) DO UPDATE \
                 SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms \
                 WHERE relayer_leases.holder = excluded.holder \
                 OR relayer_leases.expires_at_ms <= $4",
                &[&hex(relayer), &holder, &until, &now],
            )?;
            let row = tx.query_one(
                "SELECT holder, expires_at_ms FROM relayer_leases WHERE relayer = $1",
                &[&hex(relayer)],
            )?;
            Ok(Lease {
                relayer,
                holder: row.try_get(0)?,
                expires_at_ms: uint(&row, 1)?,
            })
        })
    }

    fn release_lease(&self, relayer: Felt, holder: &str) -> Result<(), PaymasterError> {
        let holder = holder.to_owned();
        self.transact(move |tx| {
            tx.execute(
                "DELETE FROM relayer_leases WHERE relayer = $1 AND holder = $2",
                &[&hex(relayer), &holder],
            )?;
            Ok(())
        })
    }

    fn leases(&self) -> Result<Vec<Lease>, PaymasterError> {
        self.read(|tx| {
            let found = tx.query(
                "SELECT relayer, holder, expires_at_ms FROM relayer_leases ORDER BY relayer",
                &[],
            )?;
            rows(found, |r| {
                Ok(Lease {
                    relayer: felt(r, 0)?,
                    holder: r.try_get(1)?,
                    expires_at_ms: uint(r, 2)?,
                })
            })
        })
    }

    fn count_request(
        &self,
        api_key_id: &str,
        minute: u64,
        limit: u32,
    ) -> Result<bool, PaymasterError> {
        if limit == 0 {
            return Ok(false);
        }
        let (key, minute, limit) = (api_key_id.to_owned(), int(minute)?, i64::from(limit));
        self.transact(move |tx| {
            tx.execute(
                "DELETE FROM request_counts WHERE api_key_id = $1 AND minute < $2::bigint - 1",
                &[&key, &minute],
            )?;
            // One statement counts and tests: a concurrent request waits for the row and is
            // tested against the count the first left.
            Ok(tx.execute(
                "INSERT INTO request_counts (api_key_id, minute, requests) VALUES ($1, $2, 1) \
                 ON CONFLICT (api_key_id, minute) DO UPDATE \
                 SET requests = request_counts.requests + 1 WHERE request_counts.requests < $3",
                &[&key, &minute, &limit],
            )? == 1)
        })
    }
}

#[cfg(test)]
mod tests;
