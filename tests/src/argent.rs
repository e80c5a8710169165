//! Argent account 0.4.0's own session path, encoded here from the facts of its interface: an
//! account with a Stark owner and a Stark guardian, a session the two authorize off chain, and
//! the `'session-token'` signature that `execute_from_outside_v2` accepts from the session key.
//!
//! What is hashed and signed:
//!
//! - the session's SNIP-12 revision 1 message hash, domain `'SessionAccount.session'`, version
//!   `'1'` (a short string), the chain id and revision `1` (an integer), over
//!   `(expires_at, allowed_methods_root, metadata_hash, session_key_guid)`;
//! - `allowed_methods_root`: a Merkle tree over `poseidon(ALLOWED_METHOD_TYPE_HASH, contract,
//!   selector)` leaves, in the order given, pairs hashed smaller first, an odd node paired with 0;
//! - the owner and the guardian sign the session hash (the authorization); the session key and
//!   the guardian each sign `poseidon(outside_execution_hash, session_hash, cache_flag)`, where
//!   the outside execution hash is SNIP-9 v2's ([`snip12::outside_execution_hash`]).

use anyhow::{bail, ensure, Context, Result};
use stark_sessions_abi::{constants, snip12, CairoSerde, OutsideExecution};
use stark_sessions_devnet::{Devnet, ARGENT_ACCOUNT_CLASS_HASH};
use starknet::core::types::{Call, Felt};
use starknet::core::utils::starknet_keccak;
use starknet::signers::SigningKey;
use starknet_crypto::{poseidon_hash, poseidon_hash_many};

use crate::sel;

// Short strings, written out in hex (the starknet-rust macros need a crate alias this crate
// does not have); `short_strings_match_their_text` checks each.
/// First felt of a session signature: `'session-token'`.
pub const SESSION_MAGIC: Felt = Felt::from_hex_unchecked("0x73657373696f6e2d746f6b656e");
/// Tag of a Stark-curve signer in its GUID: `'Starknet Signer'`.
const STARKNET_SIGNER_TYPE: Felt = Felt::from_hex_unchecked("0x537461726b6e6574205369676e6572");
/// SNIP-12 domain of sessions: `'SessionAccount.session'`, version `'1'`.
const SESSION_DOMAIN_NAME: Felt =
    Felt::from_hex_unchecked("0x53657373696f6e4163636f756e742e73657373696f6e");
const SESSION_DOMAIN_VERSION: Felt = Felt::from_hex_unchecked("0x31");
/// SNIP-12 revision 1 type strings of the session and of one allowed method.
const SESSION_TYPE: &str = r#""Session"("Expires At":"timestamp","Allowed Methods":"merkletree","Metadata":"string","Session Key":"felt")"#;
const ALLOWED_METHOD_TYPE: &str =
    r#""Allowed Method"("Contract Address":"ContractAddress","selector":"selector")"#;
/// Variant index of `Signer::Starknet` / `SignerSignature::Starknet`, and of `Option::Some`.
const STARKNET_VARIANT: Felt = Felt::ZERO;
const OPTION_SOME: Felt = Felt::ZERO;

/// The GUID Argent gives a Stark-curve signer: `poseidon('Starknet Signer', pubkey)`.
pub fn starknet_signer_guid(public_key: Felt) -> Felt {
    poseidon_hash(STARKNET_SIGNER_TYPE, public_key)
}

/// A method a session may call (Argent's `Allowed Method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedMethod {
    /// The contract.
    pub contract: Felt,
    /// The entry point selector.
    pub selector: Felt,
}

impl AllowedMethod {
    /// `contract.name`.
    pub fn new(contract: Felt, name: &str) -> Self {
        AllowedMethod {
            contract,
            selector: sel(name),
        }
    }

    /// Its Merkle leaf: the SNIP-12 struct hash of the `Allowed Method`.
    pub fn leaf(&self) -> Felt {
        let type_hash = starknet_keccak(ALLOWED_METHOD_TYPE.as_bytes());
        poseidon_hash_many(&[type_hash, self.contract, self.selector])
    }

    fn allows(&self, call: &Call) -> bool {
        self.contract == call.to && self.selector == call.selector
    }
}

