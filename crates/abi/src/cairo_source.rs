//! Test support: reads the Cairo sources so that Rust constants are tied to them by tests.

use std::collections::BTreeMap;

use starknet_core::types::Felt;
use starknet_core::utils::cairo_short_string_to_felt;

pub(crate) const CONSTANTS_CAIRO: &str = include_str!("../../../contracts/src/constants.cairo");
pub(crate) const ERRORS_CAIRO: &str = include_str!("../../../contracts/src/errors.cairo");

/// Every `const NAME: T = VALUE;` in a Cairo file, by name (hex, decimal and short-string values).
pub(crate) fn parse_cairo_constants(source: &str) -> BTreeMap<String, Felt> {
    let without_comments: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = BTreeMap::new();
    for statement in without_comments.split(';') {
        let Some(rest) = statement.trim().split("const ").nth(1) else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(':') else {
            continue;
        };
        let Some((_, value)) = rest.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let felt = if let Some(text) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            cairo_short_string_to_felt(text).expect("valid short string")
        } else if let Some(name) = value
            .strip_prefix("selector!(\"")
            .and_then(|v| v.strip_suffix("\")"))
        {
            starknet_core::utils::get_selector_from_name(name).expect("valid selector name")
        } else if value.starts_with("0x") {
            Felt::from_hex(value).expect("valid hex constant")
        } else {
            Felt::from_dec_str(value).expect("valid decimal constant")
        };
        out.insert(name.trim().to_string(), felt);
    }
    out
}
