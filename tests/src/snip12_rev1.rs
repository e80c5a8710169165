//! An independent SNIP-12 revision 1 hasher over typed-data JSON, written from the spec, so
//! that tests can check a typed data's hash (ours, the contract's, starknet.js's) piece by
//! piece: [`encode_type`], [`type_hash`], [`struct_hash`], [`message_hash`].
//!
//! Covered: structs, the presets `u256`, `TokenAmount` and `NftId`, arrays `T*`, and the basic
//! types `felt`, `shortstring`, `ContractAddress`, `ClassHash`, `selector`, `u128`, `timestamp`
//! and `bool`. Enums, merkle trees, `string` and `i128` are refused.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use starknet::core::types::Felt;
use starknet::core::utils::{cairo_short_string_to_felt, get_selector_from_name, starknet_keccak};
use starknet_crypto::poseidon_hash_many;

/// The types revision 1 defines for every typed data, as `(name, [(field, type)])`.
const PRESETS: [(&str, &[(&str, &str)]); 3] = [
    ("u256", &[("low", "u128"), ("high", "u128")]),
    (
        "TokenAmount",
        &[("token_address", "ContractAddress"), ("amount", "u256")],
    ),
    (
        "NftId",
        &[
            ("collection_address", "ContractAddress"),
            ("token_id", "u256"),
        ],
    ),
];

/// The domain struct of revision 1.
pub const DOMAIN_TYPE: &str = "StarknetDomain";

/// The fields of a struct type: the typed data's own `types`, else a preset.
fn fields(types: &Value, name: &str) -> Option<Vec<(String, String)>> {
    if let Some(declared) = types.get(name).and_then(Value::as_array) {
        return declared
            .iter()
            .map(|f| {
                let field = f.get("name")?.as_str()?.to_owned();
                let ty = f.get("type")?.as_str()?.to_owned();
                Some((field, ty))
            })
            .collect();
    }
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, fs)| {
        fs.iter()
            .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
            .collect()
    })
}

/// The struct types `name` references, directly or through others, itself excluded.
fn dependencies(types: &Value, name: &str, found: &mut Vec<String>) -> Result<()> {
    let own = fields(types, name).with_context(|| format!("no struct type {name}"))?;
    for (_, ty) in own {
        let element = ty.strip_suffix('*').unwrap_or(&ty);
        if fields(types, element).is_some()
            && element != name
            && !found.iter().any(|f| f == element)
        {
            found.push(element.to_owned());
            dependencies(types, element, found)?;
        }
    }
    Ok(())
}

/// The spec's encoded type of `primary`: `"Name"("field":"type",…)` for it, then for every
/// struct type it references (presets included), sorted by name.
pub fn encode_type(types: &Value, primary: &str) -> Result<String> {
    let mut referenced = Vec::new();
    dependencies(types, primary, &mut referenced)?;
    referenced.retain(|r| r != primary);
    referenced.sort();
    let mut out = String::new();
    for name in std::iter::once(primary.to_owned()).chain(referenced) {
        let members: Vec<String> = fields(types, &name)
            .with_context(|| format!("no struct type {name}"))?
            .iter()
            .map(|(field, ty)| format!("\"{field}\":\"{ty}\""))
            .collect();
        out.push_str(&format!("\"{name}\"({})", members.join(",")));
    }
    Ok(out)
}

/// `starknet_keccak` of [`encode_type`].
pub fn type_hash(types: &Value, name: &str) -> Result<Felt> {
    Ok(starknet_keccak(encode_type(types, name)?.as_bytes()))
}

/// `poseidon(type_hash, encoded fields…)` of `value` as a `name` struct.
pub fn struct_hash(types: &Value, name: &str, value: &Value) -> Result<Felt> {
    let mut encoded = vec![type_hash(types, name)?];
    for (field, ty) in fields(types, name).with_context(|| format!("no struct type {name}"))? {
        let v = value
            .get(&field)
            .with_context(|| format!("{name}.{field} missing"))?;
        encoded.push(encode_value(types, &ty, v).with_context(|| format!("{name}.{field}"))?);
    }
    Ok(poseidon_hash_many(&encoded))
}

/// The encoding of one value of type `ty`: a struct by its hash, an array by the poseidon hash
/// of its elements' encodings, a basic type as one felt.
pub fn encode_value(types: &Value, ty: &str, v: &Value) -> Result<Felt> {
    if fields(types, ty).is_some() {
        return struct_hash(types, ty, v);
    }
    if let Some(element) = ty.strip_suffix('*') {
        let items = v.as_array().context("an array value expected")?;
        let encoded = items
            .iter()
            .map(|item| encode_value(types, element, item))
            .collect::<Result<Vec<_>>>()?;
        return Ok(poseidon_hash_many(&encoded));
    }
    match ty {
        "felt" | "shortstring" => number(v).or_else(|_| short_string(v)),
        "ContractAddress" | "ClassHash" => number(v),
        "u128" | "timestamp" => {
            let n = number(v)?;
            if n.bits() > 128 {
                bail!("{n:#x} does not fit a {ty}");
            }
            Ok(n)
        }
        "selector" => number_if_hex(v).map_or_else(|| entry_point_name(v), Ok),
        "bool" => match v {
            Value::Bool(b) => Ok(Felt::from(u8::from(*b))),
            _ => bail!("a bool expected"),
        },
        other => bail!("type {other} is not covered by this hasher"),
    }
}

/// `poseidon("StarkNet Message", domain hash, account, message hash)`.
pub fn message_hash(typed_data: &Value, account: Felt) -> Result<Felt> {
    let types = typed_data.get("types").context("no types")?;
    let primary = typed_data
        .get("primaryType")
        .and_then(Value::as_str)
        .context("no primaryType")?;
    let domain = struct_hash(
        types,
        DOMAIN_TYPE,
        typed_data.get("domain").context("no domain")?,
    )?;
    let message = struct_hash(
        types,
        primary,
        typed_data.get("message").context("no message")?,
    )?;
    Ok(poseidon_hash_many(&[
        cairo_short_string_to_felt("StarkNet Message")?,
        domain,
        account,
        message,
    ]))
}

/// A number: `0x…` hex, a decimal string or a JSON integer.
fn number(v: &Value) -> Result<Felt> {
    if let Some(n) = number_if_hex(v) {
        return Ok(n);
    }
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Felt::from_dec_str(s).map_err(|e| anyhow!("{s}: {e}"))
        }
        Value::Number(n) => n.as_u64().map(Felt::from).context("not a u64 number"),
        _ => bail!("{v} is not a number"),
    }
}

fn number_if_hex(v: &Value) -> Option<Felt> {
    v.as_str()
        .filter(|s| s.starts_with("0x") || s.starts_with("0X"))
        .and_then(|s| Felt::from_hex(s).ok())
}

fn short_string(v: &Value) -> Result<Felt> {
    let s = v.as_str().with_context(|| format!("{v} is not a string"))?;
    cairo_short_string_to_felt(s).map_err(|e| anyhow!("{s:?} is not a short string: {e}"))
}

fn entry_point_name(v: &Value) -> Result<Felt> {
    let s = v
        .as_str()
        .with_context(|| format!("{v} is not a selector"))?;
    get_selector_from_name(s).map_err(|e| anyhow!("{s:?} is not an entry point name: {e}"))
}
