//! Option groups shared by subcommands, and the parsers of addresses, selectors and calls.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stark_sessions_abi::Felt;
use stark_sessions_client::envelope;
use stark_sessions_client::{
    check_new_pin, check_owner_passphrase, Network, Owner, PaymasterAuth, PaymasterClient,
    SessionClient, SessionError, SessionStore, SpendingLimit,
};
use starknet::core::types::Call;
use starknet::core::utils::get_selector_from_name;
use starknet::signers::SigningKey;
use zeroize::Zeroizing;

use crate::config::{Config, NetworkUrls};

/// Where the chain and the paymaster are.
#[derive(Debug, Clone, clap::Args)]
pub struct ChainOpts {
    /// The network: devnet, sepolia, mainnet (URLs from `stark-sessions config`, the node's
    /// chain id checked before anything is signed), or a node's RPC URL. Default: the
    /// configured network, else devnet.
    #[arg(long, env = "STARK_SESSIONS_NETWORK")]
    pub network: Option<String>,
    /// JSON-RPC URL of a Starknet node (RPC 0.10), over the network's configured one.
    #[arg(long, env = "STARK_SESSIONS_RPC_URL")]
    pub rpc_url: Option<url::Url>,
    /// URL of a SNIP-29 paymaster, over the network's configured one.
    #[arg(long, env = "STARK_SESSIONS_PAYMASTER_URL")]
    pub paymaster_url: Option<url::Url>,
    /// Paymaster API key (backends), sent as x-paymaster-api-key.
    #[arg(long, env = "STARK_SESSIONS_PAYMASTER_API_KEY", hide_env_values = true)]
    pub paymaster_api_key: Option<String>,
    /// Paymaster client session token (frontends, game clients), sent as a bearer token.
    #[arg(
        long,
        env = "STARK_SESSIONS_PAYMASTER_TOKEN",
        hide_env_values = true,
        conflicts_with = "paymaster_api_key"
    )]
    pub paymaster_token: Option<String>,
}

/// Where a command's node and paymaster are, and the network the node must be on.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The named network (its chain id is checked), or none for a bare URL.
    pub network: Option<Network>,
    /// The node.
    pub rpc_url: url::Url,
    /// The paymaster, if one is known.
    pub paymaster_url: Option<url::Url>,
}

impl ChainOpts {
    /// The node, paymaster and network from the options, the configuration file and the
    /// devnet's defaults, in that order.
    pub fn resolve(&self) -> Result<Resolved> {
        let config = Config::load()?;
        let chosen = match (&self.network, &self.rpc_url) {
            (Some(n), _) => Some(n.clone()),
            // A bare --rpc-url with no network anywhere is its own network: nothing to check.
            (None, Some(_)) => config.network.clone(),
            (None, None) => Some(
                config
                    .network
                    .clone()
                    .unwrap_or_else(|| Network::Devnet.name().to_owned()),
            ),
        };
        let (network, urls) = match chosen {
            Some(name) if name.contains("://") => {
                let url = name
                    .parse()
                    .with_context(|| format!("--network {name}: not a URL"))?;
                (
                    None,
                    NetworkUrls {
                        rpc_url: Some(url),
                        paymaster_url: None,
                    },
                )
            }
            Some(name) => {
                let network = name.parse::<Network>().map_err(anyhow::Error::msg)?;
                (Some(network), config.urls(&name))
            }
            None => (None, NetworkUrls::default()),
        };
        let rpc_url = self.rpc_url.clone().or(urls.rpc_url).with_context(|| {
            let name = network.map_or("this network", Network::name);
            format!(
                "no RPC URL for {name}: give --rpc-url, or run `stark-sessions config set {name}.rpc_url <url>`"
            )
        })?;
        Ok(Resolved {
            network,
            rpc_url,
            paymaster_url: self.paymaster_url.clone().or(urls.paymaster_url),
        })
    }

    /// A client of the node and the paymaster, refusing a node on another chain than the
    /// chosen network.
    pub async fn client(&self) -> Result<SessionClient> {
        let resolved = self.resolve()?;
        let auth = match (&self.paymaster_api_key, &self.paymaster_token) {
            (Some(key), _) => PaymasterAuth::api_key(key.clone()),
            (None, Some(token)) => PaymasterAuth::client_session_token(token.clone()),
            (None, None) => PaymasterAuth::None,
        };
        let paymaster_url = match resolved.paymaster_url {
            Some(url) => url,
            // Commands that use no paymaster still run; one that does fails naming this host.
            None => NO_PAYMASTER.parse().context("placeholder URL")?,
        };
        let paymaster = PaymasterClient::new(paymaster_url, auth);
        let rpc_url = resolved.rpc_url;
        let unreachable = || {
            format!(
                "cannot reach the node at {rpc_url}; check --rpc-url, STARK_SESSIONS_RPC_URL or `stark-sessions config show`"
            )
        };
        match resolved.network {
            Some(network) => SessionClient::connect_to(network, rpc_url.clone(), paymaster)
                .await
                .map_err(|e| match e {
                    SessionError::WrongChain(_) => anyhow::Error::new(e),
                    other => anyhow::Error::new(other).context(unreachable()),
                }),
            None => SessionClient::connect(rpc_url.clone(), paymaster)
                .await
                .with_context(unreachable),
        }
    }
}

