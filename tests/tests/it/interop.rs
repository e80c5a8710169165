//! Our SNIP-12 revision 1 typed data hashed by starknet.js (tests/interop, installed by
//! scripts/starknetjs.sh): the outside executions users sign, and the revision-1 features a
//! session grant needs. Pure hashing, no devnet.

use serde_json::{json, Value};
use stark_sessions_abi::constants::{
    CALL_TYPE_HASH, DOMAIN_TYPE_HASH, OUTSIDE_EXECUTION_TYPE_HASH, STARKNET_MESSAGE,
};
use stark_sessions_abi::typed_data::{hex, outside_execution_typed_data};
use stark_sessions_abi::{snip12, OutsideExecution};
use stark_sessions_tests::snip12_rev1::{self, encode_type, type_hash};
use stark_sessions_tests::starknetjs::{starknetjs_encode_type, starknetjs_message_hash};
use starknet::core::chain_id::SEPOLIA;
use starknet::core::types::{Call, Felt};
use starknet::core::utils::{cairo_short_string_to_felt, get_selector_from_name};
use starknet_crypto::poseidon_hash_many;

fn short(s: &str) -> Felt {
    cairo_short_string_to_felt(s).expect("a short string")
}

/// A chain id a devnet can be started with (`--chain-id`), unlike any public network's.
fn devnet_chain() -> Felt {
    short("SN_DEVNET_CUSTOM")
}

fn call(to: Felt, name: &str, calldata: Vec<Felt>) -> Call {
    Call {
        to,
        selector: get_selector_from_name(name).expect("ASCII name"),
        calldata,
    }
}

fn execution(nonce: u64, calls: Vec<Call>) -> OutsideExecution {
    OutsideExecution {
        caller: snip12::ANY_CALLER,
        nonce: Felt::from(nonce),
        execute_after: 0,
        execute_before: 2_000_000_000,
        calls,
    }
}

/// The outside executions compared, with the account and chain each is signed for.
fn cases() -> Vec<(&'static str, OutsideExecution, Felt, Felt)> {
    let account = Felt::from_hex_unchecked("0x5e55a0cc");
    let token = Felt::from_hex_unchecked(
        "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d",
    );
    let one = execution(1, vec![call(token, "transfer", vec![Felt::ONE, Felt::TWO])]);
    let several = execution(
        2,
        vec![
            call(
                token,
                "approve",
                vec![Felt::from(0xbeefu32), Felt::from(10u8), Felt::ZERO],
            ),
            call(
                Felt::from(0x1234u32),
                "record_score",
                vec![Felt::from(42u8)],
            ),
            call(Felt::from(0x5678u32), "play", vec![]),
        ],
    );
    let empty = execution(3, vec![call(token, "ping", vec![])]);
    let no_calls = execution(4, vec![]);
    let large = OutsideExecution {
        caller: Felt::MAX,
        nonce: Felt::MAX - Felt::ONE,
        execute_after: u64::MAX - 1,
        execute_before: u64::MAX,
        calls: vec![Call {
            to: Felt::MAX,
            selector: Felt::MAX,
            calldata: vec![Felt::MAX, Felt::from(u128::MAX), Felt::TWO.pow(251u16)],
        }],
    };
    vec![
        ("one call", one.clone(), account, SEPOLIA),
        ("several calls", several.clone(), account, SEPOLIA),
        ("empty calldata", empty, account, SEPOLIA),
        ("no calls", no_calls, account, SEPOLIA),
        ("large felts", large.clone(), Felt::MAX, SEPOLIA),
        ("one call on a devnet", one, account, devnet_chain()),
        (
            "several calls on a devnet",
            several,
            account,
            devnet_chain(),
        ),
        ("large felts on a devnet", large, Felt::MAX, devnet_chain()),
    ]
}

#[test]
fn starknetjs_hashes_outside_executions_as_we_do() {
    for (name, outside, account, chain) in cases() {
        let typed = outside_execution_typed_data(&outside, chain);
        let ours = snip12::outside_execution_hash(&outside, account, chain);
        let theirs = starknetjs_message_hash(&typed, account)
            .unwrap_or_else(|e| panic!("{name}: starknet.js refused it: {e:#}"));
        assert_eq!(theirs, ours, "{name}");
        let spec = snip12_rev1::message_hash(&typed, account).expect("spec hasher");
        assert_eq!(spec, ours, "{name}: the spec hasher disagrees");
    }
}