/// Poseidon of a pair, smaller first (as the on-chain verifier orders each step).
fn hash_pair(a: Felt, b: Felt) -> Felt {
    if a.to_bytes_be() < b.to_bytes_be() {
        poseidon_hash(a, b)
    } else {
        poseidon_hash(b, a)
    }
}

/// The level above `nodes`: pairs in order, a last odd node paired with 0.
fn merkle_parent_level(nodes: &[Felt]) -> Vec<Felt> {
    nodes
        .chunks(2)
        .map(|pair| hash_pair(pair[0], pair.get(1).copied().unwrap_or(Felt::ZERO)))
        .collect()
}

/// Root of the Merkle tree over `leaves` (a single leaf is its own root).
pub fn merkle_root(leaves: &[Felt]) -> Result<Felt> {
    ensure!(!leaves.is_empty(), "a session allows at least one method");
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = merkle_parent_level(&level);
    }
    Ok(level[0])
}

/// The proof of `leaves[index]`: the sibling at every level, bottom up.
pub fn merkle_proof(leaves: &[Felt], mut index: usize) -> Result<Vec<Felt>> {
    ensure!(index < leaves.len(), "leaf {index} of {}", leaves.len());
    let mut level = leaves.to_vec();
    let mut proof = Vec::new();
    while level.len() > 1 {
        proof.push(level.get(index ^ 1).copied().unwrap_or(Felt::ZERO));
        level = merkle_parent_level(&level);
        index /= 2;
    }
    Ok(proof)
}

/// Whether `proof` leads from `leaf` to `root`, the way the account checks it.
pub fn merkle_verify(root: Felt, leaf: Felt, proof: &[Felt]) -> bool {
    proof
        .iter()
        .fold(leaf, |node, &sibling| hash_pair(node, sibling))
        == root
}

/// SNIP-12 revision 1 hash of a `string`: Poseidon of its `ByteArray` serialization
/// (`[full_words_len, full_words…, pending_word, pending_word_len]`, 31-byte words).
pub fn string_hash(text: &str) -> Felt {
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(31).collect();
    let (full, pending): (&[&[u8]], &[u8]) = match chunks.split_last() {
        Some((last, rest)) if last.len() < 31 => (rest, last),
        _ => (chunks.as_slice(), &[]),
    };
    let mut felts = vec![Felt::from(full.len())];
    felts.extend(full.iter().map(|word| Felt::from_bytes_be_slice(word)));
    felts.push(Felt::from_bytes_be_slice(pending));
    felts.push(Felt::from(pending.len()));
    poseidon_hash_many(&felts)
}

/// A session: its key, expiry, allowed methods and metadata.
#[derive(Clone)]
pub struct ArgentSession {
    /// Block timestamp after which the account refuses it.
    pub expires_at: u64,
    /// What it may call; the Merkle tree keeps this order.
    pub allowed_methods: Vec<AllowedMethod>,
    /// Free-form metadata (a JSON string in Argent's tooling); only its hash goes on chain.
    pub metadata: String,
    key: SigningKey,
}

