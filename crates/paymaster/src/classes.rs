//! Which account classes the paymaster serves and deploys.
//!
//! By default only the stark-sessions account class (its hash read from
//! [`stark_sessions_abi::class`], never written down here): the one whose
//! `execute_from_outside_v2` the paymaster can reason about — it executes exactly the signed
//! calls, so a key's `allowed_targets` and default mode's closing fee transfer hold. Any other
//! class is served only when the operator opts in: by listing it in
//! `supported_account_classes`, or, for every account that declares SNIP-9 v2 outside
//! execution by SRC-5, with `allow_any_account_class = true`. For such a class the paymaster
//! still simulates every execution, checks the signed calls against `allowed_targets` and
//! charges the key's budget, but it cannot know that the account executes what it signed: the
//! allow-list and the fee transfer are not enforced for it.

use stark_sessions_abi::Felt;

use crate::config::PaymasterConfig;
use crate::error::PaymasterError;

/// What the paymaster knows of an account's class before asking the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serving {
    /// Served: ours, or listed by the operator.
    Served,
    /// Served if the account declares SNIP-9 v2 by SRC-5 (`allow_any_account_class`).
    IfSnip9,
    /// Not served.
    Refused,
}

/// The account classes served, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountClasses {
    session_account: Felt,
    listed: Vec<Felt>,
    any: bool,
}

impl AccountClasses {
    /// The classes `config` serves, with the stark-sessions account class of this build.
    pub(crate) fn new(config: &PaymasterConfig) -> Result<Self, PaymasterError> {
        let session_account = stark_sessions_abi::class::session_account()
            .map_err(|e| PaymasterError::Unknown(e.to_string()))?
            .class_hash;
        Ok(Self::with_session_account(session_account, config))
    }

    fn with_session_account(session_account: Felt, config: &PaymasterConfig) -> Self {
        AccountClasses {
            session_account,
            listed: config.supported_account_classes.clone(),
            any: config.allow_any_account_class,
        }
    }

    /// Whether an account of `class` is served.
    pub(crate) fn serves(&self, class: Felt) -> Serving {
        if class == self.session_account || self.listed.contains(&class) {
            Serving::Served
        } else if self.any {
            Serving::IfSnip9
        } else {
            Serving::Refused
        }
    }

    /// Whether an account of `class` is deployed (ours and the listed ones, never "any").
    pub(crate) fn deploys(&self, class: Felt) -> bool {
        class == self.session_account || self.listed.contains(&class)
    }

    /// Why an account of `class` at `user` is not served, for the client.
    pub(crate) fn refusal(&self, class: Felt, user: Felt) -> PaymasterError {
        let why = if self.any {
            "it does not declare SNIP-9 v2 outside execution (SRC-5)"
        } else {
            "this paymaster serves the stark-sessions account class and the classes its \
             operator lists (supported_account_classes, or allow_any_account_class)"
        };
        PaymasterError::ClassHashNotSupported(format!(
            "class {class:#x} of {user:#x} is not served: {why}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: Felt = Felt::from_hex_unchecked("0x5e55");
    const LISTED: Felt = Felt::from_hex_unchecked("0x0c1a55");
    const FOREIGN: Felt = Felt::from_hex_unchecked("0xf0e1");

    fn classes(listed: Vec<Felt>, any: bool) -> AccountClasses {
        let mut config =
            PaymasterConfig::new("http://127.0.0.1:9/rpc".parse().expect("url"), Vec::new());
        config.supported_account_classes = listed;
        config.allow_any_account_class = any;
        AccountClasses::with_session_account(OURS, &config)
    }

    #[test]
    fn by_default_only_the_session_account_class_is_served_and_deployed() {
        let c = classes(Vec::new(), false);
        assert_eq!(c.serves(OURS), Serving::Served);
        assert_eq!(c.serves(FOREIGN), Serving::Refused);
        assert!(c.deploys(OURS) && !c.deploys(FOREIGN));
        let e = c.refusal(FOREIGN, Felt::ONE);
        assert_eq!(e.code(), 155);
        assert!(e.to_string().contains("supported_account_classes"), "{e}");
    }

    #[test]
    fn listed_classes_and_any_snip9_account_are_served_only_when_opted_in() {
        let listed = classes(vec![LISTED], false);
        assert_eq!(listed.serves(LISTED), Serving::Served);
        assert_eq!(listed.serves(OURS), Serving::Served);
        assert_eq!(listed.serves(FOREIGN), Serving::Refused);
        assert!(listed.deploys(LISTED));
        let any = classes(Vec::new(), true);
        assert_eq!(any.serves(FOREIGN), Serving::IfSnip9);
        assert_eq!(any.serves(OURS), Serving::Served);
        assert!(!any.deploys(FOREIGN), "any class is served, not deployed");
    }

    #[test]
    fn the_session_account_class_is_the_compiled_one() {
        let config =
            PaymasterConfig::new("http://127.0.0.1:9/rpc".parse().expect("url"), Vec::new());
        let ours = stark_sessions_abi::class::session_account()
            .expect("class")
            .class_hash;
        let classes = AccountClasses::new(&config).expect("classes");
        assert_eq!(classes.serves(ours), Serving::Served);
    }
}
