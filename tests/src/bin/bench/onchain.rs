//! On-chain cost of one STRK transfer along every path, from receipts, in one devnet run:
//! OpenZeppelin direct and relayed, Argent's session path, ours, and bundles.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use stark_sessions_tests::onchain::{gas, Paths};
use stark_sessions_tests::Relayed;

use crate::breakdown;
use crate::report::{Row, Section};

/// Runs of each path after the warm-up; the median is reported (L2 gas is deterministic on a
/// devnet, so the runs check that rather than average noise).
const RUNS: usize = 3;
/// Bundle sizes of row (h).
const BUNDLES: [usize; 4] = [1, 4, 8, 16];

async fn median_gas<F, Fut>(mut op: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Relayed>>,
{
    median(|| {
        let run = op();
        async move { gas(&run.await?) }
    })
    .await
}

/// The median of [`RUNS`] runs of `op` (a figure in L2 gas) after one warm-up run.
async fn median<F, Fut>(mut op: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64>>,
{
    // One warm-up: the first write to a slot (a nonce word, a balance) costs more than later ones.
    op().await?;
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        runs.push(op().await?);
    }
    runs.sort_unstable();
    Ok(runs[RUNS / 2])
}

/// What one `balance_of` call adds to a session execution (the transfer with and without it,
/// same session).
async fn balance_of_cost(paths: &Paths) -> Result<u64> {
    let without = median_gas(|| paths.session_probe_relayed(false))
        .await
        .context("the probe's transfer")?;
    let with = median_gas(|| paths.session_probe_relayed(true))
        .await
        .context("the probe's transfer and balance_of")?;
    Ok(with.saturating_sub(without))
}

/// (e) as measured before the agent limits existed (README, 2026-12-03): a session without
/// any must cost the same, within 2 %.
const SESSION_BEFORE_LIMITS: u64 = 2_073_600;

/// Rows (r), (s) and (s'): a new session registered then used, granted and used, and the
/// granted session's second use.
struct NewSession {
    register_then_use: u64,
    grant_first_use: u64,
    grant_later_use: u64,
}

async fn measure_new_session(paths: &Paths) -> Result<NewSession> {
    let register_then_use = median(|| async {
        let (registration, first_use) = paths.register_then_use().await?;
        Ok(gas(&registration)? + gas(&first_use)?)
    })
    .await
    .context("(r)")?;
    let later = std::cell::RefCell::new(Vec::new());
    let grant_first_use = median(|| async {
        let (first_use, second) = paths.grant_then_use().await?;
        later.borrow_mut().push(gas(&second)?);
        gas(&first_use)
    })
    .await
    .context("(s)")?;
    let mut later = later.into_inner();
    later.sort_unstable();
    Ok(NewSession {
        register_then_use,
        grant_first_use,
        grant_later_use: later[later.len() / 2],
    })
}

/// The measured figures, L2 gas.
struct Figures {
    oz_direct: u64,
    oz_outside: u64,
    argent: Option<u64>,
    argent_note: String,
    owner_direct: u64,
    floor: u64,
    session: u64,
    session_fresh_word: u64,
    limited: u64,
    ruled: u64,
    guarded: u64,
    balance_of: u64,
    multicall: u64,
    bundles: Vec<(usize, u64)>,
    new_session: NewSession,
}

async fn measure(paths: &Paths) -> Result<Figures> {
    let (argent, argent_note) = match crate::argent_row::measure(paths, RUNS).await {
        Ok(gas) => (Some(gas), String::new()),
        Err(e) => (None, format!("{e:#}")),
    };
    let mut bundles = Vec::new();
    for n in BUNDLES {
        let gas = median_gas(|| paths.bundle(n)).await;
        bundles.push((n, gas.with_context(|| format!("(h) bundle of {n}"))?));
    }
    Ok(Figures {
        oz_direct: median_gas(|| paths.oz_direct()).await.context("(a)")?,
        oz_outside: median_gas(|| paths.oz_outside_relayed())
            .await
            .context("(b)")?,
        argent,
        argent_note,
        owner_direct: median_gas(|| paths.owner_direct()).await.context("(d)")?,
        floor: median_gas(|| paths.floor_relayed()).await.context("(z)")?,
        session: median_gas(|| paths.session_relayed())
            .await
            .context("(e)")?,
        session_fresh_word: median_gas(|| paths.session_relayed_fresh_word())
            .await
            .context("(e')")?,
        limited: median_gas(|| paths.session_limited_relayed())
            .await
            .context("(f)")?,
        ruled: median_gas(|| paths.session_ruled_relayed())
            .await
            .context("(t)")?,
        guarded: median_gas(|| paths.session_guarded_relayed())
            .await
            .context("(u)")?,
        balance_of: balance_of_cost(paths).await?,
        multicall: median_gas(|| paths.session_multicall(5))
            .await
            .context("(g)")?,
        bundles,
        new_session: measure_new_session(paths).await?,
    })
}

fn row(name: &str, gas: u64, executions: u64, a: u64, b: u64) -> Row {
    let per = gas / executions;
    Row {
        name: name.to_owned(),
        cells: vec![
            ("L2 gas", gas.to_string()),
            ("per transfer", per.to_string()),
            ("vs (b)", format!("{:.2}x", per as f64 / b as f64)),
        ],
        ratio: Some(per as f64 / a as f64),
        data: json!({
            "l2_gas": gas,
            "transfers": executions,
            "per_transfer": per,
            "ratio_to_oz_direct": per as f64 / a as f64,
            "ratio_to_oz_outside_relayed": per as f64 / b as f64,
        }),
    }
}

fn gas_goal(name: &str, measured: u64, bound: u64) -> String {
    let verdict = if measured <= bound { "met" } else { "not met" };
    format!("Goal {name}: {measured} L2 gas (bound {bound}) — {verdict}.")
}

fn goal(name: &str, measured: f64, bound: f64, unit: &str) -> String {
    let verdict = if measured <= bound { "met" } else { "not met" };
    format!("Goal {name}: {measured:.3}{unit} (bound {bound:.2}{unit}) — {verdict}.")
}

fn rows(x: &Figures) -> Vec<Row> {
    let (a, b) = (x.oz_direct, x.oz_outside);
    let mut rows = vec![
        row("(a) OZ account, direct", a, 1, a, b),
        row("(b) OZ account, outside execution, relayed", b, 1, a, b),
    ];
    rows.push(match x.argent {
        Some(gas) => row("(c) Argent 0.4.0 session, relayed", gas, 1, a, b),
        None => Row {
            name: "(c) Argent 0.4.0 session, relayed".into(),
            cells: vec![("", "not measured".into())],
            ratio: None,
            data: json!({ "l2_gas": null, "why": x.argent_note }),
        },
    });
    rows.extend([
        row("(d) our account's owner, direct", x.owner_direct, 1, a, b),
        row(
            "(z) the floor: nonce check and the calls, relayed",
            x.floor,
            1,
            a,
            b,
        ),
        row("(e) our session, relayed", x.session, 1, a, b),
        row(
            "(e') (e) with a nonce in a fresh storage word",
            x.session_fresh_word,
            1,
            a,
            b,
        ),
        row("(f) (e) with a spending limit", x.limited, 1, a, b),
        row(
            "(t) (e) with a recipient rule and an amount rule",
            x.ruled,
            1,
            a,
            b,
        ),
        row("(u) (f) with the loss guard on STRK", x.guarded, 1, a, b),
        row("(g) session, 5-call multicall", x.multicall, 5, a, b),
    ]);
    let n = &x.new_session;
    rows.extend([
        row(
            "(r) a new session: registration relayed + first use relayed",
            n.register_then_use,
            1,
            a,
            b,
        ),
        row(
            "(s) a new session: first use with a grant, relayed",
            n.grant_first_use,
            1,
            a,
            b,
        ),
        row(
            "(s') a granted session's second use, relayed",
            n.grant_later_use,
            1,
            a,
            b,
        ),
    ]);
    for (n, gas) in &x.bundles {
        rows.push(row(
            &format!("(h) bundle of {n} session executions"),
            *gas,
            *n as u64,
            a,
            b,
        ));
    }
    rows
}

fn goals(x: &Figures) -> Vec<String> {
    let (a, b) = (x.oz_direct as f64, x.oz_outside as f64);
    let bundle_8 = x
        .bundles
        .iter()
        .find(|(n, _)| *n == 8)
        .map(|(n, g)| *g as f64 / *n as f64)
        .unwrap_or(f64::INFINITY);
    let checks = x.session.saturating_sub(x.floor);
    let checks_verdict = if checks <= 250_000 { "met" } else { "not met" };
    let mut out =
        vec![
            format!(
                "Goal (e) - (z) <= 250000 L2 gas (the session checks over the floor): {checks} — \
             {checks_verdict}."
            ),
            goal("(e) <= 0.75 x (b)", x.session as f64 / b, 0.75, "x"),
            goal("(f) <= 0.85 x (b)", x.limited as f64 / b, 0.85, "x"),
            goal(
                "(h) N=8 per execution <= 0.95 x (a)",
                bundle_8 / a,
                0.95,
                "x",
            ),
            goal("(d) <= 0.90 x (a)", x.owner_direct as f64 / a, 0.90, "x"),
            goal(
                "(s) <= 0.60 x (r)",
                x.new_session.grant_first_use as f64 / x.new_session.register_then_use as f64,
                0.60,
                "x",
            ),
            format!(
            "Goal (s') = (e), a granted session's later use costs what a registered one's does: \
             {} vs {} — {}.",
            x.new_session.grant_later_use,
            x.session,
            if x.new_session.grant_later_use == x.session { "met" } else { "not met" }
        ),
            goal(
                "(e) within 2 % of its cost before the agent limits (2 073 600)",
                x.session as f64 / SESSION_BEFORE_LIMITS as f64,
                1.02,
                "x",
            ),
            gas_goal("(t) <= (e) + 60 000", x.ruled, x.session + 60_000),
            gas_goal(
                &format!(
                    "(u) <= (f) + 2 x one balance_of call ({} L2 gas each)",
                    x.balance_of
                ),
                x.guarded,
                x.limited + 2 * x.balance_of,
            ),
        ];
    out.insert(
        2,
        match x.argent {
            Some(c) => goal("(e) <= 0.70 x (c)", x.session as f64 / c as f64, 0.70, "x"),
            None => format!("Goal (e) <= 0.70 x (c): not measured — {}", x.argent_note),
        },
    );
    out
}

fn summary(x: &Figures) -> Vec<(&'static str, Value)> {
    let bundle_8 = x
        .bundles
        .iter()
        .find(|(n, _)| *n == 8)
        .map(|(n, g)| g / *n as u64);
    vec![
        ("gas_oz_direct", json!(x.oz_direct)),
        ("gas_oz_outside_relayed", json!(x.oz_outside)),
        ("gas_argent_session_relayed", json!(x.argent)),
        ("gas_floor_relayed", json!(x.floor)),
        ("gas_owner_direct", json!(x.owner_direct)),
        ("gas_session_relayed", json!(x.session)),
        ("gas_session_spending_limit_relayed", json!(x.limited)),
        ("gas_session_argument_rules_relayed", json!(x.ruled)),
        ("gas_session_loss_guard_relayed", json!(x.guarded)),
        ("gas_balance_of_call", json!(x.balance_of)),
        ("gas_bundle_8_per_execution", json!(bundle_8)),
        (
            "gas_register_then_use_relayed",
            json!(x.new_session.register_then_use),
        ),
        (
            "gas_grant_first_use_relayed",
            json!(x.new_session.grant_first_use),
        ),
        (
            "gas_grant_later_use_relayed",
            json!(x.new_session.grant_later_use),
        ),
    ]
}

/// Measures every path and returns the section.
pub async fn run() -> Result<Section> {
    let bundle_max = BUNDLES.iter().copied().max().unwrap_or(1);
    let paths = Paths::setup(bundle_max).await?;
    let figures = measure(&paths).await?;
    let mut notes = goals(&figures);
    notes.push(breakdown::session_transfer(&paths).await?);
    notes.push(breakdown::granted_first_use(&paths).await?);
    notes.push(format!(
        "Each figure is the median of {RUNS} runs after one warm-up run; ratios in the last \
         column are per transfer against (a), and `vs (b)` against the relayed OZ baseline. \
         Every relayed row uses the same relayer (predeployed account #1), transfer, recipient \
         and amount. Nonces are consecutive per account, as the paymaster issues them: 128 \
         share one storage word, so a warm account allocates no new slot (402,000 L2 gas each); \
         (e') shows what a nonce outside any used word costs (OZ's and Argent's nonce maps pay \
         that on every execution)."
    ));
    notes.push(
        "How the rows are charged: the relayer is the devnet's OpenZeppelin 1.0.0 account, a \
         Sierra 1.6.0 class, so blockifier runs it in Cairo steps, and runs every call beneath a \
         Cairo-steps call in Cairo steps as well — our Sierra 1.9 account and the floor included. \
         Relayed rows therefore pay Cairo steps (100 L2 gas a step, syscalls at their OS step \
         counts, builtins only where they would outweigh the steps), and a transaction's steps \
         are rounded up to whole L1 gas (40,000 L2 gas). (a) and (d), whose entry point is the \
         account itself, run in Sierra gas."
            .into(),
    );
    Ok(Section {
        title: "On-chain cost of one STRK transfer (embedded devnet, from receipts)".into(),
        baseline: "(a) the predeployed OpenZeppelin 1.0.0 account's direct transfer".into(),
        rows: rows(&figures),
        summary: summary(&figures),
        notes,
    })
}
