//! The paymaster's durable state — API keys (hashed, with their life cycle: active, disabled,
//! revoked), client session tokens (hashed, with their own limits and usage), the executions
//! and relayer transactions of the submission engine, and the budget ledger —
//! behind [`Store`], with SQLite ([`SqliteStore`]) as the default backend and PostgreSQL
//! ([`PostgresStore`]) for several instances sharing one database. Both apply the versioned
//! migrations of `store/migrations/` when they open a database, and pass the same test suite
//! (`store/tests.rs`).

mod codec;
mod limits;
mod location;
pub(crate) mod migrations;
mod postgres;
pub mod scratch;
mod sqlite;
#[cfg(test)]
mod tests;

pub use limits::{ReserveOutcome, TokenLimits, TokenUsage};
pub use location::{Database, PostgresUrl};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;
use std::time::Duration;

use stark_sessions_abi::Felt;

use crate::error::PaymasterError;
use crate::lifecycle::{ExecutionState, TxState};

/// How a store connects (PostgreSQL; SQLite has nothing to set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreOptions {
    /// `statement_timeout` of every connection: a statement running longer is cancelled.
    pub statement_timeout: Option<Duration>,
}

/// Opens the store the configuration names; `None` keeps state in memory (SQLite).
pub fn open(database: Option<&Database>) -> Result<Arc<dyn Store>, PaymasterError> {
    open_with(database, StoreOptions::default())
}

/// As [`open`], with `options`.
pub fn open_with(
    database: Option<&Database>,
    options: StoreOptions,
) -> Result<Arc<dyn Store>, PaymasterError> {
    Ok(match database {
        None => Arc::new(SqliteStore::in_memory()?),
        Some(Database::Sqlite(path)) => Arc::new(SqliteStore::open(path)?),
        Some(Database::Postgres(url)) => Arc::new(PostgresStore::connect(
            url,
            postgres::DEFAULT_CONNECTIONS,
            options,
        )?),
    })
}

/// Where an API key is in its life. A key and every client session token it minted are
/// served only while it is `Active`; `Disabled` is undone by enabling it again, `Revoked` is
/// for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Serves requests.
    Active,
    /// Refused, with its tokens, until enabled again.
    Disabled,
    /// Refused, with its tokens, for good.
    Revoked,
}

impl KeyStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [KeyStatus; 3] = [KeyStatus::Active, KeyStatus::Disabled, KeyStatus::Revoked];

    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Disabled => "disabled",
            KeyStatus::Revoked => "revoked",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A backend API key, as stored (the key itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Stable id (not secret), used in logs and the ledger.
    pub id: String,
    /// A human name.
    pub name: String,
    /// SHA-256 of the key.
    pub key_hash: [u8; 32],
    /// Sponsored fees allowed per UTC day, in FRI.
    pub daily_budget_fri: u128,
    /// Requests allowed per minute.
    pub requests_per_minute: u32,
    /// If set, the only contracts the sponsored calls may target.
    pub allowed_targets: Option<Vec<Felt>>,
    /// Where it is in its life.
    pub status: KeyStatus,
}

/// An API key as `paymaster list-keys` and the budget gauges show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyListing {
    /// The key.
    pub key: ApiKeyRecord,
    /// Unix seconds of the last rotation of its secret, if any.
    pub rotated_at: Option<u64>,
    /// Reserved (unsettled) plus charged fees of the day asked about, in FRI.
    pub used_fri: u128,
}

/// A key's reserved (unsettled) plus charged fees of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUsage {
    /// The key.
    pub api_key_id: String,
    /// The UTC day (Unix seconds / 86 400).
    pub day: u64,
    /// Its usage that day, in FRI.
    pub used_fri: u128,
}

/// Which accounts the client session tokens minted for one identity-provider subject cover:
/// fixed by its first token (see [`Store::bind_identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityBinding {
    /// The API key the provider mints tokens under.
    pub api_key_id: String,
    /// The provider's `iss`.
    pub issuer: String,
    /// The JWT's `sub`.
    pub subject: String,
    /// The accounts its tokens may cover.
    pub user_addresses: Vec<Felt>,
}

