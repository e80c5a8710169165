//! The encryption envelope of a private key at rest (session keys and owner keys), and the
//! import of the legacy CryptoJS "Salted__" format.
//!
//! One line of text, binary fields in URL-safe base64 without padding. Two key derivations:
//!
//! ```text
//! sskey1:pbkdf2-sha256:<iterations>:aes-256-cbc:hmac-sha256:<salt>:<iv>:<ciphertext>:<mac>
//! sskey2:argon2id:<memory KiB>:<passes>:<lanes>:aes-256-cbc:hmac-sha256:<salt>:<iv>:<ciphertext>:<mac>
//! ```
//!
//! v1 (session keys, under a PIN): PBKDF2-HMAC-SHA256(PIN, salt, iterations). v2 (owner keys,
//! under a passphrase that passes [`crate::pin::check_owner_passphrase`]): Argon2id (RFC 9106,
//! version 0x13) with at least OWASP's parameters, 19 MiB, 2 passes, 1 lane — memory-hard, so
//! a GPU gains little per guess. Either gives a 32-byte master key; HMAC-SHA256 of the master
//! key over two labels of the version gives the AES-256 key and the MAC key (one derivation,
//! not two: an attacker would need only one). The MAC covers every byte before the last `:` —
//! version, parameters, salt, IV and ciphertext — and is checked in constant time before
//! anything is decrypted, so a wrong PIN and a tampered envelope fail the same way, before any
//! padding is looked at. Every envelope opens whichever version it is.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::SessionError;
use crate::secret::SessionSecret;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// The PBKDF2 iteration count new envelopes use (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// The fewest iterations an envelope may have, to be written or read.
pub const MIN_ITERATIONS: u32 = 600_000;
/// The most iterations an envelope may ask for: a crafted envelope must not make an unlock
/// take minutes.
pub const MAX_ITERATIONS: u32 = 20_000_000;
pub use crate::pin::MIN_PIN_LEN;

/// The least Argon2id cost an owner envelope may have, to be written or read: OWASP's
/// recommendation (19 MiB, 2 passes, 1 lane), also the default.
pub const MIN_ARGON2: OwnerEnvelopeParams = OwnerEnvelopeParams {
    memory_kib: 19 * 1024,
    passes: 2,
    lanes: 1,
};
/// The most an owner envelope may ask for (256 MiB, 16 passes, 8 lanes): a crafted envelope
/// must not exhaust memory or make an unlock take minutes.
pub const MAX_ARGON2: OwnerEnvelopeParams = OwnerEnvelopeParams {
    memory_kib: 256 * 1024,
    passes: 16,
    lanes: 8,
};

const TAG: &str = "sskey1";
const KDF: &str = "pbkdf2-sha256";
const TAG_V2: &str = "sskey2";
const KDF_V2: &str = "argon2id";
const CIPHER: &str = "aes-256-cbc";
const MAC: &str = "hmac-sha256";
const ENC_LABEL: &[u8] = b"stark-sessions/envelope/v1/aes-256-cbc";
const MAC_LABEL: &[u8] = b"stark-sessions/envelope/v1/hmac-sha256";
const ENC_LABEL_V2: &[u8] = b"stark-sessions/envelope/v2/aes-256-cbc";
const MAC_LABEL_V2: &[u8] = b"stark-sessions/envelope/v2/hmac-sha256";
const LEGACY_MAGIC: &[u8] = b"Salted__";

/// How a new (v1, PBKDF2) envelope is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeParams {
    /// PBKDF2 iterations, at least [`MIN_ITERATIONS`].
    pub iterations: u32,
}