/// The paymaster URL of a network that has none configured: any request to it fails, naming
/// the fix in its host.
const NO_PAYMASTER: &str = "http://no-paymaster-configured--use-paymaster-url.invalid/";

/// The session store.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreOpts {
    /// Directory of the session store (default: $STARK_SESSIONS_HOME/sessions or
    /// ~/.stark-sessions/sessions).
    #[arg(long, env = "STARK_SESSIONS_STORE")]
    pub store: Option<PathBuf>,
}

impl StoreOpts {
    /// Opens the store.
    pub fn open(&self) -> Result<SessionStore> {
        let dir = self.store.clone().unwrap_or_else(SessionStore::default_dir);
        Ok(SessionStore::open(dir)?)
    }
}

/// Where the PIN that encrypts a session key (or the passphrase of an owner key) comes from.
/// Without either option it is read from the terminal without echo.
#[derive(Debug, Clone, clap::Args)]
pub struct PinOpts {
    /// Read the PIN (or an owner key's passphrase) from this file (first line).
    #[arg(long, conflicts_with = "pin_env")]
    pub pin_file: Option<PathBuf>,
    /// Read the PIN (or an owner key's passphrase) from this environment variable.
    #[arg(long)]
    pub pin_env: Option<String>,
}

impl PinOpts {
    /// The PIN of a session key.
    pub fn read(&self) -> Result<Zeroizing<String>> {
        self.read_as("session PIN: ")
    }

    /// The PIN for a new session envelope: asked twice at a prompt, and checked against the
    /// PIN policy before anything is made.
    pub fn read_new(&self, prompt: &str) -> Result<Zeroizing<String>> {
        let pin = self.read_twice(prompt)?;
        check_new_pin(&pin)?;
        Ok(pin)
    }

    /// The passphrase for a new owner envelope: asked twice at a prompt, and checked against
    /// the owner passphrase policy (a zxcvbn score of 3 or more) before anything is made.
    pub fn read_new_owner_passphrase(&self, prompt: &str) -> Result<Zeroizing<String>> {
        let passphrase = self.read_twice(prompt)?;
        check_owner_passphrase(&passphrase)?;
        Ok(passphrase)
    }

    /// The secret from the options, or from the prompt twice (the two must agree).
    fn read_twice(&self, prompt: &str) -> Result<Zeroizing<String>> {
        let pin = self.read_as(prompt)?;
        if self.pin_file.is_none() && self.pin_env.is_none() {
            let again = Zeroizing::new(
                rpassword::prompt_password("the same again: ")
                    .context("no PIN: give --pin-file or --pin-env, or run in a terminal")?,
            );
            if *again != *pin {
                bail!("the two entries differ; nothing was written");
            }
        }
        Ok(pin)
    }

    /// The PIN, prompting with `prompt` when neither option is given.
    pub fn read_as(&self, prompt: &str) -> Result<Zeroizing<String>> {
        let pin = if let Some(path) = &self.pin_file {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the PIN file {}", path.display()))?,
            );
            Zeroizing::new(text.lines().next().unwrap_or_default().to_owned())
        } else if let Some(var) = &self.pin_env {
            Zeroizing::new(
                std::env::var(var).with_context(|| format!("the PIN variable {var} is not set"))?,
            )
        } else {
            Zeroizing::new(
                rpassword::prompt_password(prompt)
                    .context("no PIN: give --pin-file or --pin-env, or run in a terminal")?,
            )
        };
        if pin.is_empty() {
            bail!("the PIN is empty");
        }
        Ok(pin)
    }
}

/// The owner's key, for registering and revoking: an envelope made by `stark-sessions owner
/// new|import` (opened with the passphrase — or, for an envelope made before passphrases, the
/// PIN — from `--pin-file`, `--pin-env` or a prompt), or — warned about — a plaintext 0x… hex
/// key.
#[derive(Debug, Clone, clap::Args)]
pub struct OwnerOpts {
    /// File holding the owner's private key: an envelope (`stark-sessions owner new|import`)
    /// or, discouraged, plaintext 0x… hex.
    #[arg(long, env = "STARK_SESSIONS_OWNER_KEY_FILE")]
    pub owner_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub pin: PinOpts,
}

impl OwnerOpts {
    /// The owner of `account`. The key may also come from `STARK_SESSIONS_OWNER_KEY`.
    pub fn owner(&self, account: Felt) -> Result<Owner> {
        Ok(Owner::new(account, self.signing_key()?))
    }

