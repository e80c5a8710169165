//! API keys and client session tokens on PostgreSQL: the key life cycle (each change one
//! conditional statement), listing with the day's usage, and the token rows a reservation
//! locks and books on.

use postgres::Transaction;

use super::rows::{
    amount, api_key_from_row, int, opt_uint, rows, token_from_row, API_KEY_COLUMNS, TOKEN_COLUMNS,
};
use super::txn::Res;
use crate::store::codec::{felts_to_text, qualified};
use crate::store::limits::TokenRow;
use crate::store::{ApiKeyListing, ApiKeyRecord, ClientTokenRecord, KeyStatus, TokenUsage};

/// Inserts `key` or updates the settings of the key with its id (its status stays); a key
/// with its hash under another id is removed.
pub(super) fn put_api_key(tx: &mut Transaction<'_>, key: &ApiKeyRecord) -> Res<()> {
    tx.execute(
        "DELETE FROM api_keys WHERE key_hash = $1 AND id <> $2",
        &[&key.key_hash.as_slice(), &key.id],
    )?;
    insert_api_key(
        tx,
        key,
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, key_hash = excluded.key_hash, \
         daily_budget_fri = excluded.daily_budget_fri, \
         requests_per_minute = excluded.requests_per_minute, \
         allowed_targets = excluded.allowed_targets",
    )?;
    Ok(())
}

/// Inserts `key` unless its id or its hash is taken (either unique index stops it).
pub(super) fn create_api_key(tx: &mut Transaction<'_>, key: &ApiKeyRecord) -> Res<bool> {
    Ok(insert_api_key(tx, key, "ON CONFLICT DO NOTHING")? == 1)
}

/// Inserts `key`'s row, `on_conflict` deciding what an existing id or hash does; the number
/// of rows written.
fn insert_api_key(tx: &mut Transaction<'_>, key: &ApiKeyRecord, on_conflict: &str) -> Res<u64> {
    Ok(tx.execute(
        &format!(
            "INSERT INTO api_keys \
             (id, name, key_hash, daily_budget_fri, requests_per_minute, allowed_targets, status) \
             VALUES ($1, $2, $3, $4::text::numeric, $5, $6, $7) {on_conflict}"
        ),
        &[
            &key.id,
            &key.name,
            &key.key_hash.as_slice(),
            &key.daily_budget_fri.to_string(),
            &i64::from(key.requests_per_minute),
            &key.allowed_targets.as_deref().map(felts_to_text),
            &key.status.as_str(),
        ],
    )?)
}

/// Every key with its usage of `day`.
pub(super) fn list_api_keys(tx: &mut Transaction<'_>, day: i64) -> Res<Vec<ApiKeyListing>> {
    let columns = qualified(API_KEY_COLUMNS, "k");
    let found = tx.query(
        &format!(
            "SELECT {columns}, k.rotated_at, COALESCE(u.used_fri, 0)::text FROM api_keys k \
             LEFT JOIN budget_usage u ON u.api_key_id = k.id AND u.day = $1 ORDER BY k.id"
        ),
        &[&day],
    )?;
    rows(found, |r| {
        Ok(ApiKeyListing {
            key: api_key_from_row(r)?,
            rotated_at: opt_uint(r, 7)?,
            used_fri: amount(r, 8)?,
        })
    })
}

/// Moves a key that is not revoked to `status`.
pub(super) fn set_status(tx: &mut Transaction<'_>, id: &str, status: KeyStatus) -> Res<bool> {
    Ok(tx.execute(
        "UPDATE api_keys SET status = $2 WHERE id = $1 AND status <> 'revoked'",
        &[&id, &status.as_str()],
    )? == 1)
}

/// Gives a key that is not revoked a new hash.
pub(super) fn rotate(tx: &mut Transaction<'_>, id: &str, hash: &[u8; 32], now: i64) -> Res<bool> {
    Ok(tx.execute(
        "UPDATE api_keys SET key_hash = $2, rotated_at = $3 WHERE id = $1 AND status <> 'revoked'",
        &[&id, &hash.as_slice(), &now],
    )? == 1)
}

