//! A dapp backend executing delegated transactions: a user granted the backend a session on
//! their account (stored in the backend's session store, e.g. by
//! `stark-sessions session create` + `session register`); the backend unlocks it with its PIN
//! and executes calls for the user through the paymaster with its API key, gaslessly. Each
//! refusal comes back with a stable code the backend can act on.
//!
//! ```text
//! STARK_SESSIONS_NETWORK=sepolia  STARK_SESSIONS_RPC_URL=…  STARK_SESSIONS_PAYMASTER_URL=…
//! STARK_SESSIONS_PAYMASTER_API_KEY=…  STARK_SESSIONS_STORE=/var/lib/dapp/sessions
//! USER_ACCOUNT=0x…  SESSION_PIN=…  TARGET=0x…  ENTRYPOINT=record_score  CALLDATA=0x1,0x2
//! cargo run -p stark-sessions-client --example dapp_backend
//! ```

use stark_sessions_client::{
    Network, PaymasterAuth, PaymasterClient, SessionClient, SessionError, SessionStore,
};
use starknet::core::types::{Call, Felt};
use starknet::core::utils::get_selector_from_name;

fn var(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

/// The call the backend makes for the user, from the environment.
fn delegated_call() -> Result<Call, Box<dyn std::error::Error>> {
    let calldata = var("CALLDATA")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(Felt::from_hex)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Call {
        to: Felt::from_hex(&var("TARGET")?)?,
        selector: get_selector_from_name(&var("ENTRYPOINT")?)?,
        calldata,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network: Network = var("STARK_SESSIONS_NETWORK")?.parse()?;
    let paymaster = PaymasterClient::new(
        var("STARK_SESSIONS_PAYMASTER_URL")?.parse()?,
        PaymasterAuth::api_key(var("STARK_SESSIONS_PAYMASTER_API_KEY")?),
    );
    let client =
        SessionClient::connect_to(network, var("STARK_SESSIONS_RPC_URL")?.parse()?, paymaster)
            .await?;
    let store = SessionStore::open(var("STARK_SESSIONS_STORE")?)?;
    let user = Felt::from_hex(&var("USER_ACCOUNT")?)?;
    let session = store.get(user)?;
    let handle = session.unlock(&var("SESSION_PIN")?)?;
    let call = delegated_call()?;
    match client.execute_and_wait(&session, &handle, &[call]).await {
        Ok(hash) => println!("executed for {user:#x}: {hash:#x}"),
        // What a backend does with the codes: ask the user for a new grant, or give up.
        Err(
            e @ (SessionError::Expired { .. }
            | SessionError::Revoked { .. }
            | SessionError::MaxCallsExceeded { .. }
            | SessionError::RegistrationChanged { .. }),
        ) => {
            eprintln!("[{}] ask {user:#x} to grant a new session: {e}", e.code());
        }
        Err(e) => return Err(e.into()),
    }
    handle.release();
    Ok(())
}