    /// The owner's signing key, from its envelope (asking for the PIN) or from plaintext
    /// (with a warning on stderr that names the file, never the key).
    pub fn signing_key(&self) -> Result<SigningKey> {
        let (text, source) = match &self.owner_key_file {
            Some(path) => (
                Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the owner key file {}", path.display())
                })?),
                path.display().to_string(),
            ),
            None => (
                Zeroizing::new(std::env::var("STARK_SESSIONS_OWNER_KEY").context(
                    "no owner key: give --owner-key-file or set STARK_SESSIONS_OWNER_KEY",
                )?),
                "STARK_SESSIONS_OWNER_KEY".to_owned(),
            ),
        };
        if envelope::is_envelope(&text) {
            let pin = self.pin.read_as("owner key passphrase: ")?;
            let secret = envelope::open(&text, &pin)
                .with_context(|| format!("cannot open the owner key in {source}"))?;
            let scalar = Felt::from_bytes_be(&secret.to_bytes());
            return Ok(SigningKey::from_secret_scalar(scalar));
        }
        let scalar = Felt::from_hex(text.trim())
            .ok()
            .filter(|k| *k != Felt::ZERO)
            .with_context(|| {
                format!(
                    "the owner key in {source} is neither an envelope nor a 0x… hex private key"
                )
            })?;
        eprintln!(
            "warning: the owner key in {source} is stored in plaintext; wrap it with `stark-sessions owner import --key-file <file> --out <envelope>`"
        );
        Ok(SigningKey::from_secret_scalar(scalar))
    }
}

/// Parses a 0x… hex address.
pub fn parse_address(text: &str) -> Result<Felt> {
    let valid = text.len() > 2
        && text.len() <= 66
        && text.starts_with("0x")
        && text[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        bail!("malformed address `{text}`: expected 0x followed by up to 64 hex digits");
    }
    Felt::from_hex(text).with_context(|| format!("malformed address `{text}`: not a field element"))
}

/// Parses an entry point: its name (`record_score`) or its selector (0x…).
pub fn parse_selector(text: &str) -> Result<Felt> {
    if text.starts_with("0x") {
        return parse_address(text)
            .with_context(|| format!("malformed selector `{text}`: give a name or 0x… hex"));
    }
    let name_ok = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !name_ok {
        bail!("malformed selector `{text}`: give an entry point name or 0x… hex");
    }
    get_selector_from_name(text).with_context(|| format!("malformed selector `{text}`"))
}

/// Parses `to:entrypoint[:arg,arg…]` into a call; arguments are 0x… hex or decimal felts.
pub fn parse_call(text: &str) -> Result<Call> {
    let mut parts = text.splitn(3, ':');
    let (Some(to), Some(entrypoint)) = (parts.next(), parts.next()) else {
        bail!("malformed call `{text}`: expected <to>:<entrypoint>[:<arg>,<arg>…]");
    };
    let calldata = match parts.next() {
        None | Some("") => Vec::new(),
        Some(args) => args
            .split(',')
            .map(|a| {
                let a = a.trim();
                let parsed = if a.starts_with("0x") {
                    Felt::from_hex(a).ok()
                } else if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) {
                    Felt::from_dec_str(a).ok()
                } else {
                    None
                };
                parsed.with_context(|| {
                    format!("malformed calldata `{a}` in `{text}`: expected 0x… hex or a decimal number")
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    Ok(Call {
        to: parse_address(to)?,
        selector: parse_selector(entrypoint)?,
        calldata,
    })
}

/// Parses `token:max_per_call:max_per_window:window_seconds`.
pub fn parse_spending_limit(text: &str) -> Result<SpendingLimit> {
    let parts: Vec<&str> = text.split(':').collect();
    let [token, per_call, per_window, window] = parts.as_slice() else {
        bail!("malformed spending limit `{text}`: expected <token>:<max per call>:<max per window>:<window seconds>");
    };
    let amount = |s: &str| {
        s.parse::<u128>().with_context(|| {
            format!("malformed amount `{s}` in `{text}`: expected a decimal number")
        })
    };
    Ok(SpendingLimit {
        token: parse_address(token)?,
        max_per_call: amount(per_call)?,
        max_per_window: amount(per_window)?,
        window_seconds: window.parse().with_context(|| {
            format!("malformed window `{window}` in `{text}`: expected seconds")
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_addresses_and_selectors_parse_or_say_what_is_wrong() {
        let call = parse_call("0x9a3e:record_score:5,0x10").expect("call");
        assert_eq!(call.to, Felt::from(0x9a3eu32));
        assert_eq!(call.calldata, vec![Felt::from(5u8), Felt::from(16u8)]);
        assert_eq!(
            parse_call("0x9a3e:0x11").expect("hex selector").selector,
            Felt::from(0x11u8)
        );
        for (bad, says) in [
            ("0x9a3e", "expected <to>:<entrypoint>"),
            ("9a3e:play", "malformed address"),
            ("0xzz:play", "malformed address"),
            ("0x9a3e:play-now", "malformed selector"),
            ("0x9a3e:play:1,x", "malformed calldata `x`"),
        ] {
            let e = format!("{:#}", parse_call(bad).expect_err(bad));
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(parse_spending_limit("0x70c:1:2:60").is_ok());
        assert!(parse_spending_limit("0x70c:1:2").is_err());
    }
}
