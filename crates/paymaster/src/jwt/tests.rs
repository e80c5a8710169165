//! End-to-end tests of [`JwtVerifier`]: keys generated here, tokens signed here, the JWKS
//! served from a file or by a local HTTP server that counts its fetches.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use url::Url;

use super::*;
use crate::error::PaymasterError;

const ISSUER: &str = "https://idp.example/";
const AUDIENCE: &str = "stark-sessions-paymaster";
const SUBJECT: &str = "user-7f3a";
/// The tests' clock.
const NOW: u64 = 1_800_000_000;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key generated for the test, with its `kid`.
struct TestKey {
    kid: String,
    signer: Signer,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl TestKey {
    fn rsa(kid: &str) -> TestKey {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        TestKey {
            kid: kid.into(),
            signer: Signer::Rsa(pair),
        }
    }

    fn ec(kid: &str) -> TestKey {
        let pair =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 generation");
        TestKey {
            kid: kid.into(),
            signer: Signer::Ec(pair),
        }
    }

    fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
        }
    }

    /// The public key as a JWK.
    fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(pair) => {
                let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({ "kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
                        "n": b64(&public.n), "e": b64(&public.e) })
            }
            Signer::Ec(pair) => {
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                json!({ "kty": "EC", "kid": self.kid, "crv": "P-256",
                        "x": b64(&point[1..33]), "y": b64(&point[33..]) })
            }
        }
    }

    /// A token with this exact header and these claims, signed by this key.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let rng = SystemRandom::new();
        let signature = match &self.signer {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
                    .expect("RSA signing");
                signature
            }
            Signer::Ec(pair) => pair
                .sign(&rng, input.as_bytes())
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", b64(signature))
    }

    /// A token with the usual header (`alg`, `typ`, `kid`).
    fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }

    fn header(&self) -> Value {
        json!({ "alg": self.alg(), "typ": "JWT", "kid": self.kid })
    }
}

/// Claims that pass the tests' policy at [`NOW`].
fn claims() -> Value {
    claims_at(NOW)
}

/// Claims that pass the tests' policy at `now`: issued just before, valid five minutes.
fn claims_at(now: u64) -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "iat": now - 10, "exp": now + 300 })
}

/// [`claims`] with `name` set to `value` (or removed, for `Value::Null`).
fn claims_with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    let object = claims.as_object_mut().expect("an object");
    if value.is_null() {
        object.remove(name);
    } else {
        object.insert(name.into(), value);
    }
    claims
}

fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>() })
}

fn policy(jwks: JwksSource) -> JwtPolicy {
    JwtPolicy {
        jwks,
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
    }
}

/// The refusal of `token`, checked never to quote the token's payload or signature.
async fn refused(verifier: &JwtVerifier, token: &str, now: u64) -> JwtError {
    let error = verifier
        .verify(token, now)
        .await
        .expect_err("the token should be refused");
    let message = error.to_string();
    for part in token.split('.').skip(1).filter(|part| part.len() > 8) {
        assert!(!message.contains(part), "{message} quotes the token");
    }
    error
}

/// A JWKS served on 127.0.0.1 that counts its fetches and can be made to fail.
struct JwksServer {
    url: Url,
    shared: Arc<Served>,
    task: tokio::task::JoinHandle<()>,
}

struct Served {
    document: Mutex<Value>,
    fetches: AtomicUsize,
    failing: AtomicBool,
    delay_ms: AtomicU64,
}

impl JwksServer {
    async fn start(document: Value) -> JwksServer {
        let shared = Arc::new(Served {
            document: Mutex::new(document),
            fetches: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/.well-known/jwks.json", get(serve_jwks))
            .route("/moved", get(redirect_to_jwks))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("JWKS server");
        });
        JwksServer {
            url: jwks_url(address),
            shared,
            task,
        }
    }

    fn publish(&self, document: Value) {
        *self.shared.document.lock().expect("document lock") = document;
    }

