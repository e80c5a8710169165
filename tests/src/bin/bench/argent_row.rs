//! Row (c): Argent 0.4.0's own session path for the same transfer, relayed by the same relayer:
//! an account with a Stark owner and the guardian its sessions require, one session allowed
//! STRK `transfer`, signed by the session key and co-signed by the guardian. Argent's cheapest
//! steady state is measured: the owner's authorization cached on the account by the first use,
//! then omitted.

use anyhow::{Context, Result};
use stark_sessions_devnet::STRK_ADDRESS;
use stark_sessions_tests::argent::{AllowedMethod, ArgentSession, ArgentSessionAccount};
use stark_sessions_tests::onchain::{gas, Paths};
use stark_sessions_tests::{Relayed, HUNDRED_STRK};
use starknet::core::types::Felt;

/// Relays one session-signed transfer of the Argent account.
async fn relay(paths: &Paths, account: &ArgentSessionAccount) -> Result<Relayed> {
    let f = &paths.fixture;
    let outside = f.outside(vec![paths.transfer().clone()]).await?;
    let signature = account.session_signature(&outside)?;
    f.send(&f.relayer, vec![account.relay_call(&outside, signature)])
        .await
}

/// Deploys the Argent account and returns its relayed session transfer's L2 gas (median of
/// `runs` after the caching use).
pub async fn measure(paths: &Paths, runs: usize) -> Result<u64> {
    let f = &paths.fixture;
    let now = f.devnet.block_timestamp().await?;
    let session = ArgentSession::new(
        Felt::from(0xa5e55u64),
        now + 24 * 3600,
        vec![AllowedMethod::new(STRK_ADDRESS, "transfer")],
        r#"{"metadata":"stark-sessions bench","max_fee":0}"#,
    );
    let mut account = ArgentSessionAccount::deploy(
        &f.devnet,
        Felt::from(0xa11ceu64),
        Felt::from(0x9a4du64),
        Felt::from(0xa5u8),
        session,
    )
    .await
    .context("deploy the Argent account")?;
    f.devnet.mint_strk(account.address, HUNDRED_STRK).await?;
    account.cache_authorization = true;
    // The first use checks and caches the owner's authorization.
    gas(&relay(paths, &account).await?)?;
    account.omit_authorization = true;
    let mut figures = Vec::with_capacity(runs);
    for _ in 0..runs {
        figures.push(gas(&relay(paths, &account).await?)?);
    }
    figures.sort_unstable();
    Ok(figures[runs / 2])
}
