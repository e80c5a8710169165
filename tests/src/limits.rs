//! The fixture's side of the agent limits: the owner calls that set them, and their views.

use anyhow::Result;
use stark_sessions_abi::{ArgRule, CairoSerde, RuledCall, SessionLimits};
use starknet::core::types::{Call, Felt};

use crate::Fixture;

impl Fixture {
    /// `set_session_valid_after(key, valid_after)`.
    pub fn valid_after_call(&self, key: Felt, valid_after: u64) -> Call {
        self.self_call(
            "set_session_valid_after",
            vec![key, Felt::from(valid_after)],
        )
    }

    /// `set_session_rate_limit(key, max_executions, window_seconds)`.
    pub fn rate_limit_call(&self, key: Felt, max_executions: u32, window_seconds: u64) -> Call {
        self.self_call(
            "set_session_rate_limit",
            vec![key, Felt::from(max_executions), Felt::from(window_seconds)],
        )
    }

    /// `set_session_arg_rules(key, target, selector, rules)`.
    pub fn arg_rules_call(
        &self,
        key: Felt,
        target: Felt,
        selector: Felt,
        rules: &[ArgRule],
    ) -> Call {
        let mut calldata = vec![key, target, selector];
        rules.to_vec().cairo_serialize(&mut calldata);
        self.self_call("set_session_arg_rules", calldata)
    }

    /// `set_session_loss_guards(key, tokens)`.
    pub fn loss_guards_call(&self, key: Felt, tokens: &[Felt]) -> Call {
        let mut calldata = vec![key];
        tokens.to_vec().cairo_serialize(&mut calldata);
        self.self_call("set_session_loss_guards", calldata)
    }

    /// The one call of a session's revocation of itself.
    pub fn revoke_own_call(&self) -> Call {
        self.self_call("revoke_own_session", vec![])
    }

    /// `get_session_limits`.
    pub async fn session_limits(&self, key: Felt) -> Result<SessionLimits> {
        let out = self.view_of("get_session_limits", vec![key]).await?;
        Ok(SessionLimits::from_felts(&out)?)
    }

    /// `get_session_ruled_calls`.
    pub async fn ruled_calls(&self, key: Felt) -> Result<Vec<RuledCall>> {
        let out = self.view_of("get_session_ruled_calls", vec![key]).await?;
        Ok(Vec::<RuledCall>::from_felts(&out)?)
    }

    /// `get_session_arg_rules`.
    pub async fn arg_rules(&self, key: Felt, target: Felt, selector: Felt) -> Result<Vec<ArgRule>> {
        let out = self
            .view_of("get_session_arg_rules", vec![key, target, selector])
            .await?;
        Ok(Vec::<ArgRule>::from_felts(&out)?)
    }

    /// `get_session_loss_guards`.
    pub async fn loss_guards(&self, key: Felt) -> Result<Vec<Felt>> {
        let out = self.view_of("get_session_loss_guards", vec![key]).await?;
        Ok(Vec::<Felt>::from_felts(&out)?)
    }

    /// Declares and deploys the router test contract (`contracts/src/router.cairo`).
    pub async fn deploy_router(&self) -> Result<Felt> {
        let class = self
            .devnet
            .declare(&stark_sessions_abi::class::router()?)
            .await?;
        Ok(self
            .devnet
            .deploy_contract(class, vec![], Felt::from(0x7047u32))
            .await?)
    }
}
