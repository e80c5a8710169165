use super::*;

const DAY: u64 = 20_000;

fn new_execution(id: u64, nonce: u64) -> NewExecution {
    NewExecution {
        id: Felt::from(id),
        user_address: Felt::from(0xacc0u32),
        outside_nonce: Felt::from(nonce),
        api_key_id: "k".into(),
        token_id: None,
        calls: vec![Felt::ONE, Felt::TWO],
        fee: None,
    }
}

fn reservation(id: u64, attempt: u32, amount: u128, budget: u128) -> Reservation {
    Reservation {
        tracking_id: Felt::from(id),
        attempt,
        api_key_id: "k".into(),
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

fn state(store: &SqliteStore, id: u64) -> ExecutionState {
    store
        .execution(Felt::from(id))
        .expect("read")
        .expect("exists")
        .state
}

/// Claims, queues and reserves `amount` for each id (attempt 1).
fn queued(store: &SqliteStore, ids: &[u64], amount: u128) {
    for &id in ids {
        assert_eq!(
            store
                .claim_execution(&new_execution(id, id), 1)
                .expect("claim"),
            Claim::Claimed
        );
        store.mark_queued(Felt::from(id), 1).expect("queue");
        assert!(store
            .reserve(&reservation(id, 1, amount, u128::MAX))
            .expect("reserve"));
    }
}

#[test]
fn one_outside_execution_is_claimed_once_and_a_refused_one_may_be_claimed_again() {
    let store = SqliteStore::in_memory().expect("store");
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
    assert_eq!(state(&store, 3), ExecutionState::Accepted);
}

#[test]
fn reservations_never_exceed_the_budget_and_settle_to_the_actual_fee() {
    let store = SqliteStore::in_memory().expect("store");
    assert!(store.reserve(&reservation(1, 1, 60, 100)).expect("r"));
    assert!(!store.reserve(&reservation(2, 1, 60, 100)).expect("r"));
    // Re-sizing one's own reservation does not count it twice.
    assert!(store.reserve(&reservation(1, 1, 90, 100)).expect("r"));
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 90);
    assert!(store.reserve(&reservation(1, 1, 40, 100)).expect("r"));
    assert!(store.reserve(&reservation(2, 1, 60, 100)).expect("r"));
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 100);
    store.release_unlinked(&[Felt::TWO]).expect("release");
    assert_eq!(store.spent_on("k", DAY).expect("spent"), 40);
    assert_eq!(store.ledger(true).expect("pending").len(), 1);
}

#[test]
fn a_signed_transaction_links_reservations_and_is_booked_once() {
    let store = SqliteStore::in_memory().expect("store");
    queued(&store, &[1, 2], 50);
    store
        .record_signed(&tx(0xa, 0, &[(1, 1), (2, 1)]))
        .expect("signed");
    assert_eq!(state(&store, 1), ExecutionState::Signed);
    // An execution in a live transaction cannot be signed into another.
    assert!(store.record_signed(&tx(0xb, 1, &[(1, 1)])).is_err());
    assert!(store
        .transaction(Felt::from(0xbu8))
        .expect("read")
        .is_none());

    store.mark_sent(Felt::from(0xau8), 5).expect("sent");
    assert_eq!(state(&store, 2), ExecutionState::Sent);
    store
        .record_outcome(Felt::from(0xau8), true, 30, None)
        .expect("outcome");
    assert_eq!(state(&store, 1), ExecutionState::Included);
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
    assert_eq!(state(&store, 1), ExecutionState::Settled);
    let tx = store
        .transaction(Felt::from(0xau8))
        .expect("read")
        .expect("tx");
    assert_eq!(
        (tx.state, tx.actual_fee, tx.items.len()),
        (TxState::Settled, Some(30), 2)
    );
}

#[test]
fn a_reverted_bundle_is_charged_and_its_items_queued_alone() {
    let store = SqliteStore::in_memory().expect("store");
    queued(&store, &[1, 2], 50);
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

#[test]
fn a_dropped_transaction_is_requeued_once_and_released() {
    let store = SqliteStore::in_memory().expect("store");
    queued(&store, &[1], 50);
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
        .expect("reserve"));
    store.record_signed(&tx(0xb, 1, &[(1, 2)])).expect("signed");
    assert!(store
        .drop_transaction(Felt::from(0xbu8), "nonce used", true, 1)
        .expect("drop")
        .is_empty());
    assert_eq!(state(&store, 1), ExecutionState::Dropped);
    assert!(store.ledger(true).expect("pending").is_empty());
}

#[test]
fn records_survive_reopening_the_database() {
    let dir = std::env::temp_dir().join(format!("pm-store-{}", rand::random::<u64>()));
    let path = dir.join("db.sqlite");
    {
        let store = SqliteStore::open(&path).expect("open");
        queued(&store, &[1], 50);
        store.record_signed(&tx(0xa, 4, &[(1, 1)])).expect("signed");
    }
    let store = SqliteStore::open(&path).expect("reopen");
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
    let _ = std::fs::remove_dir_all(dir);
}
