//! The changes of several rows, each run inside one transaction: claims, reservations and the
//! ledger, a transaction's life cycle, adoption of waiting executions. Why no interleaving
//! breaks an invariant is told in the parent module.

use std::collections::{BTreeMap, BTreeSet};

use postgres::Transaction;
use stark_sessions_abi::Felt;

use super::keys::{has_entries, lock_token, set_token_usage, with_entries};
use super::rows::{
    execution_from_row, felt, int, ledger_from_row, names, rows, uint, EXECUTION_COLUMNS,
    LEDGER_COLUMNS,
};
use super::txn::Res;
use crate::error::PaymasterError;
use crate::lifecycle::{ExecutionState, TxState};
use crate::store::codec::{felts_to_text, hex};
use crate::store::limits::book_on_token;
use crate::store::{
    Claim, ExecutionRecord, LedgerEntry, NewExecution, Reservation, ReserveOutcome, Settlement,
    TokenUsage, TxItem, TxRecord,
};

/// Changes to tokens' usage and keys' daily usage, applied together: tokens, then keys, each
/// in order (one lock order everywhere: ledger entries, token rows, usage rows).
#[derive(Default)]
struct UsageChanges {
    /// By key and day: FRI taken off, FRI added.
    keys: BTreeMap<(String, i64), (u128, u128)>,
    /// By token: FRI taken off, FRI added, executions no longer counted.
    tokens: BTreeMap<String, (u128, u128, u64)>,
}

impl UsageChanges {
    /// `entry` weighed `from` and now weighs `to` (for its key's day and its token).
    fn reweigh(&mut self, entry: &LedgerEntry, from: u128, to: u128) -> Res<()> {
        if let Some(token) = &entry.token_id {
            let slot = self.tokens.entry(token.clone()).or_default();
            slot.0 = slot.0.saturating_add(from);
            slot.1 = slot.1.saturating_add(to);
        }
        self.reweigh_key(entry, from, to)
    }

    /// As [`Self::reweigh`], for the key's day only.
    fn reweigh_key(&mut self, entry: &LedgerEntry, from: u128, to: u128) -> Res<()> {
        let slot = self
            .keys
            .entry((entry.api_key_id.clone(), int(entry.day)?))
            .or_default();
        slot.0 = slot.0.saturating_add(from);
        slot.1 = slot.1.saturating_add(to);
        Ok(())
    }

    /// An execution of `token` lost its last ledger entry: it no longer counts.
    fn forget_execution(&mut self, token: &str) {
        self.tokens.entry(token.to_owned()).or_default().2 += 1;
    }

    fn apply(self, tx: &mut Transaction<'_>) -> Res<()> {
        for (token, (minus, plus, gone)) in self.tokens {
            tx.execute(
                "UPDATE client_tokens \
                 SET fee_used_fri = GREATEST(fee_used_fri - $2::text::numeric, 0) \
                     + $3::text::numeric, \
                 executions_used = GREATEST(executions_used - $4, 0) WHERE id = $1",
                &[&token, &minus.to_string(), &plus.to_string(), &int(gone)?],
            )?;
        }
        for ((key, day), (minus, plus)) in self.keys {
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
/// reservations back to their days' usage and their tokens' (an execution left without
/// entries no longer counts for its token).
pub(super) fn release_where(
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
    let mut through_tokens = BTreeSet::new();
    for e in rows(deleted, ledger_from_row)? {
        usage.reweigh(&e, e.reserved_fri, 0)?;
        if let Some(token) = e.token_id {
            through_tokens.insert((hex(e.tracking_id), token));
        }
    }
    let ids: Vec<String> = through_tokens.iter().map(|(id, _)| id.clone()).collect();
    let left = with_entries(tx, &ids)?;
    for (_, token) in through_tokens.iter().filter(|(id, _)| !left.contains(id)) {
        usage.forget_execution(token);
    }
    usage.apply(tx)
}

pub(super) fn items_of(tx: &mut Transaction<'_>, hashes: &[String]) -> Res<Vec<(String, TxItem)>> {
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
pub(super) fn with_items(
    tx: &mut Transaction<'_>,
    mut records: Vec<TxRecord>,
) -> Res<Vec<TxRecord>> {
    let hashes: Vec<String> = records.iter().map(|r| hex(r.hash)).collect();
    for (hash, item) in items_of(tx, &hashes)? {
        if let Some(r) = records.iter_mut().find(|r| hex(r.hash) == hash) {
            r.items.push(item);
        }
    }
    Ok(records)
}

pub(super) fn insert_execution(tx: &mut Transaction<'_>, new: &NewExecution, now: i64) -> Res<()> {
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

pub(super) fn claim(tx: &mut Transaction<'_>, new: &NewExecution, now: i64) -> Res<Claim> {
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

pub(super) fn reserve(tx: &mut Transaction<'_>, r: &Reservation) -> Res<ReserveOutcome> {
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
    let token = match &r.token_id {
        Some(token) => match reserve_on_token(tx, r, token, current.as_ref())? {
            Ok(usage) => Some((token, usage)),
            Err(refused) => return Ok(refused),
        },
        None => None,
    };
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
        return Ok(ReserveOutcome::OverKeyBudget);
    }
    if let Some(old) = current {
        let mut usage = UsageChanges::default();
        if !same_day {
            usage.reweigh_key(&old, old.reserved_fri, 0)?;
        }
        tx.execute(
            "DELETE FROM budget_ledger WHERE tracking_id = $1 AND attempt = $2",
            &[&id, &attempt],
        )?;
        usage.apply(tx)?;
    }
    tx.execute(
        "INSERT INTO budget_ledger (tracking_id, attempt, api_key_id, day, reserved_fri, token_id) \
         VALUES ($1, $2, $3, $4, $5::text::numeric, $6)",
        &[
            &id,
            &attempt,
            &r.api_key_id,
            &day,
            &r.amount.to_string(),
            &r.token_id,
        ],
    )?;
    if let Some((token, usage)) = token {
        set_token_usage(tx, token, usage)?;
    }
    Ok(ReserveOutcome::Granted)
}

/// Locks the token's row: its usage once `r` replaces `current` (the attempt's entry, if
/// any), or why not. The row stays locked until the transaction ends, so the usage computed
/// here is the one stored.
fn reserve_on_token(
    tx: &mut Transaction<'_>,
    r: &Reservation,
    token: &str,
    current: Option<&LedgerEntry>,
) -> Res<Result<TokenUsage, ReserveOutcome>> {
    let row = lock_token(tx, token)?;
    let previous = current
        .filter(|e| e.token_id.as_deref() == Some(token))
        .map_or(0, |e| e.reserved_fri);
    let first = current.is_none() && !has_entries(tx, &hex(r.tracking_id))?;
    Ok(book_on_token(row, previous, r.amount, first))
}

pub(super) fn record_signed(tx: &mut Transaction<'_>, record: &TxRecord) -> Res<()> {
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
pub(super) fn move_tx(
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

pub(super) fn settle(
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

pub(super) fn drop_tx(
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

pub(super) fn adopt(
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
