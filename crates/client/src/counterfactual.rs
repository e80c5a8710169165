//! A session account before it exists: the class, owner key and salt that fix its
//! counterfactual address, and the SNIP-29 `deployment` object a paymaster deploys it from.

use serde_json::{json, Value};
use stark_sessions_abi::typed_data::hex;
use stark_sessions_abi::Felt;
use starknet::core::utils::get_contract_address;

use crate::error::SessionError;

/// A session account to deploy: the class, the owner's public key (the constructor's one
/// argument) and the salt, which fix its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// Where the account will be.
    pub address: Felt,
    /// The session account's class hash.
    pub class_hash: Felt,
    /// The deployment salt.
    pub salt: Felt,
    /// The owner's public key.
    pub public_key: Felt,
}

impl Deployment {
    /// The stark-sessions account of `public_key` deployed with `salt`: its counterfactual
    /// address (no deployer), the same for a DEPLOY_ACCOUNT and a paymaster's UDC deployment.
    pub fn session_account(public_key: Felt, salt: Felt) -> Result<Self, SessionError> {
        let class_hash = stark_sessions_abi::class::session_account()
            .map_err(|e| SessionError::InvalidInput(format!("the account class: {e}")))?
            .class_hash;
        Ok(Deployment {
            address: get_contract_address(salt, class_hash, &[public_key], Felt::ZERO),
            class_hash,
            salt,
            public_key,
        })
    }

    /// The SNIP-29 `deployment` object (UDC deployment, version 1).
    pub fn to_wire(&self) -> Value {
        json!({
            "address": hex(self.address),
            "class_hash": hex(self.class_hash),
            "salt": hex(self.salt),
            "calldata": [hex(self.public_key)],
            "version": 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_names_its_counterfactual_address_and_wire_form() {
        let d = Deployment::session_account(Felt::from(7u8), Felt::from(9u8)).expect("class");
        let class_hash = stark_sessions_abi::class::session_account()
            .expect("class")
            .class_hash;
        assert_eq!(
            d.address,
            get_contract_address(Felt::from(9u8), class_hash, &[Felt::from(7u8)], Felt::ZERO)
        );
        let wire = d.to_wire();
        assert_eq!(wire["calldata"], json!(["0x7"]));
        assert_eq!(wire["salt"], json!("0x9"));
        assert_eq!(wire["version"], json!(1));
    }
}
