//! The store test suite, run on every backend: each function takes a [`Fixture`] (a fresh,
//! empty database) and [`store_suite!`] makes one `#[test]` per function for a backend.

use std::sync::{Arc, Barrier};

use super::*;
use crate::lifecycle::{ExecutionState, TxState};

const DAY: u64 = 20_000;

/// A fresh, empty database of one backend.
pub(super) trait Fixture {
    /// Its store.
    fn store(&self) -> &dyn Store;
    /// Another handle on the same database, as a second instance (or a restart) would open.
    fn reopen(&self) -> Box<dyn Store>;
}

/// One `#[test]` per suite function, each on a fresh fixture from `$fresh()`
/// (`Option<impl Fixture>`; `None` skips the test, the fixture having said why).
macro_rules! store_suite {
    ($fresh:expr) => {
        store_suite!(@tests $fresh;
            one_outside_execution_is_claimed_once_and_a_refused_one_may_be_claimed_again,
            reservations_never_exceed_the_budget_and_settle_to_the_actual_fee,
            a_reservation_resized_after_midnight_moves_from_its_old_day_to_the_new,
            a_signed_transaction_links_reservations_and_is_booked_once,
            a_reverted_bundle_is_charged_and_its_items_queued_alone,
            a_dropped_transaction_is_requeued_once_and_released,
            records_survive_reopening_the_database,
            keys_and_tokens_are_stored_replaced_and_revoked,
            two_instances_racing_reservations_never_overspend,
            one_execution_claimed_from_two_instances_is_claimed_once,
            one_transaction_settled_or_dropped_from_two_instances_is_booked_once,
            a_relayer_lease_is_held_by_one_instance_until_it_expires_or_is_released,
            two_instances_racing_for_an_expired_lease_one_takes_it,
            waiting_executions_of_a_dead_instance_are_adopted_once,
            requests_are_counted_per_key_and_minute_across_instances,
            a_key_is_created_once_listed_disabled_enabled_rotated_and_revoked_for_good,
            a_tokens_limits_hold_and_its_usage_follows_reservations_charges_and_releases,
            two_instances_racing_through_one_token_never_exceed_its_limits,
            requests_through_a_token_are_counted_apart_from_its_key,
            a_subject_is_bound_to_the_accounts_of_its_first_binding_for_good,
            a_slot_holds_one_live_token_until_it_expires_or_is_revoked,
            two_instances_racing_for_one_slot_mint_one_token,
            usage_by_day_lists_each_keys_used_days_in_the_range,
            tries_are_counted_for_queued_executions_and_survive_reopening,
        );
    };
    (@tests $fresh:expr; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(fixture) = $fresh() {
                    $crate::store::tests::$name(&fixture);
                }
            }
        )+
    };
}
pub(super) use store_suite;

fn new_execution(id: u64, nonce: u64) -> NewExecution {
    NewExecution {
        id: Felt::from(id),
        user_address: Felt::from(0xacc0u32),
        outside_nonce: Felt::from(nonce),
        api_key_id: "k".into(),
        token_id: None,
        calls: vec![Felt::ONE, Felt::TWO],
        fee: None,
        owner: "a".into(),
    }
}

fn reservation(id: u64, attempt: u32, amount: u128, budget: u128) -> Reservation {
    Reservation {
        tracking_id: Felt::from(id),
        attempt,
        api_key_id: "k".into(),
        token_id: None,
        day: DAY,
        amount,
        budget,
    }
}

fn tx(hash: u64, nonce: u64, items: &[(u64, u32)]) -> TxRecord {
    TxRecord {
        hash: Felt::from(hash),
        relayer: Felt::from(0x4e1u32),
        nonce: Felt::from(nonce),
        request: "{}".into(),
        items: items
            .iter()
            .map(|&(id, attempt)| TxItem {
                tracking_id: Felt::from(id),
                attempt,
            })
            .collect(),
        max_fee: 100,
        state: TxState::Signed,
        actual_fee: None,
        reason: None,
        sent_at: 0,
    }
}

fn state(store: &dyn Store, id: u64) -> ExecutionState {
    store
        .execution(Felt::from(id))
        .expect("read")
        .expect("exists")
        .state
}

/// Claims, queues and reserves `amount` for each id (attempt 1).
fn queued(store: &dyn Store, ids: &[u64], amount: u128) {
    for &id in ids {
        assert_eq!(
            store
                .claim_execution(&new_execution(id, id), 1)
                .expect("claim"),
            Claim::Claimed
        );
        store.mark_queued(Felt::from(id), "a", 1).expect("queue");
        assert!(store
            .reserve(&reservation(id, 1, amount, u128::MAX))
            .expect("reserve")
            .is_granted());
    }
}

pub(super) fn one_outside_execution_is_claimed_once_and_a_refused_one_may_be_claimed_again(
    f: &dyn Fixture,
) {
    let store = f.store();
    assert_eq!(
        store
            .claim_execution(&new_execution(1, 7), 1)
            .expect("claim"),
        Claim::Claimed
    );
    match store
        .claim_execution(&new_execution(2, 7), 1)
        .expect("claim")
    {
        Claim::Existing(existing) => assert_eq!(existing.id, Felt::ONE),
        Claim::Claimed => panic!("claimed twice"),
    }
    assert!(store.fail_execution(Felt::ONE, "refused", 2).expect("fail"));
    assert_eq!(
        store
            .claim_execution(&new_execution(3, 7), 3)
            .expect("claim"),
        Claim::Claimed
    );
    assert!(store.execution(Felt::ONE).expect("read").is_none());
    assert_eq!(state(store, 3), ExecutionState::Accepted);
}

