//! The benchmark report: rows of measurements grouped in sections, printed as a table and
//! written as Markdown and JSON.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// One measured thing.
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Named figures, in display order.
    pub cells: Vec<(&'static str, String)>,
    /// The figure compared to the section's baseline, if any.
    pub ratio: Option<f64>,
    /// The same figures for the JSON report.
    pub data: Value,
}

/// A group of rows with a common baseline.
pub struct Section {
    /// Title.
    pub title: String,
    /// What the ratios compare against.
    pub baseline: String,
    /// Rows.
    pub rows: Vec<Row>,
    /// Notes under the table.
    pub notes: Vec<String>,
    /// Headline figures for `report.json`'s top-level `summary` object (key, number).
    pub summary: Vec<(&'static str, Value)>,
}

/// Latencies of one scenario.
pub struct Sample {
    /// Name.
    pub name: String,
    /// One latency per operation.
    pub latencies: Vec<Duration>,
    /// Wall time of the scenario.
    pub wall: Duration,
}

impl Sample {
    /// The `p`th percentile latency.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    /// Operations per second of wall time.
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    /// The sample as a report row, with a ratio (of p50 latency) to `baseline`.
    pub fn row(&self, baseline: Option<&Sample>) -> Row {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let ratio = baseline.map(|b| ms(self.percentile(50.0)) / ms(b.percentile(50.0)));
        Row {
            name: self.name.clone(),
            cells: vec![
                ("n", self.latencies.len().to_string()),
                ("req/s", format!("{:.1}", self.per_second())),
                ("p50 ms", format!("{:.2}", ms(self.percentile(50.0)))),
                ("p99 ms", format!("{:.2}", ms(self.percentile(99.0)))),
            ],
            ratio,
            data: json!({
                "n": self.latencies.len(),
                "requests_per_second": self.per_second(),
                "p50_ms": ms(self.percentile(50.0)),
                "p99_ms": ms(self.percentile(99.0)),
                "ratio_p50_to_baseline": ratio,
            }),
        }
    }
}

/// The machine, for the report's header.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cores} cores, {memory_gib:.0} GiB")
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    civil(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0) as i64,
    )
}

/// The date `days` after 1970-01-01.
fn civil(days: i64) -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn markdown(sections: &[Section], date: &str, machine: &str) -> String {
    let mut out = format!(
        "# stark-sessions benchmark report\n\n{date}, {machine}. Written by `scripts/bench.sh`; every ratio compares figures measured in this same run.\n"
    );
    for section in sections {
        let _ = write!(
            out,
            "\n## {}\n\nBaseline: {}.\n\n",
            section.title, section.baseline
        );
        out.push_str("| | figures | ratio |\n|---|---|---|\n");
        for row in &section.rows {
            let cells: Vec<String> = row
                .cells
                .iter()
                .map(|(h, v)| {
                    if h.is_empty() {
                        v.clone()
                    } else {
                        format!("{h} {v}")
                    }
                })
                .collect();
            let ratio = row.ratio.map(|r| format!("{r:.2}x")).unwrap_or_default();
            let _ = writeln!(out, "| {} | {} | {ratio} |", row.name, cells.join(", "));
        }
        for note in &section.notes {
            let _ = write!(out, "\n{note}\n");
        }
    }
    out
}

/// The `summary` object: this run's headline figures over those of earlier runs in `previous`
/// (a benchmark run for one section keeps the other sections' last figures).
fn summary(sections: &[Section], previous: Option<&Value>) -> Value {
    let mut summary = previous
        .and_then(|p| p.get("summary"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in sections.iter().flat_map(|s| &s.summary) {
        summary.insert((*key).to_owned(), value.clone());
    }
    Value::Object(summary)
}

/// Prints the report and writes `target/bench/report.md` and `report.json`.
pub fn write(sections: &[Section]) -> Result<()> {
    let (date, machine) = (today(), machine());
    let md = markdown(sections, &date, &machine);
    println!("{md}");
    let dir = std::path::Path::new("target/bench");
    let previous = std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    let json = json!({
        "date": date,
        "machine": machine,
        "summary": summary(sections, previous.as_ref()),
        "sections": sections.iter().map(|s| json!({
            "title": s.title,
            "baseline": s.baseline,
            "rows": s.rows.iter().map(|r| json!({ "name": r.name, "figures": r.data })).collect::<Vec<_>>(),
            "notes": s.notes,
        })).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(dir).context("creating target/bench")?;
    std::fs::write(dir.join("report.md"), md).context("writing report.md")?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&json)?,
    )
    .context("writing report.json")?;
    println!("wrote target/bench/report.md and target/bench/report.json");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_since_the_epoch_become_civil_dates() {
        assert_eq!(super::civil(0), "1970-01-01");
        assert_eq!(super::civil(11_016), "2000-02-29");
        assert_eq!(super::civil(20_779), "2026-11-22");
    }

    #[test]
    fn summary_keeps_earlier_figures_and_takes_this_runs() {
        let section = super::Section {
            title: String::new(),
            baseline: String::new(),
            rows: vec![],
            notes: vec![],
            summary: vec![("a", serde_json::json!(2))],
        };
        let previous = serde_json::json!({ "summary": { "a": 1, "b": 3 } });
        assert_eq!(
            super::summary(&[section], Some(&previous)),
            serde_json::json!({ "a": 2, "b": 3 })
        );
    }
}
