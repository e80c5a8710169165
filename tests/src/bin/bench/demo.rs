//! End to end: `stark-sessions demo` wall time and peak memory, run as a user runs it.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::report::{Row, Section};

const RUNS: usize = 3;

/// Runs the demo binary `RUNS` times under `/usr/bin/time` and reports medians.
pub fn run(binary: &Path) -> Result<Section> {
    let mut walls = Vec::new();
    let mut peaks_kib = Vec::new();
    let mut gas_ratio = 0.0;
    for _ in 0..RUNS {
        let stats =
            std::env::temp_dir().join(format!("stark-sessions-demo-{:x}", rand::random::<u64>()));
        let started = Instant::now();
        let out = std::process::Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&stats)
            .arg(binary)
            .args(["demo", "--json"])
            .output()
            .with_context(|| format!("running {} under /usr/bin/time", binary.display()))?;
        walls.push(started.elapsed().as_secs_f64());
        if !out.status.success() {
            bail!("the demo failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        gas_ratio = report["l2_gas"]["ratio"].as_f64().unwrap_or_default();
        let peak = std::fs::read_to_string(&stats)?;
        std::fs::remove_file(&stats).ok();
        peaks_kib.push(
            peak.trim()
                .lines()
                .last()
                .and_then(|l| l.trim().parse::<f64>().ok())
                .context("peak memory from /usr/bin/time")?,
        );
    }
    walls.sort_by(f64::total_cmp);
    peaks_kib.sort_by(f64::total_cmp);
    let (wall, peak_mib) = (walls[RUNS / 2], peaks_kib[RUNS / 2] / 1024.0);
    Ok(Section {
        title: "End to end: `stark-sessions demo`".into(),
        baseline: "none (absolute figures)".into(),
        rows: vec![Row {
            name: "demo, 20 delegated calls (process start to exit)".into(),
            cells: vec![
                ("wall", format!("{wall:.2} s")),
                ("peak RSS", format!("{peak_mib:.0} MiB")),
                (
                    "session call L2 gas vs owner's direct call",
                    format!("{gas_ratio:.2}x"),
                ),
            ],
            ratio: None,
            data: json!({ "wall_seconds": wall, "peak_rss_mib": peak_mib, "session_call_gas_ratio": gas_ratio }),
        }],
        summary: vec![],
        notes: vec![format!(
            "Median of {RUNS} runs of the dev-profile binary (dependencies optimised)."
        )],
    })
}
