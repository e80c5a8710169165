-- The first schema. `IF NOT EXISTS` because databases made before migrations were versioned
-- already have these tables: such a file is adopted as version 1 as it is.
-- Amounts are u128, stored as decimal text; `budget_usage` keeps each key's daily total
-- (reserved and not settled, plus charged) so that a reservation reads one row.
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash BLOB NOT NULL UNIQUE,
    daily_budget_fri TEXT NOT NULL,
    requests_per_minute INTEGER NOT NULL,
    allowed_targets TEXT
);
CREATE TABLE IF NOT EXISTS client_tokens (
    id TEXT PRIMARY KEY,
    api_key_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    user_addresses TEXT,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    user_address TEXT NOT NULL,
    outside_nonce TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    token_id TEXT,
    calls TEXT NOT NULL,
    fee_token TEXT,
    fee_amount TEXT,
    state TEXT NOT NULL,
    latest_hash TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    resubmissions INTEGER NOT NULL DEFAULT 0,
    alone INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (user_address, outside_nonce)
);
CREATE INDEX IF NOT EXISTS executions_by_state ON executions (state);
CREATE TABLE IF NOT EXISTS relayer_transactions (
    hash TEXT PRIMARY KEY,
    relayer TEXT NOT NULL,
    nonce TEXT NOT NULL,
    request TEXT NOT NULL,
    max_fee TEXT NOT NULL,
    state TEXT NOT NULL,
    actual_fee TEXT,
    reason TEXT,
    sent_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS relayer_transactions_by_state ON relayer_transactions (state);
CREATE TABLE IF NOT EXISTS transaction_items (
    tx_hash TEXT NOT NULL,
    position INTEGER NOT NULL,
    tracking_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, position)
);
CREATE TABLE IF NOT EXISTS budget_ledger (
    tracking_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    api_key_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    reserved_fri TEXT NOT NULL,
    charged_fri TEXT,
    tx_hash TEXT,
    PRIMARY KEY (tracking_id, attempt)
);
CREATE INDEX IF NOT EXISTS budget_ledger_by_tx ON budget_ledger (tx_hash);
CREATE INDEX IF NOT EXISTS budget_ledger_pending ON budget_ledger (charged_fri);
CREATE TABLE IF NOT EXISTS budget_usage (
    api_key_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    used_fri TEXT NOT NULL,
    PRIMARY KEY (api_key_id, day)
);
