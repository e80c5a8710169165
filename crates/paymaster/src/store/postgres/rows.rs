//! Reading rows and binding values: felts and lists of felts as hex text, amounts as
//! `NUMERIC` read back as text, counts and times as `BIGINT`.

use postgres::Row;
use stark_sessions_abi::Felt;

use super::txn::Res;
use crate::error::PaymasterError;
use crate::lifecycle::{ExecutionState, TxState};
use crate::store::codec::{corrupt, hash_from_blob, parse_felt, parse_u128, text_to_felts};
use crate::store::{
    ApiKeyRecord, ClientTokenRecord, ExecutionRecord, FeePayment, KeyStatus, LedgerEntry,
    TokenLimits, TokenUsage, TxRecord,
};

/// An unsigned count or time as a `BIGINT`.
pub(super) fn int(v: impl TryInto<i64>) -> Result<i64, PaymasterError> {
    v.try_into()
        .map_err(|_| PaymasterError::Unknown("storage: number out of range".into()))
}

/// A `BIGINT` read back as an unsigned value.
pub(super) fn uint<T: TryFrom<i64>>(row: &Row, index: usize) -> Res<T> {
    let v: i64 = row.try_get(index)?;
    Ok(T::try_from(v).map_err(|_| corrupt("number"))?)
}

pub(super) fn felt(row: &Row, index: usize) -> Res<Felt> {
    Ok(parse_felt(row.try_get(index)?)?)
}

pub(super) fn opt_felt(row: &Row, index: usize) -> Res<Option<Felt>> {
    let text: Option<&str> = row.try_get(index)?;
    Ok(text.map(parse_felt).transpose()?)
}

pub(super) fn amount(row: &Row, index: usize) -> Res<u128> {
    Ok(parse_u128(row.try_get(index)?)?)
}

pub(super) fn opt_amount(row: &Row, index: usize) -> Res<Option<u128>> {
    let text: Option<&str> = row.try_get(index)?;
    Ok(text.map(parse_u128).transpose()?)
}

/// Text for a state list bound as `ANY($n)`.
pub(super) fn names<S: Copy>(states: &[S], name: impl Fn(S) -> &'static str) -> Vec<&'static str> {
    states.iter().map(|s| name(*s)).collect()
}

/// A nullable `BIGINT` read back as an unsigned value.
pub(super) fn opt_uint<T: TryFrom<i64>>(row: &Row, index: usize) -> Res<Option<T>> {
    let v: Option<i64> = row.try_get(index)?;
    Ok(v.map(|v| T::try_from(v).map_err(|_| corrupt("number")))
        .transpose()?)
}

pub(super) const API_KEY_COLUMNS: &str =
    "id, name, key_hash, daily_budget_fri::text, requests_per_minute, allowed_targets, status";

pub(super) fn api_key_from_row(r: &Row) -> Res<ApiKeyRecord> {
    let targets: Option<&str> = r.try_get(5)?;
    let status: &str = r.try_get(6)?;
    Ok(ApiKeyRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        key_hash: hash_from_blob(r.try_get(2)?)?,
        daily_budget_fri: amount(r, 3)?,
        requests_per_minute: uint(r, 4)?,
        allowed_targets: targets.map(text_to_felts).transpose()?,
        status: KeyStatus::parse(status).ok_or_else(|| corrupt("status"))?,
    })
}

pub(super) const TOKEN_COLUMNS: &str =
    "id, api_key_id, client_id, secret_hash, user_addresses, expires_at, revoked, \
     requests_per_minute, max_fee_fri::text, max_executions, fee_used_fri::text, executions_used";

pub(super) fn token_from_row(r: &Row) -> Res<ClientTokenRecord> {
    let users: Option<&str> = r.try_get(4)?;
    Ok(ClientTokenRecord {
        id: r.try_get(0)?,
        api_key_id: r.try_get(1)?,
        client_id: r.try_get(2)?,
        secret_hash: hash_from_blob(r.try_get(3)?)?,
        user_addresses: users.map(text_to_felts).transpose()?,
        expires_at: uint(r, 5)?,
        revoked: r.try_get(6)?,
        limits: TokenLimits {
            requests_per_minute: opt_uint(r, 7)?,
            max_fee_fri: opt_amount(r, 8)?,
            max_executions: opt_uint(r, 9)?,
        },
        usage: TokenUsage {
            fee_fri: amount(r, 10)?,
            executions: uint(r, 11)?,
        },
    })
}

pub(super) const EXECUTION_COLUMNS: &str =
    "id, user_address, outside_nonce, api_key_id, token_id, calls, \
     fee_token, fee_amount::text, state, latest_hash, attempts, resubmissions, alone, error, tries";

pub(super) fn execution_from_row(r: &Row) -> Res<ExecutionRecord> {
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
        tries: uint(r, 14)?,
    })
}

pub(super) const TX_COLUMNS: &str =
    "hash, relayer, nonce, request, max_fee::text, state, actual_fee::text, reason, sent_at";

pub(super) fn tx_from_row(r: &Row) -> Res<TxRecord> {
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

pub(super) const LEDGER_COLUMNS: &str = "tracking_id, attempt, api_key_id, day, \
     reserved_fri::text, charged_fri::text, tx_hash, token_id";

pub(super) fn ledger_from_row(r: &Row) -> Res<LedgerEntry> {
    Ok(LedgerEntry {
        tracking_id: felt(r, 0)?,
        attempt: uint(r, 1)?,
        api_key_id: r.try_get(2)?,
        token_id: r.try_get(7)?,
        day: uint(r, 3)?,
        reserved_fri: amount(r, 4)?,
        charged_fri: opt_amount(r, 5)?,
        tx_hash: opt_felt(r, 6)?,
    })
}

pub(super) fn rows<T>(rows: Vec<Row>, f: impl Fn(&Row) -> Res<T>) -> Res<Vec<T>> {
    rows.iter().map(f).collect()
}
