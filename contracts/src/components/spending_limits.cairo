//! Per-session, per-token spending limits: a cap per call and a ceiling per fixed window,
//! counted on the ERC-20 selectors that move or allow value (`transfer`, `approve`,
//! `increase_allowance`, `increaseAllowance`). A policy belongs to a session of the session
//! manager: setting or removing one changes the session's registration.

#[starknet::component]
pub mod SpendingLimitsComponent {
    use core::num::traits::Zero;
    use starknet::account::Call;
    use starknet::storage::{Map, StorageMapReadAccess, StorageMapWriteAccess};
    use starknet::{ContractAddress, get_contract_address};
    use crate::calls::assert_only_self;
    use crate::components::outside_execution::OutsideExecutionComponent;
    use crate::components::session_manager::SessionManagerComponent;
    use crate::components::session_manager::SessionManagerComponent::InternalImpl as SessionsInternal;
    use crate::constants;
    use crate::errors::Errors;
    use crate::interfaces::{GrantSpendingLimit, ISpendingPolicies, SpendingPolicy};
    use crate::record::SessionRecordTrait;
    use crate::spending::{PolicyConfig, PolicyWindow, PolicyWindowTrait};

    #[storage]
    pub struct Storage {
        pub policy_token_at: Map<(felt252, u32), ContractAddress>,
        pub policy_config: Map<(felt252, ContractAddress), PolicyConfig>,
        pub policy_window: Map<(felt252, ContractAddress), PolicyWindow>,
        pub policy_max_per_window: Map<(felt252, ContractAddress), u128>,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        SpendingPolicySet: SpendingPolicySet,
        SpendingPolicyRemoved: SpendingPolicyRemoved,
    }

    #[derive(Drop, starknet::Event)]
    pub struct SpendingPolicySet {
        #[key]
        pub session_key: felt252,
        #[key]
        pub token: ContractAddress,
        pub max_per_call: u256,
        pub max_per_window: u256,
        pub window_seconds: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct SpendingPolicyRemoved {
        #[key]
        pub session_key: felt252,
        #[key]
        pub token: ContractAddress,
    }

    #[embeddable_as(SpendingPoliciesImpl)]
    impl SpendingPolicies<
        TContractState,
        +HasComponent<TContractState>,
        impl Sessions: SessionManagerComponent::HasComponent<TContractState>,
        +OutsideExecutionComponent::HasComponent<TContractState>,
        +SessionManagerComponent::SessionManagerHooks<TContractState>,
        +Drop<TContractState>,
    > of ISpendingPolicies<ComponentState<TContractState>> {
        fn set_spending_policy(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            token: ContractAddress,
            max_per_call: u256,
            max_per_window: u256,
            window_seconds: u64,
        ) {
            assert_only_self();
            let mut sessions = get_dep_component_mut!(ref self, Sessions);
            let mut record = sessions.live_record(session_key);
            let limit = GrantSpendingLimit { token, max_per_call, max_per_window, window_seconds };
            assert_valid_policy(@limit, get_contract_address());
            let mut slot = self.policy_config.read((session_key, token)).slot;
            if slot == 0 {
                assert(
                    record.policies_len < constants::MAX_SPENDING_POLICIES,
                    Errors::SPENDING_INVALID_POLICY,
                );
                self.policy_token_at.write((session_key, record.policies_len), token);
                record.policies_len += 1;
                slot = record.policies_len;
            }
            record.generation += 1;
            sessions.write_record(session_key, record);
            self.write_policy(session_key, limit, slot);
        }

        fn get_spending_policy(
            self: @ComponentState<TContractState>, session_key: felt252, token: ContractAddress,
        ) -> SpendingPolicy {
            let sessions = get_dep_component!(self, Sessions);
            let record = sessions.record(session_key);
            let config = self.policy_config.read((session_key, token));
            if !record.is_live(sessions.epoch()) || config.slot == 0 {
                return SpendingPolicy {
                    max_per_call: 0,
                    max_per_window: 0,
                    window_seconds: 0,
                    spent_in_window: 0,
                    window_start: 0,
                };
            }
            let max_per_window = self.policy_max_per_window.read((session_key, token));
            let window = self.policy_window.read((session_key, token));
            let spent = if window.window_start == 0 {
                0
            } else {
                max_per_window - window.remaining
            };
            SpendingPolicy {
                max_per_call: config.max_per_call.into(),
                max_per_window: max_per_window.into(),
                window_seconds: config.window_seconds,
                spent_in_window: spent.into(),
                window_start: window.window_start,
            }
        }

        fn remove_spending_policy(
            ref self: ComponentState<TContractState>, session_key: felt252, token: ContractAddress,
        ) {
            assert_only_self();
            let mut sessions = get_dep_component_mut!(ref self, Sessions);
            let mut record = sessions.live_record(session_key);
            let slot = self.policy_config.read((session_key, token)).slot;
            assert(slot != 0, Errors::SPENDING_NO_POLICY);
            // Swap-remove: move the last token into the freed slot.
            let last_index = record.policies_len - 1;
            let last_token = self.policy_token_at.read((session_key, last_index));
            self.policy_token_at.write((session_key, slot - 1), last_token);
            let mut last_config = self.policy_config.read((session_key, last_token));
            last_config.slot = slot;
            self.policy_config.write((session_key, last_token), last_config);
            self.policy_token_at.write((session_key, last_index), Zero::zero());
            self.clear_policy(session_key, token);
            record.policies_len = last_index;
            record.generation += 1;
            sessions.write_record(session_key, record);
            self.emit(SpendingPolicyRemoved { session_key, token });
        }
    }