pub(super) fn reservations_never_exceed_the_budget_and_settle_to_the_actual_fee(f: &dyn Fixture) {
    let store = f.store();
    assert!(store
        .reserve(&reservation(1, 1, 60, 100))
        .expect("r")
        .is_granted());
    assert!(!store
        .reserve(&reservation(2, 1, 60, 100))
        .expect("r")
        .is_granted());
    // Re-sizing one's own reservation does not count it twice.
    assert!(store
        .reserve(&reservation(1, 1, 90, 100))
        .expect("r")
        .is_granted());
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 90);
    assert!(store
        .reserve(&reservation(1, 1, 40, 100))
        .expect("r")
        .is_granted());
    assert!(store
        .reserve(&reservation(2, 1, 60, 100))
        .expect("r")
        .is_granted());
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 100);
    store.release_unlinked(&[Felt::TWO]).expect("release");
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 40);
    assert_eq!(store.ledger(true).expect("pending").len(), 1);
}

pub(super) fn a_reservation_resized_after_midnight_moves_from_its_old_day_to_the_new(
    f: &dyn Fixture,
) {
    let store = f.store();
    let on = |day: u64, id: u64, amount: u128| Reservation {
        day,
        ..reservation(id, 1, amount, 100)
    };
    let spent = |day| store.spent_on("k", day).expect("spent");
    assert!(store.reserve(&on(DAY, 1, 60)).expect("r").is_granted());
    assert!(store.reserve(&on(DAY + 1, 2, 50)).expect("r").is_granted());
    // Execution 1's reservation is re-sized the next day: it leaves yesterday's usage whole
    // and weighs on today's besides execution 2's.
    assert!(store.reserve(&on(DAY + 1, 1, 40)).expect("r").is_granted());
    assert_eq!((spent(DAY), spent(DAY + 1)), (0, 90));
    assert_eq!(
        store.reserve(&on(DAY + 1, 3, 11)).expect("r"),
        ReserveOutcome::OverKeyBudget,
        "today holds 90 of 100"
    );
    assert!(store.reserve(&on(DAY + 1, 3, 10)).expect("r").is_granted());
    // Re-sized again the same day: counted once.
    assert!(store.reserve(&on(DAY + 1, 1, 30)).expect("r").is_granted());
    assert_eq!((spent(DAY), spent(DAY + 1)), (0, 90));
    let days: Vec<u64> = store
        .ledger(false)
        .expect("ledger")
        .iter()
        .map(|e| e.day)
        .collect();
    assert_eq!(days, [DAY + 1; 3]);
    store.release_unlinked(&[Felt::ONE]).expect("release");
    assert_eq!((spent(DAY), spent(DAY + 1)), (0, 60));
}

pub(super) fn a_signed_transaction_links_reservations_and_is_booked_once(f: &dyn Fixture) {
    let store = f.store();
    queued(store, &[1, 2], 50);
    store
        .record_signed(&tx(0xa, 0, &[(1, 1), (2, 1)]))
        .expect("signed");
    assert_eq!(state(store, 1), ExecutionState::Signed);
    // An execution in a live transaction cannot be signed into another.
    assert!(store.record_signed(&tx(0xb, 1, &[(1, 1)])).is_err());
    assert!(store
        .transaction(Felt::from(0xbu8))
        .expect("read")
        .is_none());

    store.mark_sent(Felt::from(0xau8), 5).expect("sent");
    assert_eq!(state(store, 2), ExecutionState::Sent);
    store
        .record_outcome(Felt::from(0xau8), true, 30, None)
        .expect("outcome");
    assert_eq!(state(store, 1), ExecutionState::Included);
    let charges = [(Felt::ONE, 20), (Felt::TWO, 10)];
    let first = store
        .settle_transaction(Felt::from(0xau8), &charges, false)
        .expect("settle");
    assert!(first.booked && first.requeued.is_empty());
    let again = store
        .settle_transaction(Felt::from(0xau8), &charges, false)
        .expect("settle");
    assert!(!again.booked, "booked twice");
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 30);
    assert!(store.ledger(true).expect("pending").is_empty());
    assert_eq!(state(store, 1), ExecutionState::Settled);
    let tx = store
        .transaction(Felt::from(0xau8))
        .expect("read")
        .expect("tx");
    assert_eq!(
        (tx.state, tx.actual_fee, tx.items.len()),
        (TxState::Settled, Some(30), 2)
    );
}

pub(super) fn a_reverted_bundle_is_charged_and_its_items_queued_alone(f: &dyn Fixture) {
    let store = f.store();
    queued(store, &[1, 2], 50);
    store
        .record_signed(&tx(0xa, 0, &[(1, 1), (2, 1)]))
        .expect("signed");
    store
        .record_outcome(Felt::from(0xau8), false, 40, Some("boom"))
        .expect("outcome");
    let settled = store
        .settle_transaction(Felt::from(0xau8), &[(Felt::ONE, 20), (Felt::TWO, 20)], true)
        .expect("settle");
    assert_eq!(settled.requeued, vec![Felt::ONE, Felt::TWO]);
    let record = store.execution(Felt::ONE).expect("read").expect("exists");
    assert_eq!(
        (record.state, record.alone, record.attempts),
        (ExecutionState::Queued, true, 1)
    );
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 40);
}