#[test]
fn outside_execution_type_hashes_are_the_encoded_types_starknetjs_builds() {
    let typed = outside_execution_typed_data(&cases()[1].1, SEPOLIA);
    let types = &typed["types"];
    for (name, constant) in [
        ("OutsideExecution", OUTSIDE_EXECUTION_TYPE_HASH),
        ("Call", CALL_TYPE_HASH),
        ("StarknetDomain", DOMAIN_TYPE_HASH),
    ] {
        let theirs = starknetjs_encode_type(&typed, name).expect("starknet.js encodeType");
        assert_eq!(encode_type(types, name).expect("encodes"), theirs, "{name}");
        assert_eq!(type_hash(types, name).expect("hashes"), constant, "{name}");
    }
}

#[test]
fn an_altered_calldata_value_changes_starknetjs_hash() {
    let (_, outside, account, chain) = cases().remove(1);
    let ours = snip12::outside_execution_hash(&outside, account, chain);
    let mut altered = outside_execution_typed_data(&outside, chain);
    altered["message"]["Calls"][0]["Calldata"][1] = json!("0xb");
    let theirs = starknetjs_message_hash(&altered, account).expect("starknet.js hashes it");
    assert_ne!(theirs, ours, "the comparison cannot tell calldata apart");
    let mut edited = outside;
    edited.calls[0].calldata[1] = Felt::from(0xbu8);
    assert_eq!(
        theirs,
        snip12::outside_execution_hash(&edited, account, chain)
    );
}

#[test]
fn starknetjs_refusals_carry_its_reason() {
    let (_, outside, account, chain) = cases().remove(0);
    let typed = outside_execution_typed_data(&outside, chain);
    let mut too_late = typed.clone();
    too_late["message"]["Execute Before"] = json!(hex(Felt::TWO.pow(128u16)));
    let mut bad_address = typed.clone();
    bad_address["message"]["Calls"][0]["To"] =
        json!("0x800000000000011000000000000000000000000000000000000000000000001");
    let mut legacy = typed;
    legacy["domain"]["revision"] = json!("0");
    for (what, edited, reason) in [
        ("a u128 of 2^128", too_late, "out of bounds"),
        ("an address of P", bad_address, "out of bounds"),
        (
            "revision 0 with a StarknetDomain",
            legacy,
            "validateTypedData",
        ),
    ] {
        let err = starknetjs_message_hash(&edited, account)
            .expect_err(&format!("starknet.js accepted {what}"));
        assert!(format!("{err:#}").contains(reason), "{what}: {err:#}");
    }
}

/// Throw-away typed data with the revision-1 features a session grant needs: `timestamp`,
/// `u128`, `selector*`, `ContractAddress*`, the preset `u256` and an array of a custom struct.
fn grant_typed_data(grant: &Grant) -> Value {
    let limits: Vec<Value> = grant
        .limits
        .iter()
        .map(|l| json!({ "Token": hex(l.token), "Amount": u256(l.amount), "Period": hex(Felt::from(l.period)) }))
        .collect();
    json!({
        "types": {
            "StarknetDomain": [
                { "name": "name", "type": "shortstring" },
                { "name": "version", "type": "shortstring" },
                { "name": "chainId", "type": "shortstring" },
                { "name": "revision", "type": "shortstring" }
            ],
            "Grant": [
                { "name": "Session Key", "type": "felt" },
                { "name": "Valid Until", "type": "timestamp" },
                { "name": "Max Calls", "type": "u128" },
                { "name": "Entrypoints", "type": "selector*" },
                { "name": "Targets", "type": "ContractAddress*" },
                { "name": "Budget", "type": "u256" },
                { "name": "Limits", "type": "SpendingLimit*" }
            ],
            "SpendingLimit": [
                { "name": "Token", "type": "ContractAddress" },
                { "name": "Amount", "type": "u256" },
                { "name": "Period", "type": "u128" }
            ]
        },
        "primaryType": "Grant",
        "domain": { "name": "Grant probe", "version": "1", "chainId": hex(SEPOLIA), "revision": "1" },
        "message": {
            "Session Key": hex(grant.session_key),
            "Valid Until": hex(Felt::from(grant.valid_until)),
            "Max Calls": hex(Felt::from(grant.max_calls)),
            "Entrypoints": grant.entrypoints.iter().map(|s| hex(*s)).collect::<Vec<_>>(),
            "Targets": grant.targets.iter().map(|t| hex(*t)).collect::<Vec<_>>(),
            "Budget": u256(grant.budget),
            "Limits": limits
        }
    })
}

