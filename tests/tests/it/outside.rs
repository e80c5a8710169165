//! SNIP-9 v2 checks: caller, time window, nonce, owner signature, atomicity.

use stark_sessions_abi::{snip12, ContractError};
use stark_sessions_tests::{address_of, sel, Fixture};
use starknet::core::types::{Call, Felt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_must_be_any_caller_zero_or_the_relayer() {
    let f = Fixture::new(21).await.expect("fixture");
    for caller in [snip12::ANY_CALLER, Felt::ZERO, address_of(&f.relayer)] {
        let mut outside = f.outside(vec![f.play(1)]).await.expect("outside");
        outside.caller = caller;
        let sig = f.owner_signature(&outside).expect("sign");
        f.relay(&outside, sig)
            .await
            .expect("sent")
            .receipt()
            .expect("accepted caller");
    }
    let mut outside = f.outside(vec![f.play(1)]).await.expect("outside");
    outside.caller = Felt::from(0x5eu8);
    let sig = f.owner_signature(&outside).expect("sign");
    assert_eq!(
        f.relay(&outside, sig).await.expect("sent").expect_error(),
        ContractError::OutsideInvalidCaller
    );
    assert_eq!(f.plays().await.expect("plays"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_window_is_exclusive_on_both_ends() {
    let f = Fixture::new(22).await.expect("fixture");
    let now = f.devnet.block_timestamp().await.expect("time");
    let mut early = f.outside(vec![f.play(1)]).await.expect("outside");
    early.execute_after = now;
    let sig = f.owner_signature(&early).expect("sign");
    assert_eq!(
        f.relay(&early, sig).await.expect("sent").expect_error(),
        ContractError::OutsideTooEarly
    );

    let now = f.devnet.block_timestamp().await.expect("time");
    let mut late = f.outside(vec![f.play(1)]).await.expect("outside");
    late.execute_before = now;
    let sig = f.owner_signature(&late).expect("sign");
    assert_eq!(
        f.relay(&late, sig).await.expect("sent").expect_error(),
        ContractError::OutsideExpired
    );

    let now = f.devnet.block_timestamp().await.expect("time");
    let mut inside = f.outside(vec![f.play(1)]).await.expect("outside");
    inside.execute_after = now - 1;
    inside.execute_before = now + 1;
    let sig = f.owner_signature(&inside).expect("sign");
    f.relay(&inside, sig)
        .await
        .expect("sent")
        .receipt()
        .expect("inside the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_is_used_once_and_reported() {
    let f = Fixture::new(23).await.expect("fixture");
    let outside = f.outside(vec![f.play(1)]).await.expect("outside");
    let sig = f.owner_signature(&outside).expect("sign");
    let is_valid = || {
        f.devnet.call(
            f.address(),
            sel("is_valid_outside_execution_nonce"),
            vec![outside.nonce],
        )
    };
    assert_eq!(is_valid().await.expect("view"), vec![Felt::ONE]);
    f.relay(&outside, sig.clone())
        .await
        .expect("sent")
        .receipt()
        .expect("first use");
    assert_eq!(is_valid().await.expect("view"), vec![Felt::ZERO]);
    assert_eq!(
        f.relay(&outside, sig).await.expect("sent").expect_error(),
        ContractError::OutsideNonceUsed
    );
    assert_eq!(f.plays().await.expect("plays"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_signature_must_verify_and_have_two_elements() {
    let f = Fixture::new(24).await.expect("fixture");
    let outside = f.outside(vec![f.play(1)]).await.expect("outside");
    let mut sig = f.owner_signature(&outside).expect("sign");
    sig[1] += Felt::ONE;
    assert_eq!(
        f.relay(&outside, sig).await.expect("sent").expect_error(),
        ContractError::InvalidSignature
    );
    let outside = f.outside(vec![f.play(1)]).await.expect("outside");
    let mut sig = f.owner_signature(&outside).expect("sign");
    sig.push(Felt::ONE);
    assert_eq!(
        f.relay(&outside, sig).await.expect("sent").expect_error(),
        ContractError::InvalidSignatureLength
    );
    // Signed for another account: the hash binds the account address.
    let outside = f.outside(vec![f.play(1)]).await.expect("outside");
    let other = snip12::outside_execution_hash(&outside, Felt::from(0x1u8), f.devnet.chain_id());
    let s = f.account.owner.sign(&other).expect("sign");
    assert_eq!(
        f.relay(&outside, vec![s.r, s.s])
            .await
            .expect("sent")
            .expect_error(),
        ContractError::InvalidSignature
    );
    assert_eq!(f.plays().await.expect("plays"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multicall_is_atomic_and_nested_execute_is_refused() {
    let f = Fixture::new(25).await.expect("fixture");
    let fail = Call {
        to: f.scoreboard,
        selector: sel("fail"),
        calldata: vec![],
    };
    let outcome = f.owner_execute(vec![f.play(5), fail]).await.expect("sent");
    assert!(
        matches!(outcome.outcome(), Err(None)),
        "reverts with the target's own reason"
    );
    assert_eq!(
        f.plays().await.expect("plays"),
        0,
        "the first call was rolled back"
    );
    f.owner_execute(vec![f.play(5), f.play(6)])
        .await
        .expect("sent")
        .receipt()
        .expect("both calls");
    assert_eq!(f.plays().await.expect("plays"), 2);
    // __execute__ is the protocol's. A contract calling it (here the account itself) is refused
    // by the protocol before the account's own caller check ('account/invalid-caller', kept as
    // defense in depth) can run.
    let nested = f.self_call(
        "__execute__",
        vec![
            Felt::ONE,
            f.scoreboard,
            sel("record_score"),
            Felt::ONE,
            Felt::ONE,
        ],
    );
    match f.owner_execute(vec![nested]).await.expect("sent") {
        stark_sessions_tests::Relayed::Failed(reason) => {
            assert!(reason.contains("Invalid argument"), "{reason}")
        }
        stark_sessions_tests::Relayed::Ok(_) => panic!("a nested __execute__ must be refused"),
    }
    assert_eq!(f.plays().await.expect("plays"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_sharing_a_storage_word_are_used_independently() {
    let f = Fixture::new(24).await.expect("fixture");
    let is_valid = |nonce: Felt| {
        f.devnet.call(
            f.address(),
            sel("is_valid_outside_execution_nonce"),
            vec![nonce],
        )
    };
    // Word boundaries (127 | 128: the hot word moves on), a nonce above 2^128 (kept in the
    // map), and the largest felt.
    let used = [
        Felt::from(127u8),
        Felt::from(128u8),
        Felt::TWO.pow(128u8) + Felt::from(5u8),
        Felt::MAX,
    ];
    let neighbours = [
        Felt::from(126u8),
        Felt::from(129u8),
        Felt::TWO.pow(128u8) + Felt::from(4u8),
        Felt::MAX - Felt::ONE,
    ];
    for nonce in used {
        let mut outside = f.outside(vec![f.play(1)]).await.expect("outside");
        outside.nonce = nonce;
        let sig = f.owner_signature(&outside).expect("sign");
        assert_eq!(is_valid(nonce).await.expect("view"), vec![Felt::ONE]);
        f.relay(&outside, sig.clone())
            .await
            .expect("sent")
            .receipt()
            .unwrap_or_else(|e| panic!("nonce {nonce:#x}: {e}"));
        assert_eq!(is_valid(nonce).await.expect("view"), vec![Felt::ZERO]);
        assert_eq!(
            f.relay(&outside, sig).await.expect("sent").expect_error(),
            ContractError::OutsideNonceUsed,
            "nonce {nonce:#x} reused"
        );
    }
    for nonce in neighbours {
        assert_eq!(
            is_valid(nonce).await.expect("view"),
            vec![Felt::ONE],
            "{nonce:#x} shares a word with a used nonce but was never used"
        );
    }
    // 127's word stopped being the account's hot word when 128 was used: still used.
    for nonce in used {
        assert_eq!(
            is_valid(nonce).await.expect("view"),
            vec![Felt::ZERO],
            "{nonce:#x}"
        );
    }
    let mut again = f.outside(vec![f.play(1)]).await.expect("outside");
    again.nonce = used[0];
    let sig = f.owner_signature(&again).expect("sign");
    assert_eq!(
        f.relay(&again, sig).await.expect("sent").expect_error(),
        ContractError::OutsideNonceUsed
    );
    assert_eq!(f.plays().await.expect("plays"), used.len() as u64);
}
