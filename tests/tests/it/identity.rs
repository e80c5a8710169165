//! Identity-provider tokens: `paymaster_createClientSession` authenticated by an app's JWT,
//! minting a client session token bound to the JWT's subject under the provider's API key,
//! within the limits, lifetime and accounts the provider and the JWT allow.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use stark_sessions_paymaster::identity::{IdentityProviderConfig, OneTokenPer};
use stark_sessions_paymaster::jwt::JwksSource;
use stark_sessions_paymaster::service::unix_now;
use stark_sessions_tests::paymaster::{Auth, PaymasterHarness};
use stark_sessions_tests::Fixture;

const ISSUER: &str = "https://auth.game.example/";
const AUDIENCE: &str = "game-paymaster";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An ES256 key generated for the test.
struct Idp {
    pair: EcdsaKeyPair,
}

impl Idp {
    fn new() -> Idp {
        Idp {
            pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256"),
        }
    }

    fn jwks(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({ "keys": [{ "kty": "EC", "kid": "k1", "crv": "P-256", "alg": "ES256",
                           "x": b64(&point[1..33]), "y": b64(&point[33..]) }] })
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(signature.as_ref()))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({ "alg": "ES256", "typ": "JWT", "kid": "k1" }),
            claims,
        )
    }
}

fn claims(sub: &str, exp_in: i64) -> Value {
    let now = unix_now() as i64;
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now - 5, "exp": now + exp_in })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

/// A provider for `api_key` with the JWKS in `jwks_file`: tokens of at most 1 STRK of fees,
/// 3 executions, 30 requests a minute and 10 minutes.
fn provider(api_key: &str, jwks_file: &std::path::Path) -> IdentityProviderConfig {
    IdentityProviderConfig {
        api_key: api_key.into(),
        jwks: JwksSource::File(jwks_file.to_path_buf()),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        max_fee_fri: ONE_STRK,
        max_executions: 3,
        requests_per_minute: 30,
        max_ttl_secs: 600,
        accounts_claim: None,
        one_token_per: OneTokenPer::Subject,
    }
}

const ONE_STRK: u128 = 1_000_000_000_000_000_000;

