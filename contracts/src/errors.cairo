//! Every revert reason of the session account, one namespaced short string per rule.
//! The Rust crate `stark-sessions-abi` mirrors this list; a test ties the two together.

pub mod Errors {
    // Account (owner) rules.
    pub const ONLY_SELF: felt252 = 'account/only-self';
    pub const INVALID_SIGNATURE: felt252 = 'account/invalid-signature';
    pub const INVALID_SIGNATURE_LENGTH: felt252 = 'account/invalid-sig-length';
    pub const INVALID_CALLER: felt252 = 'account/invalid-caller';
    pub const INVALID_PUBLIC_KEY: felt252 = 'account/invalid-public-key';
    // SNIP-9 outside execution.
    pub const OUTSIDE_INVALID_CALLER: felt252 = 'outside/invalid-caller';
    pub const OUTSIDE_TOO_EARLY: felt252 = 'outside/too-early';
    pub const OUTSIDE_EXPIRED: felt252 = 'outside/expired';
    pub const OUTSIDE_NONCE_USED: felt252 = 'outside/nonce-used';
    pub const OUTSIDE_REENTRANT: felt252 = 'outside/reentrant';
    // Session rules, in the order they are checked.
    pub const SESSION_NOT_REGISTERED: felt252 = 'session/not-registered';
    pub const SESSION_REVOKED: felt252 = 'session/revoked';
    pub const SESSION_EXPIRED: felt252 = 'session/expired';
    pub const SESSION_MAX_CALLS: felt252 = 'session/max-calls';
    pub const SESSION_REGISTRATION_MISMATCH: felt252 = 'session/registration-mismatch';
    pub const SESSION_SELF_CALL: felt252 = 'session/self-call';
    pub const SESSION_BLOCKED_SELECTOR: felt252 = 'session/blocked-selector';
    pub const SESSION_SELECTOR_DENIED: felt252 = 'session/selector-denied';
    pub const SESSION_TARGET_DENIED: felt252 = 'session/target-denied';
    pub const SESSION_BAD_SIGNATURE: felt252 = 'session/bad-signature';
    pub const SESSION_INVALID_CONFIG: felt252 = 'session/invalid-config';
    // Agent limits (components/agent_limits.cairo), in the order they are checked.
    pub const SESSION_NOT_YET_ACTIVE: felt252 = 'session/not-yet-active';
    pub const SESSION_RATE_LIMIT: felt252 = 'session/rate-limit';
    pub const RULES_ARG_UNREADABLE: felt252 = 'rules/arg-unreadable';
    pub const RULES_ARG_NOT_ALLOWED: felt252 = 'rules/arg-not-allowed';
    pub const RULES_ARG_ABOVE_MAX: felt252 = 'rules/arg-above-max';
    pub const RULES_ARG_BELOW_MIN: felt252 = 'rules/arg-below-min';
    pub const RULES_INVALID_CONFIG: felt252 = 'rules/invalid-config';
    // Session grants (owner-signed sessions registered on first use), in the order checked.
    pub const GRANT_MALFORMED: felt252 = 'grant/malformed';
    pub const GRANT_EXPIRED: felt252 = 'grant/expired';
    pub const GRANT_REVOKED_ALL: felt252 = 'grant/revoked-all';
    pub const GRANT_REVOKED: felt252 = 'grant/revoked';
    pub const GRANT_USED: felt252 = 'grant/used-or-superseded';
    pub const GRANT_OWNER_CHANGED: felt252 = 'grant/owner-changed';
    pub const GRANT_BAD_SIGNATURE: felt252 = 'grant/bad-signature';
    // Spending limits.
    pub const SPENDING_PER_CALL: felt252 = 'spending/per-call';
    pub const SPENDING_WINDOW: felt252 = 'spending/window';
    pub const SPENDING_INVALID_AMOUNT: felt252 = 'spending/invalid-amount';
    pub const SPENDING_INVALID_POLICY: felt252 = 'spending/invalid-policy';
    pub const SPENDING_NO_POLICY: felt252 = 'spending/no-policy';
    pub const SPENDING_LOSS_GUARD: felt252 = 'spending/loss-guard';
}
