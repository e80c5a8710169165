//! Accounts on a network through the SDK: declaring the class, a self-funded deployment, gasless
//! onboarding from a zero balance to a first session call, and a node on another chain.

use std::time::Duration;

use stark_sessions_abi::{Felt, SessionStatus};
use stark_sessions_client::{
    grant_session, Deployment, EnvelopeParams, GrantBasis, Network, Owner, PaymasterAuth,
    PaymasterClient, SessionClient, SessionError, SessionSpec,
};
use stark_sessions_devnet::Devnet;
use stark_sessions_tests::client::session_client;
use stark_sessions_tests::paymaster::PaymasterHarness;
use stark_sessions_tests::{sel, Fixture};
use starknet::signers::SigningKey;

const PIN: &str = "482193";

fn new_owner() -> SigningKey {
    SigningKey::from_random()
}

fn play_spec(fixture: &Fixture) -> SessionSpec {
    SessionSpec {
        duration: Duration::from_secs(3600),
        max_calls: 5,
        allowed_entrypoints: vec![sel("record_score")],
        targets: vec![fixture.scoreboard],
        spending_limits: vec![],
        limits: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_first_move_deploys_the_account_in_the_same_sponsored_transaction() {
    let (fixture, _pm, client) = stark_sessions_tests::client::sdk_setup(0x0b0b)
        .await
        .expect("devnet, paymaster and client");
    let key = new_owner();
    let salt = Felt::from(79u8);
    let d = Deployment::session_account(key.verifying_key().scalar(), salt).expect("address");
    assert_eq!(client.strk_balance(d.address).await.expect("balance"), 0);
    // The owner grants offline, for an account that does not exist yet.
    let owner = Owner::new(d.address, key.clone());
    let now = fixture.devnet.block_timestamp().await.expect("time");
    let mut session = grant_session(
        &owner,
        client.chain_id(),
        PIN,
        &play_spec(&fixture),
        GrantBasis::NEW_ACCOUNT,
        now,
        EnvelopeParams::default(),
    )
    .expect("granted");
    let handle = session.unlock(PIN).expect("unlock");
    let before = fixture.plays().await.expect("plays");
    // Another owner key's salt does not give the session's account: refused, nothing sent.
    let e = client
        .deploy_and_play(&mut session, &handle, Felt::ONE, salt, &[fixture.play(1)])
        .await
        .expect_err("another owner's account");
    assert!(e.to_string().contains("not the session's account"), "{e}");
    let deployed = client
        .deploy_and_play(
            &mut session,
            &handle,
            owner.public_key(),
            salt,
            &[fixture.play(4)],
        )
        .await
        .expect("deployed and played");
    assert_eq!(deployed.address, d.address);
    assert!(session.grant.is_none(), "the grant is dropped once used");
    // One transaction: it deployed the account and registered the session (the account's
    // SessionKeyAdded is in its receipt), and played.
    let receipt = fixture
        .devnet
        .receipt(deployed.transaction_hash)
        .await
        .expect("the deploy-and-invoke landed");
    let added = sel("SessionKeyAdded");
    assert!(
        receipt
            .receipt
            .events()
            .iter()
            .any(|e| e.from_address == d.address && e.keys.first() == Some(&added)),
        "the session was registered in the deployment's transaction"
    );
    assert_eq!(fixture.plays().await.expect("plays"), before + 1);
    let info = client.session_info(&session).await.expect("info");
    assert_eq!(
        (info.status, info.remaining_calls),
        (SessionStatus::Active, 4)
    );
    assert_eq!(
        client.strk_balance(d.address).await.expect("balance"),
        0,
        "the owner never paid anything"
    );
    // The session goes on with ordinary executions.
    client
        .execute_session(&mut session, &handle, &[fixture.play(1)])
        .await
        .expect("a second move");
    assert_eq!(fixture.plays().await.expect("plays"), before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_balance_owner_is_onboarded_gaslessly_and_plays_at_once() {
    let fixture = Fixture::new(0x0b0a).await.expect("fixture");
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .expect("paymaster");
    let client = session_client(&fixture, &pm).await.expect("client");
    let key = new_owner();
    let salt = Felt::from(77u8);
    let d = Deployment::session_account(key.verifying_key().scalar(), salt).expect("address");
    assert_eq!(client.strk_balance(d.address).await.expect("balance"), 0);
    assert!(!client.is_deployed(d.address).await.expect("deployed?"));

    let owner = Owner::new(d.address, key.clone());
    let (session, deployed) = client
        .onboard(&owner, salt, PIN, &play_spec(&fixture))
        .await
        .expect("onboarded");
    assert_eq!(deployed.address, d.address);
    assert!(client.is_deployed(d.address).await.expect("deployed?"));
    let info = client
        .get_session_data(d.address, session.public_key())
        .await
        .expect("session data");
    assert_eq!(
        info.status,
        SessionStatus::Active,
        "registered in the deployment"
    );

    let before = fixture.plays().await.expect("plays");
    let handle = session.unlock(PIN).expect("unlock");
    client
        .execute_and_wait(&session, &handle, &[fixture.play(3)])
        .await
        .expect("the first session call");
    assert_eq!(fixture.plays().await.expect("plays"), before + 1);
    assert_eq!(
        client.strk_balance(d.address).await.expect("balance"),
        0,
        "the owner never paid anything"
    );

    // Onboarding the same owner again is refused before anything is signed or sent.
    let e = client
        .onboard(&owner, salt, PIN, &play_spec(&fixture))
        .await
        .expect_err("already deployed");
    assert!(e.to_string().contains("already deployed"), "{e}");
    // A salt that does not give the owner's address is refused.
    let e = client
        .deploy_account_gasless(&owner, Felt::from(78u8), None)
        .await
        .expect_err("wrong salt");
    assert!(e.to_string().contains("not"), "{e}");

    // A plain sponsored deployment, no session.
    let key = new_owner();
    let d = Deployment::session_account(key.verifying_key().scalar(), salt).expect("address");
    client
        .deploy_account_gasless(&Owner::new(d.address, key), salt, None)
        .await
        .expect("deployed");
    assert!(client.is_deployed(d.address).await.expect("deployed?"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_funded_deployment_needs_its_fee_first_and_then_lands() {
    let fixture = Fixture::new(0x0b0b).await.expect("fixture");
    let pm = PaymasterHarness::start(PaymasterHarness::config(&fixture, None))
        .await
        .expect("paymaster");
    let client = session_client(&fixture, &pm).await.expect("client");
    let key = new_owner();
    let salt = key.verifying_key().scalar();
    let d = Deployment::session_account(salt, salt).expect("address");

    let e = client
        .deploy_account(&key, salt)
        .await
        .expect_err("unfunded");
    let message = e.to_string();
    assert!(
        message.contains(&format!("fund {:#x} with at least", d.address)),
        "{message}"
    );
    assert!(!client.is_deployed(d.address).await.expect("deployed?"));

    fixture
        .devnet
        .mint_strk(d.address, 10u128.pow(18))
        .await
        .expect("mint");
    let deployed = client.deploy_account(&key, salt).await.expect("deployed");
    assert_eq!(deployed.address, d.address);
    let public_key = fixture
        .devnet
        .call(d.address, sel("get_public_key"), vec![])
        .await
        .expect("the account answers");
    assert_eq!(public_key, vec![key.verifying_key().scalar()]);
    assert!(client.strk_balance(d.address).await.expect("balance") < 10u128.pow(18));
    let e = client.deploy_account(&key, salt).await.expect_err("twice");
    assert!(e.to_string().contains("already deployed"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_is_declared_once_with_the_committed_compiled_class_hash() {
    // A bare devnet: nothing of ours declared yet.
    let devnet = Devnet::start().await.expect("devnet");
    let funder = devnet.accounts()[0].clone();
    let unused = PaymasterClient::new(
        "http://127.0.0.1:9/".parse().expect("url"),
        PaymasterAuth::None,
    );
    let client = SessionClient::connect(devnet.url().clone(), unused)
        .await
        .expect("client");
    let key = SigningKey::from_secret_scalar(funder.private_key);
    let declared = client
        .declare_session_class(funder.address, &key, None)
        .await
        .expect("declared");
    assert!(declared.transaction_hash.is_some(), "a DECLARE was sent");
    assert_eq!(
        declared.class_hash,
        stark_sessions_abi::class::session_account()
            .expect("class")
            .class_hash
    );
    assert!(client
        .is_declared(declared.class_hash)
        .await
        .expect("known"));
    let again = client
        .declare_session_class(funder.address, &key, None)
        .await
        .expect("no-op");
    assert_eq!(again.transaction_hash, None, "nothing sent the second time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_another_chain_is_refused_before_anything_is_signed() {
    let devnet = Devnet::start().await.expect("devnet");
    let paymaster = || {
        PaymasterClient::new(
            "http://127.0.0.1:9/".parse().expect("url"),
            PaymasterAuth::None,
        )
    };
    let e = SessionClient::connect_to(Network::Mainnet, devnet.url().clone(), paymaster())
        .await
        .expect_err("the devnet is not mainnet");
    assert!(matches!(e, SessionError::WrongChain(_)), "{e:?}");
    assert_eq!(e.code(), "WRONG_CHAIN");
    assert!(
        e.to_string()
            .contains("on chain SN_SEPOLIA, not mainnet (SN_MAIN)"),
        "{e}"
    );
    for network in [Network::Devnet, Network::Sepolia] {
        SessionClient::connect_to(network, devnet.url().clone(), paymaster())
            .await
            .expect("the devnet answers SN_SEPOLIA");
    }
}