/// Outcome of storing a token as the one live token of its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotClaim {
    /// Stored: it is the slot's live token.
    Minted,
    /// Nothing stored: the slot's token is still live, until `expires_at`.
    Held {
        /// Unix seconds when the live token expires.
        expires_at: u64,
    },
}

/// A client session token, as stored (the secret part is stored hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTokenRecord {
    /// Public id (the token's prefix).
    pub id: String,
    /// The API key that created it; its budget and limits apply.
    pub api_key_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: [u8; 32],
    /// If set, the only user addresses it may act for.
    pub user_addresses: Option<Vec<Felt>>,
    /// Unix seconds.
    pub expires_at: u64,
    /// Revoked by its API key.
    pub revoked: bool,
    /// Its own limits, within its key's.
    pub limits: TokenLimits,
    /// What it used of them (counted by [`Store::reserve`] and the ledger changes).
    pub usage: TokenUsage,
}

/// The fee a user pays in default mode: the amount of the signed transfer that ends the
/// outside execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePayment {
    /// The gas token.
    pub token: Felt,
    /// The amount the user signed, in token units.
    pub amount: u128,
}

/// An execution to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExecution {
    /// The tracking id handed to the client.
    pub id: Felt,
    /// The account executing (or being deployed).
    pub user_address: Felt,
    /// The outside execution's nonce: with the account, the idempotency key.
    pub outside_nonce: Felt,
    /// The API key that sponsors it (directly or through one of its tokens).
    pub api_key_id: String,
    /// The client session token used, if any.
    pub token_id: Option<String>,
    /// The relayer's calls for this execution (`Vec<Call>` Cairo serde).
    pub calls: Vec<Felt>,
    /// Default mode's fee transfer, if any.
    pub fee: Option<FeePayment>,
    /// The instance claiming it (it goes to that instance's queue).
    pub owner: String,
}

/// An execution, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRecord {
    /// The tracking id.
    pub id: Felt,
    /// The account.
    pub user_address: Felt,
    /// The outside execution's nonce.
    pub outside_nonce: Felt,
    /// The sponsoring API key.
    pub api_key_id: String,
    /// The client session token used, if any.
    pub token_id: Option<String>,
    /// The relayer's calls (`Vec<Call>` Cairo serde).
    pub calls: Vec<Felt>,
    /// Default mode's fee transfer, if any.
    pub fee: Option<FeePayment>,
    /// Where it is.
    pub state: ExecutionState,
    /// The hash of the latest transaction that carried it.
    pub latest_hash: Option<Felt>,
    /// How many transactions were signed for it.
    pub attempts: u32,
    /// How many times it was queued again after a transaction was dropped.
    pub resubmissions: u32,
    /// How many times the engine took it without sending or refusing it
    /// ([`Store::count_tries`]).
    pub tries: u32,
    /// Send it in a transaction of its own (a bundle that carried it reverted).
    pub alone: bool,
    /// Why it failed or was dropped.
    pub error: Option<String>,
}

/// Outcome of claiming an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// New (or only ever refused before): it is ours, in state `accepted`.
    Claimed,
    /// Claimed before; here is its record.
    Existing(Box<ExecutionRecord>),
}

/// A budget reservation to make before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The execution.
    pub tracking_id: Felt,
    /// The execution's attempt (its transaction number) the reservation is for.
    pub attempt: u32,
    /// The key charged.
    pub api_key_id: String,
    /// The client session token the execution came through, if any: its limits apply too.
    pub token_id: Option<String>,
    /// The UTC day charged.
    pub day: u64,
    /// The amount, in FRI: the execution's share of the transaction's maximum fee.
    pub amount: u128,
    /// The key's daily budget.
    pub budget: u128,
}

