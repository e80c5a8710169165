//! The session account: an owner key, plus session keys with expiry, call budgets, entrypoint
//! whitelists, target sets and spending limits, usable only through SNIP-9 outside execution.

#[starknet::contract]
mod SessionAccount {
    use array::{ArrayTrait, SpanTrait};
    use box::BoxTrait;
    use ecdsa::check_ecdsa_signature;
    use option::OptionTrait;
    use traits::{Into, TryInto};
    use zeroable::Zeroable;
    use starknet::{
        ContractAddress, ClassHash, get_caller_address, get_contract_address, get_tx_info,
        get_block_timestamp, get_execution_info
    };
    use starknet::account::Call;
    use starknet::syscalls::{call_contract_syscall, replace_class_syscall};
    use stark_sessions::constants;
    use stark_sessions::errors::Errors;
    use stark_sessions::interfaces::{
        SessionData, SpendingPolicy, OutsideExecution, IAccount, ISRC5, IOwner,
        IOutsideExecutionV2, ISessionKeyManager, ISpendingPolicies
    };
    use stark_sessions::snip12;
    use stark_sessions::nonces::nonce_slot;
    use stark_sessions::record::{SessionRecord, SessionsState, is_live, registration_of};
    use stark_sessions::spending::{PolicyConfig, PolicyWindow};

    #[storage]
    struct Storage {
        public_key: felt252,
        // Bumped by revoke_all_sessions: a session registered in an older epoch is dead.
        sessions_state: SessionsState,
        sessions: LegacyMap<felt252, SessionRecord>,
        // Entrypoint whitelist: indexed for enumeration and clearing, plus O(1) membership.
        entrypoint_at: LegacyMap<(felt252, u32), felt252>,
        entrypoint_allowed: LegacyMap<(felt252, felt252), bool>,
        target_at: LegacyMap<(felt252, u32), ContractAddress>,
        target_allowed: LegacyMap<(felt252, ContractAddress), bool>,
        policy_token_at: LegacyMap<(felt252, u32), ContractAddress>,
        policy_config: LegacyMap<(felt252, ContractAddress), PolicyConfig>,
        policy_window: LegacyMap<(felt252, ContractAddress), PolicyWindow>,
        policy_max_per_window: LegacyMap<(felt252, ContractAddress), u128>,
        // Used SNIP-9 nonces, 128 to a slot (see nonces.cairo).
        nonce_bits: LegacyMap<felt252, u128>,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    enum Event {
        SessionKeyAdded: SessionKeyAdded,
        SessionKeyRevoked: SessionKeyRevoked,
        AllSessionsRevoked: AllSessionsRevoked,
        SpendingPolicySet: SpendingPolicySet,
        SpendingPolicyRemoved: SpendingPolicyRemoved,
        TargetsSet: TargetsSet,
        OwnerChanged: OwnerChanged,
        Upgraded: Upgraded,
    }

    #[derive(Drop, starknet::Event)]
    struct SessionKeyAdded {
        #[key]
        session_key: felt252,
        valid_until: u64,
        max_calls: u32,
        allowed_entrypoints: Span<felt252>,
    }

    #[derive(Drop, starknet::Event)]
    struct SessionKeyRevoked {
        #[key]
        session_key: felt252,
    }

    #[derive(Drop, starknet::Event)]
    struct AllSessionsRevoked {
        new_epoch: u32,
    }

    #[derive(Drop, starknet::Event)]
    struct SpendingPolicySet {
        #[key]
        session_key: felt252,
        #[key]
        token: ContractAddress,
        max_per_call: u256,
        max_per_window: u256,
        window_seconds: u64,
    }

    #[derive(Drop, starknet::Event)]
    struct SpendingPolicyRemoved {
        #[key]
        session_key: felt252,
        #[key]
        token: ContractAddress,
    }

    #[derive(Drop, starknet::Event)]
    struct TargetsSet {
        #[key]
        session_key: felt252,
        targets: Span<ContractAddress>,
    }

    #[derive(Drop, starknet::Event)]
    struct OwnerChanged {
        new_public_key: felt252,
    }

    #[derive(Drop, starknet::Event)]
    struct Upgraded {
        class_hash: ClassHash,
    }

    #[constructor]
    fn constructor(ref self: ContractState, public_key: felt252) {
        assert(public_key != 0, Errors::INVALID_PUBLIC_KEY);
        self.public_key.write(public_key);
    }