pub(super) fn a_dropped_transaction_is_requeued_once_and_released(f: &dyn Fixture) {
    let store = f.store();
    queued(store, &[1], 50);
    store.record_signed(&tx(0xa, 0, &[(1, 1)])).expect("signed");
    store.mark_sent(Felt::from(0xau8), 5).expect("sent");
    let requeued = store
        .drop_transaction(Felt::from(0xau8), "nonce used", true, 3)
        .expect("drop");
    assert_eq!(requeued, vec![Felt::ONE]);
    assert!(
        store
            .drop_transaction(Felt::from(0xau8), "nonce used", true, 3)
            .expect("drop")
            .is_empty(),
        "dropped twice"
    );
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 0);
    let record = store.execution(Felt::ONE).expect("read").expect("exists");
    assert_eq!(
        (record.state, record.resubmissions),
        (ExecutionState::Queued, 1)
    );
    // Beyond the limit it is dropped for good.
    assert!(store
        .reserve(&reservation(1, 2, 50, u128::MAX))
        .expect("reserve")
        .is_granted());
    store.record_signed(&tx(0xb, 1, &[(1, 2)])).expect("signed");
    assert!(store
        .drop_transaction(Felt::from(0xbu8), "nonce used", true, 1)
        .expect("drop")
        .is_empty());
    assert_eq!(state(store, 1), ExecutionState::Dropped);
    assert!(store.ledger(true).expect("pending").is_empty());
}

pub(super) fn records_survive_reopening_the_database(f: &dyn Fixture) {
    queued(f.store(), &[1], 50);
    f.store()
        .record_signed(&tx(0xa, 4, &[(1, 1)]))
        .expect("signed");
    let store = f.reopen();
    let live = store.transactions_in(&[TxState::Signed]).expect("read");
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].nonce, live[0].items[0].tracking_id),
        (Felt::from(4u8), Felt::ONE)
    );
    assert_eq!(
        store
            .executions_in(&[ExecutionState::Signed])
            .expect("read")[0]
            .latest_hash,
        Some(Felt::from(0xau8))
    );
}

pub(super) fn keys_and_tokens_are_stored_replaced_and_revoked(f: &dyn Fixture) {
    let store = f.store();
    let mut key = ApiKeyRecord {
        id: "game".into(),
        name: "Game".into(),
        key_hash: [7; 32],
        daily_budget_fri: u128::MAX,
        requests_per_minute: 60,
        allowed_targets: Some(vec![Felt::ONE, Felt::from(0xabcu32)]),
        status: KeyStatus::Active,
    };
    store.put_api_key(&key).expect("put");
    assert_eq!(store.api_key("game").expect("read"), Some(key.clone()));
    key.key_hash = [8; 32];
    key.allowed_targets = None;
    store.put_api_key(&key).expect("replace");
    assert_eq!(store.api_key_by_hash(&[8; 32]).expect("read"), Some(key));
    assert_eq!(store.api_key_by_hash(&[7; 32]).expect("read"), None);

    let token = ClientTokenRecord {
        id: "t1".into(),
        api_key_id: "game".into(),
        client_id: "web".into(),
        secret_hash: [9; 32],
        user_addresses: Some(vec![Felt::TWO]),
        expires_at: 1_900_000_000,
        revoked: false,
        limits: TokenLimits {
            requests_per_minute: Some(5),
            max_fee_fri: Some(u128::MAX),
            max_executions: Some(7),
        },
        usage: TokenUsage::default(),
    };
    store.put_client_token(&token).expect("put");
    assert_eq!(store.client_token("t1").expect("read"), Some(token));
    assert!(!store.revoke_client_token("t1", "other").expect("revoke"));
    assert!(store.revoke_client_token("t1", "game").expect("revoke"));
    assert!(
        store
            .client_token("t1")
            .expect("read")
            .expect("exists")
            .revoked
    );
    assert!(!store.revoke_client_token("t2", "game").expect("revoke"));
}

/// Threads per store handle in the races below.
const RACERS: u64 = 4;

