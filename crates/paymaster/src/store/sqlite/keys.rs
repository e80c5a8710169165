//! API keys and client session tokens on SQLite: their rows, the key life cycle, the tokens'
//! usage counters and request counts. Every change runs inside the caller's immediate
//! transaction, so a token's limits are tested and its usage moved with the key's budget.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{bad_column, opt_u128_at, u128_at};
use crate::error::PaymasterError;
use crate::store::codec::{felts_to_text, qualified, text_to_felts};
use crate::store::limits::TokenRow;
use crate::store::{
    ApiKeyListing, ApiKeyRecord, ClientTokenRecord, DayUsage, KeyStatus, TokenLimits, TokenUsage,
};

/// The columns [`api_key_from_row`] reads, in order.
pub(super) const API_KEY_COLUMNS: &str =
    "id, name, key_hash, daily_budget_fri, requests_per_minute, allowed_targets, status";

fn hash_at(r: &Row<'_>, index: usize) -> rusqlite::Result<[u8; 32]> {
    let blob: Vec<u8> = r.get(index)?;
    blob.try_into().map_err(|_| bad_column(index, "hash"))
}

fn felts_at(r: &Row<'_>, index: usize) -> rusqlite::Result<Option<Vec<stark_sessions_abi::Felt>>> {
    let text: Option<String> = r.get(index)?;
    text.as_deref()
        .map(|t| text_to_felts(t).map_err(|_| bad_column(index, "felts")))
        .transpose()
}

pub(super) fn api_key_from_row(r: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let status: String = r.get(6)?;
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        key_hash: hash_at(r, 2)?,
        daily_budget_fri: u128_at(r, 3)?,
        requests_per_minute: r.get(4)?,
        allowed_targets: felts_at(r, 5)?,
        status: KeyStatus::parse(&status).ok_or_else(|| bad_column(6, "status"))?,
    })
}

/// The key whose `column` is `value`.
pub(super) fn api_key_where(
    c: &Connection,
    column: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<Option<ApiKeyRecord>, PaymasterError> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE {column} = ?1");
    Ok(c.query_row(&sql, [value], api_key_from_row).optional()?)
}

/// Inserts `key` or updates the settings of the key with its id (its status stays).
pub(super) fn put_api_key(c: &Connection, key: &ApiKeyRecord) -> Result<(), PaymasterError> {
    c.execute(
        "DELETE FROM api_keys WHERE key_hash = ?1 AND id <> ?2",
        params![key.key_hash.as_slice(), key.id],
    )?;
    c.execute(
        "INSERT INTO api_keys \
         (id, name, key_hash, daily_budget_fri, requests_per_minute, allowed_targets, status) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, key_hash = excluded.key_hash, \
         daily_budget_fri = excluded.daily_budget_fri, \
         requests_per_minute = excluded.requests_per_minute, \
         allowed_targets = excluded.allowed_targets",
        params![
            key.id,
            key.name,
            key.key_hash.as_slice(),
            key.daily_budget_fri.to_string(),
            key.requests_per_minute,
            key.allowed_targets.as_deref().map(felts_to_text),
            key.status.as_str(),
        ],
    )?;
    Ok(())
}

/// Inserts `key` unless its id or hash is taken.
pub(super) fn create_api_key(c: &Connection, key: &ApiKeyRecord) -> Result<bool, PaymasterError> {
    let taken: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?1 OR key_hash = ?2)",
        params![key.id, key.key_hash.as_slice()],
        |r| r.get(0),
    )?;
    if !taken {
        put_api_key(c, key)?;
    }
    Ok(!taken)
}

