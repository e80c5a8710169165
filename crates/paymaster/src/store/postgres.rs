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
//!   upsert that tests the minute's count against the key's (or the token's) limit.
//! - **tokens**: a reservation through a client session token locks the token's row
//!   (`SELECT … FOR UPDATE`) and tests its limits before the key's budget, in the same
//!   transaction; a concurrent reservation through the token waits for the row and is tested
//!   against the usage the first left. Releases and settlements move the token's usage by
//!   what they changed, as they move the key's.
//! - **key life cycle**: status changes and rotations are single conditional `UPDATE`s
//!   (`status <> 'revoked'`): nothing brings a revoked key back.
//!
//! Rows are locked in one order — relayer transaction, executions, ledger entries, token rows
//! (sorted), usage rows (sorted) — which keeps deadlocks rare. A deadlock, a serialization failure, or a unique
//! violation from a concurrent insert rolls the transaction back; it is run again, at most
//! [`TRIES`] times.
//!
//! Layout: `pool` (connection threads), `tls` (`sslmode`), `txn` (transactions, run again
//! after a conflict),
//! `changes` (every change of several rows), `keys` (API keys, tokens, request counts), `rows`
//! (reading rows, binding values); this file
//! opens the store, migrates it and maps the [`Store`] methods.

mod changes;
mod identity;
mod keys;
mod pool;
mod rows;
mod tls;
mod txn;

use postgres::{Client, Transaction};
use stark_sessions_abi::Felt;

use super::codec::hex;
use super::location::PostgresUrl;
use super::migrations::{self, Migration};
use super::FORGET_INSTANCES_AFTER_MS;
use super::{
    ApiKeyListing, ApiKeyRecord, Claim, ClientTokenRecord, DayUsage, ExecutionRecord,
    IdentityBinding, KeyStatus, Lease, LedgerEntry, NewExecution, Reservation, ReserveOutcome,
    Settlement, SlotClaim, Store, StoreOptions, TxRecord,
};
use crate::error::PaymasterError;
use crate::lifecycle::{ExecutionState, TxState};
use changes::{
    adopt, claim, drop_tx, move_tx, record_signed, release_where, reserve, settle, with_items,
};
pub(crate) use pool::storage_error;
use pool::{Connect, Pool};
use rows::{
    amount, api_key_from_row, execution_from_row, felt, int, ledger_from_row, names, rows,
    token_from_row, tx_from_row, uint, API_KEY_COLUMNS, EXECUTION_COLUMNS, LEDGER_COLUMNS,
    TOKEN_COLUMNS, TX_COLUMNS,
};
use txn::{snapshot, transact, Failure, Res};

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
                &[&m.version, &m.name, &int(crate::clock::unix_now())?],
            )?;
        }
        tx.commit()?;
        Ok(())
    };
    run().map_err(Failure::into_error)
}

impl PostgresStore {
    /// Connects to the database at `url` (which must exist) and brings its schema up to date.
    pub fn open(url: &PostgresUrl) -> Result<Self, PaymasterError> {
        Self::open_with(url, DEFAULT_CONNECTIONS)
    }

    /// As [`PostgresStore::open`], with `connections` connections.
    pub fn open_with(url: &PostgresUrl, connections: usize) -> Result<Self, PaymasterError> {
        Self::connect(url, connections, StoreOptions::default())
    }

    /// As [`PostgresStore::open`], with `connections` connections and `options`; TLS as the
    /// URL's `sslmode` says (`disable`, `prefer`, `require`, `verify-full`).
    pub fn connect(
        url: &PostgresUrl,
        connections: usize,
        options: StoreOptions,
    ) -> Result<Self, PaymasterError> {
        let (driver_url, tls_settings) = tls::split_url(url.expose())?;
        let mut config: postgres::Config = driver_url.parse().map_err(|e| {
            PaymasterError::Config(format!("database {url}: {}", storage_error(&e)))
        })?;
        config.ssl_mode(tls_settings.mode.driver());
        let connect = Connect {
            config,
            tls: tls::connector(&tls_settings)?,
            statement_timeout: options.statement_timeout,
        };
        let pool = Pool::start(connect, connections, url.to_string())?;
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
        self.transact(move |tx| keys::put_api_key(tx, &key))
    }

