//! `stark-sessions session grant`: the owner grants a stored session by signature — offline if
//! need be — so that it registers itself on its first execution, with no transaction before.
//! Or a wallet signs the grant's typed data instead: `--typed-data-only` prints it, and
//! `--signature` attaches the wallet's signature.

use anyhow::{bail, Context, Result};
use serde_json::json;
use stark_sessions_abi::constants::{SELECTOR_GET_PUBLIC_KEY, SELECTOR_GET_SESSION_GENERATION};
use stark_sessions_abi::{Felt, SessionGrant, SignedGrant};
use stark_sessions_client::{check_grant, grant_of, GrantBasis, Session, SessionClient};

use crate::opts::{parse_address, OwnerOpts};
use crate::session::{emit, session_json, Remote, Which};

/// Options of `session grant`.
#[derive(Debug, clap::Args)]
pub struct GrantArgs {
    #[command(flatten)]
    which: Which,
    /// Reach no node: the chain is the session's own, and the account's revoke-all epoch and
    /// owner key version are --sessions-epoch and --owner-key-version (0 and 0: an account
    /// that never revoked all sessions nor changed its owner key, or is not deployed yet).
    #[arg(long)]
    offline: bool,
    /// With --offline: the account's revoke-all epoch (`account info` shows it).
    #[arg(long, requires = "offline", default_value_t = 0)]
    sessions_epoch: u32,
    /// With --offline: how many times the account's owner key changed.
    #[arg(long, requires = "offline", default_value_t = 0)]
    owner_key_version: u32,
    /// Print the grant's typed data (SNIP-12 rev 1) for a wallet to sign, and store nothing.
    #[arg(long, conflicts_with = "signature")]
    typed_data_only: bool,
    /// Attach a wallet's signature `0xR,0xS` of the typed data instead of signing with an
    /// owner key; checked against the account's owner key (or --owner-public-key).
    #[arg(long, value_parser = parse_signature)]
    signature: Option<[Felt; 2]>,
    /// With --signature --offline: the owner's public key the signature must verify under.
    #[arg(long, value_parser = parse_address, requires = "signature")]
    owner_public_key: Option<Felt>,
    #[command(flatten)]
    owner: OwnerOpts,
    #[command(flatten)]
    ctx: Remote,
}

/// Parses `0xR,0xS`.
fn parse_signature(text: &str) -> Result<[Felt; 2]> {
    let (r, s) = text
        .split_once(',')
        .context("a signature is 0xR,0xS (two hex felts, comma-separated)")?;
    Ok([parse_address(r)?, parse_address(s)?])
}

/// `session grant`.
pub async fn grant(args: GrantArgs) -> Result<()> {
    let store = args.ctx.store.open()?;
    let mut session = args.which.get(&store)?;
    let client = match args.offline {
        true => None,
        false => Some(args.ctx.chain.client().await?),
    };
    let grant = unsigned(&args, &session, client.as_ref()).await?;
    let typed_data = grant.typed_data(session.chain_id);
    let message_hash = grant.message_hash(session.chain_id);
    if args.typed_data_only {
        emit(
            &args.ctx.output,
            json!({ "typed_data": typed_data, "message_hash": format!("{message_hash:#x}") }),
            format!(
                "{}\nmessage hash {message_hash:#x}: sign it with the owner's wallet, then run \
                 `stark-sessions session grant --signature 0xR,0xS` with the same options",
                serde_json::to_string_pretty(&typed_data)?
            ),
        );
        return Ok(());
    }
    let (owner_signature, owner_key) = sign(&args, &grant, client.as_ref(), &session).await?;
    let signed = SignedGrant {
        grant,
        owner_signature,
    };
    // Checked as the account will check its first use (stricter than a registration).
    let basis = GrantBasis {
        sessions_epoch: signed.grant.sessions_epoch,
        owner_key_version: signed.grant.owner_key_version,
    };
    let now = match &client {
        Some(client) => client.block_timestamp().await?,
        None => stark_sessions_client::keys::unix_now(),
    };
    check_grant(&signed, session.chain_id, owner_key, basis, now)?;
    session.grant = Some(signed);
    store.save(&session)?;
    emit(
        &args.ctx.output,
        json!({
            "session": session_json(&session),
            "typed_data": typed_data,
            "message_hash": format!("{message_hash:#x}"),
            "owner_signature": owner_signature.map(|f| format!("{f:#x}")),
        }),
        format!(
            "session {:#x} granted for {:#x} until {}: it registers itself on its first \
             `stark-sessions session exec` (stored; no transaction was sent)",
            session.public_key(),
            session.account,
            session.valid_until()
        ),
    );
    Ok(())
}

/// The account's basis for a grant: read from the node, or from the options offline.
async fn basis_of(args: &GrantArgs, client: Option<&SessionClient>) -> Result<GrantBasis> {
    Ok(match client {
        None => GrantBasis {
            sessions_epoch: args.sessions_epoch,
            owner_key_version: args.owner_key_version,
        },
        Some(client) => client.grant_basis(args.which.account).await?,
    })
}

/// The grant of the stored session (a key the account never saw), on the account's basis.
async fn unsigned(
    args: &GrantArgs,
    session: &Session,
    client: Option<&SessionClient>,
) -> Result<SessionGrant> {
    if session.grant.is_some() {
        bail!(
            "session {:#x} carries a grant already; `stark-sessions session exec` uses it",
            session.public_key()
        );
    }
    if let Some(client) = client {
        if client.is_deployed(session.account).await? {
            let out = view(
                client,
                session.account,
                SELECTOR_GET_SESSION_GENERATION,
                vec![session.public_key()],
            )
            .await?;
            if out.first().copied().unwrap_or_default() != Felt::ZERO {
                bail!(
                    "the account knows session key {:#x} already (registered or revoked): a \
                     grant is for a new key",
                    session.public_key()
                );
            }
        }
    }
    let basis = basis_of(args, client).await?;
    Ok(grant_of(session, basis))
}

/// The owner's signature of `grant` — the wallet's (checked), or made with the owner's key —
/// and the owner's public key.
async fn sign(
    args: &GrantArgs,
    grant: &SessionGrant,
    client: Option<&SessionClient>,
    session: &Session,
) -> Result<([Felt; 2], Felt)> {
    let Some(signature) = args.signature else {
        let key = args.owner.signing_key()?;
        let sig = key.sign(&grant.message_hash(session.chain_id))?;
        return Ok(([sig.r, sig.s], key.verifying_key().scalar()));
    };
    let owner_key = match (args.owner_public_key, client) {
        (Some(key), _) => key,
        (None, Some(client)) => view(client, session.account, SELECTOR_GET_PUBLIC_KEY, vec![])
            .await?
            .first()
            .copied()
            .context("get_public_key answered nothing")?,
        (None, None) => bail!("--signature --offline needs --owner-public-key"),
    };
    if !grant.verify(session.chain_id, owner_key, &signature) {
        bail!(
            "the signature is not the owner's ({owner_key:#x}) over this grant (message hash \
             {:#x}); nothing was stored",
            grant.message_hash(session.chain_id)
        );
    }
    Ok((signature, owner_key))
}

async fn view(
    client: &SessionClient,
    account: Felt,
    selector: Felt,
    calldata: Vec<Felt>,
) -> Result<Vec<Felt>> {
    stark_sessions_rpc::view(client.provider(), account, selector, calldata)
        .await
        .with_context(|| format!("reading the account {account:#x}"))
}