    fn fail(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    fn delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).expect("a short delay");
        self.shared.delay_ms.store(millis, Ordering::SeqCst);
    }

    fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }

    fn verifier(&self) -> JwtVerifier {
        JwtVerifier::new(policy(JwksSource::Url(self.url.clone()))).expect("valid policy")
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(State(shared): State<Arc<Served>>) -> Response {
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if shared.failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let document = shared.document.lock().expect("document lock").clone();
    Json(document).into_response()
}

/// A redirect to the same server's JWKS, over http.
async fn redirect_to_jwks(headers: axum::http::HeaderMap) -> Response {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    let location = format!("http://{host}/.well-known/jwks.json");
    (
        StatusCode::FOUND,
        [(axum::http::header::LOCATION, location)],
    )
        .into_response()
}

fn jwks_url(address: SocketAddr) -> Url {
    Url::parse(&format!("http://{address}/.well-known/jwks.json")).expect("URL")
}

/// A JWKS file in the temporary directory, removed on drop.
struct JwksFile(PathBuf);

impl JwksFile {
    fn write(name: &str, document: &Value) -> JwksFile {
        let path = std::env::temp_dir().join(format!(
            "stark-sessions-jwt-{}-{name}.json",
            std::process::id()
        ));
        std::fs::write(&path, document.to_string()).expect("write JWKS file");
        JwksFile(path)
    }
}

impl Drop for JwksFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// Accepted tokens.

#[tokio::test]
async fn rs256_token_from_a_jwks_url_is_accepted_with_its_subject() {
    let key = TestKey::rsa("rsa-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let verified = verifier
        .verify(&key.token(&claims()), NOW)
        .await
        .expect("a valid RS256 token");
    assert_eq!(
        (
            verified.subject.as_str(),
            verified.expires_at,
            &verified.jti
        ),
        (SUBJECT, NOW + 300, &None)
    );
    assert_eq!(Value::Object(verified.claims), claims());
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn es256_token_from_a_jwks_file_is_accepted_with_its_subject() {
    let key = TestKey::ec("ec-1");
    let file = JwksFile::write("es256", &jwks(&[&key]));
    let verifier = JwtVerifier::new(policy(JwksSource::File(file.0.clone()))).expect("policy");
    let verified = verifier
        .verify(&key.token(&claims()), NOW)
        .await
        .expect("a valid ES256 token");
    assert_eq!(verified.subject, SUBJECT);
    assert_eq!(verified.expires_at, NOW + 300);
}

#[tokio::test]
async fn keys_are_fetched_once_and_reused_within_the_ttl() {
    let (rsa, ec) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-1"));
    let server = JwksServer::start(jwks(&[&rsa, &ec])).await;
    let verifier = server.verifier();
    for offset in [0, 1, 60, JWKS_TTL_SECS - 1] {
        for key in [&rsa, &ec] {
            verifier
                .verify(&key.token(&claims_at(NOW + offset)), NOW + offset)
                .await
                .expect("a valid token");
        }
    }
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn audience_array_containing_ours_is_accepted_and_one_without_it_refused() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let ours = claims_with("aud", json!(["another-api", AUDIENCE]));
    let verified = verifier.verify(&key.token(&ours), NOW).await;
    assert_eq!(verified.expect("our audience is listed").subject, SUBJECT);
    let theirs = key.token(&claims_with("aud", json!(["another-api", "a-third"])));
    assert_eq!(
        refused(&verifier, &theirs, NOW).await,
        JwtError::AudienceMismatch
    );
}

// Bad signatures and algorithms.

#[tokio::test]
async fn a_flipped_signature_byte_is_refused() {
    for key in [TestKey::rsa("rsa-1"), TestKey::ec("ec-1")] {
        let server = JwksServer::start(jwks(&[&key])).await;
        let verifier = server.verifier();
        let token = key.token(&claims());
        let (input, signature) = token.rsplit_once('.').expect("three parts");
        let mut signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        signature[10] ^= 0x01;
        let tampered = format!("{input}.{}", b64(signature));
        let error = refused(&verifier, &tampered, NOW).await;
        assert_eq!(error, JwtError::SignatureInvalid, "{}", key.alg());
        assert_eq!(error.to_string(), "JWT signature does not verify");
    }
}

#[tokio::test]
async fn a_changed_claim_under_the_original_signature_is_refused() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let token = key.token(&claims());
    let signature = token.rsplit('.').next().expect("signature");
    let other = claims_with("sub", json!("admin"));
    let forged = format!(
        "{}.{}.{signature}",
        b64(key.header().to_string()),
        b64(other.to_string())
    );
    assert_eq!(
        refused(&verifier, &forged, NOW).await,
        JwtError::SignatureInvalid
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_with_the_same_kid_is_refused() {
    for (published, impostor) in [
        (TestKey::rsa("shared"), TestKey::rsa("shared")),
        (TestKey::ec("shared"), TestKey::ec("shared")),
    ] {
        let server = JwksServer::start(jwks(&[&published])).await;
        let verifier = server.verifier();
        let token = impostor.token(&claims());
        assert_eq!(
            refused(&verifier, &token, NOW).await,
            JwtError::SignatureInvalid
        );
    }
}

#[tokio::test]
async fn alg_none_is_refused_without_fetching_keys() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let body = b64(claims().to_string());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({ "alg": alg, "typ": "JWT", "kid": "ec-1" }).to_string());
        for token in [format!("{header}.{body}."), format!("{header}.{body}.c2ln")] {
            let error = refused(&verifier, &token, NOW).await;
            assert_eq!(error, JwtError::AlgorithmNone);
            assert_eq!(error.to_string(), "JWT algorithm none is not accepted");
        }
    }
    assert_eq!(server.fetches(), 0);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_as_secret_is_refused() {
    let key = TestKey::rsa("rsa-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    // The key-confusion attack: HMAC keyed with what the verifier holds as the public key.
    let Signer::Rsa(pair) = &key.signer else {
        unreachable!("an RSA key")
    };
    let header = b64(json!({ "alg": "HS256", "typ": "JWT", "kid": "rsa-1" }).to_string());
    let input = format!("{header}.{}", b64(claims().to_string()));
    let secret =
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pair.public_key().as_ref());
    let tag = aws_lc_rs::hmac::sign(&secret, input.as_bytes());
    let token = format!("{input}.{}", b64(tag.as_ref()));
    let error = refused(&verifier, &token, NOW).await;
    assert_eq!(error, JwtError::AlgorithmNotAccepted("\"HS256\"".into()));
    assert_eq!(
        error.to_string(),
        "JWT algorithm \"HS256\" is not accepted (only RS256 and ES256)"
    );
    assert_eq!(server.fetches(), 0);
}

#[tokio::test]
async fn other_algorithms_are_refused() {
    let key = TestKey::rsa("rsa-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let body = b64(claims().to_string());
    for alg in ["HS512", "RS512", "PS256", "ES384", "EdDSA", "rs256"] {
        let header = b64(json!({ "alg": alg, "kid": "rsa-1" }).to_string());
        let token = format!("{header}.{body}.c2lnbmF0dXJl");
        assert_eq!(
            refused(&verifier, &token, NOW).await,
            JwtError::AlgorithmNotAccepted(format!("{alg:?}"))
        );
    }
    assert_eq!(server.fetches(), 0);
}

#[tokio::test]
async fn a_header_alg_that_does_not_match_the_kids_key_is_refused() {
    let (rsa, ec) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-1"));
    let server = JwksServer::start(jwks(&[&rsa])).await;
    let verifier = server.verifier();
    // Signed with a P-256 key, claiming ES256, naming the RSA key.
    let token = ec.sign(&json!({ "alg": "ES256", "kid": "rsa-1" }), &claims());
    let error = refused(&verifier, &token, NOW).await;
    assert_eq!(
        error.to_string(),
        "JWT algorithm ES256 does not match the key with kid \"rsa-1\" in the JWKS"
    );
}

#[tokio::test]
async fn critical_header_extensions_and_malformed_tokens_are_refused() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let crit = key.sign(
        &json!({ "alg": "ES256", "kid": "ec-1", "b64": false, "crit": ["b64"] }),
        &claims(),
    );
    assert_eq!(
        refused(&verifier, &crit, NOW).await,
        JwtError::CriticalHeader
    );
    let token = key.token(&claims());
    let malformed = [
        "",
        "only.two",
        "a.b.c.d.e",
        &token.replacen('.', ".!", 1),
        &format!("{token}="),
    ];
    for bad in malformed {
        let error = verifier.verify(bad, NOW).await.expect_err("malformed");
        assert!(
            matches!(error, JwtError::Malformed(_) | JwtError::SignatureInvalid),
            "{error}"
        );
    }
    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(refused(&verifier, &huge, NOW).await, JwtError::TooLong);
}

// Claims.

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let token = key.token(&claims_with("iss", json!("https://evil.example/")));
    let error = refused(&verifier, &token, NOW).await;
    assert_eq!(
        error.to_string(),
        "JWT issuer \"https://evil.example/\" is not the configured issuer"
    );
    let token = key.token(&claims_with("iss", Value::Null));
    assert_eq!(
        refused(&verifier, &token, NOW).await,
        JwtError::MissingClaim("iss")
    );
}

#[tokio::test]
async fn wrong_or_missing_audience_is_refused() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let token = key.token(&claims_with("aud", json!("another-api")));
    let error = refused(&verifier, &token, NOW).await;
    assert_eq!(
        error.to_string(),
        "JWT audience does not include the configured audience"
    );
    let token = key.token(&claims_with("aud", Value::Null));
    assert_eq!(
        refused(&verifier, &token, NOW).await,
        JwtError::MissingClaim("aud")
    );
}