/// Every key with its usage of `day`.
pub(super) fn list_api_keys(
    c: &Connection,
    day: u64,
) -> Result<Vec<ApiKeyListing>, PaymasterError> {
    let columns = qualified(API_KEY_COLUMNS, "k");
    let mut stmt = c.prepare(&format!(
        "SELECT {columns}, k.rotated_at, u.used_fri FROM api_keys k \
         LEFT JOIN budget_usage u ON u.api_key_id = k.id AND u.day = ?1 ORDER BY k.id"
    ))?;
    let rows = stmt.query_map([day], |r| {
        Ok(ApiKeyListing {
            key: api_key_from_row(r)?,
            rotated_at: r.get(7)?,
            used_fri: opt_u128_at(r, 8)?.unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every key's non-zero usage from day `from` to `to`, by key then day.
pub(super) fn usage_by_day(
    c: &Connection,
    from: u64,
    to: u64,
) -> Result<Vec<DayUsage>, PaymasterError> {
    let mut stmt = c.prepare(
        "SELECT api_key_id, day, used_fri FROM budget_usage \
         WHERE day >= ?1 AND day <= ?2 AND used_fri <> '0' ORDER BY api_key_id, day",
    )?;
    let rows = stmt.query_map([from, to], |r| {
        Ok(DayUsage {
            api_key_id: r.get(0)?,
            day: r.get(1)?,
            used_fri: u128_at(r, 2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Moves a key that is not revoked to `status`.
pub(super) fn set_status(
    c: &Connection,
    id: &str,
    status: KeyStatus,
) -> Result<bool, PaymasterError> {
    Ok(c.execute(
        "UPDATE api_keys SET status = ?2 WHERE id = ?1 AND status <> 'revoked'",
        params![id, status.as_str()],
    )? == 1)
}

/// Gives a key that is not revoked a new hash.
pub(super) fn rotate(
    c: &Connection,
    id: &str,
    key_hash: &[u8; 32],
    now: u64,
) -> Result<bool, PaymasterError> {
    Ok(c.execute(
        "UPDATE api_keys SET key_hash = ?2, rotated_at = ?3 WHERE id = ?1 AND status <> 'revoked'",
        params![id, key_hash.as_slice(), now],
    )? == 1)
}

/// The columns [`token_from_row`] reads, in order.
const TOKEN_COLUMNS: &str = "id, api_key_id, client_id, secret_hash, user_addresses, \
     expires_at, revoked, requests_per_minute, max_fee_fri, max_executions, fee_used_fri, \
     executions_used";

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<ClientTokenRecord> {
    Ok(ClientTokenRecord {
        id: r.get(0)?,
        api_key_id: r.get(1)?,
        client_id: r.get(2)?,
        secret_hash: hash_at(r, 3)?,
        user_addresses: felts_at(r, 4)?,
        expires_at: r.get(5)?,
        revoked: r.get(6)?,
        limits: TokenLimits {
            requests_per_minute: r.get(7)?,
            max_fee_fri: opt_u128_at(r, 8)?,
            max_executions: r.get(9)?,
        },
        usage: TokenUsage {
            fee_fri: u128_at(r, 10)?,
            executions: r.get(11)?,
        },
    })
}

pub(super) fn put_client_token(
    c: &Connection,
    token: &ClientTokenRecord,
) -> Result<(), PaymasterError> {
    c.execute(
        &format!(
            "INSERT INTO client_tokens ({TOKEN_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            token.id,
            token.api_key_id,
            token.client_id,
            token.secret_hash.as_slice(),
            token.user_addresses.as_deref().map(felts_to_text),
            token.expires_at,
            token.revoked,
            token.limits.requests_per_minute,
            token.limits.max_fee_fri.map(|m| m.to_string()),
            token.limits.max_executions,
            token.usage.fee_fri.to_string(),
            token.usage.executions,
        ],
    )?;
    Ok(())
}

pub(super) fn client_token(
    c: &Connection,
    id: &str,
) -> Result<Option<ClientTokenRecord>, PaymasterError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM client_tokens WHERE id = ?1");
    Ok(c.query_row(&sql, [id], token_from_row).optional()?)
}

/// The token's revocation, limits and usage, as a reservation tests them.
pub(super) fn token_row(c: &Connection, id: &str) -> Result<Option<TokenRow>, PaymasterError> {
    Ok(client_token(c, id)?.map(|t| TokenRow {
        revoked: t.revoked,
        limits: t.limits,
        usage: t.usage,
    }))
}

/// Stores a token's usage.
pub(super) fn set_token_usage(
    c: &Connection,
    id: &str,
    usage: TokenUsage,
) -> Result<(), PaymasterError> {
    c.execute(
        "UPDATE client_tokens SET fee_used_fri = ?2, executions_used = ?3 WHERE id = ?1",
        params![id, usage.fee_fri.to_string(), usage.executions],
    )?;
    Ok(())
}

/// A ledger entry of the token weighed `from` and now weighs `to`; `gone` when it was the
/// last entry of its execution (which then no longer counts).
pub(super) fn reweigh_on_token(
    c: &Connection,
    id: &str,
    from: u128,
    to: u128,
    gone: bool,
) -> Result<(), PaymasterError> {
    let Some(row) = token_row(c, id)? else {
        return Ok(());
    };
    let usage = TokenUsage {
        fee_fri: row.usage.fee_fri.saturating_sub(from).saturating_add(to),
        executions: row.usage.executions.saturating_sub(u64::from(gone)),
    };
    set_token_usage(c, id, usage)
}

/// Counts a request of `subject` in `minute` in `table` unless `limit` were counted.
pub(super) fn count_in(
    c: &Connection,
    (table, column): (&str, &str),
    subject: &str,
    minute: u64,
    limit: u32,
) -> Result<bool, PaymasterError> {
    if limit == 0 {
        return Ok(false);
    }
    c.execute(
        &format!("DELETE FROM {table} WHERE {column} = ?1 AND minute < ?2"),
        params![subject, minute.saturating_sub(1)],
    )?;
    let counted = c.execute(
        &format!(
            "INSERT INTO {table} ({column}, minute, requests) VALUES (?1, ?2, 1) \
             ON CONFLICT ({column}, minute) DO UPDATE SET requests = requests + 1 \
             WHERE requests < ?3"
        ),
        params![subject, minute, limit],
    )?;
    Ok(counted == 1)
}
