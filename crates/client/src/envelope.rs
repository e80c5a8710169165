//! The encryption envelope of a private key at rest (session keys and owner keys), and the import of the legacy
//! CryptoJS "Salted__" format.
//!
//! Envelope v1, one line of text:
//!
//! ```text
//! sskey1:pbkdf2-sha256:<iterations>:aes-256-cbc:hmac-sha256:<salt>:<iv>:<ciphertext>:<mac>
//! ```
//!
//! binary fields in URL-safe base64 without padding. PBKDF2-HMAC-SHA256(PIN, salt, iterations)
//! gives a 32-byte master key; HMAC-SHA256 of the master key over two labels gives the AES-256
//! key and the MAC key (one PBKDF2 run, not two: an attacker would need only one). The MAC
//! covers every byte before the last `:` — version, parameters, salt, IV and ciphertext — and
//! is checked in constant time before anything is decrypted, so a wrong PIN and a tampered
//! envelope fail the same way, before any padding is looked at.

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
use crate::keys::SessionSecret;

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

const TAG: &str = "sskey1";
const KDF: &str = "pbkdf2-sha256";
const CIPHER: &str = "aes-256-cbc";
const MAC: &str = "hmac-sha256";
const ENC_LABEL: &[u8] = b"stark-sessions/envelope/v1/aes-256-cbc";
const MAC_LABEL: &[u8] = b"stark-sessions/envelope/v1/hmac-sha256";
const LEGACY_MAGIC: &[u8] = b"Salted__";

/// How a new envelope is made.
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

fn derive(pin: &[u8], salt: &[u8], iterations: u32) -> Keys {
    let mut master = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2::<HmacSha256>(pin, salt, iterations, master.as_mut());
    Keys {
        enc: label_key(&master, ENC_LABEL),
        mac: label_key(&master, MAC_LABEL),
    }
}

fn mac_of(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Encrypts a secret key (a session key or an owner key) under `pin` into an envelope. The
/// PIN must pass [`crate::pin::check_new_pin`].
pub fn seal(
    secret: &SessionSecret,
    pin: &str,
    params: EnvelopeParams,
) -> Result<String, SessionError> {
    crate::pin::check_new_pin(pin)?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&params.iterations) {
        return Err(SessionError::CreationFailed(format!(
            "PBKDF2 iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
        )));
    }
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let keys = derive(pin.as_bytes(), &salt, params.iterations);
    let ciphertext = Aes256CbcEnc::new(keys.enc.as_ref().into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(secret.to_bytes().as_ref());
    let body = format!(
        "{TAG}:{KDF}:{}:{CIPHER}:{MAC}:{}:{}:{}",
        params.iterations,
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(&ciphertext),
    );
    let tag = mac_of(&keys.mac, body.as_bytes());
    Ok(format!("{body}:{}", URL_SAFE_NO_PAD.encode(tag)))
}

struct Parsed {
    body_len: usize,
    iterations: u32,
    salt: Vec<u8>,
    iv: [u8; 16],
    ciphertext: Vec<u8>,
    mac: Vec<u8>,
}

fn parse(envelope: &str) -> Option<Parsed> {
    let body_len = envelope.rfind(':')?;
    let parts: Vec<&str> = envelope.split(':').collect();
    let [tag, kdf, iterations, cipher, mac_name, salt, iv, ciphertext, mac] = parts.as_slice()
    else {
        return None;
    };
    if (*tag, *kdf, *cipher, *mac_name) != (TAG, KDF, CIPHER, MAC) {
        return None;
    }
    // Only canonical decimal: "0600000" or "+600000" would be another text with the same MAC
    // input meaning, which we do not allow.
    if iterations.starts_with('0') || !iterations.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let iterations: u32 = iterations.parse().ok()?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return None;
    }
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
    let iv: [u8; 16] = decode(iv)?.try_into().ok()?;
    let parsed = Parsed {
        body_len,
        iterations,
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

/// Decrypts an envelope with `pin`. Any failure — wrong PIN, a changed bit anywhere, not an
/// envelope — is [`SessionError::DecryptionFailed`].
pub fn open(envelope: &str, pin: &str) -> Result<SessionSecret, SessionError> {
    let envelope = envelope.trim();
    let parsed = parse(envelope).ok_or(SessionError::DecryptionFailed)?;
    let keys = derive(pin.as_bytes(), &parsed.salt, parsed.iterations);
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

/// Whether `text` claims to be a v1 envelope (its tag), as opposed to a plaintext key. Says
/// nothing about whether it opens.
pub fn is_envelope(text: &str) -> bool {
    text.trim_start().starts_with(concat!("sskey1", ":"))
}

/// The iteration count an envelope was made with, if it is an envelope.
pub fn iterations_of(envelope: &str) -> Option<u32> {
    parse(envelope.trim()).map(|p| p.iterations)
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
        let keys = derive(b"4821", &salt, DEFAULT_ITERATIONS);
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