/// Runs `work(handle, thread index, barrier)` on `RACERS` threads for each of two handles on
/// one database; the barrier holds every racer.
fn race<T: Send + 'static>(
    f: &dyn Fixture,
    work: impl Fn(&dyn Store, u64, &Barrier) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let handles: [Arc<dyn Store>; 2] = [Arc::from(f.reopen()), Arc::from(f.reopen())];
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new((2 * RACERS) as usize));
    let threads: Vec<_> = (0..2 * RACERS)
        .map(|i| {
            let store = handles[(i % 2) as usize].clone();
            let (work, barrier) = (work.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                work(store.as_ref(), i, &barrier)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("racer panicked"))
        .collect()
}

/// The day's usage equals what its ledger entries weigh (charged, else reserved).
fn assert_usage_matches_ledger(store: &dyn Store) {
    let weight: u128 = store
        .ledger(false)
        .expect("ledger")
        .iter()
        .filter(|e| e.api_key_id == "k" && e.day == DAY)
        .map(|e| e.charged_fri.unwrap_or(e.reserved_fri))
        .sum();
    assert_eq!(store.spent_on("k", DAY).expect("spent"), weight);
}

pub(super) fn two_instances_racing_reservations_never_overspend(f: &dyn Fixture) {
    const BUDGET: u128 = 1_000;
    const AMOUNT: u128 = 7;
    const TRIES: u64 = 40;
    let held = race(f, |store, thread, _| {
        // What this racer holds, by tracking id.
        let mut held = std::collections::HashMap::new();
        let mut refused = 0;
        for n in 0..TRIES {
            let id = thread * 1_000 + n;
            // Every fifth try first re-sizes the previous reservation; every third gives one
            // back.
            if n % 5 == 4
                && store
                    .reserve(&reservation(id - 1, 1, 2 * AMOUNT, BUDGET))
                    .expect("r")
                    .is_granted()
            {
                held.insert(id - 1, 2 * AMOUNT);
            }
            if store
                .reserve(&reservation(id, 1, AMOUNT, BUDGET))
                .expect("reserve")
                .is_granted()
            {
                held.insert(id, AMOUNT);
            } else {
                refused += 1;
            }
            if n % 3 == 2 {
                store.release_unlinked(&[Felt::from(id)]).expect("release");
                held.remove(&id);
            }
            assert!(
                store.spent_on("k", DAY).expect("spent") <= BUDGET,
                "overspent"
            );
        }
        (held.values().sum::<u128>(), refused)
    });
    let store = f.store();
    let spent = store.spent_on("k", DAY).expect("spent");
    assert!(spent <= BUDGET, "overspent: {spent}");
    assert_eq!(
        spent,
        held.iter().map(|h| h.0).sum::<u128>(),
        "every grant counted once"
    );
    assert_usage_matches_ledger(store);
    // The budget was contended: the races were real.
    assert!(
        held.iter().map(|h| h.1).sum::<u32>() > 0,
        "nothing was refused"
    );
}

pub(super) fn one_execution_claimed_from_two_instances_is_claimed_once(f: &dyn Fixture) {
    const NONCES: u64 = 20;
    // Every racer claims each nonce (with an id of its own) at once; then each winner fails
    // its claim and everyone claims the nonce again. One winner per nonce and round.
    let wins = race(f, |store, thread, barrier| {
        let mut won = Vec::new();
        for nonce in 0..NONCES {
            for round in 0..2u64 {
                let id = (thread + 1) * 10_000 + round * 1_000 + nonce;
                barrier.wait();
                let claim = store
                    .claim_execution(&new_execution(id, nonce), 1)
                    .expect("claim");
                if claim == Claim::Claimed {
                    won.push((nonce, round));
                }
                barrier.wait();
                if claim == Claim::Claimed && round == 0 {
                    assert!(store
                        .fail_execution(Felt::from(id), "refused", 2)
                        .expect("fail"));
                }
            }
        }
        won
    });
    let mut wins: Vec<(u64, u64)> = wins.into_iter().flatten().collect();
    wins.sort_unstable();
    let expected: Vec<(u64, u64)> = (0..NONCES).flat_map(|n| [(n, 0), (n, 1)]).collect();
    assert_eq!(wins, expected);
    let live = f
        .store()
        .executions_in(&[ExecutionState::Accepted])
        .expect("read");
    assert_eq!(live.len() as u64, NONCES, "one live execution per nonce");
}

pub(super) fn one_transaction_settled_or_dropped_from_two_instances_is_booked_once(
    f: &dyn Fixture,
) {
    let store = f.store();
    let ids: Vec<u64> = (1..=8).collect();
    queued(store, &ids, 50);
    for (n, pair) in ids.chunks(2).enumerate() {
        let n = n as u64;
        let items: Vec<(u64, u32)> = pair.iter().map(|&id| (id, 1)).collect();
        store
            .record_signed(&tx(0x100 + n, n, &items))
            .expect("signed");
        store.mark_sent(Felt::from(0x100 + n), 5).expect("sent");
        if n % 2 == 0 {
            store
                .record_outcome(Felt::from(0x100 + n), true, 30, None)
                .expect("outcome");
        }
    }
    // Included transactions are settled by everyone at once; sent ones dropped alike.
    let outcomes = race(f, |store, _, _| {
        let mut booked = 0;
        let mut requeued = 0;
        for n in 0..4u64 {
            let hash = Felt::from(0x100 + n);
            if n % 2 == 0 {
                let charges = [(Felt::from(2 * n + 1), 10), (Felt::from(2 * n + 2), 20)];
                booked += usize::from(
                    store
                        .settle_transaction(hash, &charges, false)
                        .expect("settle")
                        .booked,
                );
            } else {
                requeued += store
                    .drop_transaction(hash, "gone", true, 3)
                    .expect("drop")
                    .len();
            }
        }
        (booked, requeued)
    });
    let booked: usize = outcomes.iter().map(|o| o.0).sum();
    let requeued: usize = outcomes.iter().map(|o| o.1).sum();
    assert_eq!((booked, requeued), (2, 4));
    // Two transactions charged 30 each; the dropped ones' reservations released.
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 60);
    assert_usage_matches_ledger(store);
    assert_eq!(state(store, 3), ExecutionState::Queued);
    assert_eq!(state(store, 1), ExecutionState::Settled);
}

pub(super) fn a_relayer_lease_is_held_by_one_instance_until_it_expires_or_is_released(
    f: &dyn Fixture,
) {
    let store = f.store();
    let relayer = Felt::from(0x4e1u32);
    let lease = store
        .acquire_lease(relayer, "a", 1_000, 300)
        .expect("lease");
    assert_eq!((lease.holder.as_str(), lease.expires_at_ms), ("a", 1_300));
    // Another instance is refused while it runs; its holder renews it.
    assert_eq!(
        store
            .acquire_lease(relayer, "b", 1_299, 300)
            .expect("lease")
            .holder,
        "a"
    );
    let renewed = store
        .acquire_lease(relayer, "a", 1_200, 300)
        .expect("lease");
    assert_eq!(renewed.expires_at_ms, 1_500);
    // Expired, it is taken over.
    assert_eq!(
        store
            .acquire_lease(relayer, "b", 1_500, 300)
            .expect("lease")
            .holder,
        "b"
    );
    assert_eq!(
        store
            .acquire_lease(relayer, "a", 1_600, 300)
            .expect("lease")
            .holder,
        "b"
    );
    // Released, it is free at once; releasing another's lease does nothing.
    store.release_lease(relayer, "a").expect("release");
    assert_eq!(store.leases().expect("leases")[0].holder, "b");
    store.release_lease(relayer, "b").expect("release");
    assert!(store.leases().expect("leases").is_empty());
    assert_eq!(
        store
            .acquire_lease(relayer, "a", 1_601, 300)
            .expect("lease")
            .holder,
        "a"
    );
    store.end_instance("a").expect("end");
    assert!(store.leases().expect("leases").is_empty());
}

