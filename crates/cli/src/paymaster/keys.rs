//! `paymaster create-key | list-keys | revoke-key | disable-key | enable-key | rotate-key`:
//! API keys in the paymaster's database, changed there directly (no node, no engine), so that
//! every instance serving that database sees the change on its next request.
//!
//! Each refuses to run without a persistent `database`: a key kept in memory would die with
//! this command.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::json;
use stark_sessions_abi::Felt;
use stark_sessions_paymaster::auth::new_api_key;
use stark_sessions_paymaster::service::unix_now;
use stark_sessions_paymaster::store::{self, ApiKeyListing, ApiKeyRecord, KeyStatus};
use stark_sessions_paymaster::{PaymasterConfig, Store};

use super::ConfigArg;

/// Options of `paymaster create-key`.
#[derive(Debug, clap::Args)]
pub struct CreateKeyArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Stable id of the key (appears in logs and the ledger).
    #[arg(long)]
    id: String,
    /// Sponsored fees allowed per UTC day, in FRI.
    #[arg(long)]
    daily_budget_fri: u128,
    /// Requests allowed per minute.
    #[arg(long, default_value_t = 600)]
    requests_per_minute: u32,
    /// Contracts sponsored calls may target (repeat; none = any).
    #[arg(long = "allow-target")]
    allowed_targets: Vec<String>,
}

/// Options of `paymaster list-keys`.
#[derive(Debug, clap::Args)]
pub struct ListKeysArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// One JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// Options of the commands that act on one key.
#[derive(Debug, clap::Args)]
pub struct KeyIdArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The key's id.
    #[arg(long)]
    id: String,
}

/// The configured database's store; an error when none is configured.
fn open(args: &ConfigArg) -> Result<(Arc<dyn Store>, PaymasterConfig)> {
    let config = args.load()?;
    let Some(database) = &config.database else {
        bail!(
            "{} configures no `database`: API keys live in the paymaster's database, and one \
             kept in memory would die with this command (set database = \"paymaster.sqlite\" \
             or a postgres:// URL)",
            args.config.display()
        );
    };
    let store = store::open(Some(database)).with_context(|| format!("opening {database}"))?;
    Ok((store, config))
}

/// The key `id`, or an error naming it.
fn existing(store: &dyn Store, id: &str) -> Result<ApiKeyRecord> {
    store
        .api_key(id)?
        .with_context(|| format!("there is no API key `{id}`"))
}

/// `create-key`.
pub fn create(args: &CreateKeyArgs) -> Result<()> {
    let (store, _) = open(&args.config)?;
    let targets = args
        .allowed_targets
        .iter()
        .map(|t| Felt::from_hex(t).with_context(|| format!("{t} is not a hex address")))
        .collect::<Result<Vec<_>>>()?;
    let (key, hash) = new_api_key();
    let record = ApiKeyRecord {
        id: args.id.clone(),
        name: args.id.clone(),
        key_hash: hash,
        daily_budget_fri: args.daily_budget_fri,
        requests_per_minute: args.requests_per_minute,
        allowed_targets: (!targets.is_empty()).then_some(targets),
        status: KeyStatus::Active,
    };
    if !store.create_api_key(&record)? {
        bail!(
            "an API key `{}` exists already (rotate-key gives it a new secret)",
            args.id
        );
    }
    println!("{}", *key);
    eprintln!("api key `{}` created; it is shown only this once", args.id);
    Ok(())
}

/// `list-keys`.
pub fn list(args: &ListKeysArgs) -> Result<()> {
    let (store, _) = open(&args.config)?;
    let keys = store.list_api_keys(unix_now() / 86_400)?;
    if args.json {
        let rows: Vec<_> = keys.iter().map(listing_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<20} {:<9} {:>26} {:>26} {:>8}  ROTATED",
        "ID", "NAME", "STATUS", "BUDGET/DAY (FRI)", "USED TODAY (FRI)", "RPM"
    );
    for l in &keys {
        let k = &l.key;
        let rotated = l.rotated_at.map_or("never".to_owned(), |t| t.to_string());
        println!(
            "{:<20} {:<20} {:<9} {:>26} {:>26} {:>8}  {rotated}",
            k.id, k.name, k.status, k.daily_budget_fri, l.used_fri, k.requests_per_minute
        );
    }
    Ok(())
}

/// One key as `list-keys --json` shows it (amounts as decimal strings: they exceed 2^53).
fn listing_json(l: &ApiKeyListing) -> serde_json::Value {
    let k = &l.key;
    json!({
        "id": k.id,
        "name": k.name,
        "status": k.status.as_str(),
        "daily_budget_fri": k.daily_budget_fri.to_string(),
        "used_today_fri": l.used_fri.to_string(),
        "requests_per_minute": k.requests_per_minute,
        "allowed_targets": k.allowed_targets.as_ref().map(|t| {
            t.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>()
        }),
        "rotated_at": l.rotated_at,
    })
}

/// Moves key `id` to `status`, unless it is revoked.
fn set_status(args: &KeyIdArgs, status: KeyStatus, done: &str) -> Result<()> {
    let (store, _) = open(&args.config)?;
    let key = existing(store.as_ref(), &args.id)?;
    if key.status == KeyStatus::Revoked {
        bail!(
            "API key `{}` is revoked for good; create a new key",
            args.id
        );
    }
    if !store.set_api_key_status(&args.id, status)? {
        bail!("API key `{}` was revoked meanwhile", args.id);
    }
    eprintln!("api key `{}` {done}", args.id);
    Ok(())
}

/// `revoke-key`.
pub fn revoke(args: &KeyIdArgs) -> Result<()> {
    set_status(
        args,
        KeyStatus::Revoked,
        "revoked: it and every client session token it minted are refused from now on",
    )
}

/// `disable-key`.
pub fn disable(args: &KeyIdArgs) -> Result<()> {
    set_status(
        args,
        KeyStatus::Disabled,
        "disabled: it and its client session tokens are refused until enable-key",
    )
}

/// `enable-key`.
pub fn enable(args: &KeyIdArgs) -> Result<()> {
    set_status(
        args,
        KeyStatus::Active,
        "enabled: it and its unexpired client session tokens are served again",
    )
}

/// `rotate-key`.
pub fn rotate(args: &KeyIdArgs) -> Result<()> {
    let (store, config) = open(&args.config)?;
    let key = existing(store.as_ref(), &args.id)?;
    if key.status == KeyStatus::Revoked {
        bail!(
            "API key `{}` is revoked for good; create a new key",
            args.id
        );
    }
    if config.api_keys.iter().any(|k| k.id == args.id) {
        bail!(
            "API key `{}` is defined in the configuration's [[api_keys]], which sets its hash at \
             every start: change its key_sha256 there",
            args.id
        );
    }
    let (secret, hash) = new_api_key();
    if !store.rotate_api_key(&args.id, &hash, unix_now())? {
        bail!("API key `{}` was revoked meanwhile", args.id);
    }
    println!("{}", *secret);
    eprintln!(
        "api key `{}` has a new secret, shown only this once; the old one is refused from now \
         on (budget, history and client session tokens stay)",
        args.id
    );
    Ok(())
}