pub(super) fn put_client_token(tx: &mut Transaction<'_>, token: &ClientTokenRecord) -> Res<()> {
    let limits = &token.limits;
    tx.execute(
        &format!(
            "INSERT INTO client_tokens ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9::text::numeric, $10, $11::text::numeric, $12)",
            TOKEN_COLUMNS.replace("::text", "")
        ),
        &[
            &token.id,
            &token.api_key_id,
            &token.client_id,
            &token.secret_hash.as_slice(),
            &token.user_addresses.as_deref().map(felts_to_text),
            &int(token.expires_at)?,
            &token.revoked,
            &limits.requests_per_minute.map(i64::from),
            &limits.max_fee_fri.map(|m| m.to_string()),
            &limits.max_executions.map(int).transpose()?,
            &token.usage.fee_fri.to_string(),
            &int(token.usage.executions)?,
        ],
    )?;
    Ok(())
}

/// Locks a token's row for a reservation; its revocation, limits and usage.
pub(super) fn lock_token(tx: &mut Transaction<'_>, id: &str) -> Res<Option<TokenRow>> {
    let row = tx.query_opt(
        &format!("SELECT {TOKEN_COLUMNS} FROM client_tokens WHERE id = $1 FOR UPDATE"),
        &[&id],
    )?;
    Ok(row
        .as_ref()
        .map(token_from_row)
        .transpose()?
        .map(|t| TokenRow {
            revoked: t.revoked,
            limits: t.limits,
            usage: t.usage,
        }))
}

/// Stores a (locked) token's usage.
pub(super) fn set_token_usage(tx: &mut Transaction<'_>, id: &str, usage: TokenUsage) -> Res<()> {
    tx.execute(
        "UPDATE client_tokens SET fee_used_fri = $2::text::numeric, executions_used = $3 \
         WHERE id = $1",
        &[&id, &usage.fee_fri.to_string(), &int(usage.executions)?],
    )?;
    Ok(())
}

/// Counts a request of `subject` in `minute` in `table` unless `limit` were counted: one
/// upsert tests and counts (a concurrent request waits for the row and is tested against the
/// count the first left).
pub(super) fn count_in(
    tx: &mut Transaction<'_>,
    (table, column): (&str, &str),
    subject: &str,
    minute: i64,
    limit: i64,
) -> Res<bool> {
    tx.execute(
        &format!("DELETE FROM {table} WHERE {column} = $1 AND minute < $2::bigint - 1"),
        &[&subject, &minute],
    )?;
    Ok(tx.execute(
        &format!(
            "INSERT INTO {table} ({column}, minute, requests) VALUES ($1, $2, 1) \
             ON CONFLICT ({column}, minute) DO UPDATE \
             SET requests = {table}.requests + 1 WHERE {table}.requests < $3"
        ),
        &[&subject, &minute, &limit],
    )? == 1)
}

/// Whether an execution holds any ledger entry (a reservation or a charge).
pub(super) fn has_entries(tx: &mut Transaction<'_>, tracking_id: &str) -> Res<bool> {
    let row = tx.query_one(
        "SELECT EXISTS (SELECT 1 FROM budget_ledger WHERE tracking_id = $1)",
        &[&tracking_id],
    )?;
    Ok(row.try_get(0)?)
}

/// Of these executions, those still holding a ledger entry.
pub(super) fn with_entries(tx: &mut Transaction<'_>, tracking_ids: &[String]) -> Res<Vec<String>> {
    let found = tx.query(
        "SELECT DISTINCT tracking_id FROM budget_ledger WHERE tracking_id = ANY($1)",
        &[&tracking_ids],
    )?;
    rows(found, |r| Ok(r.try_get(0)?))
}