pub(super) fn two_instances_racing_for_an_expired_lease_one_takes_it(f: &dyn Fixture) {
    const RELAYERS: u64 = 10;
    for r in 0..RELAYERS {
        f.store()
            .acquire_lease(Felt::from(r), "dead", 0, 100)
            .expect("lease");
    }
    let taken = race(f, |store, thread, _| {
        let me = format!("i{thread}");
        (0..RELAYERS)
            .filter(|&r| {
                store
                    .acquire_lease(Felt::from(r), &me, 1_000, 5_000)
                    .expect("lease")
                    .holder
                    == me
            })
            .count()
    });
    assert_eq!(taken.iter().sum::<usize>(), RELAYERS as usize, "{taken:?}");
}

pub(super) fn waiting_executions_of_a_dead_instance_are_adopted_once(f: &dyn Fixture) {
    let store = f.store();
    store.heartbeat("a", 1_000, 500).expect("alive");
    assert_eq!(store.heartbeat("b", 1_000, 500).expect("alive"), ["a", "b"]);
    queued(store, &[1, 2], 50);
    assert_eq!(
        store
            .claim_execution(&new_execution(3, 3), 1)
            .expect("claim"),
        Claim::Claimed
    );
    // Held by a live instance: nobody adopts them.
    assert!(store
        .adopt_waiting("b", 1_200, false)
        .expect("adopt")
        .is_empty());
    // "a" stops renewing; once it is no longer alive its waiting executions, and the one that
    // nobody held, go to "b", queued, their unlinked reservations released.
    assert_eq!(store.heartbeat("b", 1_600, 500).expect("alive"), ["b"]);
    let adopted: Vec<Felt> = race(f, |store, _, _| {
        store
            .adopt_waiting("b", 1_700, false)
            .expect("adopt")
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let mut sorted = adopted.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [Felt::ONE, Felt::TWO, Felt::THREE],
        "adopted once each"
    );
    assert_eq!(state(store, 3), ExecutionState::Queued);
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 0);
    // "b" is alive: nobody else takes them; "b" starting again under its id takes them back.
    assert!(store
        .adopt_waiting("z", 1_700, false)
        .expect("adopt")
        .is_empty());
    assert_eq!(
        store.adopt_waiting("b", 1_700, true).expect("adopt").len(),
        3
    );
}

pub(super) fn requests_are_counted_per_key_and_minute_across_instances(f: &dyn Fixture) {
    const LIMIT: u32 = 37;
    let counted = race(f, |store, _, _| {
        (0..10)
            .filter(|_| store.count_request("k", 100, LIMIT).expect("count"))
            .count()
    });
    assert_eq!(counted.iter().sum::<usize>(), LIMIT as usize);
    let store = f.store();
    assert!(store.count_request("other", 100, 1).expect("count"));
    assert!(!store.count_request("other", 100, 1).expect("count"));
    assert!(store.count_request("k", 101, LIMIT).expect("next minute"));
    assert!(!store
        .count_request("k", 101, 0)
        .expect("no requests allowed"));
}

fn api_key(id: &str, hash: u8, budget: u128) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        name: format!("{id} name"),
        key_hash: [hash; 32],
        daily_budget_fri: budget,
        requests_per_minute: 60,
        allowed_targets: None,
        status: KeyStatus::Active,
    }
}

