//! Every revert reason of the session account, one namespaced short string per rule.
//! The Rust crate `stark-sessions-abi` mirrors this list; a test ties the two together.

mod Errors {
    // Account (owner) rules.
    const ONLY_SELF: felt252 = 'account/only-self';
    const INVALID_SIGNATURE: felt252 = 'account/invalid-signature';
    const INVALID_SIGNATURE_LENGTH: felt252 = 'account/invalid-sig-length';
    const INVALID_CALLER: felt252 = 'account/invalid-caller';
    const INVALID_PUBLIC_KEY: felt252 = 'account/invalid-public-key';
    // SNIP-9 outside execution.
    const OUTSIDE_INVALID_CALLER: felt252 = 'outside/invalid-caller';
    const OUTSIDE_TOO_EARLY: felt252 = 'outside/too-early';
    const OUTSIDE_EXPIRED: felt252 = 'outside/expired';
    const OUTSIDE_NONCE_USED: felt252 = 'outside/nonce-used';
    const OUTSIDE_REENTRANT: felt252 = 'outside/reentrant';
    // Session rules, in the order they are checked.
    const SESSION_NOT_REGISTERED: felt252 = 'session/not-registered';
    const SESSION_REVOKED: felt252 = 'session/revoked';
    const SESSION_EXPIRED: felt252 = 'session/expired';
    const SESSION_MAX_CALLS: felt252 = 'session/max-calls';
    const SESSION_REGISTRATION_MISMATCH: felt252 = 'session/registration-mismatch';
    const SESSION_SELF_CALL: felt252 = 'session/self-call';
    const SESSION_BLOCKED_SELECTOR: felt252 = 'session/blocked-selector';
    const SESSION_SELECTOR_DENIED: felt252 = 'session/selector-denied';
    const SESSION_TARGET_DENIED: felt252 = 'session/target-denied';
    const SESSION_BAD_SIGNATURE: felt252 = 'session/bad-signature';
    const SESSION_INVALID_CONFIG: felt252 = 'session/invalid-config';
    // Spending limits.
    const SPENDING_PER_CALL: felt252 = 'spending/per-call';
    const SPENDING_WINDOW: felt252 = 'spending/window';
    const SPENDING_INVALID_AMOUNT: felt252 = 'spending/invalid-amount';
    const SPENDING_INVALID_POLICY: felt252 = 'spending/invalid-policy';
    const SPENDING_NO_POLICY: felt252 = 'spending/no-policy';
}
