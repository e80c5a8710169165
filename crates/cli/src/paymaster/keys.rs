//! `paymaster create-key | list-keys | revoke-key | disable-key | enable-key | rotate-key`:
//! API keys in the paymaster's database, changed there directly (no node, no engine), so that
//! every instance serving that database sees the change on its next request.
//!
//! Each refuses to run without a persistent `database`: a key kept in memory would die with
//! this command.

mod days;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::json;
use stark_sessions_abi::Felt;
use stark_sessions_paymaster::auth::new_api_key;
use stark_sessions_paymaster::service::unix_now;
use stark_sessions_paymaster::store::{self, ApiKeyListing, ApiKeyRecord, DayUsage, KeyStatus};
use stark_sessions_paymaster::{PaymasterConfig, Store};

use super::{ConfigArg, OutputArg};
use days::{date_of, DayRange};

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
    #[command(flatten)]
    output: OutputArg,
}

/// Options of `paymaster list-keys`.
#[derive(Debug, clap::Args)]
pub struct ListKeysArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// First UTC day (YYYY-MM-DD) whose use to show, each day apart (default: `--to`).
    #[arg(long)]
    from: Option<String>,
    /// Last UTC day (YYYY-MM-DD) whose use to show (default: today).
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    output: OutputArg,
}

/// Options of the commands that act on one key.
#[derive(Debug, clap::Args)]
pub struct KeyIdArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The key's id.
    #[arg(long)]
    id: String,
    #[command(flatten)]
    output: OutputArg,
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
    let store = store::open_with(Some(database), config.store_options())
        .with_context(|| format!("opening {database}"))?;
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
    args.output
        .print(&json!({ "id": args.id, "api_key": key.as_str() }), || {
            key.to_string()
        })?;
    eprintln!("api key `{}` created; it is shown only this once", args.id);
    Ok(())
}

/// `list-keys`: every key with its use today, or with `--from`/`--to` its use on each day of
/// the range.
pub fn list(args: &ListKeysArgs) -> Result<()> {
    let (store, _) = open(&args.config)?;
    let today = unix_now() / 86_400;
    let keys = store.list_api_keys(today)?;
    let range = DayRange::new(args.from.as_deref(), args.to.as_deref(), today)?;
    let usage = match &range {
        Some(r) => store.usage_by_day(r.from, r.to)?,
        None => Vec::new(),
    };
    if args.output.json {
        let rows: Vec<_> = keys
            .iter()
            .map(|l| listing_json(l, range.as_ref(), &usage))
            .collect();
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
    if let Some(r) = &range {
        println!(
            "\nuse per UTC day, {} to {} (days without use are left out)",
            date_of(r.from),
            date_of(r.to)
        );
        println!("{:<10}  {:<20} {:>26}", "DAY", "ID", "USED (FRI)");
        for u in &usage {
            println!(
                "{:<10}  {:<20} {:>26}",
                date_of(u.day),
                u.api_key_id,
                u.used_fri
            );
        }
    }
    Ok(())
}

/// One key as `list-keys --json` shows it (amounts as decimal strings: they exceed 2^53);
/// with a range, its use on each day of it (0 on days without) and in all.
fn listing_json(
    l: &ApiKeyListing,
    range: Option<&DayRange>,
    usage: &[DayUsage],
) -> serde_json::Value {
    let k = &l.key;
    let mut row = json!({
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
    });
    if let Some(r) = range {
        let used_on = |day| {
            usage
                .iter()
                .find(|u| u.api_key_id == k.id && u.day == day)
                .map_or(0, |u| u.used_fri)
        };
        let days: Vec<_> = (r.from..=r.to)
            .map(|day| json!({ "day": date_of(day), "used_fri": used_on(day).to_string() }))
            .collect();
        let total: u128 = (r.from..=r.to).map(used_on).sum();
        row["usage"] = json!(days);
        row["used_in_range_fri"] = json!(total.to_string());
    }
    row
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
    let shown = json!({ "id": args.id, "status": status.as_str() });
    if args.output.json {
        println!("{shown}");
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
    args.output.print(
        &json!({ "id": args.id, "api_key": secret.as_str() }),
        || secret.to_string(),
    )?;
    eprintln!(
        "api key `{}` has a new secret, shown only this once; the old one is refused from now \
         on (budget, history and client session tokens stay)",
        args.id
    );
    Ok(())
}
