//! The SNIP-9 nonces `buildTransaction` puts in the outside executions it builds: consecutive
//! per account, under a random prefix drawn when the paymaster starts.
//!
//! The session account keeps used nonces as a bitmap, 128 to a storage slot: consecutive nonces
//! share a slot, so an account writes a new slot (402 000 L2 gas on Starknet 0.14) once per 128
//! executions instead of on every one, as random nonces would. The prefix keeps instances and
//! restarts apart (each starts on fresh words); a nonce that is used anyway (another paymaster,
//! a client's own choice) is refused by the build's simulation, never executed twice.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;
use stark_sessions_abi::Felt;

/// Accounts tracked before the counters start over (under a new prefix).
const MAX_ACCOUNTS: usize = 100_000;

/// Hands out nonces, consecutive per account.
#[derive(Debug)]
pub(crate) struct NonceIssuer {
    state: Mutex<IssuerState>,
}

#[derive(Debug)]
struct IssuerState {
    prefix: Felt,
    next: HashMap<Felt, u64>,
}

/// A random multiple of 2^64, so that each account's first nonce starts a slot.
fn random_prefix() -> Felt {
    Felt::from(rand::thread_rng().gen_range(1..u64::MAX)) * Felt::TWO.pow(64u8)
}

impl Default for NonceIssuer {
    fn default() -> Self {
        NonceIssuer {
            state: Mutex::new(IssuerState {
                prefix: random_prefix(),
                next: HashMap::new(),
            }),
        }
    }
}

impl NonceIssuer {
    /// The next nonce for `account`.
    pub fn next(&self, account: Felt) -> Felt {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.next.len() >= MAX_ACCOUNTS && !state.next.contains_key(&account) {
            state.next.clear();
            state.prefix = random_prefix();
        }
        let prefix = state.prefix;
        let counter = state.next.entry(account).or_insert(0);
        let nonce = prefix + Felt::from(*counter);
        *counter += 1;
        nonce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session account's nonce slot: `nonce / 128` (issued nonces are below 2^128).
    fn slot(nonce: Felt) -> u128 {
        u128::try_from(nonce).expect("below 2^128") / 128
    }

    #[test]
    fn nonces_are_consecutive_per_account_and_share_a_slot() {
        let issuer = NonceIssuer::default();
        let (a, b) = (Felt::from(0xau8), Felt::from(0xbu8));
        let first = issuer.next(a);
        assert_eq!(issuer.next(b), first, "each account counts on its own");
        let rest: Vec<Felt> = (1..128).map(|_| issuer.next(a)).collect();
        for (i, nonce) in rest.iter().enumerate() {
            assert_eq!(*nonce, first + Felt::from(i as u64 + 1));
            assert_eq!(
                slot(*nonce),
                slot(first),
                "128 consecutive nonces share a slot"
            );
        }
        assert_ne!(
            slot(issuer.next(a)),
            slot(first),
            "the 129th starts the next slot"
        );
    }

    #[test]
    fn two_issuers_do_not_share_nonces() {
        let account = Felt::from(0xau8);
        assert_ne!(
            NonceIssuer::default().next(account),
            NonceIssuer::default().next(account)
        );
    }
}
