//! Limits for sessions an autonomous agent holds, each registrable alone (owner only; one
//! internal function per term, which a grant can call too): a start time and a rate limit
//! (terms.cairo), argument rules per (target, selector) (rules.cairo), a loss guard per token
//! (loss_guard.cairo) — plus a session's revocation of itself. A session's record says which
//! it has, so that a session with none reads nothing here.

#[starknet::component]
pub mod AgentLimitsComponent {
    use core::num::traits::Zero;
    use starknet::account::Call;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_contract_address};
    use crate::calls::assert_only_self;
    use crate::components::outside_execution::OutsideExecutionComponent;
    use crate::components::session_manager::SessionManagerComponent;
    use crate::components::session_manager::SessionManagerComponent::InternalImpl as SessionsInternal;
    use crate::components::spending_limits::SpendingLimitsComponent;
    use crate::constants;
    use crate::errors::Errors;
    use crate::interfaces::{
        ArgRule, GrantCallRules, ISessionLimits, RuledCall, SessionGrant, SessionLimits,
    };
    use crate::loss_guard::{AfterCalls, AfterCallsTrait, GuardMeasure, balance_of, loss};
    use crate::record::{SessionRecord, SessionRecordTrait};
    use crate::rules::{
        assert_valid_rule, assert_within_bound, next_shape, pack_header, rule_operand,
        unpack_header,
    };
    use crate::spending::{PolicyWindow, PolicyWindowTrait};
    use crate::terms::{SessionTerms, SessionTermsTrait};

    #[storage]
    pub struct Storage {
        pub limit_terms: Map<felt252, SessionTerms>,
        /// Per (session, target, selector): the rules' header (rules.cairo); 0: no rules.
        pub limit_rule_header: Map<(felt252, ContractAddress, felt252), u128>,
        /// Rule i's value j at index `i * MAX_RULE_VALUES + j`.
        pub limit_rule_value: Map<(felt252, ContractAddress, felt252, u32), felt252>,
        /// One-of rule i's values, for an O(1) membership test.
        pub limit_rule_member: Map<(felt252, ContractAddress, felt252, u32, felt252), bool>,
        pub limit_ruled_at: Map<(felt252, u32), RuledCall>,
        pub limit_ruled_len: Map<felt252, u32>,
        pub limit_guard_at: Map<(felt252, u32), ContractAddress>,
        pub limit_guards_len: Map<felt252, u32>,
        /// The session revoking itself while its outside execution's one call runs; else 0.
        pub limit_revoking: felt252,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        ValidAfterSet: ValidAfterSet,
        RateLimitSet: RateLimitSet,
        ArgRulesSet: ArgRulesSet,
        LossGuardsSet: LossGuardsSet,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ValidAfterSet {
        #[key]
        pub session_key: felt252,
        pub valid_after: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct RateLimitSet {
        #[key]
        pub session_key: felt252,
        pub max_executions: u32,
        pub window_seconds: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ArgRulesSet {
        #[key]
        pub session_key: felt252,
        pub target: ContractAddress,
        pub selector: felt252,
        pub rules: Span<ArgRule>,
    }

    #[derive(Drop, starknet::Event)]
    pub struct LossGuardsSet {
        #[key]
        pub session_key: felt252,
        pub tokens: Span<ContractAddress>,
    }

    #[embeddable_as(SessionLimitsImpl)]
    impl SessionLimitsEntryPoints<
        TContractState,
        +HasComponent<TContractState>,
        impl Sessions: SessionManagerComponent::HasComponent<TContractState>,
        impl Spending: SpendingLimitsComponent::HasComponent<TContractState>,
        +OutsideExecutionComponent::HasComponent<TContractState>,
        +SessionManagerComponent::SessionManagerHooks<TContractState>,
        +Drop<TContractState>,
    > of ISessionLimits<ComponentState<TContractState>> {
        fn set_session_valid_after(
            ref self: ComponentState<TContractState>, session_key: felt252, valid_after: u64,
        ) {
            assert_only_self();
            self.set_valid_after(session_key, valid_after);
        }

        fn set_session_rate_limit(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            max_executions: u32,
            window_seconds: u64,
        ) {
            assert_only_self();
            self.set_rate_limit(session_key, max_executions, window_seconds);
        }

        fn set_session_arg_rules(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            target: ContractAddress,
            selector: felt252,
            rules: Array<ArgRule>,
        ) {
            assert_only_self();
            self.set_arg_rules(session_key, target, selector, rules.span());
        }

        fn set_session_loss_guards(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            tokens: Array<ContractAddress>,
        ) {
            assert_only_self();
            self.set_loss_guards(session_key, tokens.span());
        }

        fn get_session_limits(
            self: @ComponentState<TContractState>, session_key: felt252,
        ) -> SessionLimits {
            let terms = if self.is_live(session_key) {
                self.limit_terms.read(session_key)
            } else {
                Default::default()
            };
            SessionLimits {
                valid_after: terms.valid_after,
                max_executions: terms.rate_max,
                window_seconds: terms.rate_window,
                window_start: terms.rate_start,
                executions_in_window: terms.rate_count,
            }
        }

        fn get_session_ruled_calls(
            self: @ComponentState<TContractState>, session_key: felt252,
        ) -> Array<RuledCall> {
            let mut out = array![];
            if self.is_live(session_key) {
                for i in 0..self.limit_ruled_len.read(session_key) {
                    out.append(self.limit_ruled_at.read((session_key, i)));
                }
            }
            out
        }

        fn get_session_arg_rules(
            self: @ComponentState<TContractState>,
            session_key: felt252,
            target: ContractAddress,
            selector: felt252,
        ) -> Array<ArgRule> {
            let mut out = array![];
            if !self.is_live(session_key) {
                return out;
            }
            let (count, mut shapes) = unpack_header(
                self.limit_rule_header.read((session_key, target, selector)),
            );
            for i in 0..count {
                let shape = next_shape(ref shapes);
                let mut values = array![];
                for j in 0..shape.values_len {
                    let index = i * constants::MAX_RULE_VALUES + j;
                    values.append(self.limit_rule_value.read((session_key, target, selector, index)));
                }
                out
                    .append(
                        ArgRule {
                            word: shape.word, kind: shape.kind, wide: shape.wide, values: values.span(),
                        },
                    );
            }
            out
        }

        fn get_session_loss_guards(
            self: @ComponentState<TContractState>, session_key: felt252,
        ) -> Array<ContractAddress> {
            let mut out = array![];
            if self.is_live(session_key) {
                for i in 0..self.limit_guards_len.read(session_key) {
                    out.append(self.limit_guard_at.read((session_key, i)));
                }
            }
            out
        }
    }

    #[generate_trait]
    pub impl InternalImpl<
        TContractState,
        +HasComponent<TContractState>,
        impl Sessions: SessionManagerComponent::HasComponent<TContractState>,
        impl Spending: SpendingLimitsComponent::HasComponent<TContractState>,
        +OutsideExecutionComponent::HasComponent<TContractState>,
        +SessionManagerComponent::SessionManagerHooks<TContractState>,
        +Drop<TContractState>,
    > of InternalTrait<TContractState> {
        /// valid_after (0: none): the session is refused before it; below its valid_until.
        fn set_valid_after(
            ref self: ComponentState<TContractState>, session_key: felt252, valid_after: u64,
        ) {
            let record = self.live_record(session_key);
            let on = self.put_valid_after(session_key, record.valid_until, valid_after);
            self.commit(session_key, record, constants::LIMIT_TERMS, on);
        }

        /// The agent limits a grant names, on a registration that starts clean (nothing set
        /// yet), in the order their setters check them; returns the record's limit bits. The
        /// caller writes the record (its generation is the grant's registration).
        fn put_granted(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            valid_until: u64,
            grant: @SessionGrant,
        ) -> u16 {
            let mut limits: u16 = 0;
            if *grant.valid_after != 0 {
                self.put_valid_after(session_key, valid_until, *grant.valid_after);
                limits = limits | constants::LIMIT_TERMS;
            }
            let (rate_max, rate_window) = (*grant.rate_max_executions, *grant.rate_window_seconds);
            if rate_max != 0 || rate_window != 0 {
                self.put_rate_limit(session_key, rate_max, rate_window);
                limits = limits | constants::LIMIT_TERMS;
            }
            let ruled = *grant.arg_rules;
            assert(ruled.len() <= constants::MAX_RULED_CALLS, Errors::RULES_INVALID_CONFIG);
            for call_rules in ruled {
                let GrantCallRules { target, selector, rules } = *call_rules;
                // Each (target, selector) once, with at least one rule.
                assert(rules.len() != 0, Errors::RULES_INVALID_CONFIG);
                assert(
                    self.limit_rule_header.read((session_key, target, selector)) == 0,
                    Errors::RULES_INVALID_CONFIG,
                );
                self.put_arg_rules(session_key, target, selector, rules);
                limits = limits | constants::LIMIT_ARG_RULES;
            }
            if (*grant.loss_guards).len() != 0 {
                self.put_loss_guards(session_key, *grant.loss_guards);
                limits = limits | constants::LIMIT_LOSS_GUARD;
            }
            limits
        }

        /// Stores valid_after (checked against `valid_until`); whether the terms are now set.
        fn put_valid_after(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            valid_until: u64,
            valid_after: u64,
        ) -> bool {
            assert(valid_after < valid_until, Errors::SESSION_INVALID_CONFIG);
            let mut terms = self.limit_terms.read(session_key);
            terms.valid_after = valid_after;
            self.limit_terms.write(session_key, terms);
            self.emit(ValidAfterSet { session_key, valid_after });
            terms.is_set()
        }

        /// At most `max_executions` executions per fixed window of `window_seconds` (both 0:
        /// none); setting it starts afresh.
        fn set_rate_limit(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            max_executions: u32,
            window_seconds: u64,
        ) {
            let record = self.live_record(session_key);
            let on = self.put_rate_limit(session_key, max_executions, window_seconds);
            self.commit(session_key, record, constants::LIMIT_TERMS, on);
        }

        /// Stores a rate limit (checked); whether the terms are now set.
        fn put_rate_limit(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            max_executions: u32,
            window_seconds: u64,
        ) -> bool {
            let invalid = Errors::SESSION_INVALID_CONFIG;
            if max_executions == 0 {
                assert(window_seconds == 0, invalid);
            } else {
                assert(window_seconds != 0, invalid);
                assert(window_seconds <= constants::MAX_WINDOW_SECONDS, invalid);
            }
            let mut terms = self.limit_terms.read(session_key);
            terms.rate_max = max_executions;
            terms.rate_window = window_seconds;
            terms.rate_start = 0;
            terms.rate_count = 0;
            self.limit_terms.write(session_key, terms);
            self.emit(RateLimitSet { session_key, max_executions, window_seconds });
            terms.is_set()
        }

        /// Replaces the rules on `target.selector` (none: removes the pair).
        fn set_arg_rules(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            target: ContractAddress,
            selector: felt252,
            rules: Span<ArgRule>,
        ) {
            let record = self.live_record(session_key);
            let on = self.put_arg_rules(session_key, target, selector, rules);
            self.commit(session_key, record, constants::LIMIT_ARG_RULES, on);
        }

        /// Replaces the rules on `target.selector` (checked); whether the session has any.
        fn put_arg_rules(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            target: ContractAddress,
            selector: felt252,
            rules: Span<ArgRule>,
        ) -> bool {
            let invalid = Errors::RULES_INVALID_CONFIG;
            assert(!target.is_zero(), invalid);
            assert(target != get_contract_address(), invalid);
            assert(selector != 0, invalid);
            assert(rules.len() <= constants::MAX_ARG_RULES, invalid);
            for rule in rules {
                assert_valid_rule(rule);
            }
            let had = self.limit_rule_header.read((session_key, target, selector)) != 0;
            let mut ruled_len = self.limit_ruled_len.read(session_key);
            if had {
                self.clear_rules_of(session_key, target, selector);
                if rules.len() == 0 {
                    self.remove_ruled_call(session_key, target, selector, ruled_len);
                    ruled_len -= 1;
                }
            } else if rules.len() != 0 {
                assert(ruled_len < constants::MAX_RULED_CALLS, invalid);
                self.limit_ruled_at.write((session_key, ruled_len), RuledCall { target, selector });
                ruled_len += 1;
            }
            self.write_rules(session_key, target, selector, rules);
            self.limit_ruled_len.write(session_key, ruled_len);
            self.emit(ArgRulesSet { session_key, target, selector, rules });
            ruled_len != 0
        }

        /// Replaces the loss-guarded tokens; each must have a spending policy.
        fn set_loss_guards(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            tokens: Span<ContractAddress>,
        ) {
            let record = self.live_record(session_key);
            let on = self.put_loss_guards(session_key, tokens);
            self.commit(session_key, record, constants::LIMIT_LOSS_GUARD, on);
        }

        /// Replaces the loss-guarded tokens (checked); whether the session has any.
        fn put_loss_guards(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            tokens: Span<ContractAddress>,
        ) -> bool {
            let len = tokens.len();
            assert(len <= constants::MAX_LOSS_GUARDS, Errors::SPENDING_INVALID_POLICY);
            let spending = get_dep_component!(@self, Spending);
            for i in 0..len {
                let token = *tokens.at(i);
                assert(
                    spending.policy_config.read((session_key, token)).slot != 0,
                    Errors::SPENDING_NO_POLICY,
                );
                for j in 0..i {
                    assert(*tokens.at(j) != token, Errors::SPENDING_INVALID_POLICY);
                }
            }
            self.clear_guards(session_key);
            for i in 0..len {
                self.limit_guard_at.write((session_key, i), *tokens.at(i));
            }
            self.limit_guards_len.write(session_key, len);
            self.emit(LossGuardsSet { session_key, tokens });
            len != 0
        }

        /// Holds a session execution against the limits its record names (`limits`, not 0):
        /// start time and rate (counting this execution), then every call's argument rules;
        /// returns what the loss guard measured before the calls.
        fn check(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            limits: u16,
            calls: Span<Call>,
            this: ContractAddress,
            now: u64,
        ) -> AfterCalls {
            if limits & constants::LIMIT_TERMS != 0 {
                let mut terms = self.limit_terms.read(session_key);
                if terms.admit(now) {
                    self.limit_terms.write(session_key, terms);
                }
            }
            if limits & constants::LIMIT_ARG_RULES != 0 {
                self.check_arguments(session_key, calls);
            }
            if limits & constants::LIMIT_LOSS_GUARD == 0 {
                return AfterCallsTrait::nothing(this);
            }
            AfterCalls { account: this, session_key, measures: self.measure(session_key, this, now) }
        }

        /// The loss guard after the calls: each guarded token's loss within what its policy
        /// allowed before them; the window charged the larger of that loss and the count.
        fn after_calls(ref self: ComponentState<TContractState>, after: AfterCalls) {
            for measure in after.measures {
                let m = *measure;
                let lost = loss(m.balance_before, balance_of(m.token, after.account));
                assert(
                    lost.high == 0 && lost.low <= m.allowance_before, Errors::SPENDING_LOSS_GUARD,
                );
                if lost.low == 0 {
                    continue;
                }
                let key = (after.session_key, m.token);
                let mut spending = get_dep_component_mut!(ref self, Spending);
                let window = spending.policy_window.read(key);
                let counted_left = if window.window_start == m.window_start {
                    window.remaining
                } else {
                    m.allowance_before
                };
                let left = m.allowance_before - lost.low;
                if left < counted_left {
                    spending
                        .policy_window
                        .write(key, PolicyWindow { remaining: left, window_start: m.window_start });
                }
            }
        }

        /// Forgets every limit of a session that starts clean (new, revoked, revoked-all).
        fn clear(ref self: ComponentState<TContractState>, session_key: felt252) {
            self.limit_terms.write(session_key, Default::default());
            let ruled_len = self.limit_ruled_len.read(session_key);
            for i in 0..ruled_len {
                let ruled = self.limit_ruled_at.read((session_key, i));
                self.clear_rules_of(session_key, ruled.target, ruled.selector);
                self
                    .limit_ruled_at
                    .write((session_key, i), RuledCall { target: Zero::zero(), selector: 0 });
            }
            self.limit_ruled_len.write(session_key, 0);
            self.clear_guards(session_key);
            self.limit_guards_len.write(session_key, 0);
        }

        /// Whether the session's start time is after `now`.
        fn starts_later(
            self: @ComponentState<TContractState>, session_key: felt252, now: u64,
        ) -> bool {
            now < self.limit_terms.read(session_key).valid_after
        }

        /// Notes that the running outside execution is `session_key` revoking itself.
        fn begin_self_revocation(ref self: ComponentState<TContractState>, session_key: felt252) {
            self.limit_revoking.write(session_key);
        }

        /// The session revoking itself, for `revoke_own_session` (0 on any other path: the
        /// owner's, a paymaster's simulation of the calls as the account's own).
        fn take_self_revocation(ref self: ComponentState<TContractState>) -> felt252 {
            assert_only_self();
            let session_key = self.limit_revoking.read();
            if session_key != 0 {
                self.limit_revoking.write(0);
            }
            session_key
        }
    }

    #[generate_trait]
    impl PrivateImpl<
        TContractState,
        +HasComponent<TContractState>,
        impl Sessions: SessionManagerComponent::HasComponent<TContractState>,
        impl Spending: SpendingLimitsComponent::HasComponent<TContractState>,
        +OutsideExecutionComponent::HasComponent<TContractState>,
        +SessionManagerComponent::SessionManagerHooks<TContractState>,
        +Drop<TContractState>,
    > of PrivateTrait<TContractState> {
        fn live_record(self: @ComponentState<TContractState>, session_key: felt252) -> SessionRecord {
            get_dep_component!(self, Sessions).live_record(session_key)
        }

        fn is_live(self: @ComponentState<TContractState>, session_key: felt252) -> bool {
            let sessions = get_dep_component!(self, Sessions);
            sessions.record(session_key).is_live(sessions.epoch())
        }

        /// Writes the session's record with `flag` set as `on`, its registration changed.
        fn commit(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            mut record: SessionRecord,
            flag: u16,
            on: bool,
        ) {
            let without = (record.limits | flag) - flag;
            record.limits = if on {
                without + flag
            } else {
                without
            };
            record.generation += 1;
            let mut sessions = get_dep_component_mut!(ref self, Sessions);
            sessions.write_record(session_key, record);
        }

        fn check_arguments(
            self: @ComponentState<TContractState>, session_key: felt252, calls: Span<Call>,
        ) {
            for call in calls {
                let to = *call.to;
                let selector = *call.selector;
                let header = self.limit_rule_header.read((session_key, to, selector));
                if header == 0 {
                    continue;
                }
                let calldata = *call.calldata;
                let (count, mut shapes) = unpack_header(header);
                for i in 0..count {
                    let shape = next_shape(ref shapes);
                    if shape.kind == constants::RULE_ONE_OF {
                        assert(shape.word < calldata.len(), Errors::RULES_ARG_UNREADABLE);
                        let word = *calldata.at(shape.word);
                        assert(
                            self.limit_rule_member.read((session_key, to, selector, i, word)),
                            Errors::RULES_ARG_NOT_ALLOWED,
                        );
                    } else {
                        let operand = rule_operand(calldata, @shape);
                        let index = i * constants::MAX_RULE_VALUES;
                        let bound = self.limit_rule_value.read((session_key, to, selector, index));
                        assert_within_bound(shape.kind, operand, bound);
                    }
                }
            }
        }

        /// Each guarded token's balance and what its policy allows at `now`, before the calls.
        fn measure(
            self: @ComponentState<TContractState>,
            session_key: felt252,
            this: ContractAddress,
            now: u64,
        ) -> Span<GuardMeasure> {
            let spending = get_dep_component!(self, Spending);
            let mut out = array![];
            for i in 0..self.limit_guards_len.read(session_key) {
                let token = self.limit_guard_at.read((session_key, i));
                let key = (session_key, token);
                let config = spending.policy_config.read(key);
                let mut allowance_before = 0;
                let mut window_start = now;
                if config.slot != 0 {
                    let window = spending.policy_window.read(key);
                    if window.is_open(config.window_seconds, now) {
                        allowance_before = window.remaining;
                        window_start = window.window_start;
                    } else {
                        allowance_before = spending.policy_max_per_window.read(key);
                    }
                }
                let balance_before = balance_of(token, this);
                out.append(GuardMeasure { token, balance_before, allowance_before, window_start });
            }
            out.span()
        }

        fn write_rules(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            target: ContractAddress,
            selector: felt252,
            rules: Span<ArgRule>,
        ) {
            let mut i: u32 = 0;
            for rule in rules {
                let mut j: u32 = 0;
                for value in *rule.values {
                    let value = *value;
                    let index = i * constants::MAX_RULE_VALUES + j;
                    self.limit_rule_value.write((session_key, target, selector, index), value);
                    if *rule.kind == constants::RULE_ONE_OF {
                        self.limit_rule_member.write((session_key, target, selector, i, value), true);
                    }
                    j += 1;
                }
                i += 1;
            }
            self.limit_rule_header.write((session_key, target, selector), pack_header(rules));
        }

        fn clear_rules_of(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            target: ContractAddress,
            selector: felt252,
        ) {
            let (count, mut shapes) = unpack_header(
                self.limit_rule_header.read((session_key, target, selector)),
            );
            for i in 0..count {
                let shape = next_shape(ref shapes);
                for j in 0..shape.values_len {
                    let index = i * constants::MAX_RULE_VALUES + j;
                    let value = self.limit_rule_value.read((session_key, target, selector, index));
                    if shape.kind == constants::RULE_ONE_OF {
                        self.limit_rule_member.write((session_key, target, selector, i, value), false);
                    }
                    self.limit_rule_value.write((session_key, target, selector, index), 0);
                }
            }
            self.limit_rule_header.write((session_key, target, selector), 0);
        }

        /// Swap-removes `target.selector` from the session's ruled calls (`len` of them).
        fn remove_ruled_call(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            target: ContractAddress,
            selector: felt252,
            len: u32,
        ) {
            let last = self.limit_ruled_at.read((session_key, len - 1));
            for i in 0..len {
                let ruled = self.limit_ruled_at.read((session_key, i));
                if ruled.target == target && ruled.selector == selector {
                    self.limit_ruled_at.write((session_key, i), last);
                    break;
                }
            }
            self
                .limit_ruled_at
                .write((session_key, len - 1), RuledCall { target: Zero::zero(), selector: 0 });
        }

        fn clear_guards(ref self: ComponentState<TContractState>, session_key: felt252) {
            for i in 0..self.limit_guards_len.read(session_key) {
                self.limit_guard_at.write((session_key, i), Zero::zero());
            }
        }
    }
}