    #[external(v0)]
    impl AccountImpl of IAccount<ContractState> {
        fn __validate__(ref self: ContractState, calls: Array<Call>) -> felt252 {
            self.validate_owner_transaction()
        }

        fn __execute__(ref self: ContractState, calls: Array<Call>) -> Array<Span<felt252>> {
            assert(get_caller_address().is_zero(), Errors::INVALID_CALLER);
            execute_calls(calls.span())
        }

        fn __validate_declare__(self: @ContractState, class_hash: felt252) -> felt252 {
            self.validate_owner_transaction()
        }

        fn __validate_deploy__(
            self: @ContractState,
            class_hash: felt252,
            contract_address_salt: felt252,
            public_key: felt252
        ) -> felt252 {
            self.validate_owner_transaction()
        }

        fn is_valid_signature(
            self: @ContractState, hash: felt252, signature: Array<felt252>
        ) -> felt252 {
            // Owner signatures only: a session key is never an ERC-1271-style signer.
            if signature.len() == 2
                && check_ecdsa_signature(
                    hash, self.public_key.read(), *signature.at(0), *signature.at(1)
                ) {
                constants::VALIDATED
            } else {
                0
            }
        }
    }

    #[external(v0)]
    impl SRC5Impl of ISRC5<ContractState> {
        fn supports_interface(self: @ContractState, interface_id: felt252) -> bool {
            interface_id == constants::ISRC5_ID
                || interface_id == constants::ISRC6_ID
                || interface_id == constants::ISRC9_V2_ID
                || interface_id == constants::ISESSION_KEY_MANAGER_ID
        }
    }

    #[external(v0)]
    impl OwnerImpl of IOwner<ContractState> {
        fn get_public_key(self: @ContractState) -> felt252 {
            self.public_key.read()
        }

        fn set_public_key(ref self: ContractState, new_public_key: felt252) {
            assert_only_self();
            assert(new_public_key != 0, Errors::INVALID_PUBLIC_KEY);
            self.public_key.write(new_public_key);
            self.emit(Event::OwnerChanged(OwnerChanged { new_public_key }));
        }

        fn upgrade(ref self: ContractState, new_class_hash: ClassHash) {
            assert_only_self();
            replace_class_syscall(new_class_hash).unwrap_syscall();
            self.emit(Event::Upgraded(Upgraded { class_hash: new_class_hash }));
        }
    }

    #[external(v0)]
    impl OutsideExecutionV2Impl of IOutsideExecutionV2<ContractState> {
        fn execute_from_outside_v2(
            ref self: ContractState, outside_execution: OutsideExecution, signature: Span<felt252>
        ) -> Array<Span<felt252>> {
            // One execution-info syscall serves every check below.
            let info = get_execution_info().unbox();
            let this = info.contract_address;
            let now = info.block_info.unbox().block_timestamp;
            // 1. No outside execution inside a running session execution; caller, time window,
            // nonce.
            let tx_info = info.tx_info.unbox();
            let state = self.sessions_state.read();
            assert(!state.executing, Errors::OUTSIDE_REENTRANT);
            let caller: felt252 = outside_execution.caller.into();
            if caller != constants::ANY_CALLER && caller != 0 {
                assert(
                    outside_execution.caller == info.caller_address, Errors::OUTSIDE_INVALID_CALLER
                );
            }
            assert(outside_execution.execute_after < now, Errors::OUTSIDE_TOO_EARLY);
            assert(now < outside_execution.execute_before, Errors::OUTSIDE_EXPIRED);
            let (state, state_changed) = self.use_nonce(state, outside_execution.nonce);

            let message_hash = snip12::outside_execution_message_hash(
                @outside_execution, this, tx_info.chain_id
            );
            let signature_len = signature.len();
            if signature_len == 2 {
                assert(
                    check_ecdsa_signature(
                        message_hash, self.public_key.read(), *signature.at(0), *signature.at(1)
                    ),
                    Errors::INVALID_SIGNATURE
                );
                if state_changed {
                    self.sessions_state.write(state);
                }
                return execute_calls(outside_execution.calls);
            }
            assert(signature_len == 4, Errors::INVALID_SIGNATURE_LENGTH);
            // Whatever the calls reach cannot start another outside execution on this account
            // while they run (cleared after them: a later execution in the same transaction,
            // bundled by a relayer, is not nested).
            self
                .sessions_state
                .write(
                    SessionsState {
                        epoch: state.epoch,
                        executing: true,
                        hot_word: state.hot_word,
                        hot_bits: state.hot_bits
                    }
                );
            // 2-5. Session rules, signature, accounting.
            self
                .authorize_session(
                    outside_execution.calls, signature, message_hash, this, now, state.epoch
                );
            // 6. Atomic: a failing call reverts the whole execution.
            let results = execute_calls(outside_execution.calls);
            self.sessions_state.write(state);
            results
        }

