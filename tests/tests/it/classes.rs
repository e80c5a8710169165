//! Which accounts the paymaster serves: by default only the stark-sessions account class;
//! another class (here the devnet's predeployed OpenZeppelin account, which implements SNIP-9
//! v2) only when the operator opts in, by listing it or by allowing any SNIP-9 account.

use stark_sessions_abi::constants::{SELECTOR_TRANSFER, STRK_TOKEN};
use stark_sessions_tests::paymaster::{felt, sign_typed, sponsored, PaymasterHarness};
use stark_sessions_tests::Fixture;
use starknet::core::types::{BlockId, BlockTag, Call, Felt};
use starknet::providers::Provider;
use starknet::signers::SigningKey;

/// A predeployed account no test relays from.
const OZ_INDEX: usize = 7;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_of_another_class_is_refused_by_default_and_served_when_opted_in() {
    let fixture = Fixture::new(0xc1a5).await.expect("fixture");
    let oz = fixture.devnet.accounts()[OZ_INDEX].clone();
    let recipient = fixture.devnet.accounts()[0].address;
    let transfer = Call {
        to: STRK_TOKEN,
        selector: SELECTOR_TRANSFER,
        calldata: vec![recipient, Felt::ONE, Felt::ZERO],
    };
    let oz_class = fixture
        .devnet
        .provider()
        .get_class_hash_at(BlockId::Tag(BlockTag::Latest), oz.address)
        .await
        .expect("class");

    // Default: ours is served, the OpenZeppelin account is not.
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .expect("paymaster");
    pm.build(
        fixture.address(),
        &[fixture.play(1)],
        sponsored(),
        &pm.key(),
    )
    .await
    .expect("http")
    .expect("our account is served");
    let e = pm
        .build(oz.address, &[transfer.clone()], sponsored(), &pm.key())
        .await
        .expect("http")
        .expect_err("another class is refused");
    assert_eq!(e.code, 155, "{e:?}");
    let why = e.data.as_str().unwrap_or_default();
    assert!(why.contains(&format!("{oz_class:#x}")), "{why}");
    assert!(why.contains("supported_account_classes"), "{why}");
    pm.server.stop().await;

    // Listed by its class hash: served.
    let mut listed = PaymasterHarness::config(&fixture, None);
    listed.supported_account_classes = vec![oz_class];
    let pm = PaymasterHarness::start(listed).await.expect("paymaster");
    pm.build(oz.address, &[transfer.clone()], sponsored(), &pm.key())
        .await
        .expect("http")
        .expect("a listed class is served");
    pm.server.stop().await;

    // Any SNIP-9 account allowed: built, signed by the account's own key, executed.
    let mut any = PaymasterHarness::config(&fixture, None);
    any.allow_any_account_class = true;
    let pm = PaymasterHarness::start(any).await.expect("paymaster");
    let built = pm
        .build(oz.address, &[transfer], sponsored(), &pm.key())
        .await
        .expect("http")
        .expect("served when any class is allowed");
    let key = SigningKey::from_secret_scalar(oz.private_key);
    let signature = sign_typed(
        &key,
        &built["typed_data"],
        oz.address,
        fixture.devnet.chain_id(),
    )
    .expect("signed");
    let sent = pm
        .execute(
            oz.address,
            &built["typed_data"],
            &signature,
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect("executed");
    let hash = felt(&sent["transaction_hash"]).expect("hash");
    fixture.devnet.receipt(hash).await.expect("it landed");
    // The scoreboard (not an account) stays refused: it declares no SNIP-9 v2.
    let e = pm
        .build(
            fixture.scoreboard,
            &[fixture.play(1)],
            sponsored(),
            &pm.key(),
        )
        .await
        .expect("http")
        .expect_err("not an account");
    assert_eq!(e.code, 155);
}