fn u256((low, high): (u128, u128)) -> Value {
    json!({ "low": hex(Felt::from(low)), "high": hex(Felt::from(high)) })
}

struct SpendingLimit {
    token: Felt,
    amount: (u128, u128),
    period: u128,
}

struct Grant {
    session_key: Felt,
    valid_until: u64,
    max_calls: u128,
    entrypoints: Vec<Felt>,
    targets: Vec<Felt>,
    budget: (u128, u128),
    limits: Vec<SpendingLimit>,
}

fn sample_grant() -> Grant {
    let strk = Felt::from_hex_unchecked(
        "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d",
    );
    Grant {
        session_key: Felt::from_hex_unchecked("0x5e55e55e"),
        valid_until: 1_900_000_000,
        max_calls: u128::MAX,
        entrypoints: ["transfer", "approve"]
            .map(|n| get_selector_from_name(n).expect("ASCII"))
            .to_vec(),
        targets: vec![strk, Felt::MAX],
        budget: (u128::MAX, 7),
        limits: vec![
            SpendingLimit {
                token: strk,
                amount: (1_000, 0),
                period: 86_400,
            },
            SpendingLimit {
                token: Felt::from(0xe7u8),
                amount: (0, u128::MAX),
                period: 0,
            },
        ],
    }
}

/// The grant's message hash composed by hand from the spec: each struct is
/// `poseidon(type_hash, fields…)`, each array `poseidon(elements)`, `u256` the struct
/// `{low, high}`; the type hashes are `starknet_keccak` of the encoded types.
fn grant_hash_by_hand(grant: &Grant, types: &Value, account: Felt) -> Felt {
    let th = |name: &str| type_hash(types, name).expect("type hash");
    let u256 = |(low, high): (u128, u128)| {
        poseidon_hash_many(&[th("u256"), Felt::from(low), Felt::from(high)])
    };
    let limits: Vec<Felt> = grant
        .limits
        .iter()
        .map(|l| {
            poseidon_hash_many(&[
                th("SpendingLimit"),
                l.token,
                u256(l.amount),
                Felt::from(l.period),
            ])
        })
        .collect();
    let message = poseidon_hash_many(&[
        th("Grant"),
        grant.session_key,
        Felt::from(grant.valid_until),
        Felt::from(grant.max_calls),
        poseidon_hash_many(&grant.entrypoints),
        poseidon_hash_many(&grant.targets),
        u256(grant.budget),
        poseidon_hash_many(&limits),
    ]);
    // "Grant probe" is text, so a short string; "1" is all digits, so the number 1 (not '1').
    let domain = poseidon_hash_many(&[
        th("StarknetDomain"),
        short("Grant probe"),
        Felt::ONE,
        SEPOLIA,
        Felt::ONE,
    ]);
    poseidon_hash_many(&[STARKNET_MESSAGE, domain, account, message])
}

#[test]
fn starknetjs_hashes_grant_features_as_the_spec_does() {
    let grant = sample_grant();
    let typed = grant_typed_data(&grant);
    let account = Felt::from_hex_unchecked("0xacc0");
    for name in ["Grant", "SpendingLimit", "u256"] {
        let theirs = starknetjs_encode_type(&typed, name).expect("starknet.js encodeType");
        assert_eq!(
            encode_type(&typed["types"], name).expect("encodes"),
            theirs,
            "{name}"
        );
    }
    let theirs = starknetjs_message_hash(&typed, account).expect("starknet.js hashes it");
    assert_eq!(theirs, grant_hash_by_hand(&grant, &typed["types"], account));
    assert_eq!(
        theirs,
        snip12_rev1::message_hash(&typed, account).expect("spec hasher")
    );
}

