//! A game client with a one-hour session: the player's owner key opens a session once (no
//! wallet pop-up afterwards), the game unlocks it with the player's PIN once and plays many
//! moves gaslessly through the paymaster, renews the unlocked handle while playing, opens a
//! fresh session when this one nears its end, and revokes it when the player quits.
//!
//! ```text
//! STARK_SESSIONS_NETWORK=devnet            # devnet | sepolia | mainnet (chain id checked)
//! STARK_SESSIONS_RPC_URL=http://127.0.0.1:5050/rpc
//! STARK_SESSIONS_PAYMASTER_URL=http://127.0.0.1:5051/
//! STARK_SESSIONS_PAYMASTER_TOKEN=sscs_…    # a client session token minted by the game's backend
//! PLAYER_ACCOUNT=0x…  PLAYER_OWNER_KEY=0x…  GAME_CONTRACT=0x…  PLAYER_PIN=…
//! cargo run -p stark-sessions-client --example game_client
//! ```
//! (`stark-sessions devnet` starts a local node and paymaster and prints such values.)

use std::time::Duration;

use stark_sessions_client::{
    Network, Owner, PaymasterAuth, PaymasterClient, SessionClient, SessionSpec,
};
use starknet::core::types::{Call, Felt};
use starknet::core::utils::get_selector_from_name;
use starknet::signers::SigningKey;

/// Moves the game sends in one run.
const MOVES: u64 = 5;
/// Open a new session when the current one has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

fn var(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

fn felt(name: &str) -> Result<Felt, Box<dyn std::error::Error>> {
    Ok(Felt::from_hex(&var(name)?)?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network: Network = var("STARK_SESSIONS_NETWORK")
        .unwrap_or_else(|_| "devnet".into())
        .parse()?;
    let paymaster = PaymasterClient::new(
        var("STARK_SESSIONS_PAYMASTER_URL")?.parse()?,
        PaymasterAuth::client_session_token(var("STARK_SESSIONS_PAYMASTER_TOKEN")?),
    );
    let client =
        SessionClient::connect_to(network, var("STARK_SESSIONS_RPC_URL")?.parse()?, paymaster)
            .await?;
    let owner = Owner::new(
        felt("PLAYER_ACCOUNT")?,
        SigningKey::from_secret_scalar(felt("PLAYER_OWNER_KEY")?),
    );
    let game = felt("GAME_CONTRACT")?;
    let pin = var("PLAYER_PIN")?;
    let spec = SessionSpec {
        duration: Duration::from_secs(3600),
        max_calls: 500,
        allowed_entrypoints: vec![get_selector_from_name("record_score")?],
        targets: vec![game],
        spending_limits: vec![],
        limits: Default::default(),
    };

    // Once per hour: the one owner signature of the session (sponsored, no gas).
    let mut session = client.create_session(&owner, &pin, &spec).await?;
    println!(
        "session {:#x} open until {}",
        session.public_key(),
        session.valid_until()
    );
    // Once per play: the PIN unlocks the key into a handle that wipes it on release.
    let mut handle = session.unlock(&pin)?;
    for points in 1..=MOVES {
        let play = Call {
            to: game,
            selector: get_selector_from_name("record_score")?,
            calldata: vec![Felt::from(points)],
        };
        let hash = client.execute_and_wait(&session, &handle, &[play]).await?;
        println!("move {points}: {hash:#x}");
        handle.renew()?;
        let left = session
            .valid_until()
            .saturating_sub(client.block_timestamp().await?);
        if left < RENEW_BEFORE.as_secs() {
            handle.release();
            session = client.create_session(&owner, &pin, &spec).await?;
            handle = session.unlock(&pin)?;
            println!("renewed: session {:#x}", session.public_key());
        }
    }
    // The player quits: the key is wiped locally and dead on chain.
    handle.release();
    let hash = client
        .revoke_session_key(&owner, session.public_key())
        .await?;
    println!("revoked: {hash:#x}");
    Ok(())
}