/// One line of the budget ledger: a reservation, then (settled) the fee actually charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The execution.
    pub tracking_id: Felt,
    /// Its attempt.
    pub attempt: u32,
    /// The key charged.
    pub api_key_id: String,
    /// The client session token it draws on too, if any.
    pub token_id: Option<String>,
    /// The UTC day charged.
    pub day: u64,
    /// What was reserved before sending.
    pub reserved_fri: u128,
    /// What was charged, once settled.
    pub charged_fri: Option<u128>,
    /// The transaction, once signed.
    pub tx_hash: Option<Felt>,
}

/// One execution in a relayer transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxItem {
    /// The execution.
    pub tracking_id: Felt,
    /// Its attempt number.
    pub attempt: u32,
}

/// A relayer transaction, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    /// Its hash, computed locally before sending.
    pub hash: Felt,
    /// The relayer.
    pub relayer: Felt,
    /// The relayer's nonce it uses.
    pub nonce: Felt,
    /// The signed transaction (`BroadcastedInvokeTransaction` JSON), to send the same bytes
    /// again when a send is in doubt.
    pub request: String,
    /// The executions it carries, in call order.
    pub items: Vec<TxItem>,
    /// The largest fee its resource bounds allow, in FRI.
    pub max_fee: u128,
    /// Where it is.
    pub state: TxState,
    /// The fee paid, once in a block.
    pub actual_fee: Option<u128>,
    /// Why it was dropped, or its revert reason.
    pub reason: Option<String>,
    /// Unix seconds when the node acknowledged it (0 before).
    pub sent_at: u64,
}

/// What settling a transaction did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settlement {
    /// False when it had been settled already (nothing was booked twice).
    pub booked: bool,
    /// Executions queued again, each alone (a reverted bundle's items).
    pub requeued: Vec<Felt>,
}

/// Instances not alive for this long are forgotten (what they held was adopted long before).
const FORGET_INSTANCES_AFTER_MS: u64 = 24 * 3600 * 1000;

/// A relayer's lease: the instance that may send with the relayer, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The relayer.
    pub relayer: Felt,
    /// The instance holding it.
    pub holder: String,
    /// Unix milliseconds when it ends unless renewed.
    pub expires_at_ms: u64,
}

