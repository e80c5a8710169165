-- Several instances on one database: which instance holds each waiting execution (its
-- `owner`; NULL for executions from before), which instances are alive, which instance may
-- send with each relayer (a lease it renews), and per-key request counts by minute.
ALTER TABLE executions ADD COLUMN owner TEXT;
CREATE INDEX executions_by_owner ON executions (owner);
CREATE TABLE paymaster_instances (
    id TEXT PRIMARY KEY,
    alive_until_ms BIGINT NOT NULL
);
CREATE TABLE relayer_leases (
    relayer TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE TABLE request_counts (
    api_key_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, minute)
);
