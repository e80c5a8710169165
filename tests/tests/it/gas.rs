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
    if let Relayed::Ok(r) = &session {
        print_trace(&f, "session transfer", *r.receipt.transaction_hash()).await;
    }
    let oz_again = f.send(&oz, vec![transfer.clone()]).await.expect("sent");
    if let Relayed::Ok(r) = &oz_again {
        print_trace(&f, "OZ transfer", *r.receipt.transaction_hash()).await;
    }
    println!(
        "L2 gas, one STRK transfer: OZ account direct {oz_gas}; session account owner direct {owner_gas}; \
         session via relayed outside execution {session_gas} ({:.2}x OZ)",
        session_gas as f64 / oz_gas as f64
    );
    assert!(oz_gas > 0 && owner_gas > 0);
    // A relayed session transfer does strictly more work than a bare one.
    assert!(session_gas > oz_gas);
}

/// Prints the L2 gas of each nested call of a transaction's trace (a breakdown for the record).
async fn print_trace(f: &Fixture, label: &str, hash: Felt) {
    use starknet::core::types::{ExecuteInvocation, FunctionInvocation, TransactionTrace};
    use starknet::providers::Provider;
    fn walk(inv: &FunctionInvocation, depth: usize) {
        println!(
            "{:indent$}{:#x} {:#x}: l2_gas {}",
            "",
            inv.contract_address,
            inv.entry_point_selector,
            inv.execution_resources.l2_gas,
            indent = depth * 2
        );
        for c in &inv.calls {
            walk(c, depth + 1);
        }
    }
    let trace = f
        .devnet
        .provider()
        .trace_transaction(hash)
        .await
        .expect("trace");
    println!("trace of {label}:");
    if let TransactionTrace::Invoke(t) = trace {
        if let Some(v) = &t.validate_invocation {
            walk(v, 1);
        }
        if let ExecuteInvocation::Success(e) = &t.execute_invocation {
            walk(e, 1);
        }
        if let Some(fee) = &t.fee_transfer_invocation {
            walk(fee, 1);
        }
        println!("  total {:?}", t.execution_resources);
    }
}
