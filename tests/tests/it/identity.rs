//! Identity-provider tokens: `paymaster_createClientSession` authenticated by an app's JWT,
//! minting a client session token bound to the JWT's subject under the provider's API key.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use stark_sessions_paymaster::identity::IdentityProviderConfig;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_jwts_mint_tokens_bound_to_their_subject() {
    let fixture = Fixture::new(0x1d90).await.expect("fixture");
    let idp = Idp::new();
    let dir =
        std::env::temp_dir().join(format!("stark-sessions-idp-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("dir");
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, idp.jwks().to_string()).expect("jwks");
    let mut config = PaymasterHarness::config(&fixture, None);
    config.identity_providers = vec![IdentityProviderConfig {
        api_key: "backend".into(),
        jwks: JwksSource::File(jwks_file),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
    }];
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