        fn is_valid_outside_execution_nonce(self: @ContractState, nonce: felt252) -> bool {
            let (slot, hot, index, bit) = nonce_slot(nonce);
            let state = self.sessions_state.read();
            if hot && index == state.hot_word {
                return state.hot_bits & bit == 0;
            }
            self.nonce_bits.read(slot) & bit == 0
        }
    }

    #[external(v0)]
    impl SessionKeyManagerImpl of ISessionKeyManager<ContractState> {
        fn add_or_update_session_key(
            ref self: ContractState,
            session_key: felt252,
            valid_until: u64,
            max_calls: u32,
            allowed_entrypoints: Array<felt252>
        ) {
            assert_only_self();
            let entrypoints = allowed_entrypoints.span();
            let len = entrypoints.len();
            assert(session_key != 0, Errors::SESSION_INVALID_CONFIG);
            assert(valid_until > get_block_timestamp(), Errors::SESSION_INVALID_CONFIG);
            assert(max_calls != 0, Errors::SESSION_INVALID_CONFIG);
            assert(len <= constants::MAX_ENTRYPOINTS, Errors::SESSION_INVALID_CONFIG);

            let old = self.sessions.read(session_key);
            let epoch = self.sessions_state.read().epoch;
            self.clear_entrypoints(session_key, old.entrypoints_len);
            let mut targets_len = old.targets_len;
            let mut policies_len = old.policies_len;
            if !is_live(old, epoch) {
                // A new, revoked or pre-revoke-all session starts clean: no resurrected limits.
                self.clear_targets(session_key, targets_len);
                self.clear_policies(session_key, policies_len);
                targets_len = 0;
                policies_len = 0;
            }

            let mut i: u32 = 0;
            loop {
                if i == len {
                    break;
                }
                let selector = *entrypoints.at(i);
                assert(selector != 0, Errors::SESSION_INVALID_CONFIG);
                assert(
                    !self.entrypoint_allowed.read((session_key, selector)),
                    Errors::SESSION_INVALID_CONFIG
                );
                self.entrypoint_at.write((session_key, i), selector);
                self.entrypoint_allowed.write((session_key, selector), true);
                i += 1;
            };

            self
                .sessions
                .write(
                    session_key,
                    SessionRecord {
                        valid_until,
                        max_calls,
                        calls_used: 0,
                        entrypoints_len: len,
                        targets_len,
                        policies_len,
                        epoch,
                        generation: old.generation + 1,
                        revoked: false,
                    }
                );
            self
                .emit(
                    Event::SessionKeyAdded(
                        SessionKeyAdded {
                            session_key,
                            valid_until,
                            max_calls,
                            allowed_entrypoints: entrypoints
                        }
                    )
                );
        }

        fn revoke_session_key(ref self: ContractState, session_key: felt252) {
            assert_only_self();
            let old = self.sessions.read(session_key);
            assert(old.revoked || old.valid_until != 0, Errors::SESSION_NOT_REGISTERED);
            self.clear_entrypoints(session_key, old.entrypoints_len);
            self.clear_targets(session_key, old.targets_len);
            self.clear_policies(session_key, old.policies_len);
            self
                .sessions
                .write(
                    session_key,
                    SessionRecord {
                        valid_until: 0,
                        max_calls: 0,
                        calls_used: 0,
                        entrypoints_len: 0,
                        targets_len: 0,
                        policies_len: 0,
                        epoch: self.sessions_state.read().epoch,
                        generation: old.generation + 1,
                        revoked: true,
                    }
                );
            self.emit(Event::SessionKeyRevoked(SessionKeyRevoked { session_key }));
        }

