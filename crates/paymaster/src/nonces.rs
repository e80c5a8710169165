//! The SNIP-9 nonces `buildTransaction` puts in the outside executions it builds: consecutive
//! per account, under a prefix drawn when the paymaster starts.
//!
//! The session account keeps used nonces as a bitmap, 128 to a word, and keeps its latest word
//! (the hot word, for nonces below 2^80) in a slot it reads and writes anyway: consecutive
//! nonces cost no storage access of their own, and a new storage slot (402 000 L2 gas on
//! Starknet 0.14) once per 128 executions at most, where random nonces would pay both every
//! time. The hot word only moves forward, so prefixes grow with time: the start time in seconds,
//! then 16 random bits that keep instances started in the same second apart, then a 32-bit
//! counter per account — below 2^79. A nonce used anyway (another paymaster, a client's own
//! choice) is refused by the build's simulation, never executed twice.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;
use stark_sessions_abi::Felt;

/// Accounts tracked before the counters start over (under a new prefix).
const MAX_ACCOUNTS: usize = 100_000;
/// Nonces per account under one prefix (the counter's 32 bits).
const COUNTER_LIMIT: u64 = 1 << 32;

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

/// `(unix seconds << 16 | 16 random bits) << 32`: larger at every later start, and a multiple
/// of 2^32, so that each account's first nonce starts a word.
fn random_prefix() -> Felt {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        & 0x7fff_ffff;
    let high = (seconds << 16) | u64::from(rand::thread_rng().gen::<u16>());
    Felt::from(high) * Felt::TWO.pow(32u8)
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
        let full = state.next.len() >= MAX_ACCOUNTS && !state.next.contains_key(&account);
        let spent = state.next.get(&account) == Some(&COUNTER_LIMIT);
        if full || spent {
            // Start over on another prefix: nonces issued under the old one are never repeated.
            let old = state.prefix;
            state.next.clear();
            while state.prefix == old {
                state.prefix = random_prefix();
            }
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
    fn nonces_stay_below_the_hot_word_limit_and_grow_with_time() {
        let nonce = NonceIssuer::default().next(Felt::ONE);
        assert!(
            nonce < Felt::TWO.pow(87u8),
            "{nonce:#x} would not use the hot word"
        );
        // Seconds are in the bits above 48: a later start issues larger nonces.
        let seconds = u128::try_from(nonce).expect("small") >> 48;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        assert!(now.abs_diff(seconds as u64) <= 1);
    }
}