/// Durable paymaster state.
///
/// Every method is atomic. Together they keep the engine's invariants, whatever runs
/// concurrently: one execution per (account, SNIP-9 nonce); an execution in at most one live
/// (signed or sent) transaction; a key's reserved and charged fees within its daily budget, and
/// a client session token's within its own limits; a transaction's fee booked once.
pub trait Store: Send + Sync {
    /// Inserts an API key, or replaces the settings (name, hash, budget, rate, allow-list) of
    /// the key with its id; a key with its hash under another id is removed. An existing key
    /// keeps its status (`key.status` applies to a new key only), so that keys reloaded from
    /// the configuration at start never come back from being disabled or revoked.
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), PaymasterError>;
    /// Inserts a new API key; false, storing nothing, if its id or its hash is taken.
    fn create_api_key(&self, key: &ApiKeyRecord) -> Result<bool, PaymasterError>;
    /// Every key, by id, with its reserved and charged fees of the UTC day `day`.
    fn list_api_keys(&self, day: u64) -> Result<Vec<ApiKeyListing>, PaymasterError>;
    /// Moves a key to `status`; false if there is no such key or it is revoked (a revoked key
    /// never changes again).
    fn set_api_key_status(&self, id: &str, status: KeyStatus) -> Result<bool, PaymasterError>;
    /// Gives a key a new secret (its hash), keeping its id, settings, budget use, ledger and
    /// tokens; the old secret is refused from then on. False if there is no such key or it is
    /// revoked.
    fn rotate_api_key(
        &self,
        id: &str,
        key_hash: &[u8; 32],
        now: u64,
    ) -> Result<bool, PaymasterError>;
    /// The key with this hash.
    fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, PaymasterError>;
    /// The key with this id.
    fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, PaymasterError>;
    /// Stores a new client session token.
    fn put_client_token(&self, token: &ClientTokenRecord) -> Result<(), PaymasterError>;
    /// The token with this id.
    fn client_token(&self, id: &str) -> Result<Option<ClientTokenRecord>, PaymasterError>;
    /// Revokes a token created by `api_key_id`; false if there is no such token.
    fn revoke_client_token(&self, id: &str, api_key_id: &str) -> Result<bool, PaymasterError>;
    /// Binds `binding`'s subject to its accounts unless the subject is bound already (or
    /// `binding` names none: a lookup), and returns the accounts it is bound to — the earlier
    /// binding's, if any; none if it is not bound. A binding never changes; of concurrent
    /// first bindings one wins.
    fn bind_identity(
        &self,
        binding: &IdentityBinding,
        now: u64,
    ) -> Result<Vec<Felt>, PaymasterError>;
    /// Stores `token` as the token of `slot` unless the slot's token is live at `now` (stored,
    /// not revoked, not expired): then stores nothing. Of concurrent calls for one slot, one
    /// mints.
    fn put_slotted_client_token(
        &self,
        token: &ClientTokenRecord,
        slot: &str,
        now: u64,
    ) -> Result<SlotClaim, PaymasterError>;

    /// Claims `(user_address, outside_nonce)` in state `accepted`, held by `new.owner`. An execution refused before
    /// (`failed`) may be claimed again, under the new tracking id.
    fn claim_execution(&self, new: &NewExecution, now: u64) -> Result<Claim, PaymasterError>;
    /// The execution with this tracking id.
    fn execution(&self, id: Felt) -> Result<Option<ExecutionRecord>, PaymasterError>;
    /// Executions in any of `states`, oldest first.
    fn executions_in(
        &self,
        states: &[ExecutionState],
    ) -> Result<Vec<ExecutionRecord>, PaymasterError>;
    /// `accepted` → `queued`, held by the instance `owner` (whose queue it is in).
    fn mark_queued(&self, id: Felt, owner: &str, now: u64) -> Result<(), PaymasterError>;
    /// A `queued` execution is now held by `owner` (it queued it again); false if it is not
    /// `queued`.
    fn own_queued(&self, id: Felt, owner: &str) -> Result<bool, PaymasterError>;
    /// Takes over the waiting (`accepted` or `queued`) executions that no live instance holds —
    /// held by none, by an instance whose liveness ran out by `now_ms`, or, with
    /// `with_own_past`, by `owner` itself (a process starting again under its id) — for
    /// `owner`: they become `queued`, held by it, their reservations that no transaction uses
    /// released. Returns them, oldest first.
    fn adopt_waiting(
        &self,
        owner: &str,
        now_ms: u64,
        with_own_past: bool,
    ) -> Result<Vec<ExecutionRecord>, PaymasterError>;
    /// `accepted` or `queued` → `failed`, releasing its reservations that no transaction uses.
    /// False if it was in another state.
    fn fail_execution(&self, id: Felt, error: &str, now: u64) -> Result<bool, PaymasterError>;
    /// Counts one more try for each of these executions that is `queued` (the engine took it
    /// and could not send or refuse it); returns those with their tries so far, in the order
    /// given. Executions in another state are left out.
    fn count_tries(&self, ids: &[Felt]) -> Result<Vec<(Felt, u32)>, PaymasterError>;

    /// Reserves (or re-sizes) `r.amount` for `(r.tracking_id, r.attempt)` if the key's
    /// reserved and charged fees of the day stay within `r.budget` and, through a token, the
    /// token is not revoked and stays within its limits: its reserved and charged fees within
    /// `max_fee_fri`, its executions (those holding a reservation or charged; the first
    /// reservation of an execution counts it) within `max_executions`. Otherwise reserves
    /// nothing and says which limit refused.
    fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, PaymasterError>;
    /// Releases the reservations of these executions that no transaction uses.
    fn release_unlinked(&self, ids: &[Felt]) -> Result<(), PaymasterError>;
    /// Reserved (unsettled) plus charged fees of a key on a day.
    fn spent_on(&self, api_key_id: &str, day: u64) -> Result<u128, PaymasterError>;
    /// Every key's non-zero usage on each UTC day from `from` to `to` (both included), by key
    /// then day.
    fn usage_by_day(&self, from: u64, to: u64) -> Result<Vec<DayUsage>, PaymasterError>;
    /// The ledger: every entry, or only those not settled yet (what is pending).
    fn ledger(&self, pending_only: bool) -> Result<Vec<LedgerEntry>, PaymasterError>;
    /// The ledger entries of one transaction's executions.
    fn transaction_ledger(&self, hash: Felt) -> Result<Vec<LedgerEntry>, PaymasterError>;

    /// Stores a signed transaction: the transaction `signed`, its items `signed` with this hash
    /// as their latest, their reservations linked to it. Fails, storing nothing, unless every
    /// item is `queued` with a reservation for its attempt.
    fn record_signed(&self, tx: &TxRecord) -> Result<(), PaymasterError>;
    /// `signed` → `sent`, for the transaction and its items.
    fn mark_sent(&self, hash: Felt, now: u64) -> Result<(), PaymasterError>;
    /// A live transaction is in a block: → `included` or `reverted` with its fee, and its items
    /// alike.
    fn record_outcome(
        &self,
        hash: Felt,
        succeeded: bool,
        actual_fee: u128,
        reason: Option<&str>,
    ) -> Result<(), PaymasterError>;
    /// Books an included or reverted transaction's fee: `charges` (one per item, summing to
    /// the fee) settle the items' reservations; the transaction becomes `settled`. Its items
    /// become `settled` — or, with `requeue_alone`, `queued` to be sent alone. Books nothing
    /// if it was settled already.
    fn settle_transaction(
        &self,
        hash: Felt,
        charges: &[(Felt, u128)],
        requeue_alone: bool,
    ) -> Result<Settlement, PaymasterError>;
    /// A live transaction can never be included: → `dropped`, its reservations released, its
    /// items `queued` again (counted as a resubmission when `resubmission`; `dropped` for good
    /// beyond `max_resubmissions`). Returns the items queued again; empty if it was not live
    /// (someone else dropped it first).
    fn drop_transaction(
        &self,
        hash: Felt,
        reason: &str,
        resubmission: bool,
        max_resubmissions: u32,
    ) -> Result<Vec<Felt>, PaymasterError>;
    /// The transaction with this hash.
    fn transaction(&self, hash: Felt) -> Result<Option<TxRecord>, PaymasterError>;
    /// Transactions in any of `states`, by relayer and nonce.
    fn transactions_in(&self, states: &[TxState]) -> Result<Vec<TxRecord>, PaymasterError>;

    /// Records that `instance` is alive until `now_ms + ttl_ms`; returns the instances alive at
    /// `now_ms` (itself included), sorted.
    fn heartbeat(
        &self,
        instance: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Vec<String>, PaymasterError>;
    /// Forgets `instance` (a clean shutdown): its liveness and its leases end now.
    fn end_instance(&self, instance: &str) -> Result<(), PaymasterError>;
    /// Takes or renews `relayer`'s lease for `holder` until `now_ms + ttl_ms`, unless another
    /// holder's lease is still running at `now_ms`. Returns the lease as it stands: held by
    /// `holder` or by the other.
    fn acquire_lease(
        &self,
        relayer: Felt,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, PaymasterError>;
    /// Ends `holder`'s lease of `relayer` (nothing if another holds it).
    fn release_lease(&self, relayer: Felt, holder: &str) -> Result<(), PaymasterError>;
    /// Every lease, by relayer.
    fn leases(&self) -> Result<Vec<Lease>, PaymasterError>;

    /// Counts a request of `api_key_id` in the UTC minute `minute` (Unix seconds / 60) unless
    /// `limit` were counted already; false when refused.
    fn count_request(
        &self,
        api_key_id: &str,
        minute: u64,
        limit: u32,
    ) -> Result<bool, PaymasterError>;
    /// As [`Store::count_request`], for a client session token's own limit.
    fn count_token_request(
        &self,
        token_id: &str,
        minute: u64,
        limit: u32,
    ) -> Result<bool, PaymasterError>;
}
