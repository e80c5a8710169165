-- Identity-provider tokens (`[[identity_providers]]`). `identity_bindings`: the accounts the
-- tokens of one JWT subject may cover, fixed by its first token when the provider's JWTs do
-- not name them in a claim (a binding never changes). `identity_token_slots`: the one live
-- token of each JWT (`jti`) or subject, as the provider's `one_token_per` says; a slot whose
-- token expired or was revoked takes the next token.
CREATE TABLE identity_bindings (
    api_key_id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_addresses TEXT NOT NULL,
    bound_at BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, issuer, subject)
);
CREATE TABLE identity_token_slots (
    slot TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX identity_token_slots_by_expiry ON identity_token_slots (expires_at);
