//! The rules of identity-provider tokens that need no node: ceilings, lifetime, accounts and
//! slots (the store's side is in the store suite, the whole flow in the devnet tests).

use serde_json::json;

use super::*;
use crate::store::KeyStatus;

fn provider(toml_extra: &str) -> IdentityProviderConfig {
    toml::from_str(&format!(
        r#"
        api_key = "game"
        jwks = {{ file = "/nonexistent/jwks.json" }}
        issuer = "https://idp.example/"
        audience = "game"
        max_fee_fri = "1000"
        max_executions = 20
        {toml_extra}
        "#
    ))
    .expect("provider")
}

fn key(daily_budget_fri: u128, requests_per_minute: u32) -> ApiKeyRecord {
    ApiKeyRecord {
        id: "game".into(),
        name: "game".into(),
        key_hash: [0; 32],
        daily_budget_fri,
        requests_per_minute,
        allowed_targets: None,
        status: KeyStatus::Active,
    }
}

fn asked(params: serde_json::Value) -> CreateClientSession {
    let mut params = params;
    params["client_id"] = json!("player-1");
    serde_json::from_value(params).expect("request")
}

fn jwt(claims: serde_json::Value) -> Verified {
    let serde_json::Value::Object(claims) = claims else {
        panic!("claims are an object")
    };
    Verified {
        subject: "player-1".into(),
        expires_at: 10_000,
        jti: claims
            .get("jti")
            .and_then(|j| j.as_str())
            .map(str::to_owned),
        claims,
    }
}

#[test]
fn a_token_gets_the_providers_ceilings_unless_it_asks_for_less_and_more_is_refused() {
    let p = provider("requests_per_minute = 30");
    let limits = p
        .limits(&key(5_000, 600), &asked(json!({})))
        .expect("defaults");
    assert_eq!(
        limits,
        TokenLimits {
            requests_per_minute: Some(30),
            max_fee_fri: Some(1_000),
            max_executions: Some(20),
        },
        "what is not asked is the ceiling, never unlimited"
    );
    let less = asked(json!({ "requests_per_minute": 5, "max_fee_fri": "10", "max_executions": 2 }));
    assert_eq!(
        p.limits(&key(5_000, 600), &less).expect("less"),
        TokenLimits {
            requests_per_minute: Some(5),
            max_fee_fri: Some(10),
            max_executions: Some(2),
        }
    );
    for (params, name) in [
        (json!({ "max_fee_fri": "1001" }), "max_fee_fri"),
        (json!({ "max_executions": 21 }), "max_executions"),
        (json!({ "requests_per_minute": 31 }), "requests_per_minute"),
        (json!({ "max_executions": 0 }), "max_executions"),
    ] {
        let e = p
            .limits(&key(5_000, 600), &asked(params))
            .expect_err("above the ceiling");
        assert_eq!(e.code(), -32602);
        assert!(e.to_string().contains(name), "{e}");
    }
    // A key with less than the provider's ceilings caps them further.
    let small = p.limits(&key(300, 10), &asked(json!({}))).expect("key's");
    assert_eq!(
        (small.max_fee_fri, small.requests_per_minute),
        (Some(300), Some(10))
    );
    let e = p
        .limits(&key(300, 10), &asked(json!({ "max_fee_fri": "301" })))
        .expect_err("above the key's budget");
    assert!(e.to_string().contains("1 to 300"), "{e}");
}

#[test]
fn the_lifetime_is_at_most_the_providers_refused_above_and_cut_to_the_jwt() {
    let p = provider("max_ttl_secs = 600");
    assert_eq!(p.ttl(None, 10_000, 1_000).expect("default"), 600);
    assert_eq!(p.ttl(Some(60), 10_000, 1_000).expect("asked"), 60);
    assert_eq!(p.ttl(None, 1_100, 1_000).expect("jwt"), 100);
    let e = p.ttl(Some(601), 10_000, 1_000).expect_err("above");
    assert_eq!(e.code(), -32602);
    assert!(e.to_string().contains("ttl_seconds"), "{e}");
    // Unset: the default lifetime of client session tokens.
    assert_eq!(
        provider("").ttl(None, u64::MAX, 0).expect("default"),
        DEFAULT_TOKEN_TTL_SECS
    );
}