#[tokio::test]
async fn expired_token_is_refused_beyond_the_leeway() {
    let key = TestKey::rsa("rsa-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let exp = NOW - 600;
    let token = key.token(&claims_with("exp", json!(exp)));
    let error = refused(&verifier, &token, NOW).await;
    assert_eq!(error, JwtError::Expired { exp, now: NOW });
    assert!(error.to_string().starts_with("JWT expired"), "{error}");
    // At the edge: still valid one second before exp + leeway, refused at it.
    let token = key.token(&claims_with("exp", json!(NOW)));
    let last_second = NOW + LEEWAY_SECS - 1;
    assert!(verifier.verify(&token, last_second).await.is_ok());
    assert!(matches!(
        refused(&verifier, &token, NOW + LEEWAY_SECS).await,
        JwtError::Expired { .. }
    ));
}

#[tokio::test]
async fn token_before_its_nbf_is_refused_beyond_the_leeway() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let nbf = NOW + LEEWAY_SECS + 1;
    let token = key.token(&claims_with("nbf", json!(nbf)));
    let error = refused(&verifier, &token, NOW).await;
    assert_eq!(error, JwtError::NotYetValid { nbf, now: NOW });
    assert!(verifier.verify(&token, NOW + 1).await.is_ok());
}

#[tokio::test]
async fn exp_is_required_and_dates_of_the_wrong_type_are_refused_not_ignored() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let cases = [
        ("exp", Value::Null, "JWT claim exp is missing"),
        ("exp", json!("99999999999"), "JWT claim exp is not a number"),
        (
            "exp",
            json!(-5),
            "JWT claim exp is not a non-negative number",
        ),
        ("nbf", json!("99999999999"), "JWT claim nbf is not a number"),
        ("iss", json!(7), "JWT claim iss is not a string"),
        (
            "aud",
            json!([AUDIENCE, 7]),
            "JWT claim aud is neither a string nor an array of strings",
        ),
    ];
    for (claim, value, message) in cases {
        let token = key.token(&claims_with(claim, value));
        assert_eq!(refused(&verifier, &token, NOW).await.to_string(), message);
    }
    // A fractional NumericDate is valid and rounds down.
    let token = key.token(&claims_with("exp", json!((NOW + 300) as f64 + 0.75)));
    let verified = verifier.verify(&token, NOW).await.expect("fractional exp");
    assert_eq!(verified.expires_at, NOW + 300);
}