        fn revoke_all_sessions(ref self: ContractState) {
            assert_only_self();
            let mut state = self.sessions_state.read();
            state.epoch += 1;
            self.sessions_state.write(state);
            let new_epoch = state.epoch;
            self.emit(Event::AllSessionsRevoked(AllSessionsRevoked { new_epoch }));
        }

        fn get_session_data(self: @ContractState, session_key: felt252) -> SessionData {
            let record = self.sessions.read(session_key);
            if is_live(record, self.sessions_state.read().epoch) {
                SessionData {
                    valid_until: record.valid_until,
                    max_calls: record.max_calls,
                    calls_used: record.calls_used,
                    allowed_entrypoints_len: record.entrypoints_len,
                }
            } else {
                SessionData { valid_until: 0, max_calls: 0, calls_used: 0, allowed_entrypoints_len: 0 }
            }
        }

        fn get_session_allowed_entrypoints(
            self: @ContractState, session_key: felt252
        ) -> Array<felt252> {
            let record = self.sessions.read(session_key);
            let mut out = ArrayTrait::new();
            if is_live(record, self.sessions_state.read().epoch) {
                let mut i: u32 = 0;
                loop {
                    if i == record.entrypoints_len {
                        break;
                    }
                    out.append(self.entrypoint_at.read((session_key, i)));
                    i += 1;
                };
            }
            out
        }

        fn get_session_status(self: @ContractState, session_key: felt252) -> u8 {
            let record = self.sessions.read(session_key);
            if !record.revoked && record.valid_until == 0 {
                constants::STATUS_NONE
            } else if record.revoked || record.epoch != self.sessions_state.read().epoch {
                constants::STATUS_REVOKED
            } else if get_block_timestamp() > record.valid_until {
                constants::STATUS_EXPIRED
            } else if record.calls_used >= record.max_calls {
                constants::STATUS_EXHAUSTED
            } else {
                constants::STATUS_ACTIVE
            }
        }

        fn set_session_targets(
            ref self: ContractState, session_key: felt252, targets: Array<ContractAddress>
        ) {
            assert_only_self();
            let mut record = self.live_record(session_key);
            let targets = targets.span();
            let len = targets.len();
            assert(len <= constants::MAX_TARGETS, Errors::SESSION_INVALID_CONFIG);
            self.clear_targets(session_key, record.targets_len);
            let this = get_contract_address();
            let mut i: u32 = 0;
            loop {
                if i == len {
                    break;
                }
                let target = *targets.at(i);
                assert(!target.is_zero(), Errors::SESSION_INVALID_CONFIG);
                assert(target != this, Errors::SESSION_INVALID_CONFIG);
                assert(
                    !self.target_allowed.read((session_key, target)), Errors::SESSION_INVALID_CONFIG
                );
                self.target_at.write((session_key, i), target);
                self.target_allowed.write((session_key, target), true);
                i += 1;
            };
            record.targets_len = len;
            record.generation += 1;
            self.sessions.write(session_key, record);
            self.emit(Event::TargetsSet(TargetsSet { session_key, targets }));
        }

        fn get_session_targets(
            self: @ContractState, session_key: felt252
        ) -> Array<ContractAddress> {
            let record = self.sessions.read(session_key);
            let mut out = ArrayTrait::new();
            if is_live(record, self.sessions_state.read().epoch) {
                let mut i: u32 = 0;
                loop {
                    if i == record.targets_len {
                        break;
                    }
                    out.append(self.target_at.read((session_key, i)));
                    i += 1;
                };
            }
            out
        }

        fn get_sessions_epoch(self: @ContractState) -> u32 {
            self.sessions_state.read().epoch
        }

        fn get_session_generation(self: @ContractState, session_key: felt252) -> u32 {
            self.sessions.read(session_key).generation
        }
    }