    #[generate_trait]
    pub impl InternalImpl<
        TContractState, +HasComponent<TContractState>,
    > of InternalTrait<TContractState> {
        /// A granted policy, as the session's `index`-th (the session starts clean).
        fn add_policy(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            index: u32,
            limit: GrantSpendingLimit,
        ) {
            assert_valid_policy(@limit, get_contract_address());
            assert(
                self.policy_config.read((session_key, limit.token)).slot == 0,
                Errors::SPENDING_INVALID_POLICY,
            );
            self.policy_token_at.write((session_key, index), limit.token);
            self.write_policy(session_key, limit, index + 1);
        }

        /// Writes a policy at its slot (position plus one), its window not yet opened.
        fn write_policy(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            limit: GrantSpendingLimit,
            slot: u32,
        ) {
            let GrantSpendingLimit { token, max_per_call, max_per_window, window_seconds } = limit;
            let config = PolicyConfig { max_per_call: max_per_call.low, window_seconds, slot };
            self.policy_config.write((session_key, token), config);
            self.policy_max_per_window.write((session_key, token), max_per_window.low);
            // Setting a policy starts afresh: the first spend opens a full window.
            self.policy_window.write((session_key, token), PolicyWindow { remaining: 0, window_start: 0 });
            self
                .emit(
                    SpendingPolicySet {
                        session_key, token, max_per_call, max_per_window, window_seconds,
                    },
                );
        }

        /// Charges every tracked call of a session execution to the session's policies.
        #[inline(always)]
        fn charge_calls(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            policies_len: u32,
            calls: Span<Call>,
            now: u64,
        ) {
            if policies_len == 0 {
                return;
            }
            for call in calls {
                if is_tracked_selector(*call.selector) {
                    self.charge(session_key, *call.to, *call.calldata, now);
                }
            }
        }

        /// Charges one tracked call's amount to the session's policy on `token`, if it has one.
        fn charge(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            token: ContractAddress,
            calldata: Span<felt252>,
            now: u64,
        ) {
            let config = self.policy_config.read((session_key, token));
            if config.slot == 0 {
                return;
            }
            let amount = call_amount(calldata);
            assert(
                amount.high == 0 && amount.low <= config.max_per_call, Errors::SPENDING_PER_CALL,
            );
            let mut window = self.policy_window.read((session_key, token));
            if !window.is_open(config.window_seconds, now) {
                let remaining = self.policy_max_per_window.read((session_key, token));
                window = PolicyWindow { remaining, window_start: now };
            }
            assert(amount.low <= window.remaining, Errors::SPENDING_WINDOW);
            window.remaining -= amount.low;
            self.policy_window.write((session_key, token), window);
        }

        fn clear_policy(
            ref self: ComponentState<TContractState>, session_key: felt252, token: ContractAddress,
        ) {
            self
                .policy_config
                .write((session_key, token), PolicyConfig { max_per_call: 0, window_seconds: 0, slot: 0 });
            self.policy_window.write((session_key, token), PolicyWindow { remaining: 0, window_start: 0 });
            self.policy_max_per_window.write((session_key, token), 0);
        }

        fn clear_policies(
            ref self: ComponentState<TContractState>, session_key: felt252, len: u32,
        ) {
            for i in 0..len {
                let token = self.policy_token_at.read((session_key, i));
                self.clear_policy(session_key, token);
                self.policy_token_at.write((session_key, i), Zero::zero());
            }
        }
    }

    /// The terms `set_spending_policy` accepts.
    fn assert_valid_policy(limit: @GrantSpendingLimit, this: ContractAddress) {
        let token = *limit.token;
        let window_seconds = *limit.window_seconds;
        assert(!token.is_zero(), Errors::SPENDING_INVALID_POLICY);
        assert(token != this, Errors::SPENDING_INVALID_POLICY);
        assert(*limit.max_per_call <= *limit.max_per_window, Errors::SPENDING_INVALID_POLICY);
        assert(window_seconds != 0, Errors::SPENDING_INVALID_POLICY);
        assert(window_seconds <= constants::MAX_WINDOW_SECONDS, Errors::SPENDING_INVALID_POLICY);
        // Amounts are stored in 128 bits: a ceiling of 2^128 token units or more is refused.
        assert((*limit.max_per_window).high == 0, Errors::SPENDING_INVALID_POLICY);
    }

    fn is_tracked_selector(selector: felt252) -> bool {
        selector == constants::SELECTOR_TRANSFER
            || selector == constants::SELECTOR_APPROVE
            || selector == constants::SELECTOR_INCREASE_ALLOWANCE
            || selector == constants::SELECTOR_INCREASE_ALLOWANCE_CAMEL
    }

    /// The u256 amount at calldata[1..2] of transfer/approve/increase_allowance.
    fn call_amount(calldata: Span<felt252>) -> u256 {
        assert(calldata.len() >= 3, Errors::SPENDING_INVALID_AMOUNT);
        let low: u128 = (*calldata.at(1)).try_into().expect(Errors::SPENDING_INVALID_AMOUNT);
        let high: u128 = (*calldata.at(2)).try_into().expect(Errors::SPENDING_INVALID_AMOUNT);
        u256 { low, high }
    }
}