#[tokio::test]
async fn subject_is_required_non_empty_and_printable() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let cases = [
        (Value::Null, "JWT claim sub is missing"),
        (json!(""), "JWT claim sub is empty"),
        (json!(42), "JWT claim sub is not a string"),
        (json!("a\nb"), "JWT claim sub is not printable"),
        (
            json!("x".repeat(MAX_SUBJECT_BYTES + 1)),
            "JWT claim sub is too long",
        ),
    ];
    for (sub, message) in cases {
        let token = key.token(&claims_with("sub", sub));
        assert_eq!(refused(&verifier, &token, NOW).await.to_string(), message);
    }
}

#[tokio::test]
async fn jti_is_read_as_a_string_and_other_claims_are_kept_for_the_caller() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    let mut with_extra = claims_with("jti", json!("jwt-7"));
    with_extra["starknet_accounts"] = json!(["0x1"]);
    let verified = verifier
        .verify(&key.token(&with_extra), NOW)
        .await
        .expect("valid");
    assert_eq!(verified.jti.as_deref(), Some("jwt-7"));
    assert_eq!(verified.claims["starknet_accounts"], json!(["0x1"]));
    let token = key.token(&claims_with("jti", json!(7)));
    assert_eq!(
        refused(&verifier, &token, NOW).await.to_string(),
        "JWT claim jti is not a string"
    );
}