    #[external(v0)]
    impl SpendingPoliciesImpl of ISpendingPolicies<ContractState> {
        fn set_spending_policy(
            ref self: ContractState,
            session_key: felt252,
            token: ContractAddress,
            max_per_call: u256,
            max_per_window: u256,
            window_seconds: u64
        ) {
            assert_only_self();
            let mut record = self.live_record(session_key);
            assert(!token.is_zero(), Errors::SPENDING_INVALID_POLICY);
            assert(token != get_contract_address(), Errors::SPENDING_INVALID_POLICY);
            assert(max_per_call <= max_per_window, Errors::SPENDING_INVALID_POLICY);
            assert(window_seconds != 0, Errors::SPENDING_INVALID_POLICY);
            assert(window_seconds <= constants::MAX_WINDOW_SECONDS, Errors::SPENDING_INVALID_POLICY);
            // Amounts are stored in 128 bits: a ceiling of 2^128 token units or more is refused.
            assert(max_per_window.high == 0, Errors::SPENDING_INVALID_POLICY);
            let mut slot = self.policy_config.read((session_key, token)).slot;
            if slot == 0 {
                assert(
                    record.policies_len < constants::MAX_SPENDING_POLICIES,
                    Errors::SPENDING_INVALID_POLICY
                );
                self.policy_token_at.write((session_key, record.policies_len), token);
                record.policies_len += 1;
                slot = record.policies_len;
            }
            record.generation += 1;
            self.sessions.write(session_key, record);
            self
                .policy_config
                .write(
                    (session_key, token),
                    PolicyConfig { max_per_call: max_per_call.low, window_seconds, slot }
                );
            self.policy_max_per_window.write((session_key, token), max_per_window.low);
            // Setting a policy starts a fresh window.
            self
                .policy_window
                .write((session_key, token), PolicyWindow { remaining: 0, window_start: 0 });
            self
                .emit(
                    Event::SpendingPolicySet(
                        SpendingPolicySet {
                            session_key, token, max_per_call, max_per_window, window_seconds
                        }
                    )
                );
        }

        fn get_spending_policy(
            self: @ContractState, session_key: felt252, token: ContractAddress
        ) -> SpendingPolicy {
            let record = self.sessions.read(session_key);
            let config = self.policy_config.read((session_key, token));
            if !is_live(record, self.sessions_state.read().epoch) || config.slot == 0 {
                return empty_policy();
            }
            let max_per_window = self.policy_max_per_window.read((session_key, token));
            let window = self.policy_window.read((session_key, token));
            let spent = if window.window_start == 0 {
                0
            } else {
                max_per_window - window.remaining
            };
            SpendingPolicy {
                max_per_call: u256 { low: config.max_per_call, high: 0 },
                max_per_window: u256 { low: max_per_window, high: 0 },
                window_seconds: config.window_seconds,
                spent_in_window: u256 { low: spent, high: 0 },
                window_start: window.window_start,
            }
        }

