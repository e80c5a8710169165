//! A session private key in memory: checked on the way in, wiped on drop, never printed.

use stark_sessions_abi::Felt;
use starknet::core::crypto::ecdsa_sign;
use starknet::signers::SigningKey;
use starknet_curve::curve_params::EC_ORDER;
use zeroize::Zeroizing;

use crate::error::SessionError;

/// A session private key in memory. Its bytes are wiped on drop; it never prints.
pub struct SessionSecret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

impl SessionSecret {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let key = SigningKey::from_random();
        SessionSecret(Zeroizing::new(key.secret_scalar().to_bytes_be()))
    }

    /// A key from its 32 big-endian bytes; refuses zero and anything not below the curve order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SessionError::InvalidInput("a session key is 32 bytes".into()))?;
        let bytes = Zeroizing::new(bytes);
        let scalar = Felt::from_bytes_be(&bytes);
        if scalar == Felt::ZERO || scalar >= EC_ORDER || scalar.to_bytes_be() != *bytes {
            return Err(SessionError::InvalidInput(
                "not a valid Stark-curve private key".into(),
            ));
        }
        Ok(SessionSecret(bytes))
    }

    /// A key from `0x…` hex (the form the reference SDK encrypts).
    pub fn from_hex(text: &str) -> Result<Self, SessionError> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        if digits.is_empty() || digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(SessionError::InvalidInput("not a hex private key".into()));
        }
        let padded = Zeroizing::new(format!("{digits:0>64}"));
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(padded.as_bytes(), bytes.as_mut())
            .map_err(|_| SessionError::InvalidInput("not a hex private key".into()))?;
        Self::from_bytes(bytes.as_ref())
    }

    /// The 32 big-endian bytes (wiped when the returned value drops).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    pub(crate) fn scalar(&self) -> Felt {
        Felt::from_bytes_be(&self.0)
    }

    /// The session public key: what the account registers.
    pub fn public_key(&self) -> Felt {
        starknet_crypto::get_public_key(&self.scalar())
    }

    /// `(r, s)` of an ECDSA signature of `hash` (RFC 6979 nonces).
    pub fn sign(&self, hash: &Felt) -> Result<(Felt, Felt), SessionError> {
        let signature = ecdsa_sign(&self.scalar(), hash)
            .map_err(|e| SessionError::InvalidInput(format!("cannot sign: {e}")))?;
        Ok((signature.r, signature.s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_scalars_are_refused() {
        assert!(SessionSecret::from_bytes(&[0u8; 32]).is_err());
        assert!(SessionSecret::from_bytes(&EC_ORDER.to_bytes_be()).is_err());
        assert!(SessionSecret::from_bytes(&[1u8; 31]).is_err());
        assert!(SessionSecret::from_hex("0xzz").is_err());
        assert!(SessionSecret::from_hex("0x1").is_ok());
    }

    #[test]
    fn signatures_verify_under_the_public_key() {
        let secret = SessionSecret::generate();
        let hash = Felt::from(0xabcdefu32);
        let (r, s) = secret.sign(&hash).expect("signs");
        assert!(starknet::core::crypto::ecdsa_verify(
            &secret.public_key(),
            &hash,
            &starknet::core::crypto::Signature { r, s }
        )
        .expect("verifies"));
    }
}