#[test]
fn starknetjs_reads_a_hex_selector_as_the_selector_and_any_other_string_as_a_name() {
    let grant = sample_grant();
    let account = Felt::from_hex_unchecked("0xacc0");
    let typed = grant_typed_data(&grant);
    let hex_hash = starknetjs_message_hash(&typed, account).expect("hex selectors");

    let mut by_name = typed.clone();
    by_name["message"]["Entrypoints"] = json!(["transfer", "approve"]);
    assert_eq!(
        starknetjs_message_hash(&by_name, account).expect("named selectors"),
        hex_hash,
        "a name and its hex selector must hash alike"
    );

    // A decimal string is not read as a number: it is hashed as an entry point name.
    let decimal = grant.entrypoints[0].to_string();
    let mut by_decimal = typed;
    by_decimal["message"]["Entrypoints"][0] = json!(decimal);
    let decimal_hash = starknetjs_message_hash(&by_decimal, account).expect("decimal string");
    assert_ne!(decimal_hash, hex_hash);
    let mut as_name = sample_grant();
    as_name.entrypoints[0] = get_selector_from_name(&decimal).expect("ASCII");
    assert_eq!(
        decimal_hash,
        grant_hash_by_hand(&as_name, &by_decimal["types"], account)
    );
}

/// Session grants as the CLI prints them (`SessionGrant::typed_data`): starknet.js builds the
/// same type string and the same message hash as the account checks.
#[test]
fn starknetjs_hashes_session_grants_as_the_account_does() {
    use stark_sessions_abi::constants::SESSION_GRANT_TYPE;
    use stark_sessions_abi::{ArgRule, GrantCallRules, GrantSpendingLimit, SessionGrant, U256};
    let full = SessionGrant {
        account: Felt::from_hex_unchecked("0x5e55a0cc"),
        session_key: Felt::from_hex_unchecked("0x7a3b"),
        valid_until: 1_900_000_000,
        max_calls: u32::MAX,
        entrypoints: vec![
            get_selector_from_name("record_score").expect("ASCII"),
            get_selector_from_name("transfer").expect("ASCII"),
        ],
        targets: vec![Felt::from(0x9a3eu32), Felt::MAX],
        spending_limits: vec![
            GrantSpendingLimit {
                token: Felt::from(0x70cu32),
                max_per_call: U256::from_u128(5),
                max_per_window: U256::from_u128(u128::MAX),
                window_seconds: 0xffff_ffff,
            },
            GrantSpendingLimit {
                token: Felt::from(0x70du32),
                max_per_call: U256 { high: 1, low: 0 },
                max_per_window: U256::MAX,
                window_seconds: 1,
            },
        ],
        valid_after: 1_800_000_000,
        rate_max_executions: 3,
        rate_window_seconds: 60,
        arg_rules: vec![GrantCallRules {
            target: Felt::from(0x70cu32),
            selector: get_selector_from_name("transfer").expect("ASCII"),
            rules: vec![
                ArgRule::one_of(0, vec![Felt::from(0x77u8), Felt::from(0x78u8)]),
                ArgRule::u256_at_most(1, U256::from_u128(50)).expect("a bound"),
                ArgRule::at_least(2, Felt::ONE),
            ],
        }],
        loss_guards: vec![Felt::from(0x70cu32)],
        key_generation: 7,
        sessions_epoch: 2,
        owner_key_version: 1,
    };
    let empty = SessionGrant {
        entrypoints: vec![],
        targets: vec![],
        spending_limits: vec![],
        valid_after: 0,
        rate_max_executions: 0,
        rate_window_seconds: 0,
        arg_rules: vec![],
        loss_guards: vec![],
        key_generation: 0,
        sessions_epoch: 0,
        owner_key_version: 0,
        ..full.clone()
    };
    for (grant, chain) in [(&full, SEPOLIA), (&empty, devnet_chain())] {
        let json = grant.typed_data(chain);
        assert_eq!(
            starknetjs_encode_type(&json, "SessionGrant").expect("starknet.js encodes the type"),
            SESSION_GRANT_TYPE
        );
        assert_eq!(
            starknetjs_message_hash(&json, grant.account).expect("starknet.js hashes it"),
            grant.message_hash(chain)
        );
    }
    // The comparison can fail: another term, another hash.
    let mut altered = full.typed_data(SEPOLIA);
    altered["message"]["Max Calls"] = json!("1");
    assert_ne!(
        starknetjs_message_hash(&altered, full.account).expect("hashes"),
        full.message_hash(SEPOLIA)
    );
}