impl std::fmt::Debug for ArgentSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgentSession")
            .field("expires_at", &self.expires_at)
            .field("allowed_methods", &self.allowed_methods)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl ArgentSession {
    /// A session whose key comes from `session_secret`.
    pub fn new(
        session_secret: Felt,
        expires_at: u64,
        allowed_methods: Vec<AllowedMethod>,
        metadata: impl Into<String>,
    ) -> Self {
        ArgentSession {
            expires_at,
            allowed_methods,
            metadata: metadata.into(),
            key: SigningKey::from_secret_scalar(session_secret),
        }
    }

    /// The session key's public key.
    pub fn public_key(&self) -> Felt {
        self.key.verifying_key().scalar()
    }

    fn leaves(&self) -> Vec<Felt> {
        self.allowed_methods
            .iter()
            .map(AllowedMethod::leaf)
            .collect()
    }

    /// The on-chain `Session`: `[expires_at, allowed_methods_root, metadata_hash,
    /// session_key_guid]`.
    pub fn on_chain(&self) -> Result<[Felt; 4]> {
        Ok([
            Felt::from(self.expires_at),
            merkle_root(&self.leaves())?,
            string_hash(&self.metadata),
            starknet_signer_guid(self.public_key()),
        ])
    }

    /// The session's SNIP-12 message hash for `account` on `chain_id` (what the owner and the
    /// guardian authorize, and the key under which the account revokes or caches it).
    pub fn message_hash(&self, account: Felt, chain_id: Felt) -> Result<Felt> {
        let domain = poseidon_hash_many(&[
            constants::DOMAIN_TYPE_HASH,
            SESSION_DOMAIN_NAME,
            SESSION_DOMAIN_VERSION,
            chain_id,
            constants::SNIP12_REVISION,
        ]);
        let mut fields = vec![starknet_keccak(SESSION_TYPE.as_bytes())];
        fields.extend(self.on_chain()?);
        let struct_hash = poseidon_hash_many(&fields);
        Ok(poseidon_hash_many(&[
            constants::STARKNET_MESSAGE,
            domain,
            account,
            struct_hash,
        ]))
    }

    /// A Merkle proof for each call, in order; fails on a call the session does not allow.
    pub fn proofs(&self, calls: &[Call]) -> Result<Vec<Vec<Felt>>> {
        let leaves = self.leaves();
        calls
            .iter()
            .map(|call| {
                let index = self
                    .allowed_methods
                    .iter()
                    .position(|method| method.allows(call))
                    .with_context(|| {
                        format!("{:#x}.{:#x} is not allowed", call.to, call.selector)
                    })?;
                merkle_proof(&leaves, index)
            })
            .collect()
    }
}

/// `SignerSignature::Starknet((StarknetSigner { pubkey }, StarknetSignature { r, s }))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StarknetSignerSignature {
    /// The signer's public key.
    pub public_key: Felt,
    /// Signature r.
    pub r: Felt,
    /// Signature s.
    pub s: Felt,
}

impl StarknetSignerSignature {
    /// `key`'s signature of `hash`.
    pub fn sign(key: &SigningKey, hash: Felt) -> Result<Self> {
        let sig = key.sign(&hash)?;
        Ok(StarknetSignerSignature {
            public_key: key.verifying_key().scalar(),
            r: sig.r,
            s: sig.s,
        })
    }

    fn serialize(&self, out: &mut Vec<Felt>) {
        out.extend([STARKNET_VARIANT, self.public_key, self.r, self.s]);
    }
}

/// Argent's `SessionToken`, the body of a session signature after [`SESSION_MAGIC`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgentSessionToken {
    /// The on-chain `Session` ([`ArgentSession::on_chain`]).
    pub session: [Felt; 4],
    /// Whether the account caches the authorization after checking it.
    pub cache_authorization: bool,
    /// The owner's and guardian's signatures of the session hash, as
    /// `Array<SignerSignature>`; may be empty once the account cached it.
    pub session_authorization: Vec<Felt>,
    /// The session key's signature of `poseidon(message_hash, session_hash, cache_flag)`.
    pub session_signature: StarknetSignerSignature,
    /// The guardian's signature of the same hash.
    pub guardian_signature: StarknetSignerSignature,
    /// A Merkle proof per call.
    pub proofs: Vec<Vec<Felt>>,
}

impl ArgentSessionToken {
    /// The signature `execute_from_outside_v2` takes: `[SESSION_MAGIC, token…]`.
    pub fn to_signature(&self) -> Vec<Felt> {
        let mut out = vec![SESSION_MAGIC];
        out.extend(self.session);
        self.cache_authorization.cairo_serialize(&mut out);
        self.session_authorization.cairo_serialize(&mut out);
        self.session_signature.serialize(&mut out);
        self.guardian_signature.serialize(&mut out);
        self.proofs.cairo_serialize(&mut out);
        out
    }
}

/// The session authorization: `Array<SignerSignature>` of the owner then the guardian over the
/// session hash (the account's regular signature format, with a guardian).
fn authorize(owner: &SigningKey, guardian: &SigningKey, session_hash: Felt) -> Result<Vec<Felt>> {
    let mut encoded = vec![Felt::TWO];
    for key in [owner, guardian] {
        StarknetSignerSignature::sign(key, session_hash)?.serialize(&mut encoded);
    }
    Ok(encoded)
}

