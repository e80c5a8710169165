//! Identity-provider bindings and token slots on SQLite, each change inside the caller's
//! immediate transaction (so a slot is tested and taken in one step).

use rusqlite::{params, Connection, OptionalExtension};
use stark_sessions_abi::Felt;

use super::keys::put_client_token;
use crate::error::PaymasterError;
use crate::store::codec::{felts_to_text, text_to_felts};
use crate::store::{ClientTokenRecord, IdentityBinding, SlotClaim};

/// Binds the subject unless it is bound; the accounts it is bound to.
pub(super) fn bind(
    c: &Connection,
    b: &IdentityBinding,
    now: u64,
) -> Result<Vec<Felt>, PaymasterError> {
    if !b.user_addresses.is_empty() {
        c.execute(
        "INSERT INTO identity_bindings (api_key_id, issuer, subject, user_addresses, bound_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![
            b.api_key_id,
            b.issuer,
            b.subject,
            felts_to_text(&b.user_addresses),
            now
        ],
    )?;
    }
    let bound: Option<String> = c
        .query_row(
            "SELECT user_addresses FROM identity_bindings \
         WHERE api_key_id = ?1 AND issuer = ?2 AND subject = ?3",
            params![b.api_key_id, b.issuer, b.subject],
            |r| r.get(0),
        )
        .optional()?;
    bound.map_or(Ok(Vec::new()), |b| text_to_felts(&b))
}

/// Stores `token` as `slot`'s token unless the slot's token is live at `now`.
pub(super) fn put_slotted(
    c: &Connection,
    token: &ClientTokenRecord,
    slot: &str,
    now: u64,
) -> Result<SlotClaim, PaymasterError> {
    c.execute(
        "DELETE FROM identity_token_slots WHERE expires_at <= ?1",
        [now],
    )?;
    let live: Option<u64> = c
        .query_row(
            "SELECT t.expires_at FROM identity_token_slots s \
             JOIN client_tokens t ON t.id = s.token_id \
             WHERE s.slot = ?1 AND t.revoked = 0 AND t.expires_at > ?2",
            params![slot, now],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(expires_at) = live {
        return Ok(SlotClaim::Held { expires_at });
    }
    put_client_token(c, token)?;
    c.execute(
        "INSERT INTO identity_token_slots (slot, token_id, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (slot) DO UPDATE \
         SET token_id = excluded.token_id, expires_at = excluded.expires_at",
        params![slot, token.id, token.expires_at],
    )?;
    Ok(SlotClaim::Minted)
}
