//! SNIP-12 revision 1 typed data of a SNIP-9 v2 outside execution, as JSON: built by a
//! paymaster's `paymaster_buildTransaction`, read back strictly by the paymaster before it
//! relays and by the client before it signs.

use serde_json::{json, Value};
use starknet_core::types::{Call, Felt};
use starknet_core::utils::parse_cairo_short_string;

use crate::constants::{OUTSIDE_DOMAIN_NAME, OUTSIDE_DOMAIN_VERSION, SNIP12_REVISION};
use crate::errors::AbiError;
use crate::types::OutsideExecution;

/// The typed data a user signs for `outside` on a chain.
pub fn outside_execution_typed_data(outside: &OutsideExecution, chain_id: Felt) -> Value {
    let calls: Vec<Value> = outside
        .calls
        .iter()
        .map(|call| {
            json!({
                "To": hex(call.to),
                "Selector": hex(call.selector),
                "Calldata": call.calldata.iter().map(|f| hex(*f)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "types": {
            "StarknetDomain": [
                { "name": "name", "type": "shortstring" },
                { "name": "version", "type": "shortstring" },
                { "name": "chainId", "type": "shortstring" },
                { "name": "revision", "type": "shortstring" }
            ],
            "OutsideExecution": [
                { "name": "Caller", "type": "ContractAddress" },
                { "name": "Nonce", "type": "felt" },
                { "name": "Execute After", "type": "u128" },
                { "name": "Execute Before", "type": "u128" },
                { "name": "Calls", "type": "Call*" }
            ],
            "Call": [
                { "name": "To", "type": "ContractAddress" },
                { "name": "Selector", "type": "selector" },
                { "name": "Calldata", "type": "felt*" }
            ]
        },
        "primaryType": "OutsideExecution",
        "domain": {
            "name": short_string(OUTSIDE_DOMAIN_NAME),
            "version": OUTSIDE_DOMAIN_VERSION.to_string(),
            "chainId": hex(chain_id),
            "revision": SNIP12_REVISION.to_string(),
        },
        "message": {
            "Caller": hex(outside.caller),
            "Nonce": hex(outside.nonce),
            "Execute After": hex(Felt::from(outside.execute_after)),
            "Execute Before": hex(Felt::from(outside.execute_before)),
            "Calls": calls,
        }
    })
}

/// Reads an outside execution back from typed data, refusing anything that is not exactly the
/// SNIP-9 v2 domain on `chain_id` (a signature over another domain would not verify on chain,
/// and a lenient reader would let a client sign something other than what is relayed).
pub fn parse_outside_execution(
    typed_data: &Value,
    chain_id: Felt,
) -> Result<OutsideExecution, AbiError> {
    let bad = |what: &str| AbiError::TypedData(what.to_owned());
    if typed_data.get("primaryType").and_then(Value::as_str) != Some("OutsideExecution") {
        return Err(bad("primaryType must be OutsideExecution"));
    }
    let domain = typed_data.get("domain").ok_or_else(|| bad("no domain"))?;
    let field = |name: &str| -> Result<Felt, AbiError> {
        domain
            .get(name)
            .and_then(felt_or_short_string)
            .ok_or_else(|| bad(&format!("domain.{name} missing or malformed")))
    };
    if field("name")? != OUTSIDE_DOMAIN_NAME {
        return Err(bad("domain.name is not Account.execute_from_outside"));
    }
    if field("version")? != OUTSIDE_DOMAIN_VERSION {
        return Err(bad("domain.version is not 2"));
    }
    if field("revision")? != SNIP12_REVISION {
        return Err(bad("domain.revision is not 1"));
    }
    if field("chainId")? != chain_id {
        return Err(bad("domain.chainId is not this chain"));
    }
    let message = typed_data.get("message").ok_or_else(|| bad("no message"))?;
    let felt = |v: Option<&Value>, name: &str| -> Result<Felt, AbiError> {
        v.and_then(felt_value)
            .ok_or_else(|| bad(&format!("message.{name} missing or not a felt")))
    };
    let u64_field = |name: &str| -> Result<u64, AbiError> {
        u64::try_from(felt(message.get(name), name)?)
            .map_err(|_| bad(&format!("message.{name} out of range")))
    };
    let calls = message
        .get("Calls")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("message.Calls missing"))?
        .iter()
        .map(|call| {
            let calldata = call
                .get("Calldata")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("Calls[].Calldata missing"))?
                .iter()
                .map(|v| felt(Some(v), "Calldata[]"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Call {
                to: felt(call.get("To"), "Calls[].To")?,
                selector: call
                    .get("Selector")
                    .and_then(selector_value)
                    .ok_or_else(|| bad("message.Calls[].Selector missing or malformed"))?,
                calldata,
            })
        })
        .collect::<Result<Vec<_>, AbiError>>()?;
    Ok(OutsideExecution {
        caller: felt(message.get("Caller"), "Caller")?,
        nonce: felt(message.get("Nonce"), "Nonce")?,
        execute_after: u64_field("Execute After")?,
        execute_before: u64_field("Execute Before")?,
        calls,
    })
}

/// `0x…` lower-case hex, the form every SNIP-29 felt takes on the wire.
pub fn hex(felt: Felt) -> String {
    format!("{felt:#x}")
}

fn short_string(felt: Felt) -> String {
    parse_cairo_short_string(&felt).unwrap_or_else(|_| hex(felt))
}

/// A felt given as `0x…` hex, a decimal string or a JSON number.
pub fn felt_value(v: &Value) -> Option<Felt> {
    match v {
        Value::String(s) if s.starts_with("0x") || s.starts_with("0X") => Felt::from_hex(s).ok(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Felt::from_dec_str(s).ok()
        }
        Value::Number(n) => n.as_u64().map(Felt::from),
        _ => None,
    }
}

/// A `selector` value: a felt, or (as starknet.js and starknet-rs allow) an entry point name.
fn selector_value(v: &Value) -> Option<Felt> {
    felt_value(v).or_else(|| {
        v.as_str()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .and_then(|s| starknet_core::utils::get_selector_from_name(s).ok())
    })
}

/// A domain field: a felt, or failing that a short string (`"SN_SEPOLIA"`).
fn felt_or_short_string(v: &Value) -> Option<Felt> {
    felt_value(v).or_else(|| {
        v.as_str()
            .and_then(|s| starknet_core::utils::cairo_short_string_to_felt(s).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snip12;
    use starknet_core::types::TypedData;

    fn sample() -> OutsideExecution {
        OutsideExecution {
            caller: snip12::ANY_CALLER,
            nonce: Felt::from(0xabcdefu32),
            execute_after: 5,
            execute_before: 2_000_000_000,
            calls: vec![
                Call {
                    to: Felt::from(0x1234u32),
                    selector: Felt::from(0x99u32),
                    calldata: vec![Felt::ONE, Felt::from(u128::MAX)],
                },
                Call {
                    to: Felt::from(0x5678u32),
                    selector: Felt::TWO,
                    calldata: vec![],
                },
            ],
        }
    }

    #[test]
    fn typed_data_hashes_like_the_contract_and_like_starknet_rs() {
        let chain = starknet_core::chain_id::SEPOLIA;
        let account = Felt::from(0xacc0u32);
        let mut outside = sample();
        outside.calls[0].selector = starknet_macros::selector!("record_score");
        outside.calls[1].selector = starknet_macros::selector!("transfer");
        let mut json = outside_execution_typed_data(&outside, chain);
        // starknet-rs reads a `selector` value as an entry point name (starknet.js takes the
        // hex too); give it names so that it hashes the same selectors.
        json["message"]["Calls"][0]["Selector"] = json!("record_score");
        json["message"]["Calls"][1]["Selector"] = json!("transfer");
        assert_eq!(
            parse_outside_execution(&json, chain).expect("names parse"),
            outside
        );
        let typed: TypedData = serde_json::from_value(json).expect("starknet-rs parses it");
        assert_eq!(
            typed.message_hash(account).expect("hashes"),
            snip12::outside_execution_hash(&outside, account, chain)
        );
    }

    #[test]
    fn typed_data_round_trips_and_foreign_domains_are_refused() {
        let chain = starknet_core::chain_id::SEPOLIA;
        let json = outside_execution_typed_data(&sample(), chain);
        assert_eq!(
            parse_outside_execution(&json, chain).expect("parses"),
            sample()
        );
        assert!(parse_outside_execution(&json, starknet_core::chain_id::MAINNET).is_err());
        let mut shortstring_chain = json.clone();
        shortstring_chain["domain"]["chainId"] = json!("SN_SEPOLIA");
        assert!(parse_outside_execution(&shortstring_chain, chain).is_ok());
        for (path, value) in [
            ("version", json!("1")),
            ("revision", json!("0")),
            ("name", json!("Other")),
        ] {
            let mut edited = json.clone();
            edited["domain"][path] = value;
            assert!(
                parse_outside_execution(&edited, chain).is_err(),
                "{path} accepted"
            );
        }
        let mut bad_calldata = json;
        bad_calldata["message"]["Calls"][0]["Calldata"][0] = json!("zz");
        assert!(parse_outside_execution(&bad_calldata, chain).is_err());
    }
}