pub(super) fn a_key_is_created_once_listed_disabled_enabled_rotated_and_revoked_for_good(
    f: &dyn Fixture,
) {
    let store = f.store();
    assert!(store
        .create_api_key(&api_key("k", 1, 1_000))
        .expect("create"));
    assert!(!store.create_api_key(&api_key("k", 2, 5)).expect("same id"));
    assert!(!store
        .create_api_key(&api_key("other", 1, 5))
        .expect("same hash"));
    assert!(store.create_api_key(&api_key("a", 3, 5)).expect("create"));
    assert!(store
        .reserve(&reservation(1, 1, 100, 1_000))
        .expect("reserve")
        .is_granted());
    let listed = store.list_api_keys(DAY).expect("list");
    let ids: Vec<&str> = listed.iter().map(|l| l.key.id.as_str()).collect();
    assert_eq!(ids, ["a", "k"]);
    assert_eq!(
        (listed[1].used_fri, listed[1].rotated_at, listed[0].used_fri),
        (100, None, 0)
    );
    assert_eq!(listed[1].key, api_key("k", 1, 1_000));

    let status = |id| store.api_key(id).expect("read").expect("key").status;
    assert!(store
        .set_api_key_status("k", KeyStatus::Disabled)
        .expect("disable"));
    assert_eq!(status("k"), KeyStatus::Disabled);
    // Keys reloaded from the configuration keep their status.
    store.put_api_key(&api_key("k", 1, 2_000)).expect("reload");
    assert_eq!(status("k"), KeyStatus::Disabled);
    assert!(store
        .set_api_key_status("k", KeyStatus::Active)
        .expect("enable"));

    // A new secret: the old hash finds nothing, the new one the same key, budget and usage.
    assert!(store.rotate_api_key("k", &[9; 32], 1_234).expect("rotate"));
    assert_eq!(store.api_key_by_hash(&[1; 32]).expect("read"), None);
    let rotated = store.api_key_by_hash(&[9; 32]).expect("read").expect("key");
    assert_eq!(
        (rotated.id.as_str(), rotated.daily_budget_fri),
        ("k", 2_000)
    );
    let listed = store.list_api_keys(DAY).expect("list");
    assert_eq!(
        (listed[1].used_fri, listed[1].rotated_at),
        (100, Some(1_234))
    );
    assert_eq!(store.ledger(false).expect("ledger")[0].api_key_id, "k");

    assert!(store
        .set_api_key_status("k", KeyStatus::Revoked)
        .expect("revoke"));
    assert!(!store
        .set_api_key_status("k", KeyStatus::Active)
        .expect("revoked for good"));
    assert!(!store
        .rotate_api_key("k", &[8; 32], 1_300)
        .expect("no rotation"));
    assert_eq!(status("k"), KeyStatus::Revoked);
    assert!(!store
        .set_api_key_status("missing", KeyStatus::Disabled)
        .expect("no key"));
    assert!(!store
        .rotate_api_key("missing", &[7; 32], 1)
        .expect("no key"));
}

/// A token `id` of key `k` with these limits.
fn put_token(store: &dyn Store, id: &str, max_fee_fri: Option<u128>, max_executions: Option<u64>) {
    store
        .put_client_token(&ClientTokenRecord {
            id: id.into(),
            api_key_id: "k".into(),
            client_id: format!("client of {id}"),
            secret_hash: [0; 32],
            user_addresses: None,
            expires_at: u64::MAX / 2,
            revoked: false,
            limits: TokenLimits {
                requests_per_minute: None,
                max_fee_fri,
                max_executions,
            },
            usage: TokenUsage::default(),
        })
        .expect("token");
}

/// A reservation of `amount` for `(id, attempt)` through `token` (the key's budget is ample).
fn through(token: &str, id: u64, attempt: u32, amount: u128) -> Reservation {
    Reservation {
        token_id: Some(token.into()),
        ..reservation(id, attempt, amount, u128::MAX)
    }
}

fn usage_of(store: &dyn Store, token: &str) -> (u128, u64) {
    let usage = store
        .client_token(token)
        .expect("read")
        .expect("token")
        .usage;
    (usage.fee_fri, usage.executions)
}

/// Claims and queues `id` (attempt 1 waits for a reservation).
fn claimed(store: &dyn Store, id: u64, token: &str) {
    let new = NewExecution {
        token_id: Some(token.into()),
        ..new_execution(id, id)
    };
    assert_eq!(
        store.claim_execution(&new, 1).expect("claim"),
        Claim::Claimed
    );
    store.mark_queued(Felt::from(id), "a", 1).expect("queue");
}

pub(super) fn a_tokens_limits_hold_and_its_usage_follows_reservations_charges_and_releases(
    f: &dyn Fixture,
) {
    let store = f.store();
    put_token(store, "t", Some(100), Some(2));
    put_token(store, "u", None, None);
    for id in 1..=5 {
        claimed(store, id, if id == 5 { "u" } else { "t" });
    }
    let reserve = |r: Reservation| store.reserve(&r).expect("reserve");
    assert!(reserve(through("t", 1, 1, 60)).is_granted());
    // Re-sizing its own reservation counts the new size, and the execution once.
    assert!(reserve(through("t", 1, 1, 80)).is_granted());
    assert_eq!(usage_of(store, "t"), (80, 1));
    assert_eq!(
        reserve(through("t", 2, 1, 21)),
        ReserveOutcome::OverTokenFee(100)
    );
    assert_eq!(usage_of(store, "t"), (80, 1), "a refusal books nothing");
    assert!(reserve(through("t", 2, 1, 20)).is_granted());
    assert_eq!(usage_of(store, "t"), (100, 2));
    // A released execution no longer counts.
    store.release_unlinked(&[Felt::TWO]).expect("release");
    assert_eq!(usage_of(store, "t"), (80, 1));
    assert!(reserve(through("t", 3, 1, 10)).is_granted());
    assert_eq!(
        reserve(through("t", 4, 1, 1)),
        ReserveOutcome::OverTokenExecutions(2)
    );
    // Another token of the same key is untouched.
    assert!(reserve(through("u", 5, 1, 500)).is_granted());
    assert_eq!(
        (usage_of(store, "t"), usage_of(store, "u")),
        ((90, 2), (500, 1))
    );
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 590);

    // Charged: the token weighs the charge; a dropped transaction gives its share back.
    store.record_signed(&tx(0xa, 0, &[(1, 1)])).expect("signed");
    store.record_signed(&tx(0xb, 1, &[(3, 1)])).expect("signed");
    store
        .record_outcome(Felt::from(0xau8), true, 50, None)
        .expect("outcome");
    store
        .settle_transaction(Felt::from(0xau8), &[(Felt::ONE, 50)], false)
        .expect("settle");
    assert_eq!(usage_of(store, "t"), (60, 2));
    store
        .drop_transaction(Felt::from(0xbu8), "gone", true, 3)
        .expect("drop");
    assert_eq!(usage_of(store, "t"), (50, 1));
    assert_usage_matches_ledger(store);

    // A revoked token reserves nothing, even for an execution accepted before.
    assert!(store.revoke_client_token("t", "k").expect("revoke"));
    assert_eq!(reserve(through("t", 3, 2, 1)), ReserveOutcome::TokenRevoked);
    assert_eq!(
        reserve(through("gone", 4, 1, 1)),
        ReserveOutcome::TokenRevoked
    );
}

