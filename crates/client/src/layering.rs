//! The crate's modules depend one way: each names only modules below it in [`ORDER`], so a
//! `use` that reaches up — the start of a cycle — fails here, not in review.

/// A module's name and its source.
macro_rules! module {
    ($name:ident) => {
        (
            stringify!($name),
            include_str!(concat!(stringify!($name), ".rs")),
        )
    };
}

/// The modules from the bottom up: keys and their envelopes, stored sessions, the paymaster's
/// wire client, then the session client and what it does — execute, manage sessions, deploy.
const ORDER: &[(&str, &str)] = &[
    module!(error),
    module!(pin),
    module!(secret),
    module!(envelope),
    module!(keys),
    module!(handle),
    module!(session),
    module!(store),
    module!(counterfactual),
    module!(paymaster),
    module!(client),
    module!(execution),
    module!(lifecycle),
    module!(deploy),
];

/// What follows each `crate::` in `source`'s code (comments left out): a module name when the
/// path is written as it should be, `crate::module::Item`.
fn crate_paths(source: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for line in source.lines().map(code_of) {
        for (at, _) in line.match_indices("crate::") {
            let before = line[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &line[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            found.push(if end == 0 {
                &rest[..1.min(rest.len())]
            } else {
                &rest[..end]
            });
        }
    }
    found
}

/// `line` without its comment: from the first `//` that is not a URL's `://`.
fn code_of(line: &str) -> &str {
    let comment = line
        .match_indices("//")
        .find(|(at, _)| !line[..*at].ends_with(':'))
        .map_or(line.len(), |(at, _)| at);
    &line[..comment]
}

/// Every `crate::` path in `order` that does not name a module below (or the same as) the one
/// it is written in: a module above, a re-export at the root, a `crate::{…}` group.
fn violations(order: &[(&str, &str)]) -> Vec<String> {
    let rank = |name: &str| order.iter().position(|(n, _)| *n == name);
    let mut found = Vec::new();
    for (level, (module, source)) in order.iter().enumerate() {
        for used in crate_paths(source) {
            match rank(used) {
                Some(r) if r <= level => {}
                Some(_) => found.push(format!("{module} uses crate::{used}, a module above it")),
                None => found.push(format!(
                    "{module} uses crate::{used}, not a module: name the module that defines it"
                )),
            }
        }
    }
    found
}

#[test]
fn each_module_uses_only_the_modules_below_it() {
    assert_eq!(violations(ORDER), Vec::<String>::new());
}

#[test]
fn every_module_of_the_crate_has_its_place_in_the_order() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("the crate's sources")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "lib.rs" && name != "layering.rs")
        .collect();
    files.sort();
    let mut placed: Vec<String> = ORDER.iter().map(|(name, _)| format!("{name}.rs")).collect();
    placed.sort();
    assert_eq!(files, placed);
}

#[test]
fn an_upward_use_a_root_re_export_and_a_group_are_each_caught() {
    let order = [
        (
            "low",
            "use crate::high::Item;\n/// [`crate::high`] in a doc is no use.\n",
        ),
        (
            "high",
            "use crate::low::Item;\nuse crate::Item;\nuse crate::{low, high};\n",
        ),
    ];
    assert_eq!(
        violations(&order),
        [
            "low uses crate::high, a module above it",
            "high uses crate::Item, not a module: name the module that defines it",
            "high uses crate::{, not a module: name the module that defines it",
        ]
    );
    // Comments, `pub(crate)` and paths of other crates are not uses.
    assert!(crate_paths("pub(crate) fn f() {} // crate::high\nuse other_crate::x;\n").is_empty());
}