impl Default for EnvelopeParams {
    fn default() -> Self {
        EnvelopeParams {
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

/// The Argon2id cost of a new owner (v2) envelope, between [`MIN_ARGON2`] and [`MAX_ARGON2`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerEnvelopeParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub passes: u32,
    /// Lanes (parallelism).
    pub lanes: u32,
}

impl Default for OwnerEnvelopeParams {
    fn default() -> Self {
        MIN_ARGON2
    }
}

impl OwnerEnvelopeParams {
    fn within_bounds(&self) -> bool {
        (MIN_ARGON2.memory_kib..=MAX_ARGON2.memory_kib).contains(&self.memory_kib)
            && (MIN_ARGON2.passes..=MAX_ARGON2.passes).contains(&self.passes)
            && (MIN_ARGON2.lanes..=MAX_ARGON2.lanes).contains(&self.lanes)
            // Argon2 needs 8 KiB of memory per lane.
            && self.memory_kib >= 8 * self.lanes
    }
}

/// The key derivation of an envelope, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kdf {
    Pbkdf2 { iterations: u32 },
    Argon2id(OwnerEnvelopeParams),
}

impl Kdf {
    fn within_bounds(&self) -> bool {
        match self {
            Kdf::Pbkdf2 { iterations } => (MIN_ITERATIONS..=MAX_ITERATIONS).contains(iterations),
            Kdf::Argon2id(params) => params.within_bounds(),
        }
    }

    /// The envelope's text up to the cipher: version, derivation and its parameters.
    fn header(&self) -> String {
        match self {
            Kdf::Pbkdf2 { iterations } => format!("{TAG}:{KDF}:{iterations}"),
            Kdf::Argon2id(p) => format!(
                "{TAG_V2}:{KDF_V2}:{}:{}:{}",
                p.memory_kib, p.passes, p.lanes
            ),
        }
    }