/// A deployed Argent 0.4.0 account (Stark owner and guardian) with one authorized session.
pub struct ArgentSessionAccount {
    /// The account's address.
    pub address: Felt,
    /// The chain it lives on.
    pub chain_id: Felt,
    /// Set the token's cache flag: the account then stores the checked authorization.
    pub cache_authorization: bool,
    /// Send an empty authorization (valid only once the account cached it).
    pub omit_authorization: bool,
    guardian: SigningKey,
    session: ArgentSession,
    session_hash: Felt,
    authorization: Vec<Felt>,
}

impl std::fmt::Debug for ArgentSessionAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgentSessionAccount")
            .field("address", &format_args!("{:#x}", self.address))
            .field("session_hash", &format_args!("{:#x}", self.session_hash))
            .finish_non_exhaustive()
    }
}

impl ArgentSessionAccount {
    /// Constructor calldata: `owner: Signer::Starknet(owner)`, `guardian:
    /// Option::Some(Signer::Starknet(guardian))`.
    pub fn constructor_calldata(owner: Felt, guardian: Felt) -> Vec<Felt> {
        vec![
            STARKNET_VARIANT,
            owner,
            OPTION_SOME,
            STARKNET_VARIANT,
            guardian,
        ]
    }

    /// Deploys an Argent account (class [`ARGENT_ACCOUNT_CLASS_HASH`], which the devnet must
    /// have predeclared) through the UDC, checks its owner and guardian, and has both
    /// authorize `session`. The account is not funded.
    pub async fn deploy(
        devnet: &Devnet,
        owner_secret: Felt,
        guardian_secret: Felt,
        salt: Felt,
        session: ArgentSession,
    ) -> Result<Self> {
        let owner = SigningKey::from_secret_scalar(owner_secret);
        let guardian = SigningKey::from_secret_scalar(guardian_secret);
        let (owner_key, guardian_key) = (
            owner.verifying_key().scalar(),
            guardian.verifying_key().scalar(),
        );
        let calldata = Self::constructor_calldata(owner_key, guardian_key);
        let address = devnet
            .deploy_contract(ARGENT_ACCOUNT_CLASS_HASH, calldata, salt)
            .await
            .context("deploy the Argent account (is the class predeclared?)")?;
        for (view, expected) in [("get_owner", owner_key), ("get_guardian", guardian_key)] {
            let out = devnet.call(address, sel(view), vec![]).await?;
            ensure!(out == [expected], "{view} returned {out:?}");
        }
        let chain_id = devnet.chain_id();
        let session_hash = session.message_hash(address, chain_id)?;
        let authorization = authorize(&owner, &guardian, session_hash)?;
        Ok(ArgentSessionAccount {
            address,
            chain_id,
            cache_authorization: false,
            omit_authorization: false,
            guardian,
            session,
            session_hash,
            authorization,
        })
    }

    /// The session's message hash on this account.
    pub fn session_hash(&self) -> Felt {
        self.session_hash
    }

    /// The session.
    pub fn session(&self) -> &ArgentSession {
        &self.session
    }

    /// The SNIP-9 v2 message hash of `outside` on this account.
    pub fn message_hash(&self, outside: &OutsideExecution) -> Felt {
        snip12::outside_execution_hash(outside, self.address, self.chain_id)
    }

    /// The session token for `outside`: session key and guardian sign
    /// `poseidon(message_hash, session_hash, cache_flag)`.
    pub fn session_token(&self, outside: &OutsideExecution) -> Result<ArgentSessionToken> {
        let signed = poseidon_hash_many(&[
            self.message_hash(outside),
            self.session_hash,
            if self.cache_authorization {
                Felt::ONE
            } else {
                Felt::ZERO
            },
        ]);
        let session_authorization = if self.omit_authorization {
            Vec::new()
        } else {
            self.authorization.clone()
        };
        Ok(ArgentSessionToken {
            session: self.session.on_chain()?,
            cache_authorization: self.cache_authorization,
            session_authorization,
            session_signature: StarknetSignerSignature::sign(&self.session.key, signed)?,
            guardian_signature: StarknetSignerSignature::sign(&self.guardian, signed)?,
            proofs: self.session.proofs(&outside.calls)?,
        })
    }

    /// The signature `execute_from_outside_v2` accepts for `outside` from the session.
    pub fn session_signature(&self, outside: &OutsideExecution) -> Result<Vec<Felt>> {
        Ok(self.session_token(outside)?.to_signature())
    }

