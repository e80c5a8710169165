//! L2 gas of one ERC-20 transfer: session path vs an OpenZeppelin account's direct transfer,
//! in the same devnet run. Printed for the record; the benchmark report owns the ratios.

use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::{sel, Fixture, Relayed, TestSession};
use starknet::core::types::{Call, Felt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_transfer_gas_is_reported_next_to_an_oz_transfer() {
    let f = Fixture::new(51).await.expect("fixture");
    let friend = f.devnet.accounts()[3].address;
    let transfer = Call {
        to: STRK_ADDRESS,
        selector: sel("transfer"),
        calldata: vec![friend, Felt::from(7u8), Felt::ZERO],
    };
    // Warm the recipient's balance slot so that every path writes to existing storage.
    let oz = f.devnet.predeployed(2).expect("account");
    f.send(&oz, vec![transfer.clone()])
        .await
        .expect("sent")
        .receipt()
        .expect("warm-up");

    let oz_gas = f
        .send(&oz, vec![transfer.clone()])
        .await
        .expect("sent")
        .l2_gas()
        .expect("oz transfer");
    let owner_gas = f
        .send(&f.account.account, vec![transfer.clone()])
        .await
        .expect("sent")
        .l2_gas()
        .expect("owner transfer");
    let now = f.devnet.block_timestamp().await.expect("time");
    let s = TestSession::from_secret(1, now + 3600);
    f.register(&s, 100, &[sel("transfer")])
        .await
        .expect("register");
    // First use writes the session's counter from its registration value; measure the second.
    f.session_execute(&s, vec![transfer.clone()])
        .await
        .expect("sent")
        .receipt()
        .expect("first use");
    let session = f
        .session_execute(&s, vec![transfer.clone()])
        .await
        .expect("sent");
    let session_gas = match &session {
        Relayed::Ok(_) => session.l2_gas().expect("gas"),
        Relayed::Failed(reason) => panic!("session transfer failed: {reason}"),
    };
    println!(
        "L2 gas, one STRK transfer: OZ account direct {oz_gas}; session account owner direct {owner_gas}; \
         session via relayed outside execution {session_gas} ({:.2}x OZ)",
        session_gas as f64 / oz_gas as f64
    );
    assert!(oz_gas > 0 && owner_gas > 0);
    // A relayed session transfer does strictly more work than a bare one.
    assert!(session_gas > oz_gas);
}