#[test]
fn accounts_come_from_the_configured_claim_and_a_request_only_narrows_them() {
    let p = provider(r#"accounts_claim = "starknet_accounts""#);
    let claimed = p
        .claimed_accounts(&jwt(json!({ "starknet_accounts": ["0x1", "0x2"] })))
        .expect("claim")
        .expect("configured");
    assert_eq!(claimed, [Felt::ONE, Felt::TWO]);
    assert_eq!(
        p.claimed_accounts(&jwt(json!({ "starknet_accounts": "0x3" })))
            .expect("one"),
        Some(vec![Felt::THREE])
    );
    for (claims, says) in [
        (json!({}), "is missing"),
        (json!({ "starknet_accounts": [] }), "names no account"),
        (json!({ "starknet_accounts": 7 }), "not a list"),
        (
            json!({ "starknet_accounts": ["0x1", "me"] }),
            "not a hex address",
        ),
    ] {
        let e = p.claimed_accounts(&jwt(claims)).expect_err(says);
        assert_eq!(e.code(), 170);
        assert!(e.to_string().contains(says), "{e}");
    }
    assert_eq!(
        provider("")
            .claimed_accounts(&jwt(json!({})))
            .expect("none"),
        None
    );

    assert_eq!(covered(None, &claimed).expect("all"), claimed);
    assert_eq!(
        covered(Some(vec![Felt::TWO]), &claimed).expect("narrowed"),
        [Felt::TWO]
    );
    let e = covered(Some(vec![Felt::ONE, Felt::THREE]), &claimed).expect_err("another");
    assert_eq!(e.code(), 173);
    assert!(e.to_string().contains("0x3"), "{e}");
    assert_eq!(
        covered(Some(Vec::new()), &claimed)
            .map(|_| ())
            .expect_err("empty")
            .code(),
        -32602
    );
}

#[test]
fn one_token_per_jti_needs_a_jti_and_slots_are_apart_by_kind_and_value() {
    let by_subject = provider("");
    let by_jti = provider(r#"one_token_per = "jti""#);
    let a = jwt(json!({ "jti": "a" }));
    let b = jwt(json!({ "jti": "b" }));
    assert_eq!(
        by_subject.slot(&a).expect("slot"),
        by_subject.slot(&b).expect("slot"),
        "one subject, one slot whatever its JWT"
    );
    assert_ne!(
        by_jti.slot(&a).expect("slot"),
        by_jti.slot(&b).expect("slot")
    );
    assert_ne!(
        by_jti.slot(&a).expect("slot"),
        by_subject.slot(&a).expect("slot")
    );
    let e = by_jti.slot(&jwt(json!({}))).expect_err("no jti");
    assert_eq!(e.code(), 170);
    assert!(e.to_string().contains("jti"), "{e}");
}

#[test]
fn a_provider_without_ceilings_or_with_bad_ones_is_a_configuration_error() {
    let missing: Result<IdentityProviderConfig, _> = toml::from_str(
        r#"
        api_key = "game"
        jwks = { file = "/nonexistent/jwks.json" }
        issuer = "https://idp.example/"
        audience = "game"
        "#,
    );
    let e = missing.expect_err("ceilings are required");
    assert!(e.to_string().contains("max_fee_fri"), "{e}");
    for extra in [
        "requests_per_minute = 0",
        "max_ttl_secs = 0",
        "max_ttl_secs = 86401",
        r#"accounts_claim = """#,
    ] {
        let e = provider(extra).validate().expect_err(extra);
        assert_eq!(e.code(), -32603, "{extra}: {e}");
    }
    provider("max_ttl_secs = 86400").validate().expect("a day");
}
