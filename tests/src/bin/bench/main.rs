//! Benchmarks, each side by side with its baseline in the same run, written to
//! `target/bench/report.md` and `report.json`.
//!
//! `scripts/bench.sh [all|onchain|client|paymaster|instances|demo] [--requests N] [--demo-bin PATH]`
//!
//! Runs in the dev profile, whose dependencies (devnet, blockifier, cairo-vm) and our crypto
//! crates are optimised: the time is spent there, and a release build would rebuild the whole
//! dependency tree.

mod argent_row;
mod breakdown;
mod client;
mod demo;
mod instances;
mod onchain;
mod paymaster;
mod report;

use anyhow::{bail, Context, Result};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| -> Option<&String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let requests: usize = flag("--requests")
        .map(|v| v.parse().context("--requests takes a number"))
        .transpose()?
        .unwrap_or(200);
    let which = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .unwrap_or("all");
    let all = which == "all";
    if !all && !["onchain", "client", "paymaster", "instances", "demo"].contains(&which) {
        bail!(
            "unknown benchmark {which}; available: all, onchain, client, paymaster, instances, demo"
        );
    }
    let mut sections = Vec::new();
    if all || which == "onchain" {
        eprintln!("bench: on-chain cost…");
        sections.push(onchain::run().await?);
    }
    if all || which == "client" {
        eprintln!("bench: client…");
        sections.push(client::run(requests.min(100)).await?);
    }
    if all || which == "paymaster" {
        eprintln!("bench: paymaster…");
        sections.push(paymaster::run(requests, &[1, 8, 32]).await?);
    }
    if all || which == "instances" {
        eprintln!("bench: paymaster instances…");
        sections.push(instances::run(requests).await?);
    }
    if all || which == "demo" {
        let binary = flag("--demo-bin").context(
            "the demo benchmark needs --demo-bin <path to stark-sessions> (scripts/bench.sh passes it)",
        )?;
        eprintln!("bench: demo…");
        sections.push(demo::run(std::path::Path::new(binary))?);
    }
    report::write(&sections)
}
