-- The first schema: the SQLite one's tables, with PostgreSQL types.
-- Amounts are u128 in NUMERIC(39, 0) (exact; the store reads them back as text). `seq` keeps
-- insertion order where SQLite uses its rowid. `budget_usage` keeps each key's daily total
-- (reserved and not settled, plus charged): its row is what a reservation locks and tests.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash BYTEA NOT NULL UNIQUE,
    daily_budget_fri NUMERIC(39, 0) NOT NULL,
    requests_per_minute BIGINT NOT NULL,
    allowed_targets TEXT
);
CREATE TABLE client_tokens (
    id TEXT PRIMARY KEY,
    api_key_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    secret_hash BYTEA NOT NULL,
    user_addresses TEXT,
    expires_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE executions (
    seq BIGSERIAL NOT NULL,
    id TEXT PRIMARY KEY,
    user_address TEXT NOT NULL,
    outside_nonce TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    token_id TEXT,
    calls TEXT NOT NULL,
    fee_token TEXT,
    fee_amount NUMERIC(39, 0),
    state TEXT NOT NULL,
    latest_hash TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    resubmissions BIGINT NOT NULL DEFAULT 0,
    alone BOOLEAN NOT NULL DEFAULT FALSE,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (user_address, outside_nonce)
);
CREATE INDEX executions_by_state ON executions (state);
CREATE INDEX executions_by_latest_hash ON executions (latest_hash);
CREATE TABLE relayer_transactions (
    seq BIGSERIAL NOT NULL,
    hash TEXT PRIMARY KEY,
    relayer TEXT NOT NULL,
    nonce TEXT NOT NULL,
    request TEXT NOT NULL,
    max_fee NUMERIC(39, 0) NOT NULL,
    state TEXT NOT NULL,
    actual_fee NUMERIC(39, 0),
    reason TEXT,
    sent_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX relayer_transactions_by_state ON relayer_transactions (state);
CREATE TABLE transaction_items (
    tx_hash TEXT NOT NULL,
    position BIGINT NOT NULL,
    tracking_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    PRIMARY KEY (tx_hash, position)
);
CREATE TABLE budget_ledger (
    seq BIGSERIAL NOT NULL,
    tracking_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    api_key_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    reserved_fri NUMERIC(39, 0) NOT NULL,
    charged_fri NUMERIC(39, 0),
    tx_hash TEXT,
    PRIMARY KEY (tracking_id, attempt)
);
CREATE INDEX budget_ledger_by_tx ON budget_ledger (tx_hash);
CREATE INDEX budget_ledger_pending ON budget_ledger (seq) WHERE charged_fri IS NULL;
CREATE TABLE budget_usage (
    api_key_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    used_fri NUMERIC(39, 0) NOT NULL,
    PRIMARY KEY (api_key_id, day)
);
