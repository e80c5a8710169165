//! How both backends write values: felts as `0x` hex text, lists of felts as comma-separated
//! hex, amounts (u128) as decimal text (SQLite) or `NUMERIC` read back as text (PostgreSQL).

use stark_sessions_abi::Felt;

use crate::error::PaymasterError;

/// A value read back that this code never writes.
pub(super) fn corrupt(what: &str) -> PaymasterError {
    PaymasterError::Unknown(format!("storage: corrupt {what}"))
}

/// A felt as stored.
pub(super) fn hex(f: Felt) -> String {
    format!("{f:#x}")
}

/// A stored felt.
pub(super) fn parse_felt(text: &str) -> Result<Felt, PaymasterError> {
    Felt::from_hex(text).map_err(|_| corrupt("felt"))
}

/// A list of felts as stored.
pub(super) fn felts_to_text(felts: &[Felt]) -> String {
    felts.iter().map(|f| hex(*f)).collect::<Vec<_>>().join(",")
}

/// A stored list of felts.
pub(super) fn text_to_felts(text: &str) -> Result<Vec<Felt>, PaymasterError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',').map(parse_felt).collect()
}

/// `columns` (comma-separated) each qualified by the table alias `alias`.
pub(super) fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stored amount.
pub(super) fn parse_u128(s: &str) -> Result<u128, PaymasterError> {
    s.parse().map_err(|_| corrupt("amount"))
}

/// A stored SHA-256.
pub(super) fn hash_from_blob(blob: Vec<u8>) -> Result<[u8; 32], PaymasterError> {
    blob.try_into().map_err(|_| corrupt("hash"))
}