pub(super) fn two_instances_racing_through_one_token_never_exceed_its_limits(f: &dyn Fixture) {
    const MAX_FEE: u128 = 500;
    const MAX_EXECUTIONS: u64 = 30;
    const AMOUNT: u128 = 7;
    put_token(f.store(), "t", Some(MAX_FEE), Some(MAX_EXECUTIONS));
    put_token(f.store(), "u", None, Some(1_000));
    // Even tries go through the limited token, odd ones through the other; every third try
    // gives its reservation back.
    let outcomes = race(f, |store, thread, _| {
        let (mut held, mut refused) = ([0u64; 2], [0u32; 2]);
        for n in 0..40 {
            let id = thread * 1_000 + n;
            let which = (n % 2) as usize;
            let token = ["t", "u"][which];
            match store
                .reserve(&through(token, id, 1, AMOUNT))
                .expect("reserve")
            {
                ReserveOutcome::Granted => held[which] += 1,
                ReserveOutcome::OverTokenFee(_) | ReserveOutcome::OverTokenExecutions(_) => {
                    refused[which] += 1
                }
                other => panic!("{other:?}"),
            }
            if n % 3 == 2 {
                store.release_unlinked(&[Felt::from(id)]).expect("release");
            }
            let (fee, executions) = usage_of(store, "t");
            assert!(
                fee <= MAX_FEE && executions <= MAX_EXECUTIONS,
                "over the limit"
            );
        }
        (held, refused)
    });
    let store = f.store();
    let ledger = store.ledger(false).expect("ledger");
    for (which, token) in ["t", "u"].into_iter().enumerate() {
        let entries: Vec<&LedgerEntry> = ledger
            .iter()
            .filter(|e| e.token_id.as_deref() == Some(token))
            .collect();
        let fee: u128 = entries.iter().map(|e| e.reserved_fri).sum();
        assert_eq!(
            usage_of(store, token),
            (fee, entries.len() as u64),
            "{token}: usage is what its ledger entries weigh"
        );
        let refused: u32 = outcomes.iter().map(|o| o.1[which]).sum();
        assert_eq!(refused > 0, token == "t", "{token}: refusals {refused}");
    }
    let (fee, executions) = usage_of(store, "t");
    assert!(fee <= MAX_FEE && executions <= MAX_EXECUTIONS);
    assert_usage_matches_ledger(store);
}

pub(super) fn requests_through_a_token_are_counted_apart_from_its_key(f: &dyn Fixture) {
    const LIMIT: u32 = 5;
    let counted = race(f, |store, _, _| {
        (0..3)
            .filter(|_| store.count_token_request("t", 100, LIMIT).expect("count"))
            .count()
    });
    assert_eq!(counted.iter().sum::<usize>(), LIMIT as usize);
    let store = f.store();
    // A key named like the token has a count of its own.
    assert!(store.count_request("t", 100, 1).expect("key"));
    assert!(store.count_token_request("u", 100, 1).expect("other token"));
    assert!(store
        .count_token_request("t", 101, LIMIT)
        .expect("next minute"));
}

fn binding(subject: &str, accounts: &[u64]) -> IdentityBinding {
    IdentityBinding {
        api_key_id: "k".into(),
        issuer: "https://idp.example/".into(),
        subject: subject.into(),
        user_addresses: accounts.iter().map(|&a| Felt::from(a)).collect(),
    }
}

pub(super) fn a_subject_is_bound_to_the_accounts_of_its_first_binding_for_good(f: &dyn Fixture) {
    let store = f.store();
    let felts = |a: &[u64]| a.iter().map(|&a| Felt::from(a)).collect::<Vec<_>>();
    let bind = |b: IdentityBinding| store.bind_identity(&b, 1).expect("bind");
    // Naming no account only looks: nothing is bound.
    assert_eq!(bind(binding("alice", &[])), felts(&[]));
    assert_eq!(bind(binding("alice", &[1, 2])), felts(&[1, 2]));
    assert_eq!(bind(binding("alice", &[])), felts(&[1, 2]));
    // Later bindings of the subject change nothing: they read the first.
    assert_eq!(bind(binding("alice", &[3])), felts(&[1, 2]));
    assert_eq!(
        f.reopen()
            .bind_identity(&binding("alice", &[4]), 2)
            .expect("bind"),
        felts(&[1, 2])
    );
    // Another subject, issuer or key has a binding of its own.
    assert_eq!(bind(binding("bob", &[3])), felts(&[3]));
    let other_issuer = IdentityBinding {
        issuer: "https://other.example/".into(),
        ..binding("alice", &[5])
    };
    assert_eq!(bind(other_issuer), felts(&[5]));
    let other_key = IdentityBinding {
        api_key_id: "k2".into(),
        ..binding("alice", &[6])
    };
    assert_eq!(bind(other_key), felts(&[6]));
}

/// A token `id` of key `k` expiring at `expires_at`.
fn slot_token(id: &str, expires_at: u64) -> ClientTokenRecord {
    ClientTokenRecord {
        id: id.into(),
        api_key_id: "k".into(),
        client_id: "alice".into(),
        secret_hash: [7; 32],
        user_addresses: Some(vec![Felt::ONE]),
        expires_at,
        revoked: false,
        limits: TokenLimits::default(),
        usage: TokenUsage::default(),
    }
}