    fn create_api_key(&self, key: &ApiKeyRecord) -> Result<bool, PaymasterError> {
        let key = key.clone();
        self.transact(move |tx| keys::create_api_key(tx, &key))
    }

    fn list_api_keys(&self, day: u64) -> Result<Vec<ApiKeyListing>, PaymasterError> {
        let day = int(day)?;
        self.read(move |tx| keys::list_api_keys(tx, day))
    }

    fn set_api_key_status(&self, id: &str, status: KeyStatus) -> Result<bool, PaymasterError> {
        let id = id.to_owned();
        self.transact(move |tx| keys::set_status(tx, &id, status))
    }

    fn rotate_api_key(
        &self,
        id: &str,
        key_hash: &[u8; 32],
        now: u64,
    ) -> Result<bool, PaymasterError> {
        let (id, hash, now) = (id.to_owned(), *key_hash, int(now)?);
        self.transact(move |tx| keys::rotate(tx, &id, &hash, now))
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
        self.transact(move |tx| keys::put_client_token(tx, &token))
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

    fn bind_identity(
        &self,
        binding: &IdentityBinding,
        now: u64,
    ) -> Result<Vec<Felt>, PaymasterError> {
        let (binding, now) = (binding.clone(), int(now)?);
        self.transact(move |tx| identity::bind(tx, &binding, now))
    }

    fn put_slotted_client_token(
        &self,
        token: &ClientTokenRecord,
        slot: &str,
        now: u64,
    ) -> Result<SlotClaim, PaymasterError> {
        let (token, slot, now) = (token.clone(), slot.to_owned(), int(now)?);
        self.transact(move |tx| identity::put_slotted(tx, &token, &slot, now))
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

    fn count_tries(&self, ids: &[Felt]) -> Result<Vec<(Felt, u32)>, PaymasterError> {
        let ids: Vec<Felt> = ids.to_vec();
        self.transact(move |tx| {
            let mut counted = Vec::with_capacity(ids.len());
            for id in &ids {
                let row = tx.query_opt(
                    "UPDATE executions SET tries = tries + 1 \
                     WHERE id = $1 AND state = 'queued' RETURNING tries",
                    &[&hex(*id)],
                )?;
                if let Some(row) = row {
                    counted.push((*id, uint(&row, 0)?));
                }
            }
            Ok(counted)
        })
    }

    fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, PaymasterError> {
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

    fn usage_by_day(&self, from: u64, to: u64) -> Result<Vec<DayUsage>, PaymasterError> {
        let (from, to) = (int(from)?, int(to)?);
        self.read(move |tx| {
            let found = tx.query(
                "SELECT api_key_id, day, used_fri::text FROM budget_usage \
                 WHERE day >= $1 AND day <= $2 AND used_fri > 0 ORDER BY api_key_id, day",
                &[&from, &to],
            )?;
            rows(found, |r| {
                Ok(DayUsage {
                    api_key_id: r.try_get(0)?,
                    day: uint(r, 1)?,
                    used_fri: amount(r, 2)?,
                })
            })
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
        let (state, items) = TxState::in_block(succeeded);
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
        self.count_in(("request_counts", "api_key_id"), api_key_id, minute, limit)
    }

    fn count_token_request(
        &self,
        token_id: &str,
        minute: u64,
        limit: u32,
    ) -> Result<bool, PaymasterError> {
        self.count_in(
            ("token_request_counts", "token_id"),
            token_id,
            minute,
            limit,
        )
    }
}

impl PostgresStore {
    /// Counts a request of `subject` in `minute` in one of the request-count tables.
    fn count_in(
        &self,
        table: (&'static str, &'static str),
        subject: &str,
        minute: u64,
        limit: u32,
    ) -> Result<bool, PaymasterError> {
        if limit == 0 {
            return Ok(false);
        }
        let (subject, minute, limit) = (subject.to_owned(), int(minute)?, i64::from(limit));
        self.transact(move |tx| keys::count_in(tx, table, &subject, minute, limit))
    }
}

#[cfg(test)]
mod tests;
