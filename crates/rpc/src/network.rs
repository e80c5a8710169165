//! The networks stark-sessions knows by name, and the chain id each must answer.

use std::fmt;
use std::str::FromStr;

use stark_sessions_abi::constants::{CHAIN_ID_SN_MAIN, CHAIN_ID_SN_SEPOLIA};
use starknet::core::types::Felt;
use starknet::core::utils::parse_cairo_short_string;

/// A network by name: its chain id is checked against the node before anything is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A local starknet-devnet (the embedded one answers `SN_SEPOLIA`, devnet's default).
    Devnet,
    /// Starknet Sepolia testnet (`SN_SEPOLIA`).
    Sepolia,
    /// Starknet mainnet (`SN_MAIN`).
    Mainnet,
}

impl Network {
    /// Every named network.
    pub const ALL: [Network; 3] = [Network::Devnet, Network::Sepolia, Network::Mainnet];

    /// The name used on the command line and in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Network::Devnet => "devnet",
            Network::Sepolia => "sepolia",
            Network::Mainnet => "mainnet",
        }
    }

    /// The chain id a node of this network answers.
    pub fn chain_id(self) -> Felt {
        match self {
            Network::Devnet | Network::Sepolia => CHAIN_ID_SN_SEPOLIA,
            Network::Mainnet => CHAIN_ID_SN_MAIN,
        }
    }

    /// Refuses a node whose chain id is not this network's.
    pub fn check(self, node_chain_id: Felt) -> Result<(), ChainMismatch> {
        if node_chain_id == self.chain_id() {
            Ok(())
        } else {
            Err(ChainMismatch {
                expected: self.chain_id(),
                network: self.name(),
                found: node_chain_id,
            })
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| format!("unknown network {s:?} (devnet, sepolia or mainnet)"))
    }
}

/// A node on another chain than the one asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the node is on chain {}, not {network} ({}): refusing to sign anything for it",
    chain_name(*found),
    chain_name(*expected)
)]
pub struct ChainMismatch {
    /// The chain id asked for.
    pub expected: Felt,
    /// The network asked for.
    pub network: &'static str,
    /// The chain id the node answered.
    pub found: Felt,
}

/// A chain id as its short string when it is one, else in hex.
pub fn chain_name(id: Felt) -> String {
    match parse_cairo_short_string(&id) {
        Ok(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => s,
        _ => format!("{id:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for n in Network::ALL {
            assert_eq!(n.name().parse::<Network>(), Ok(n));
        }
        let e = "goerli".parse::<Network>().expect_err("refused");
        assert!(e.contains("unknown network \"goerli\""), "{e}");
    }

    #[test]
    fn a_node_on_another_chain_is_refused_by_name() {
        assert!(Network::Sepolia.check(CHAIN_ID_SN_SEPOLIA).is_ok());
        let e = Network::Mainnet
            .check(CHAIN_ID_SN_SEPOLIA)
            .expect_err("refused");
        assert_eq!(
            e.to_string(),
            "the node is on chain SN_SEPOLIA, not mainnet (SN_MAIN): refusing to sign anything for it"
        );
        let e = Network::Sepolia
            .check(Felt::from(0x1234u32))
            .expect_err("refused");
        assert!(e.to_string().contains("on chain 0x1234"), "{e}");
    }
}