    /// The relayer's call: `execute_from_outside_v2(outside, signature)` on this account.
    pub fn relay_call(&self, outside: &OutsideExecution, signature: Vec<Felt>) -> Call {
        crate::relay_call(self.address, outside, signature)
    }

    /// The account's own SNIP-9 v2 hash of `outside` (its `get_outside_execution_message_hash_rev_1`
    /// view), to check [`Self::message_hash`] against.
    pub async fn onchain_message_hash(
        &self,
        devnet: &Devnet,
        outside: &OutsideExecution,
    ) -> Result<Felt> {
        let out = devnet
            .call(
                self.address,
                sel("get_outside_execution_message_hash_rev_1"),
                outside.to_felts(),
            )
            .await?;
        match out.as_slice() {
            [hash] => Ok(*hash),
            _ => bail!("unexpected view result {out:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_match_their_text() {
        use starknet::core::utils::cairo_short_string_to_felt as short;
        assert_eq!(SESSION_MAGIC, short("session-token").expect("ascii"));
        assert_eq!(
            STARKNET_SIGNER_TYPE,
            short("Starknet Signer").expect("ascii")
        );
        assert_eq!(
            SESSION_DOMAIN_NAME,
            short("SessionAccount.session").expect("ascii")
        );
        assert_eq!(SESSION_DOMAIN_VERSION, short("1").expect("ascii"));
    }

    #[test]
    fn every_leaf_proves_against_the_root() {
        for n in 1..=9u64 {
            let leaves: Vec<Felt> = (0..n)
                .map(|i| poseidon_hash(Felt::from(i), Felt::TWO))
                .collect();
            let root = merkle_root(&leaves).expect("root");
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = merkle_proof(&leaves, i).expect("proof");
                assert!(merkle_verify(root, *leaf, &proof), "n={n} i={i}");
                assert!(!merkle_verify(root, *leaf + Felt::ONE, &proof));
            }
        }
        assert!(merkle_root(&[]).is_err());
    }

    #[test]
    fn two_leaves_hash_to_their_sorted_pair() {
        let (a, b) = (Felt::from(5u8), Felt::from(3u8));
        assert_eq!(merkle_root(&[a, b]).expect("root"), poseidon_hash(b, a));
        assert_eq!(merkle_root(&[a]).expect("root"), a);
        assert_eq!(merkle_proof(&[a, b], 0).expect("proof"), vec![b]);
    }

    #[test]
    fn strings_hash_as_byte_arrays() {
        // "" is [0, 0, 0]; "abc" is [0, 'abc', 3]; 31 bytes are one full word and an empty one.
        let words = |f: &[Felt]| poseidon_hash_many(f);
        assert_eq!(
            string_hash(""),
            words(&[Felt::ZERO, Felt::ZERO, Felt::ZERO])
        );
        let abc = Felt::from_bytes_be_slice(b"abc");
        assert_eq!(string_hash("abc"), words(&[Felt::ZERO, abc, Felt::THREE]));
        let full = "a".repeat(31);
        let word = Felt::from_bytes_be_slice(full.as_bytes());
        assert_eq!(
            string_hash(&full),
            words(&[Felt::ONE, word, Felt::ZERO, Felt::ZERO])
        );
    }

    #[test]
    fn signature_layout_is_magic_then_token_fields_in_order() {
        let sig = |k: u8| StarknetSignerSignature {
            public_key: Felt::from(k),
            r: Felt::from(k + 1),
            s: Felt::from(k + 2),
        };
        let token = ArgentSessionToken {
            session: [
                Felt::from(10u8),
                Felt::from(11u8),
                Felt::from(12u8),
                Felt::from(13u8),
            ],
            cache_authorization: true,
            session_authorization: vec![Felt::from(20u8)],
            session_signature: sig(30),
            guardian_signature: sig(40),
            proofs: vec![vec![], vec![Felt::from(50u8)]],
        };
        let felts: Vec<Felt> = [
            0x0u64, 10, 11, 12, 13, 1, 1, 20, 0, 30, 31, 32, 0, 40, 41, 42, 2, 0, 1, 50,
        ]
        .iter()
        .map(|&v| Felt::from(v))
        .collect();
        let signature = token.to_signature();
        assert_eq!(signature[0], SESSION_MAGIC);
        assert_eq!(signature[1..], felts[1..]);
    }
}
