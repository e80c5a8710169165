//! The command's configuration file: the RPC and paymaster URLs of each network and the
//! default network, and `stark-sessions config show|set`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use stark_sessions_client::Network;

use crate::session::{emit, OutputOpts};

/// Names the configuration file instead of the platform's default place.
pub const CONFIG_ENV: &str = "STARK_SESSIONS_CONFIG";

/// The local devnet's node, as `stark-sessions devnet` starts it.
pub const DEVNET_RPC_URL: &str = "http://127.0.0.1:5050/rpc";
/// The local devnet's paymaster, as `stark-sessions devnet` starts it.
pub const DEVNET_PAYMASTER_URL: &str = "http://127.0.0.1:5051/";

/// The URLs of one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkUrls {
    /// JSON-RPC URL of a node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<url::Url>,
    /// URL of a SNIP-29 paymaster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paymaster_url: Option<url::Url>,
}

/// The configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The network used when `--network` is not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// URLs per network name.
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkUrls>,
}

impl Config {
    /// Where the file is: `$STARK_SESSIONS_CONFIG`, else the platform's configuration
    /// directory (`$XDG_CONFIG_HOME` or `~/.config` on Linux, `~/Library/Application Support`
    /// on macOS, `%APPDATA%` on Windows) + `stark-sessions/config.toml`.
    pub fn path() -> Result<PathBuf> {
        if let Some(path) = std::env::var_os(CONFIG_ENV) {
            return Ok(PathBuf::from(path));
        }
        Ok(platform_config_dir()?
            .join("stark-sessions")
            .join("config.toml"))
    }

    /// The file's contents; an absent file is an empty configuration.
    pub fn load() -> Result<Config> {
        let path = Self::path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("the configuration file {} is invalid", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the file owner-only (URLs may carry a provider's key), creating its directory.
    fn save(&self) -> Result<PathBuf> {
        let path = Self::path()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = toml::to_string_pretty(self).context("serialising the configuration")?;
        let tmp = path.with_extension("toml.tmp");
        write_owner_only(&tmp, &text)?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(path)
    }

    /// The URLs configured for `name`, with the devnet's built-in defaults under them.
    pub fn urls(&self, name: &str) -> NetworkUrls {
        let configured = self.networks.get(name).cloned().unwrap_or_default();
        if name != Network::Devnet.name() {
            return configured;
        }
        NetworkUrls {
            rpc_url: configured.rpc_url.or_else(|| DEVNET_RPC_URL.parse().ok()),
            paymaster_url: configured
                .paymaster_url
                .or_else(|| DEVNET_PAYMASTER_URL.parse().ok()),
        }
    }

    /// Sets `key` (`network`, or `<network>.rpc_url` / `<network>.paymaster_url`).
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        if key == "network" {
            value.parse::<Network>().map_err(anyhow::Error::msg)?;
            self.network = Some(value.to_owned());
            return Ok(());
        }
        let Some((name, field)) = key.split_once('.') else {
            bail!("unknown key {key:?}: use network, <network>.rpc_url or <network>.paymaster_url");
        };
        name.parse::<Network>().map_err(anyhow::Error::msg)?;
        let url: url::Url = value
            .parse()
            .with_context(|| format!("{key} takes a URL, not {value:?}"))?;
        let entry = self.networks.entry(name.to_owned()).or_default();
        match field {
            "rpc_url" => entry.rpc_url = Some(url),
            "paymaster_url" => entry.paymaster_url = Some(url),
            _ => bail!("unknown key {key:?}: a network has rpc_url and paymaster_url"),
        }
        Ok(())
    }
}

fn platform_config_dir() -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let home = || var("HOME").context("no HOME: set STARK_SESSIONS_CONFIG");
    if cfg!(target_os = "macos") {
        return Ok(home()?.join("Library").join("Application Support"));
    }
    if cfg!(windows) {
        return var("APPDATA").context("no APPDATA: set STARK_SESSIONS_CONFIG");
    }
    match var("XDG_CONFIG_HOME") {
        Some(dir) if dir.is_absolute() => Ok(dir),
        _ => Ok(home()?.join(".config")),
    }
}

#[cfg(unix)]
fn write_owner_only(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(not(unix))]
fn write_owner_only(path: &std::path::Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// `stark-sessions config`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// The configuration file's place, the default network and every network's URLs.
    Show(ShowArgs),
    /// Sets `network <name>`, `<network>.rpc_url <url>` or `<network>.paymaster_url <url>`.
    Set(SetArgs),
}

/// Options of `config show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    output: OutputOpts,
}

/// Options of `config set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// `network`, `<network>.rpc_url` or `<network>.paymaster_url`.
    key: String,
    /// The value.
    value: String,
}

/// Runs a config subcommand.
pub fn run(command: ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Show(args) => show(&args.output),
        ConfigCommand::Set(args) => {
            let mut config = Config::load()?;
            config.set(&args.key, &args.value)?;
            let path = config.save()?;
            println!("{} = {} ({})", args.key, args.value, path.display());
            Ok(())
        }
    }
}

fn show(output: &OutputOpts) -> Result<()> {
    let config = Config::load()?;
    let path = Config::path()?;
    let default = config
        .network
        .clone()
        .unwrap_or_else(|| Network::Devnet.name().to_owned());
    let mut text = format!("file {}\nnetwork {default}", path.display());
    let mut networks = serde_json::Map::new();
    for network in Network::ALL {
        let urls = config.urls(network.name());
        let show = |u: &Option<url::Url>| u.as_ref().map_or("(not set)".into(), |u| u.to_string());
        text.push_str(&format!(
            "\n{}: rpc_url {}, paymaster_url {}",
            network.name(),
            show(&urls.rpc_url),
            show(&urls.paymaster_url)
        ));
        networks.insert(network.name().into(), json!(urls));
    }
    emit(
        output,
        json!({ "file": path.display().to_string(), "network": default, "networks": networks }),
        text,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_takes_known_keys_and_refuses_the_rest() {
        let mut c = Config::default();
        c.set("network", "sepolia").expect("network");
        c.set("sepolia.rpc_url", "https://node.example/rpc")
            .expect("rpc");
        assert_eq!(c.network.as_deref(), Some("sepolia"));
        assert_eq!(
            c.urls("sepolia").rpc_url.map(|u| u.to_string()),
            Some("https://node.example/rpc".to_owned())
        );
        assert!(c.set("network", "goerli").is_err());
        assert!(c.set("sepolia.rpc", "https://x").is_err());
        assert!(c.set("mainnet.rpc_url", "not a url").is_err());
        let text = toml::to_string_pretty(&c).expect("toml");
        assert_eq!(toml::from_str::<Config>(&text).expect("back"), c);
    }

    #[test]
    fn the_devnet_has_local_defaults_and_the_public_networks_none() {
        let c = Config::default();
        assert_eq!(
            c.urls("devnet").rpc_url.map(|u| u.to_string()),
            Some(DEVNET_RPC_URL.to_owned())
        );
        assert_eq!(c.urls("mainnet"), NetworkUrls::default());
    }
}