        fn remove_spending_policy(
            ref self: ContractState, session_key: felt252, token: ContractAddress
        ) {
            assert_only_self();
            let mut record = self.live_record(session_key);
            let slot = self.policy_config.read((session_key, token)).slot;
            assert(slot != 0, Errors::SPENDING_NO_POLICY);
            // Swap-remove: move the last token into the freed slot.
            let last_index = record.policies_len - 1;
            let last_token = self.policy_token_at.read((session_key, last_index));
            self.policy_token_at.write((session_key, slot - 1), last_token);
            let mut last_config = self.policy_config.read((session_key, last_token));
            last_config.slot = slot;
            self.policy_config.write((session_key, last_token), last_config);
            self.policy_token_at.write((session_key, last_index), Zeroable::zero());
            self.clear_policy(session_key, token);
            record.policies_len = last_index;
            record.generation += 1;
            self.sessions.write(session_key, record);
            self.emit(Event::SpendingPolicyRemoved(SpendingPolicyRemoved { session_key, token }));
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn validate_owner_transaction(self: @ContractState) -> felt252 {
            let tx_info = get_tx_info().unbox();
            let signature = tx_info.signature;
            assert(signature.len() == 2, Errors::INVALID_SIGNATURE_LENGTH);
            assert(
                check_ecdsa_signature(
                    tx_info.transaction_hash,
                    self.public_key.read(),
                    *signature.at(0),
                    *signature.at(1)
                ),
                Errors::INVALID_SIGNATURE
            );
            constants::VALIDATED
        }

        /// Checks 2-5 of a session-signed outside execution.
        fn authorize_session(
            ref self: ContractState,
            calls: Span<Call>,
            signature: Span<felt252>,
            message_hash: felt252,
            this: ContractAddress,
            now: u64,
            epoch: u32
        ) {
            let session_key = *signature.at(0);
            let mut record = self.sessions.read(session_key);
            // 2. Registered, live, unexpired, budget left, and signed for this registration.
            assert(record.revoked || record.valid_until != 0, Errors::SESSION_NOT_REGISTERED);
            assert(is_live(record, epoch), Errors::SESSION_REVOKED);
            assert(now <= record.valid_until, Errors::SESSION_EXPIRED);
            assert(record.calls_used < record.max_calls, Errors::SESSION_MAX_CALLS);
            let registration = registration_of(record);
            assert(*signature.at(3) == registration, Errors::SESSION_REGISTRATION_MISMATCH);
            let signed_hash = snip12::session_message_hash(message_hash, registration);

            // 3. Every call against the session's rules.
            let mut remaining = calls;
            loop {
                match remaining.pop_front() {
                    Option::Some(call) => {
                        assert(*call.to != this, Errors::SESSION_SELF_CALL);
                        let selector = *call.selector;
                        assert(!is_blocked_selector(selector), Errors::SESSION_BLOCKED_SELECTOR);
                        if record.entrypoints_len != 0 {
                            assert(
                                self.entrypoint_allowed.read((session_key, selector)),
                                Errors::SESSION_SELECTOR_DENIED
                            );
                        }
                        if record.targets_len != 0 {
                            assert(
                                self.target_allowed.read((session_key, *call.to)),
                                Errors::SESSION_TARGET_DENIED
                            );
                        }
                    },
                    Option::None => { break; },
                };
            };

            // 4. The session key signed exactly this outside execution under this registration.
            assert(
                check_ecdsa_signature(
                    signed_hash,
                    session_key,
                    *signature.at(1),
                    *signature.at(2)
                ),
                Errors::SESSION_BAD_SIGNATURE
            );

            // 5. Accounting: spending limits, then one use per execution (a refusal reverts
            // both). No event: the count is in `get_session_data`, and an event costs more gas
            // than the rest of the accounting.
            self.charge_spending(session_key, record.policies_len, calls, now);
            record.calls_used += 1;
            self.sessions.write(session_key, record);

        }

        fn charge_spending(
            ref self: ContractState,
            session_key: felt252,
            policies_len: u32,
            calls: Span<Call>,
            now: u64
        ) {
            if policies_len == 0 {
                return;
            }
            let mut remaining = calls;
            loop {
                match remaining.pop_front() {
                    Option::Some(call) => {
                        if is_tracked_selector(*call.selector) {
                            self.charge(session_key, *call.to, call.calldata.span(), now);
                        }
                    },
                    Option::None => { break; },
                };
            };
        }

        /// Marks `nonce` used (refusing a used one): in the hot word of `state` when it is that
        /// word or a later one (the hot word then moves on, its bits kept in the map), else in
        /// the map. Returns the new state and whether it changed.
        fn use_nonce(
            ref self: ContractState, state: SessionsState, nonce: felt252
        ) -> (SessionsState, bool) {
            let (slot, hot, index, bit) = nonce_slot(nonce);
            if hot && index == state.hot_word {
                assert(state.hot_bits & bit == 0, Errors::OUTSIDE_NONCE_USED);
                return (
                    SessionsState {
                        epoch: state.epoch,
                        executing: state.executing,
                        hot_word: index,
                        hot_bits: state.hot_bits + bit
                    },
                    true
                );
            }
            if hot && index > state.hot_word {
                // Words above the hot one were never used: the new one starts empty.
                if state.hot_bits != 0 {
                    self.nonce_bits.write(state.hot_word.into(), state.hot_bits);
                }
                return (
                    SessionsState {
                        epoch: state.epoch, executing: state.executing, hot_word: index, hot_bits: bit
                    },
                    true
                );
            }
            let used = self.nonce_bits.read(slot);
            assert(used & bit == 0, Errors::OUTSIDE_NONCE_USED);
            self.nonce_bits.write(slot, used + bit);
            (state, false)
        }

        /// Charges one tracked call's amount to the session's policy on `token`, if it has one.
        fn charge(
            ref self: ContractState,
            session_key: felt252,
            token: ContractAddress,
            calldata: Span<felt252>,
            now: u64
        ) {
            let config = self.policy_config.read((session_key, token));
            if config.slot == 0 {
                return;
            }
            let amount = call_amount(calldata);
            assert(
                amount.high == 0 && amount.low <= config.max_per_call, Errors::SPENDING_PER_CALL
            );
            let window = self.current_window(session_key, token, config.window_seconds, now);
            assert(amount.low <= window.remaining, Errors::SPENDING_WINDOW);
            self
                .policy_window
                .write(
                    (session_key, token),
                    PolicyWindow {
                        remaining: window.remaining - amount.low, window_start: window.window_start
                    }
                );
        }

        /// The policy's window at `now`: the stored one, or a full new one if that has ended.
        fn current_window(
            self: @ContractState,
            session_key: felt252,
            token: ContractAddress,
            window_seconds: u64,
            now: u64
        ) -> PolicyWindow {
            let window = self.policy_window.read((session_key, token));
            if now < window.window_start + window_seconds {
                return window;
            }
            PolicyWindow {
                remaining: self.policy_max_per_window.read((session_key, token)), window_start: now
            }
        }

        fn clear_policy(ref self: ContractState, session_key: felt252, token: ContractAddress) {
            self
                .policy_config
                .write(
                    (session_key, token), PolicyConfig { max_per_call: 0, window_seconds: 0, slot: 0 }
                );
            self
                .policy_window
                .write((session_key, token), PolicyWindow { remaining: 0, window_start: 0 });
            self.policy_max_per_window.write((session_key, token), 0);
        }

        /// The session's record if it is registered in the current epoch and not revoked.
        fn live_record(self: @ContractState, session_key: felt252) -> SessionRecord {
            let record = self.sessions.read(session_key);
            assert(record.revoked || record.valid_until != 0, Errors::SESSION_NOT_REGISTERED);
            assert(is_live(record, self.sessions_state.read().epoch), Errors::SESSION_REVOKED);
            record
        }

        fn clear_entrypoints(ref self: ContractState, session_key: felt252, len: u32) {
            let mut i: u32 = 0;
            loop {
                if i == len {
                    break;
                }
                let selector = self.entrypoint_at.read((session_key, i));
                self.entrypoint_allowed.write((session_key, selector), false);
                self.entrypoint_at.write((session_key, i), 0);
                i += 1;
            };
        }

        fn clear_targets(ref self: ContractState, session_key: felt252, len: u32) {
            let mut i: u32 = 0;
            loop {
                if i == len {
                    break;
                }
                let target = self.target_at.read((session_key, i));
                self.target_allowed.write((session_key, target), false);
                self.target_at.write((session_key, i), Zeroable::zero());
                i += 1;
            };
        }

        fn clear_policies(ref self: ContractState, session_key: felt252, len: u32) {
            let mut i: u32 = 0;
            loop {
                if i == len {
                    break;
                }
                let token = self.policy_token_at.read((session_key, i));
                self.clear_policy(session_key, token);
                self.policy_token_at.write((session_key, i), Zeroable::zero());
                i += 1;
            };
        }
    }