    /// The AES and MAC keys for `secret` (a PIN or passphrase) and `salt`.
    fn derive(&self, secret: &[u8], salt: &[u8]) -> Option<Keys> {
        let mut master = Zeroizing::new([0u8; 32]);
        let (enc, mac) = match self {
            Kdf::Pbkdf2 { iterations } => {
                pbkdf2::pbkdf2::<HmacSha256>(secret, salt, *iterations, master.as_mut());
                (ENC_LABEL, MAC_LABEL)
            }
            Kdf::Argon2id(p) => {
                let params = argon2::Params::new(p.memory_kib, p.passes, p.lanes, Some(32)).ok()?;
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(secret, salt, master.as_mut())
                    .ok()?;
                (ENC_LABEL_V2, MAC_LABEL_V2)
            }
        };
        Some(Keys {
            enc: label_key(&master, enc),
            mac: label_key(&master, mac),
        })
    }
}

struct Keys {
    enc: Zeroizing<[u8; 32]>,
    mac: Zeroizing<[u8; 32]>,
}

fn label_key(master: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(label);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn mac_of(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Encrypts a session key under `pin` into a v1 (PBKDF2) envelope. The PIN must pass
/// [`crate::pin::check_new_pin`]. For an owner key, use [`seal_owner`].
pub fn seal(
    secret: &SessionSecret,
    pin: &str,
    params: EnvelopeParams,
) -> Result<String, SessionError> {
    crate::pin::check_new_pin(pin)?;
    seal_with(
        secret,
        pin,
        Kdf::Pbkdf2 {
            iterations: params.iterations,
        },
    )
}

/// Encrypts an owner key — the account's root — under `passphrase` into a v2 (Argon2id)
/// envelope. The passphrase must pass [`crate::pin::check_owner_passphrase`].
pub fn seal_owner(
    secret: &SessionSecret,
    passphrase: &str,
    params: OwnerEnvelopeParams,
) -> Result<String, SessionError> {
    crate::pin::check_owner_passphrase(passphrase)?;
    seal_with(secret, passphrase, Kdf::Argon2id(params))
}

fn seal_with(secret: &SessionSecret, pin: &str, kdf: Kdf) -> Result<String, SessionError> {
    if !kdf.within_bounds() {
        return Err(SessionError::CreationFailed(match kdf {
            Kdf::Pbkdf2 { .. } => {
                format!("PBKDF2 iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}")
            }
            Kdf::Argon2id(_) => {
                format!("Argon2id parameters must be between {MIN_ARGON2:?} and {MAX_ARGON2:?}")
            }
        }));
    }
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let keys = kdf
        .derive(pin.as_bytes(), &salt)
        .ok_or_else(|| SessionError::CreationFailed("the key derivation failed".into()))?;
    let ciphertext = Aes256CbcEnc::new(keys.enc.as_ref().into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(secret.to_bytes().as_ref());
    let body = format!(
        "{}:{CIPHER}:{MAC}:{}:{}:{}",
        kdf.header(),
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(&ciphertext),
    );
    let tag = mac_of(&keys.mac, body.as_bytes());
    Ok(format!("{body}:{}", URL_SAFE_NO_PAD.encode(tag)))
}

struct Parsed {
    body_len: usize,
    kdf: Kdf,
    salt: Vec<u8>,
    iv: [u8; 16],
    ciphertext: Vec<u8>,
    mac: Vec<u8>,
}

/// A parameter in canonical decimal only: "0600000" or "+600000" would be another text with
/// the same meaning under the MAC, which we do not allow.
fn number(text: &str) -> Option<u32> {
    if text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The derivation an envelope names, and the fields after it.
fn kdf_of<'a>(parts: &'a [&'a str]) -> Option<(Kdf, &'a [&'a str])> {
    match parts {
        [tag, kdf, iterations, rest @ ..] if (*tag, *kdf) == (TAG, KDF) => Some((
            Kdf::Pbkdf2 {
                iterations: number(iterations)?,
            },
            rest,
        )),
        [tag, kdf, memory, passes, lanes, rest @ ..] if (*tag, *kdf) == (TAG_V2, KDF_V2) => {
            let params = OwnerEnvelopeParams {
                memory_kib: number(memory)?,
                passes: number(passes)?,
                lanes: number(lanes)?,
            };
            Some((Kdf::Argon2id(params), rest))
        }
        _ => None,
    }
}

fn parse(envelope: &str) -> Option<Parsed> {
    let body_len = envelope.rfind(':')?;
    let parts: Vec<&str> = envelope.split(':').collect();
    let (kdf, rest) = kdf_of(&parts)?;
    if !kdf.within_bounds() {
        return None;
    }
    let [cipher, mac_name, salt, iv, ciphertext, mac] = rest else {
        return None;
    };
    if (*cipher, *mac_name) != (CIPHER, MAC) {
        return None;
    }
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
    let iv: [u8; 16] = decode(iv)?.try_into().ok()?;
    let parsed = Parsed {
        body_len,
        kdf,
        salt: decode(salt)?,
        iv,
        ciphertext: decode(ciphertext)?,
        mac: decode(mac)?,
    };
    let well_formed = parsed.salt.len() == 16
        && parsed.mac.len() == 32
        && !parsed.ciphertext.is_empty()
        && parsed.ciphertext.len() % 16 == 0;
    well_formed.then_some(parsed)
}

/// Decrypts an envelope (either version) with its PIN or passphrase. Any failure — wrong PIN,
/// a changed bit anywhere, not an envelope — is [`SessionError::DecryptionFailed`].
pub fn open(envelope: &str, pin: &str) -> Result<SessionSecret, SessionError> {
    let envelope = envelope.trim();
    let parsed = parse(envelope).ok_or(SessionError::DecryptionFailed)?;
    let keys = parsed
        .kdf
        .derive(pin.as_bytes(), &parsed.salt)
        .ok_or(SessionError::DecryptionFailed)?;
    let expected = mac_of(&keys.mac, &envelope.as_bytes()[..parsed.body_len]);
    if !bool::from(expected.ct_eq(parsed.mac.as_slice())) {
        return Err(SessionError::DecryptionFailed);
    }
    let plaintext = Zeroizing::new(
        Aes256CbcDec::new(keys.enc.as_ref().into(), &parsed.iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(&parsed.ciphertext)
            .map_err(|_| SessionError::DecryptionFailed)?,
    );
    SessionSecret::from_bytes(&plaintext).map_err(|_| SessionError::DecryptionFailed)
}

/// Whether `text` claims to be an envelope of either version (its tag), as opposed to a
/// plaintext key. Says nothing about whether it opens.
pub fn is_envelope(text: &str) -> bool {
    let text = text.trim_start();
    [TAG, TAG_V2].iter().any(|tag| {
        text.strip_prefix(tag)
            .is_some_and(|rest| rest.starts_with(':'))
    })
}

/// The PBKDF2 iteration count a v1 envelope was made with (`None` for anything else).
pub fn iterations_of(envelope: &str) -> Option<u32> {
    match parse(envelope.trim())?.kdf {
        Kdf::Pbkdf2 { iterations } => Some(iterations),
        Kdf::Argon2id(_) => None,
    }
}

/// The Argon2id cost a v2 (owner) envelope was made with (`None` for anything else).
pub fn argon2_of(envelope: &str) -> Option<OwnerEnvelopeParams> {
    match parse(envelope.trim())?.kdf {
        Kdf::Argon2id(params) => Some(params),
        Kdf::Pbkdf2 { .. } => None,
    }
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one iteration: what CryptoJS uses for a passphrase.
fn evp_bytes_to_key(passphrase: &[u8], salt: &[u8]) -> Zeroizing<[u8; 48]> {
    let mut out = Zeroizing::new([0u8; 48]);
    let mut previous: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    let mut filled = 0;
    while filled < out.len() {
        let mut md5 = Md5::new();
        md5.update(previous.as_slice());
        md5.update(passphrase);
        md5.update(salt);
        let mut block = md5.finalize();
        let n = (out.len() - filled).min(block.len());
        out[filled..filled + n].copy_from_slice(&block[..n]);
        filled += n;
        previous.zeroize();
        previous.extend_from_slice(&block);
        block.zeroize();
    }
    out
}

/// Reads a key that the reference SDK encrypted with CryptoJS
/// (`Base64("Salted__" ‖ salt8 ‖ AES-256-CBC(ciphertext))`, key and IV from `EVP_BytesToKey`
/// with MD5; plaintext the `0x…` hex private key). Failures are
/// [`SessionError::DecryptionFailed`].
pub fn open_legacy(legacy: &str, passphrase: &str) -> Result<SessionSecret, SessionError> {
    let compact: String = legacy.split_whitespace().collect();
    let raw = Zeroizing::new(
        STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| SessionError::DecryptionFailed)?,
    );
    if raw.len() < 32 || !raw.starts_with(LEGACY_MAGIC) || (raw.len() - 16) % 16 != 0 {
        return Err(SessionError::DecryptionFailed);
    }
    let (salt, ciphertext) = raw[8..].split_at(8);
    let key_iv = evp_bytes_to_key(passphrase.as_bytes(), salt);
    let (key, iv) = key_iv.split_at(32);
    let plaintext = Zeroizing::new(
        Aes256CbcDec::new(key.into(), iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|_| SessionError::DecryptionFailed)?,
    );
    let text = std::str::from_utf8(&plaintext).map_err(|_| SessionError::DecryptionFailed)?;
    SessionSecret::from_hex(text.trim()).map_err(|_| SessionError::DecryptionFailed)
}

/// Re-encrypts a legacy CryptoJS key into a v1 envelope under `new_pin`, which must pass
/// [`crate::pin::check_new_pin`] (the old passphrase may be anything).
pub fn import_legacy(
    legacy: &str,
    passphrase: &str,
    new_pin: &str,
    params: EnvelopeParams,
) -> Result<String, SessionError> {
    crate::pin::check_new_pin(new_pin)?;
    let secret = open_legacy(legacy, passphrase)?;
    seal(&secret, new_pin, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SessionSecret {
        SessionSecret::from_hex("0x1234abcd").expect("scalar")
    }

    #[test]
    fn an_envelope_opens_with_its_pin_only() {
        let sealed = seal(&secret(), "482193", EnvelopeParams::default()).expect("seal");
        assert!(sealed.starts_with("sskey1:pbkdf2-sha256:600000:"));
        assert_eq!(iterations_of(&sealed), Some(600_000));
        assert_eq!(
            open(&sealed, "482193").expect("opens").public_key(),
            secret().public_key()
        );
        assert!(matches!(
            open(&sealed, "482194"),
            Err(SessionError::DecryptionFailed)
        ));
        assert!(is_envelope(&sealed));
        assert!(!is_envelope("0x1234abcd"));
        // Two envelopes of one key differ (fresh salt and IV).
        let again = seal(&secret(), "482193", EnvelopeParams::default()).expect("seal");
        assert_ne!(sealed, again);
    }

    #[test]
    fn weak_pins_and_iteration_counts_are_refused() {
        for pin in ["123", "4821", "111111", "123456", "987654"] {
            assert_eq!(
                seal(&secret(), pin, EnvelopeParams::default())
                    .expect_err(pin)
                    .code(),
                "WEAK_PIN"
            );
        }
        let weak = EnvelopeParams { iterations: 10_000 };
        assert!(seal(&secret(), "482193", weak).is_err());
    }

    #[test]
    fn an_old_envelope_with_a_short_pin_still_opens() {
        // What seal wrote before the PIN policy: the same format under a 4-digit PIN.
        let salt = [7u8; 16];
        let iv = [9u8; 16];
        let keys = Kdf::Pbkdf2 {
            iterations: DEFAULT_ITERATIONS,
        }
        .derive(b"4821", &salt)
        .expect("PBKDF2 derives");
        let ciphertext = Aes256CbcEnc::new(keys.enc.as_ref().into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(secret().to_bytes().as_ref());
        let body = format!(
            "{TAG}:{KDF}:{DEFAULT_ITERATIONS}:{CIPHER}:{MAC}:{}:{}:{}",
            URL_SAFE_NO_PAD.encode(salt),
            URL_SAFE_NO_PAD.encode(iv),
            URL_SAFE_NO_PAD.encode(&ciphertext),
        );
        let old = format!(
            "{body}:{}",
            URL_SAFE_NO_PAD.encode(mac_of(&keys.mac, body.as_bytes()))
        );
        assert_eq!(
            open(&old, "4821").expect("opens").public_key(),
            secret().public_key()
        );
    }

    #[test]
    fn a_legacy_key_is_rewrapped_only_under_a_policy_pin() {
        let legacy = "U2FsdGVkX1+invalid";
        // The new PIN is checked before the legacy key is even looked at.
        assert_eq!(
            import_legacy(legacy, "old", "1234", EnvelopeParams::default())
                .expect_err("weak new PIN")
                .code(),
            "WEAK_PIN"
        );
    }

    #[test]
    fn a_crafted_envelope_cannot_ask_for_endless_or_too_few_iterations() {
        let sealed = seal(&secret(), "482193", EnvelopeParams::default()).expect("seal");
        for count in ["1000", "4000000000", "0600000"] {
            let edited = sealed.replacen("600000", count, 1);
            assert!(matches!(
                open(&edited, "482193"),
                Err(SessionError::DecryptionFailed)
            ));
        }
    }

    const PASSPHRASE: &str = "tundra velvet oxide harbor";

    #[test]
    fn an_owner_envelope_is_argon2id_and_opens_with_its_passphrase_only() {
        let sealed =
            seal_owner(&secret(), PASSPHRASE, OwnerEnvelopeParams::default()).expect("seal");
        assert!(sealed.starts_with("sskey2:argon2id:19456:2:1:aes-256-cbc:hmac-sha256:"));
        assert_eq!(argon2_of(&sealed), Some(MIN_ARGON2));
        assert_eq!(iterations_of(&sealed), None);
        assert!(is_envelope(&sealed));
        assert_eq!(
            open(&sealed, PASSPHRASE).expect("opens").public_key(),
            secret().public_key()
        );
        assert!(matches!(
            open(&sealed, "tundra velvet oxide harbour"),
            Err(SessionError::DecryptionFailed)
        ));
        let costlier = OwnerEnvelopeParams {
            memory_kib: 32 * 1024,
            passes: 3,
            lanes: 2,
        };
        let sealed = seal_owner(&secret(), PASSPHRASE, costlier).expect("seal");
        assert_eq!(argon2_of(&sealed), Some(costlier));
        assert!(open(&sealed, PASSPHRASE).is_ok());
    }

    #[test]
    fn a_weak_owner_passphrase_is_refused_naming_the_rule_never_the_passphrase() {
        // Good enough for a session key's PIN, not for the account's root.
        for weak in ["482193", "Summer2024!", "password123", "dragon-1990"] {
            let e = seal_owner(&secret(), weak, OwnerEnvelopeParams::default()).expect_err(weak);
            assert_eq!(e.code(), "WEAK_PASSPHRASE", "{weak}");
            let text = e.to_string();
            assert!(text.contains("at least 3 of 4"), "{weak}: {text}");
            assert!(!text.contains(weak), "{weak}: {text}");
        }
        for cheap in [
            OwnerEnvelopeParams {
                memory_kib: 8 * 1024,
                ..MIN_ARGON2
            },
            OwnerEnvelopeParams {
                passes: 1,
                ..MIN_ARGON2
            },
            OwnerEnvelopeParams {
                lanes: 0,
                ..MIN_ARGON2
            },
        ] {
            let e = seal_owner(&secret(), PASSPHRASE, cheap).expect_err("below OWASP");
            assert_eq!(e.code(), "SESSION_CREATION_FAILED", "{cheap:?}");
        }
    }

    #[test]
    fn a_tampered_owner_envelope_fails_like_a_wrong_passphrase() {
        let sealed =
            seal_owner(&secret(), PASSPHRASE, OwnerEnvelopeParams::default()).expect("seal");
        let fields: Vec<&str> = sealed.split(':').collect();
        // Every field from the parameters on: one character changed.
        for i in 2..fields.len() {
            let mut edited: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            let last = edited[i].pop().expect("non-empty field");
            edited[i].push(if last == '3' { '4' } else { '3' });
            let edited = edited.join(":");
            assert!(
                matches!(
                    open(&edited, PASSPHRASE),
                    Err(SessionError::DecryptionFailed)
                ),
                "field {i}"
            );
        }
        // Cheaper or endless parameters, or a v1 tag over v2 fields, are refused unread.
        for (from, to) in [
            (":19456:2:1:", ":8192:2:1:"),
            (":19456:2:1:", ":19456:1:1:"),
            (":19456:2:1:", ":4194304:2:1:"),
            (":19456:2:1:", ":19456:2:1000:"),
            (":19456:2:1:", ":019456:2:1:"),
            ("sskey2:argon2id", "sskey1:argon2id"),
        ] {
            let edited = sealed.replacen(from, to, 1);
            assert!(
                matches!(
                    open(&edited, PASSPHRASE),
                    Err(SessionError::DecryptionFailed)
                ),
                "{to}"
            );
        }
    }

    #[test]
    fn an_owner_key_sealed_under_a_pin_before_argon2id_still_opens() {
        // What `owner new` wrote before: the PBKDF2 envelope under a 6-character PIN.
        let old = seal(&secret(), "482193", EnvelopeParams::default()).expect("seal");
        assert!(old.starts_with("sskey1:pbkdf2-sha256:600000:"));
        assert!(is_envelope(&old));
        assert_eq!(
            open(&old, "482193").expect("opens").public_key(),
            secret().public_key()
        );
    }

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        // Vector from `openssl enc -aes-256-cbc -md md5 -pass pass:hunter2 -S 0102030405060708 -P`.
        let key_iv = evp_bytes_to_key(b"hunter2", &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            hex::encode_upper(&key_iv[..32]),
            "DD076B4BCD49C33676D8185C3DD67E935D3B7324FF7D8E1074D9734059F0971E"
        );
        assert_eq!(
            hex::encode_upper(&key_iv[32..]),
            "FEB9D83342D7AF5BEAE1FCD7AA9415A6"
        );
    }
}
