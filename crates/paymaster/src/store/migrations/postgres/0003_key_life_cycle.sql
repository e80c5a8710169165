-- API keys get a life cycle: `active`, `disabled` (refused with its tokens until enabled
-- again) or `revoked` (for good); `rotated_at` (Unix seconds) records the last new secret — a
-- rotation replaces `key_hash` only, so the id, budget, ledger and tokens stay.
ALTER TABLE api_keys ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE api_keys ADD COLUMN rotated_at BIGINT;
-- Client session tokens get limits of their own, set when minted (NULL: only the key's), and
-- usage counted with each reservation through them: fees reserved (not settled) plus charged,
-- executions holding a reservation or charged. A reservation locks the token's row and tests
-- its limits in the transaction that moves the key's daily usage.
ALTER TABLE client_tokens ADD COLUMN requests_per_minute BIGINT;
ALTER TABLE client_tokens ADD COLUMN max_fee_fri NUMERIC(39, 0);
ALTER TABLE client_tokens ADD COLUMN max_executions BIGINT;
ALTER TABLE client_tokens ADD COLUMN fee_used_fri NUMERIC(39, 0) NOT NULL DEFAULT 0;
ALTER TABLE client_tokens ADD COLUMN executions_used BIGINT NOT NULL DEFAULT 0;
-- The token a ledger entry draws on besides its key (NULL: the key directly), so that its
-- release or settlement moves the token's usage too.
ALTER TABLE budget_ledger ADD COLUMN token_id TEXT;
-- Requests through each token by minute, for its own rate limit.
CREATE TABLE token_request_counts (
    token_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (token_id, minute)
);