/// The JWKS of `idp` in a file of its own directory.
fn jwks_file(idp: &Idp) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("stark-sessions-idp-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("jwks.json");
    std::fs::write(&file, idp.jwks().to_string()).expect("jwks");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_jwts_mint_tokens_bound_to_their_subject() {
    let fixture = Fixture::new(0x1d90).await.expect("fixture");
    let idp = Idp::new();
    let mut config = PaymasterHarness::config(&fixture, None);
    config.identity_providers = vec![provider("backend", &jwks_file(&idp))];
    let pm = PaymasterHarness::start(config).await.expect("paymaster");
    let user = format!("{:#x}", fixture.address());
    let create = |jwt: String, params: Value| {
        let client = pm.client.clone();
        async move {
            client
                .call("paymaster_createClientSession", params, &Auth::Bearer(jwt))
                .await
                .expect("http")
        }
    };

    // A valid JWT: a token for its subject, no longer-lived than the JWT.
    let jwt = idp.token(&claims("player-42", 120));
    let created = create(jwt.clone(), json!({ "user_addresses": [user] }))
        .await
        .expect("minted");
    let expires_at = created["expires_at"].as_u64().expect("expiry");
    assert!(expires_at <= unix_now() + 121, "capped by the JWT's exp");
    let id = created["id"].as_str().expect("id");
    let record = pm
        .paymaster
        .store()
        .client_token(id)
        .expect("store")
        .expect("the token is stored");
    assert_eq!(record.client_id, "player-42");
    assert_eq!(record.api_key_id, "backend");
    // The minted token works as a credential.
    let token = Auth::Bearer(
        created["client_session_token"]
            .as_str()
            .expect("token")
            .into(),
    );
    let built = pm
        .client
        .call("paymaster_buildTransaction", json!({ "transaction": { "type": "invoke", "invoke": {
            "user_address": user, "calls": [] } }, "parameters": { "version": "0x1", "fee_mode": { "mode": "sponsored" } } }), &token)
        .await
        .expect("http");
    assert!(
        !matches!(&built, Err(e) if e.code == 170),
        "the minted token is accepted: {built:?}"
    );
    // A client_id that is not the subject is refused.
    let e = create(jwt, json!({ "client_id": "someone-else" }))
        .await
        .expect_err("not the subject");
    assert_eq!(e.code, 170);

    // Refusals, each with a clear message.
    let other = Idp::new();
    let header_none = json!({ "alg": "none", "typ": "JWT" });
    let cases: Vec<(String, &str)> = vec![
        (idp.token(&claims("p", -120)), "expired"),
        (
            idp.token(&with(
                claims("p", 120),
                "iss",
                json!("https://evil.example/"),
            )),
            "issuer",
        ),
        (
            idp.token(&with(claims("p", 120), "aud", json!("another-app"))),
            "audience",
        ),
        (other.token(&claims("p", 120)), "signature"),
        (
            format!(
                "{}.{}.",
                b64(header_none.to_string()),
                b64(claims("p", 120).to_string())
            ),
            "none",
        ),
    ];
    for (jwt, says) in cases {
        let e = create(jwt, json!({})).await.expect_err(says);
        let reason = e.data.as_str().unwrap_or_default();
        assert_eq!(e.code, 170, "{says}: {reason}");
        assert!(reason.contains(says), "{says}: {reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_mints_nothing_beyond_its_providers_ceilings_or_its_accounts_and_one_live_token() {
    let fixture = Fixture::new(0x1d91).await.expect("fixture");
    let idp = Idp::new();
    let file = jwks_file(&idp);
    let mut config = PaymasterHarness::config(&fixture, None);
    // "backend": accounts bound by a subject's first token, one live token per subject.
    // "claims": accounts from the JWT's `starknet_accounts`, one live token per JWT.
    let claims_provider = IdentityProviderConfig {
        accounts_claim: Some("starknet_accounts".into()),
        one_token_per: OneTokenPer::Jti,
        ..provider("claims", &file)
    };
    config.identity_providers = vec![provider("backend", &file), claims_provider];
    let pm = PaymasterHarness::start(config).await.expect("paymaster");
    pm.paymaster
        .create_api_key("claims", u128::MAX, 100_000, None)
        .expect("second key");
    let user = format!("{:#x}", fixture.address());
    let elsewhere = "0x1234";
    let create = |jwt: String, key: &str, mut params: Value| {
        let client = pm.client.clone();
        params["api_key_id"] = json!(key);
        async move {
            client
                .call("paymaster_createClientSession", params, &Auth::Bearer(jwt))
                .await
                .expect("http")
        }
    };
    let refused = |code: i64, e: Result<Value, stark_sessions_tests::paymaster::RpcError>| {
        let e = e.expect_err("refused");
        assert_eq!(e.code, code, "{e:?}");
        e.data.as_str().unwrap_or_default().to_owned()
    };

    // Limits beyond the provider's ceilings, a lifetime beyond its longest: refused, not cut.
    let jwt = idp.token(&claims("player-1", 3_600));
    for (params, says) in [
        (
            json!({ "user_addresses": [user], "max_fee_fri": (ONE_STRK + 1).to_string() }),
            "max_fee_fri",
        ),
        (
            json!({ "user_addresses": [user], "max_executions": 4 }),
            "max_executions",
        ),
        (
            json!({ "user_addresses": [user], "requests_per_minute": 31 }),
            "requests_per_minute",
        ),
        (
            json!({ "user_addresses": [user], "ttl_seconds": 601 }),
            "ttl_seconds",
        ),
    ] {
        let why = refused(-32602, create(jwt.clone(), "backend", params).await);
        assert!(why.contains(says), "{says}: {why}");
    }
    // A subject's first token must name its accounts (none would cover every account).
    let why = refused(-32602, create(jwt.clone(), "backend", json!({})).await);
    assert!(why.contains("user_addresses"), "{why}");
    // Left out, each limit is the ceiling, and the lifetime the longest allowed.
    let minted = create(jwt.clone(), "backend", json!({ "user_addresses": [user] }))
        .await
        .expect("minted");
    assert_eq!(minted["max_fee_fri"], ONE_STRK.to_string());
    assert_eq!(
        (
            minted["max_executions"].as_u64(),
            minted["requests_per_minute"].as_u64()
        ),
        (Some(3), Some(30))
    );
    assert!(minted["expires_at"].as_u64().expect("expiry") <= unix_now() + 600);
    let record = pm
        .paymaster
        .store()
        .client_token(minted["id"].as_str().expect("id"))
        .expect("store")
        .expect("stored");
    assert_eq!(record.user_addresses, Some(vec![fixture.address()]));
    assert_eq!(record.limits.max_executions, Some(3));

    // One live token per subject, even with a fresh JWT.
    let fresh = idp.token(&claims("player-1", 3_000));
    let why = refused(175, create(fresh.clone(), "backend", json!({})).await);
    assert!(why.contains("live until"), "{why}");
    // Revoked by the key, the subject may mint again — for its bound account only.
    let revoked = pm
        .client
        .call(
            "paymaster_revokeClientSession",
            json!({ "id": minted["id"] }),
            &pm.key(),
        )
        .await
        .expect("http");
    assert_eq!(revoked.expect("revoked"), json!(true));
    let why = refused(
        173,
        create(
            fresh.clone(),
            "backend",
            json!({ "user_addresses": [elsewhere] }),
        )
        .await,
    );
    assert!(why.contains("0x1234"), "{why}");
    let again = create(fresh, "backend", json!({}))
        .await
        .expect("minted again");
    let record = pm
        .paymaster
        .store()
        .client_token(again["id"].as_str().expect("id"))
        .expect("store")
        .expect("stored");
    assert_eq!(
        record.user_addresses,
        Some(vec![fixture.address()]),
        "its binding"
    );

    // Accounts from the JWT's claim; a request may narrow them, never name others.
    let with_accounts = |sub: &str, jti: &str| {
        let c = with(
            claims(sub, 3_600),
            "starknet_accounts",
            json!([user, elsewhere]),
        );
        idp.token(&with(c, "jti", json!(jti)))
    };
    let why = refused(
        173,
        create(
            with_accounts("player-2", "j1"),
            "claims",
            json!({ "user_addresses": ["0x99"] }),
        )
        .await,
    );
    assert!(why.contains("0x99"), "{why}");
    let narrowed = create(
        with_accounts("player-2", "j1"),
        "claims",
        json!({ "user_addresses": [elsewhere] }),
    )
    .await
    .expect("narrowed");
    let record = pm
        .paymaster
        .store()
        .client_token(narrowed["id"].as_str().expect("id"))
        .expect("store")
        .expect("stored");
    assert_eq!(record.user_addresses.map(|a| a.len()), Some(1));
    // One live token per JWT: the same jti is refused, another JWT of the subject mints.
    refused(
        175,
        create(with_accounts("player-2", "j1"), "claims", json!({})).await,
    );
    let other = create(with_accounts("player-2", "j2"), "claims", json!({}))
        .await
        .expect("another JWT");
    let record = pm
        .paymaster
        .store()
        .client_token(other["id"].as_str().expect("id"))
        .expect("store")
        .expect("stored");
    assert_eq!(
        record.user_addresses.map(|a| a.len()),
        Some(2),
        "every claimed account"
    );
    // A JWT without the claim, or without a jti, mints nothing.
    let no_claim = idp.token(&with(claims("player-3", 3_600), "jti", json!("j3")));
    let why = refused(
        170,
        create(no_claim, "claims", json!({ "user_addresses": [user] })).await,
    );
    assert!(why.contains("starknet_accounts"), "{why}");
    let no_jti = idp.token(&with(
        claims("player-3", 3_600),
        "starknet_accounts",
        json!([user]),
    ));
    let why = refused(170, create(no_jti, "claims", json!({})).await);
    assert!(why.contains("jti"), "{why}");
}