// The key cache.

#[tokio::test]
async fn unknown_kid_triggers_one_refresh_which_finds_the_rotated_key() {
    let (old, new) = (TestKey::rsa("2026-01"), TestKey::rsa("2026-02"));
    let server = JwksServer::start(jwks(&[&old])).await;
    let verifier = server.verifier();
    verifier
        .verify(&old.token(&claims()), NOW)
        .await
        .expect("old key");
    assert_eq!(server.fetches(), 1);

    server.publish(jwks(&[&old, &new]));
    let token = new.token(&claims());
    // Within the minimum interval of the first load: refused, nothing fetched.
    let error = refused(&verifier, &token, NOW + 1).await;
    assert_eq!(error.to_string(), "no key with kid \"2026-02\" in the JWKS");
    assert_eq!(server.fetches(), 1);
    // Once the interval has passed: exactly one refresh, and the rotated key is found.
    let later = NOW + MIN_REFRESH_INTERVAL_SECS;
    let verified = verifier.verify(&token, later).await.expect("rotated key");
    assert_eq!(verified.subject, SUBJECT);
    assert_eq!(server.fetches(), 2);
    verifier.verify(&token, later + 1).await.expect("cached");
    verifier
        .verify(&old.token(&claims()), later + 1)
        .await
        .expect("cached");
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn a_spray_of_unknown_kids_fetches_at_most_once_per_interval() {
    let key = TestKey::ec("real");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = Arc::new(server.verifier());
    verifier
        .verify(&key.token(&claims()), NOW)
        .await
        .expect("real key");

    for round in 1..=3 {
        let start = NOW + round * MIN_REFRESH_INTERVAL_SECS;
        let spray: Vec<_> = (0..40)
            .map(|i| {
                let verifier = verifier.clone();
                let header = json!({ "alg": "ES256", "kid": format!("random-{round}-{i}") });
                let token = key.sign(&header, &claims());
                // Spread over the interval, latest first: concurrent requests reach the cache
                // in another order than they read the clock.
                let now = start + (MIN_REFRESH_INTERVAL_SECS - 1) - i % MIN_REFRESH_INTERVAL_SECS;
                tokio::spawn(async move { verifier.verify(&token, now).await })
            })
            .collect();
        for attempt in spray {
            let outcome = attempt.await.expect("task");
            assert!(
                matches!(outcome, Err(JwtError::UnknownKid(_))),
                "{outcome:?}"
            );
        }
        assert_eq!(server.fetches(), 1 + round as usize, "round {round}");
    }
}

#[tokio::test]
async fn keys_older_than_the_ttl_are_fetched_again() {
    let (first, second) = (TestKey::ec("first"), TestKey::ec("second"));
    let server = JwksServer::start(jwks(&[&first])).await;
    let verifier = server.verifier();
    verifier
        .verify(&first.token(&claims()), NOW)
        .await
        .expect("first");
    // The provider retires the first key; the cache learns it at the TTL.
    server.publish(jwks(&[&second]));
    let before_ttl = NOW + JWKS_TTL_SECS - 1;
    let token = first.token(&claims_at(before_ttl));
    verifier.verify(&token, before_ttl).await.expect("cached");
    assert_eq!(server.fetches(), 1);
    let at_ttl = NOW + JWKS_TTL_SECS;
    let error = refused(&verifier, &first.token(&claims_at(at_ttl)), at_ttl).await;
    assert!(matches!(error, JwtError::UnknownKid(_)), "{error}");
    assert_eq!(server.fetches(), 2);
    let token = second.token(&claims_at(at_ttl));
    verifier.verify(&token, at_ttl).await.expect("second");
}

#[tokio::test]
async fn a_failed_refresh_keeps_using_the_cached_keys() {
    let key = TestKey::rsa("rsa-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let verifier = server.verifier();
    verifier
        .verify(&key.token(&claims()), NOW)
        .await
        .expect("loaded");
    server.fail(true);
    let stale = NOW + JWKS_TTL_SECS + 5;
    let token = key.token(&claims_at(stale));
    let verified = verifier.verify(&token, stale).await;
    assert_eq!(verified.expect("cached keys still used").subject, SUBJECT);
    assert_eq!(server.fetches(), 2, "the refresh was attempted");
    // Not retried before the interval, then retried (and succeeding once the server is back).
    verifier.verify(&token, stale + 1).await.expect("cached");
    assert_eq!(server.fetches(), 2);
    server.fail(false);
    let retry = stale + MIN_REFRESH_INTERVAL_SECS;
    verifier.verify(&token, retry).await.expect("refreshed");
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn a_fetch_outlives_a_caller_that_gave_up() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    server.delay(Duration::from_millis(300));
    let verifier = server.verifier();
    let token = key.token(&claims());
    let gave_up =
        tokio::time::timeout(Duration::from_millis(20), verifier.verify(&token, NOW)).await;
    assert!(gave_up.is_err(), "the caller gave up during the fetch");
    // The next request, within the minimum interval, waits for that fetch and uses its keys.
    let verified = verifier.verify(&token, NOW + 1).await;
    assert_eq!(verified.expect("keys of the first fetch").subject, SUBJECT);
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn dead_jwks_url_without_cache_is_a_clear_error() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = jwks_url(listener.local_addr().expect("address"));
    drop(listener);
    let verifier = JwtVerifier::new(policy(JwksSource::Url(url.clone()))).expect("policy");
    let key = TestKey::ec("ec-1");
    let error = refused(&verifier, &key.token(&claims()), NOW).await;
    let message = error.to_string();
    assert!(matches!(error, JwtError::JwksUnavailable(_)), "{message}");
    assert!(
        message.starts_with(&format!("JWKS unavailable: {url}: ")),
        "{message}"
    );
    assert!(message.ends_with(&format!(
        "(retried at most every {MIN_REFRESH_INTERVAL_SECS} s)"
    )));
    let unknown = PaymasterError::from(error);
    assert_eq!(unknown.code(), 163);
}

#[tokio::test]
async fn unusable_jwks_documents_are_clear_errors() {
    let missing = std::env::temp_dir().join("stark-sessions-jwt-no-such-file.json");
    let verifier = JwtVerifier::new(policy(JwksSource::File(missing.clone()))).expect("policy");
    let key = TestKey::ec("ec-1");
    let message = refused(&verifier, &key.token(&claims()), NOW)
        .await
        .to_string();
    assert!(
        message.starts_with(&format!("JWKS unavailable: {}: ", missing.display())),
        "{message}"
    );

    let server = JwksServer::start(json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] })).await;
    let message = refused(&server.verifier(), &key.token(&claims()), NOW)
        .await
        .to_string();
    assert!(
        message.contains("none of its 1 keys is an RS256 or ES256 signature key"),
        "{message}"
    );

    server.fail(true);
    let message = refused(&server.verifier(), &key.token(&claims()), NOW)
        .await
        .to_string();
    assert!(message.contains("HTTP status 503"), "{message}");
}