pub(super) fn a_slot_holds_one_live_token_until_it_expires_or_is_revoked(f: &dyn Fixture) {
    let store = f.store();
    let put = |id: &str, expires_at: u64, now: u64| {
        store
            .put_slotted_client_token(&slot_token(id, expires_at), "alice", now)
            .expect("put")
    };
    assert_eq!(put("t1", 100, 10), SlotClaim::Minted);
    assert_eq!(put("t2", 200, 20), SlotClaim::Held { expires_at: 100 });
    assert!(
        store.client_token("t2").expect("read").is_none(),
        "nothing stored"
    );
    // Another slot is free.
    assert_eq!(
        store
            .put_slotted_client_token(&slot_token("u1", 100), "bob", 20)
            .expect("put"),
        SlotClaim::Minted
    );
    // Once the live token expires, the slot takes the next.
    assert_eq!(put("t3", 300, 100), SlotClaim::Minted);
    assert_eq!(put("t4", 400, 150), SlotClaim::Held { expires_at: 300 });
    // A revoked token frees its slot.
    assert!(store.revoke_client_token("t3", "k").expect("revoke"));
    assert_eq!(put("t5", 500, 160), SlotClaim::Minted);
    assert_eq!(
        f.reopen()
            .put_slotted_client_token(&slot_token("t6", 600), "alice", 170)
            .expect("put"),
        SlotClaim::Held { expires_at: 500 }
    );
    let stored = store.client_token("t5").expect("read").expect("t5");
    assert_eq!(stored, slot_token("t5", 500));
}

pub(super) fn two_instances_racing_for_one_slot_mint_one_token(f: &dyn Fixture) {
    let outcomes = race(f, |store, thread, _| {
        store
            .put_slotted_client_token(&slot_token(&format!("t{thread}"), 1_000), "alice", 10)
            .expect("put")
    });
    let minted = outcomes.iter().filter(|o| **o == SlotClaim::Minted).count();
    assert_eq!(minted, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, SlotClaim::Minted | SlotClaim::Held { expires_at: 1_000 })));
    let stored = (0..2 * RACERS)
        .filter(|i| {
            f.store()
                .client_token(&format!("t{i}"))
                .expect("read")
                .is_some()
        })
        .count();
    assert_eq!(stored, 1, "only the minted token is stored");
}

pub(super) fn usage_by_day_lists_each_keys_used_days_in_the_range(f: &dyn Fixture) {
    let store = f.store();
    let on = |key: &str, day: u64, id: u64, amount: u128| {
        let r = Reservation {
            api_key_id: key.into(),
            day,
            ..reservation(id, 1, amount, u128::MAX)
        };
        assert!(store.reserve(&r).expect("reserve").is_granted());
    };
    on("k", DAY - 1, 1, 5);
    on("k", DAY, 2, 7);
    on("k", DAY, 3, 8);
    on("k", DAY + 2, 4, 9);
    on("a", DAY + 1, 5, 11);
    on("k", DAY + 3, 6, 13);
    // Released to zero: no usage that day.
    on("a", DAY, 7, 17);
    store.release_unlinked(&[Felt::from(7u8)]).expect("release");
    let listed: Vec<(String, u64, u128)> = store
        .usage_by_day(DAY, DAY + 2)
        .expect("usage")
        .into_iter()
        .map(|u| (u.api_key_id, u.day, u.used_fri))
        .collect();
    assert_eq!(
        listed,
        [
            ("a".to_owned(), DAY + 1, 11),
            ("k".to_owned(), DAY, 15),
            ("k".to_owned(), DAY + 2, 9),
        ]
    );
    assert!(store
        .usage_by_day(DAY + 10, DAY + 20)
        .expect("usage")
        .is_empty());
}

pub(super) fn tries_are_counted_for_queued_executions_and_survive_reopening(f: &dyn Fixture) {
    let store = f.store();
    queued(store, &[1, 2], 50);
    store.record_signed(&tx(0xa, 0, &[(2, 1)])).expect("signed");
    let ids = [Felt::ONE, Felt::TWO, Felt::THREE];
    assert_eq!(
        store.count_tries(&ids).expect("count"),
        vec![(Felt::ONE, 1)],
        "only queued executions are tried"
    );
    assert_eq!(
        store.count_tries(&ids).expect("count"),
        vec![(Felt::ONE, 2)]
    );
    let reopened = f.reopen();
    let record = reopened
        .execution(Felt::ONE)
        .expect("read")
        .expect("exists");
    assert_eq!((record.state, record.tries), (ExecutionState::Queued, 2));
    let adopted = reopened.adopt_waiting("b", 1, false).expect("adopt");
    assert_eq!(
        adopted.iter().map(|r| (r.id, r.tries)).collect::<Vec<_>>(),
        vec![(Felt::ONE, 2)],
        "an adopted execution keeps its count"
    );
    // A refused execution claimed again starts afresh.
    assert!(reopened
        .fail_execution(Felt::ONE, "attempts exhausted", 2)
        .expect("fail"));
    let again = NewExecution {
        id: Felt::from(9u8),
        ..new_execution(1, 1)
    };
    assert_eq!(
        reopened.claim_execution(&again, 3).expect("claim"),
        Claim::Claimed
    );
    let record = reopened
        .execution(Felt::from(9u8))
        .expect("read")
        .expect("exists");
    assert_eq!(record.tries, 0);
}
