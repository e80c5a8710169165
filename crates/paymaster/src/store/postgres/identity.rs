//! Identity-provider bindings and token slots on PostgreSQL.
//!
//! A binding is one `INSERT … ON CONFLICT DO NOTHING` (a concurrent first binding waits for
//! the other and keeps it), then a read of what stands. A slot is locked (`FOR UPDATE`) and
//! its token tested in a statement of its own, so that the test reads the latest committed
//! token; an absent slot is inserted plainly, and of two concurrent inserts the loser meets
//! the primary key, is run again (see `txn`) and finds the winner's live token.

use postgres::Transaction;
use stark_sessions_abi::Felt;

use super::keys::put_client_token;
use super::rows::{int, uint};
use super::txn::Res;
use crate::store::codec::{felts_to_text, text_to_felts};
use crate::store::{ClientTokenRecord, IdentityBinding, SlotClaim};

/// Binds the subject unless it is bound; the accounts it is bound to.
pub(super) fn bind(tx: &mut Transaction<'_>, b: &IdentityBinding, now: i64) -> Res<Vec<Felt>> {
    if !b.user_addresses.is_empty() {
        tx.execute(
        "INSERT INTO identity_bindings (api_key_id, issuer, subject, user_addresses, bound_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        &[
            &b.api_key_id,
            &b.issuer,
            &b.subject,
            &felts_to_text(&b.user_addresses),
            &now,
        ],
    )?;
    }
    let row = tx.query_opt(
        "SELECT user_addresses FROM identity_bindings \
         WHERE api_key_id = $1 AND issuer = $2 AND subject = $3",
        &[&b.api_key_id, &b.issuer, &b.subject],
    )?;
    match row {
        Some(row) => Ok(text_to_felts(row.try_get(0)?)?),
        None => Ok(Vec::new()),
    }
}

/// Stores `token` as `slot`'s token unless the slot's token is live at `now`.
pub(super) fn put_slotted(
    tx: &mut Transaction<'_>,
    token: &ClientTokenRecord,
    slot: &str,
    now: i64,
) -> Res<SlotClaim> {
    tx.execute(
        "DELETE FROM identity_token_slots WHERE expires_at <= $1",
        &[&now],
    )?;
    let held: Option<String> = tx
        .query_opt(
            "SELECT token_id FROM identity_token_slots WHERE slot = $1 FOR UPDATE",
            &[&slot],
        )?
        .map(|r| r.try_get(0))
        .transpose()?;
    if let Some(held) = &held {
        let live = tx.query_opt(
            "SELECT expires_at FROM client_tokens \
             WHERE id = $1 AND NOT revoked AND expires_at > $2",
            &[held, &now],
        )?;
        if let Some(row) = live {
            return Ok(SlotClaim::Held {
                expires_at: uint(&row, 0)?,
            });
        }
    }
    put_client_token(tx, token)?;
    let expires_at = int(token.expires_at)?;
    let sql = if held.is_some() {
        "UPDATE identity_token_slots SET token_id = $2, expires_at = $3 WHERE slot = $1"
    } else {
        "INSERT INTO identity_token_slots (slot, token_id, expires_at) VALUES ($1, $2, $3)"
    };
    tx.execute(sql, &[&slot, &token.id, &expires_at])?;
    Ok(SlotClaim::Minted)
}