#[tokio::test]
async fn a_redirect_away_from_https_is_not_followed() {
    let key = TestKey::ec("ec-1");
    let server = JwksServer::start(jwks(&[&key])).await;
    let moved = server.url.join("/moved").expect("URL");
    let verifier = JwtVerifier::new(policy(JwksSource::Url(moved))).expect("policy");
    let error = refused(&verifier, &key.token(&claims()), NOW).await;
    assert!(matches!(error, JwtError::JwksUnavailable(_)), "{error}");
    assert!(error.to_string().contains("not https"), "{error}");
    assert_eq!(server.fetches(), 0, "the JWKS itself was never requested");
}

// Policy and error mapping.

#[test]
fn a_jwks_url_is_shown_without_credentials_or_query() {
    let url = Url::parse("https://user:secret@idp.example/jwks.json?key=abc#x").expect("URL");
    assert_eq!(
        JwksSource::Url(url).to_string(),
        "https://idp.example/jwks.json"
    );
}

#[test]
fn policy_reads_from_toml_with_a_url_or_a_file() {
    let from_url: JwtPolicy = toml::from_str(
        r#"
        issuer = "https://idp.example/"
        audience = "stark-sessions-paymaster"
        jwks = { url = "https://idp.example/.well-known/jwks.json" }
        "#,
    )
    .expect("URL policy");
    let url = Url::parse("https://idp.example/.well-known/jwks.json").expect("URL");
    assert_eq!(from_url, policy(JwksSource::Url(url)));
    let from_file: JwtPolicy = toml::from_str(
        r#"
        issuer = "https://idp.example/"
        audience = "stark-sessions-paymaster"
        jwks = { file = "/etc/paymaster/jwks.json" }
        "#,
    )
    .expect("file policy");
    assert_eq!(
        from_file.jwks,
        JwksSource::File("/etc/paymaster/jwks.json".into())
    );
    let typo = toml::from_str::<JwtPolicy>(
        "issuer = \"i\"\naudience = \"a\"\naudiences = [\"b\"]\njwks = { file = \"/j\" }",
    );
    assert!(typo.is_err(), "unknown fields are refused");
}