    fn assert_only_self() {
        assert(get_caller_address() == get_contract_address(), Errors::ONLY_SELF);
    }

    fn is_blocked_selector(selector: felt252) -> bool {
        selector == constants::SELECTOR_UPGRADE
            || selector == constants::SELECTOR_ADD_OR_UPDATE_SESSION_KEY
            || selector == constants::SELECTOR_REVOKE_SESSION_KEY
            || selector == constants::SELECTOR_EXECUTE
            || selector == constants::SELECTOR_SET_PUBLIC_KEY
            || selector == constants::SELECTOR_SET_PUBLIC_KEY_CAMEL
            || selector == constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2
            || selector == constants::SELECTOR_SET_SPENDING_POLICY
            || selector == constants::SELECTOR_REMOVE_SPENDING_POLICY
            || selector == constants::SELECTOR_REVOKE_ALL_SESSIONS
            || selector == constants::SELECTOR_SET_SESSION_TARGETS
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

    fn empty_policy() -> SpendingPolicy {
        SpendingPolicy {
            max_per_call: 0, max_per_window: 0, window_seconds: 0, spent_in_window: 0, window_start: 0,
        }
    }

    fn execute_calls(calls: Span<Call>) -> Array<Span<felt252>> {
        let mut results = ArrayTrait::new();
        let mut remaining = calls;
        loop {
            match remaining.pop_front() {
                Option::Some(call) => {
                    results
                        .append(
                            call_contract_syscall(*call.to, *call.selector, call.calldata.span())
                                .unwrap_syscall()
                        );
                },
                Option::None => { break; },
            };
        };
        results
    }
}