#[test]
fn policy_refuses_clear_text_jwks_urls_and_empty_fields() {
    let url = |text: &str| JwksSource::Url(Url::parse(text).expect("URL"));
    for allowed in [
        "https://idp.example/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
        "http://localhost/jwks.json",
        "http://[::1]/jwks.json",
    ] {
        assert!(JwtVerifier::new(policy(url(allowed))).is_ok(), "{allowed}");
    }
    let error = JwtVerifier::new(policy(url("http://idp.example/jwks.json"))).expect_err("http");
    assert!(error.to_string().contains("must be https"), "{error}");
    let error = JwtVerifier::new(policy(url("ftp://idp.example/jwks.json"))).expect_err("ftp");
    assert!(matches!(error, JwtError::Config(_)), "{error}");
    let mut empty = policy(url("https://idp.example/jwks.json"));
    empty.audience.clear();
    assert_eq!(
        JwtVerifier::new(empty)
            .expect_err("empty audience")
            .to_string(),
        "JWT policy: the audience is empty"
    );
}

#[test]
fn refusals_map_to_unauthorized() {
    let refusals = [
        JwtError::AlgorithmNone,
        JwtError::SignatureInvalid,
        JwtError::Expired { exp: 1, now: 2 },
        JwtError::UnknownKid("\"k\"".into()),
    ];
    for refusal in refusals {
        let message = refusal.to_string();
        let mapped = PaymasterError::from(refusal);
        assert_eq!(mapped.code(), 170);
        assert_eq!(mapped, PaymasterError::Unauthorized(message));
    }
    let config = PaymasterError::from(JwtError::Config("x".into()));
    assert!(matches!(config, PaymasterError::Config(_)));
}

#[test]
fn quoted_token_fields_are_escaped_and_cut_short() {
    let long_kid = format!("{}\u{1b}[2J", "k".repeat(100));
    let message = JwtError::UnknownKid(super::error::excerpt(&long_kid)).to_string();
    assert!(message.len() < 100, "{message}");
    assert!(!message.contains('\u{1b}'), "{message}");
    assert!(message.contains('…'), "{message}");
}
