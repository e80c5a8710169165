//! Session keys: registration (expiry, call budget, entrypoint whitelist, target set), revocation
//! one by one or all at once, the views, and the per-use check of a session-signed outside
//! execution. Spending limits are the account's (`SessionManagerHooks`), so that this component
//! stands without them.

#[starknet::component]
pub mod SessionManagerComponent {
    use core::ecdsa::check_ecdsa_signature;
    use core::num::traits::Zero;
    use starknet::account::Call;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePathEntry,
        StoragePointerReadAccess, StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp, get_contract_address, get_tx_info};
    use crate::calls::assert_only_self;
    use crate::components::outside_execution::OutsideExecutionComponent;
    use crate::components::outside_execution::OutsideExecutionComponent::InternalImpl as OutsideInternal;
    use crate::constants;
    use crate::errors::Errors;
    use crate::interfaces::{GrantSpendingLimit, ISessionKeyManager, SessionData, SessionGrant};
    use crate::loss_guard::{AfterCalls, AfterCallsTrait};
    use crate::record::{SessionRecord, SessionRecordTrait, registration_of};
    use crate::{grant, snip12};

    #[storage]
    pub struct Storage {
        pub sessions: Map<felt252, SessionRecord>,
        /// Entrypoint whitelist: indexed for enumeration and clearing, plus O(1) membership
        /// for lists of two or more (a one-entry list is checked against its index 0, and
        /// costs one storage slot rather than two). Targets alike.
        pub entrypoint_at: Map<(felt252, u32), felt252>,
        pub entrypoint_allowed: Map<(felt252, felt252), bool>,
        pub target_at: Map<(felt252, u32), ContractAddress>,
        pub target_allowed: Map<(felt252, ContractAddress), bool>,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        SessionKeyAdded: SessionKeyAdded,
        SessionKeyRevoked: SessionKeyRevoked,
        AllSessionsRevoked: AllSessionsRevoked,
        TargetsSet: TargetsSet,
    }

    #[derive(Drop, starknet::Event)]
    pub struct SessionKeyAdded {
        #[key]
        pub session_key: felt252,
        pub valid_until: u64,
        pub max_calls: u32,
        pub allowed_entrypoints: Span<felt252>,
    }

    #[derive(Drop, starknet::Event)]
    pub struct SessionKeyRevoked {
        #[key]
        pub session_key: felt252,
    }

    #[derive(Drop, starknet::Event)]
    pub struct AllSessionsRevoked {
        pub new_epoch: u32,
    }

    #[derive(Drop, starknet::Event)]
    pub struct TargetsSet {
        #[key]
        pub session_key: felt252,
        pub targets: Span<ContractAddress>,
    }

    /// What a session's use and reset ask of the spending limits the account keeps, and what a
    /// grant asks of the owner.
    pub trait SessionManagerHooks<TContractState> {
        /// Charges the session's tracked calls to its policies; panics over a limit.
        fn charge_spending(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            policies_len: u32,
            calls: Span<Call>,
            now: u64,
        );
        /// Forgets every policy of a session that starts clean.
        fn clear_policies(
            ref self: ComponentState<TContractState>, session_key: felt252, policies_len: u32,
        );
        /// Sets a granted policy as the session's `index`-th (its policies were cleared);
        /// panics on terms `set_spending_policy` refuses or a token listed twice.
        fn add_policy(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            index: u32,
            limit: GrantSpendingLimit,
        );
        /// The owner's public key and how many times it changed (`get_owner_key_version`).
        fn owner_key(self: @ComponentState<TContractState>) -> (felt252, u32);
        /// Holds a session execution against the agent limits its record names (`limits`, not
        /// 0), panicking with the one that refuses it; returns what to check after the calls.
        fn check_limits(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            limits: u16,
            calls: Span<Call>,
            this: ContractAddress,
            now: u64,
        ) -> AfterCalls;
        /// Notes that the running execution is the session's revocation of itself.
        fn begin_self_revocation(ref self: ComponentState<TContractState>, session_key: felt252);
        /// Forgets every agent limit of a session that starts clean.
        fn clear_limits(ref self: ComponentState<TContractState>, session_key: felt252);
        /// Whether the session's start time is after `now`.
        fn starts_later(
            self: @ComponentState<TContractState>, session_key: felt252, now: u64,
        ) -> bool;
        /// Sets a grant's agent limits on a registration that starts clean (valid until
        /// `valid_until`), panicking on terms their setters refuse; returns the record's limit
        /// bits.
        fn put_granted_limits(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            valid_until: u64,
            grant: @SessionGrant,
        ) -> u16;
    }

    #[embeddable_as(SessionKeyManagerImpl)]
    impl SessionKeyManager<
        TContractState,
        +HasComponent<TContractState>,
        impl Outside: OutsideExecutionComponent::HasComponent<TContractState>,
        impl Hooks: SessionManagerHooks<TContractState>,
        +Drop<TContractState>,
    > of ISessionKeyManager<ComponentState<TContractState>> {
        fn add_or_update_session_key(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            valid_until: u64,
            max_calls: u32,
            allowed_entrypoints: Array<felt252>,
        ) {
            assert_only_self();
            let entrypoints = allowed_entrypoints.span();
            let old = self.sessions.read(session_key);
            let epoch = self.epoch();
            // A new, revoked or pre-revoke-all session starts clean: no resurrected limits.
            let keep_limits = old.is_live(epoch);
            let now = get_block_timestamp();
            let record = self
                .register(
                    session_key, valid_until, max_calls, entrypoints, old, epoch, keep_limits, now,
                );
            self.sessions.write(session_key, record);
        }

        fn revoke_session_key(ref self: ComponentState<TContractState>, session_key: felt252) {
            // Any key, registered or not: a key granted but never used is revoked before its
            // first use (its grant names the generation this bumps).
            assert_only_self();
            let old = self.sessions.read(session_key);
            self.clear_entrypoints(session_key, old.entrypoints_len);
            self.clear_targets(session_key, old.targets_len);
            Hooks::clear_policies(ref self, session_key, old.policies_len);
            if old.limits != 0 {
                Hooks::clear_limits(ref self, session_key);
            }
            let record = SessionRecord {
                valid_until: 0,
                max_calls: 0,
                calls_used: 0,
                entrypoints_len: 0,
                targets_len: 0,
                policies_len: 0,
                epoch: self.epoch(),
                generation: old.generation + 1,
                revoked: true,
                limits: 0,
            };
            self.sessions.write(session_key, record);
            self.emit(SessionKeyRevoked { session_key });
        }

        fn revoke_all_sessions(ref self: ComponentState<TContractState>) {
            assert_only_self();
            let mut outside = get_dep_component_mut!(ref self, Outside);
            let new_epoch = outside.bump_epoch();
            self.emit(AllSessionsRevoked { new_epoch });
        }

        fn get_session_data(
            self: @ComponentState<TContractState>, session_key: felt252,
        ) -> SessionData {
            let record = self.sessions.read(session_key);
            if !record.is_live(self.epoch()) {
                return SessionData {
                    valid_until: 0, max_calls: 0, calls_used: 0, allowed_entrypoints_len: 0,
                };
            }
            SessionData {
                valid_until: record.valid_until,
                max_calls: record.max_calls,
                calls_used: record.calls_used,
                allowed_entrypoints_len: record.entrypoints_len,
            }
        }

        fn get_session_allowed_entrypoints(
            self: @ComponentState<TContractState>, session_key: felt252,
        ) -> Array<felt252> {
            let record = self.sessions.read(session_key);
            let mut out = array![];
            if record.is_live(self.epoch()) {
                for i in 0..record.entrypoints_len {
                    out.append(self.entrypoint_at.read((session_key, i)));
                }
            }
            out
        }

        fn get_session_status(self: @ComponentState<TContractState>, session_key: felt252) -> u8 {
            let record = self.sessions.read(session_key);
            if !record.is_known() {
                constants::STATUS_NONE
            } else if record.revoked || record.epoch != self.epoch() {
                constants::STATUS_REVOKED
            } else if get_block_timestamp() > record.valid_until {
                constants::STATUS_EXPIRED
            } else if record.limits != 0
                && Hooks::starts_later(self, session_key, get_block_timestamp()) {
                constants::STATUS_NOT_YET_ACTIVE
            } else if record.calls_used >= record.max_calls {
                constants::STATUS_EXHAUSTED
            } else {
                constants::STATUS_ACTIVE
            }
        }

        fn set_session_targets(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            targets: Array<ContractAddress>,
        ) {
            assert_only_self();
            let mut record = self.live_record(session_key);
            let targets = targets.span();
            let len = targets.len();
            self.clear_targets(session_key, record.targets_len);
            self.write_targets(session_key, targets, get_contract_address());
            record.targets_len = len;
            record.generation += 1;
            self.sessions.write(session_key, record);
            self.emit(TargetsSet { session_key, targets });
        }

        fn get_session_targets(
            self: @ComponentState<TContractState>, session_key: felt252,
        ) -> Array<ContractAddress> {
            let record = self.sessions.read(session_key);
            let mut out = array![];
            if record.is_live(self.epoch()) {
                for i in 0..record.targets_len {
                    out.append(self.target_at.read((session_key, i)));
                }
            }
            out
        }

        fn get_sessions_epoch(self: @ComponentState<TContractState>) -> u32 {
            self.epoch()
        }

        fn get_session_generation(
            self: @ComponentState<TContractState>, session_key: felt252,
        ) -> u32 {
            self.sessions.read(session_key).generation
        }
    }

    #[generate_trait]
    pub impl InternalImpl<
        TContractState,
        +HasComponent<TContractState>,
        impl Outside: OutsideExecutionComponent::HasComponent<TContractState>,
        impl Hooks: SessionManagerHooks<TContractState>,
        +Drop<TContractState>,
    > of InternalTrait<TContractState> {
        fn epoch(self: @ComponentState<TContractState>) -> u32 {
            get_dep_component!(self, Outside).epoch()
        }

        /// The session's record if it is registered in the current epoch and not revoked.
        fn live_record(self: @ComponentState<TContractState>, session_key: felt252) -> SessionRecord {
            let record = self.sessions.read(session_key);
            assert(record.is_known(), Errors::SESSION_NOT_REGISTERED);
            assert(record.is_live(self.epoch()), Errors::SESSION_REVOKED);
            record
        }

        /// The session's record as it is, live or not (for views that say "empty" themselves).
        fn record(self: @ComponentState<TContractState>, session_key: felt252) -> SessionRecord {
            self.sessions.read(session_key)
        }

        fn write_record(
            ref self: ComponentState<TContractState>, session_key: felt252, record: SessionRecord,
        ) {
            self.sessions.write(session_key, record);
        }

        /// Checks a session-signed outside execution — the session, every call, its agent
        /// limits, the signature under the current registration — then charges its spending and
        /// counts its use; returns what to check after the calls (the loss guard).
        /// `signature` is `[session_key, r, s, valid_until]`, on a first use followed by a
        /// grant and the owner's signature of it (`register_grant`).
        #[inline(always)]
        fn authorize(
            ref self: ComponentState<TContractState>,
            calls: Span<Call>,
            signature: Span<felt252>,
            message_hash: felt252,
            this: ContractAddress,
            now: u64,
            epoch: u32,
        ) -> AfterCalls {
            let (signature, granted) = if signature.len() == 4 {
                (signature, Option::None)
            } else {
                let (signature, record) = self.register_grant(signature, this, now, epoch);
                (signature, Option::Some(record))
            };
            let [session_key, r, s, signed_valid_until] = (*signature
                .try_into()
                .expect(Errors::INVALID_SIGNATURE_LENGTH))
                .unbox();
            // One address computation for the read and the write; a granted registration is
            // written once, with its first use counted.
            let entry = self.sessions.entry(session_key);
            let mut record = match granted {
                Option::Some(record) => record,
                Option::None => entry.read(),
            };
            assert(record.is_known(), Errors::SESSION_NOT_REGISTERED);
            assert(record.is_live(epoch), Errors::SESSION_REVOKED);
            assert(now <= record.valid_until, Errors::SESSION_EXPIRED);
            assert(record.calls_used < record.max_calls, Errors::SESSION_MAX_CALLS);
            assert(
                signed_valid_until == record.valid_until.into(),
                Errors::SESSION_REGISTRATION_MISMATCH,
            );
            // A session's revocation of itself only gives up authority: no call rules or limits.
            let after = if is_self_revocation(calls, this) {
                Hooks::begin_self_revocation(ref self, session_key);
                AfterCallsTrait::nothing(this)
            } else {
                self.check_calls(session_key, @record, calls, this);
                if record.limits == 0 {
                    AfterCallsTrait::nothing(this)
                } else {
                    Hooks::check_limits(ref self, session_key, record.limits, calls, this, now)
                }
            };
            let signed = snip12::session_message_hash(message_hash, record.registration());
            if !check_ecdsa_signature(signed, session_key, r, s) {
                core::panic_with_felt252(stale_or_bad(message_hash, @record, session_key, r, s));
            }
            // Accounting: spending limits, then one use per execution (a refusal reverts both).
            // No event: the count is in `get_session_data`, and an event costs more gas than
            // the rest of the accounting.
            Hooks::charge_spending(ref self, session_key, record.policies_len, calls, now);
            record.calls_used += 1;
            entry.write(record);
            after
        }

        /// Every call against the session's rules.
        #[inline(always)]
        fn check_calls(
            self: @ComponentState<TContractState>,
            session_key: felt252,
            record: @SessionRecord,
            calls: Span<Call>,
            this: ContractAddress,
        ) {
            let entrypoints_len = *record.entrypoints_len;
            let targets_len = *record.targets_len;
            for call in calls {
                let to = *call.to;
                let selector = *call.selector;
                assert(to != this, Errors::SESSION_SELF_CALL);
                assert(!is_blocked_selector(selector), Errors::SESSION_BLOCKED_SELECTOR);
                if entrypoints_len != 0 {
                    assert(
                        self.is_listed_entrypoint(session_key, entrypoints_len, selector),
                        Errors::SESSION_SELECTOR_DENIED,
                    );
                }
                if targets_len != 0 {
                    assert(
                        self.is_listed_target(session_key, targets_len, to),
                        Errors::SESSION_TARGET_DENIED,
                    );
                }
            }
        }

        /// Whether a whitelist of `len` (not 0) entries lists `selector`: a one-entry list is read
        /// in place, a longer one through its membership map (one read either way).
        #[inline(always)]
        fn is_listed_entrypoint(
            self: @ComponentState<TContractState>, session_key: felt252, len: u32, selector: felt252,
        ) -> bool {
            if len == 1 {
                return self.entrypoint_at.read((session_key, 0)) == selector;
            }
            self.entrypoint_allowed.read((session_key, selector))
        }

        /// Whether a target set of `len` (not 0) entries lists `target` (as above).
        #[inline(always)]
        fn is_listed_target(
            self: @ComponentState<TContractState>,
            session_key: felt252,
            len: u32,
            target: ContractAddress,
        ) -> bool {
            if len == 1 {
                return self.target_at.read((session_key, 0)) == target;
            }
            self.target_allowed.read((session_key, target))
        }

        /// A registration of `session_key` over `old` (its record now) at block time `now`: the
        /// terms of `add_or_update_session_key`; a session that does not `keep_limits` loses
        /// its targets and spending policies. Writes the whitelist and returns the new record,
        /// for the caller to write.
        fn register(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            valid_until: u64,
            max_calls: u32,
            entrypoints: Span<felt252>,
            old: SessionRecord,
            epoch: u32,
            keep_limits: bool,
            now: u64,
        ) -> SessionRecord {
            assert(session_key != 0, Errors::SESSION_INVALID_CONFIG);
            assert(valid_until > now, Errors::SESSION_INVALID_CONFIG);
            assert(max_calls != 0, Errors::SESSION_INVALID_CONFIG);
            self.clear_entrypoints(session_key, old.entrypoints_len);
            let mut targets_len = old.targets_len;
            let mut policies_len = old.policies_len;
            let mut limits = old.limits;
            if !keep_limits {
                self.clear_targets(session_key, targets_len);
                Hooks::clear_policies(ref self, session_key, policies_len);
                if limits != 0 {
                    Hooks::clear_limits(ref self, session_key);
                }
                targets_len = 0;
                policies_len = 0;
                limits = 0;
            }
            self.write_entrypoints(session_key, entrypoints);
            let record = SessionRecord {
                valid_until,
                max_calls,
                calls_used: 0,
                entrypoints_len: entrypoints.len(),
                targets_len,
                policies_len,
                epoch,
                generation: old.generation + 1,
                revoked: false,
                limits,
            };
            self
                .emit(
                    SessionKeyAdded {
                        session_key, valid_until, max_calls, allowed_entrypoints: entrypoints,
                    },
                );
            record
        }

        /// A first use carrying a grant: checks the grant against the key's registration, the
        /// epoch and the owner, stores the registration it names (starting clean, as a new
        /// key), and returns the four-element session signature in front of it with the new
        /// record (for the caller to write). `signature` is
        /// `[session_key, r, s, valid_until, ..SessionGrant, owner_r, owner_s]`.
        fn register_grant(
            ref self: ComponentState<TContractState>,
            signature: Span<felt252>,
            this: ContractAddress,
            now: u64,
            epoch: u32,
        ) -> (Span<felt252>, SessionRecord) {
            assert(signature.len() > 4, Errors::INVALID_SIGNATURE_LENGTH);
            let session_key = *signature.at(0);
            let valid_until: u64 = (*signature.at(3)).try_into().expect(Errors::GRANT_MALFORMED);
            let mut rest = signature.slice(4, signature.len() - 4);
            let grant: SessionGrant = Serde::deserialize(ref rest).expect(Errors::GRANT_MALFORMED);
            let [owner_r, owner_s] = (*rest.try_into().expect(Errors::GRANT_MALFORMED)).unbox();
            assert(valid_until > now, Errors::GRANT_EXPIRED);
            assert(grant.sessions_epoch == epoch, Errors::GRANT_REVOKED_ALL);
            let old = self.sessions.read(session_key);
            if grant.key_generation != old.generation {
                core::panic_with_felt252(
                    if old.revoked {
                        Errors::GRANT_REVOKED
                    } else {
                        Errors::GRANT_USED
                    },
                );
            }
            // A grant registers a key with no live registration: it cannot reset one (its
            // calls and spending windows) whenever its holder chooses.
            assert(!old.is_live(epoch), Errors::GRANT_USED);
            let (owner_key, owner_key_version) = Hooks::owner_key(@self);
            assert(grant.owner_key_version == owner_key_version, Errors::GRANT_OWNER_CHANGED);
            let chain_id = get_tx_info().unbox().chain_id;
            let hash = grant::grant_message_hash(@grant, this, session_key, valid_until, chain_id);
            assert(check_ecdsa_signature(hash, owner_key, owner_r, owner_s), Errors::GRANT_BAD_SIGNATURE);
            let record = self
                .register(
                    session_key, valid_until, grant.max_calls, grant.entrypoints, old, epoch, false, now,
                );
            let mut record = self.grant_limits(session_key, record, @grant, this);
            if has_agent_limits(@grant) {
                record.limits = Hooks::put_granted_limits(ref self, session_key, valid_until, @grant);
            }
            (signature.slice(0, 4), record)
        }

        /// The targets and spending policies of a grant, on a registration that starts clean;
        /// returns the record with their counts.
        fn grant_limits(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            mut record: SessionRecord,
            grant: @SessionGrant,
            this: ContractAddress,
        ) -> SessionRecord {
            let targets = *grant.targets;
            let limits = *grant.spending_limits;
            if targets.len() == 0 && limits.len() == 0 {
                return record;
            }
            assert(limits.len() <= constants::MAX_SPENDING_POLICIES, Errors::SPENDING_INVALID_POLICY);
            if targets.len() != 0 {
                self.write_targets(session_key, targets, this);
                self.emit(TargetsSet { session_key, targets });
            }
            let mut index = 0;
            for limit in limits {
                Hooks::add_policy(ref self, session_key, index, *limit);
                index += 1;
            }
            record.targets_len = targets.len();
            record.policies_len = limits.len();
            record
        }

        fn write_entrypoints(
            ref self: ComponentState<TContractState>, session_key: felt252, entrypoints: Span<felt252>,
        ) {
            let len = entrypoints.len();
            assert(len <= constants::MAX_ENTRYPOINTS, Errors::SESSION_INVALID_CONFIG);
            // A one-entry list has no membership map (`is_listed_entrypoint`).
            let mapped = len > 1;
            let mut i: u32 = 0;
            for selector in entrypoints {
                let selector = *selector;
                assert(selector != 0, Errors::SESSION_INVALID_CONFIG);
                if mapped {
                    assert(
                        !self.entrypoint_allowed.read((session_key, selector)),
                        Errors::SESSION_INVALID_CONFIG,
                    );
                    self.entrypoint_allowed.write((session_key, selector), true);
                }
                self.entrypoint_at.write((session_key, i), selector);
                i += 1;
            }
        }

        fn write_targets(
            ref self: ComponentState<TContractState>,
            session_key: felt252,
            targets: Span<ContractAddress>,
            this: ContractAddress,
        ) {
            let len = targets.len();
            assert(len <= constants::MAX_TARGETS, Errors::SESSION_INVALID_CONFIG);
            // A one-entry set has no membership map (`is_listed_target`).
            let mapped = len > 1;
            let mut i: u32 = 0;
            for target in targets {
                let target = *target;
                assert(!target.is_zero(), Errors::SESSION_INVALID_CONFIG);
                assert(target != this, Errors::SESSION_INVALID_CONFIG);
                if mapped {
                    assert(
                        !self.target_allowed.read((session_key, target)),
                        Errors::SESSION_INVALID_CONFIG,
                    );
                    self.target_allowed.write((session_key, target), true);
                }
                self.target_at.write((session_key, i), target);
                i += 1;
            }
        }

        fn clear_entrypoints(ref self: ComponentState<TContractState>, session_key: felt252, len: u32) {
            // A one-entry list wrote no membership slot, but one registered by the class before
            // this one (an upgraded account) did: it is cleared too.
            for i in 0..len {
                let selector = self.entrypoint_at.read((session_key, i));
                self.entrypoint_allowed.write((session_key, selector), false);
                self.entrypoint_at.write((session_key, i), 0);
            }
        }

        fn clear_targets(ref self: ComponentState<TContractState>, session_key: felt252, len: u32) {
            for i in 0..len {
                let target = self.target_at.read((session_key, i));
                self.target_allowed.write((session_key, target), false);
                self.target_at.write((session_key, i), Zero::zero());
            }
        }
    }

    /// The refusal of a signature that does not verify under the current registration: a
    /// signature made under one of the key's recent earlier registrations (same expiry, an older
    /// generation) is named as such; anything else is a bad signature.
    fn stale_or_bad(
        message_hash: felt252, record: @SessionRecord, session_key: felt252, r: felt252, s: felt252,
    ) -> felt252 {
        let generation = *record.generation;
        let oldest = if generation > constants::STALE_LOOKBACK {
            generation - constants::STALE_LOOKBACK
        } else {
            0
        };
        let mut earlier = generation;
        while earlier > oldest {
            earlier -= 1;
            let registration = registration_of(*record.valid_until, earlier);
            let signed = snip12::session_message_hash(message_hash, registration);
            if check_ecdsa_signature(signed, session_key, r, s) {
                return Errors::SESSION_REGISTRATION_MISMATCH;
            }
        }
        Errors::SESSION_BAD_SIGNATURE
    }

    /// The one call `revoke_own_session()` on the account itself.
    #[inline(always)]
    fn is_self_revocation(calls: Span<Call>, this: ContractAddress) -> bool {
        if calls.len() != 1 {
            return false;
        }
        let call = calls.at(0);
        *call.to == this
            && *call.selector == constants::SELECTOR_REVOKE_OWN_SESSION
            && call.calldata.len() == 0
    }

    /// Whether a grant names any agent limit.
    fn has_agent_limits(grant: @SessionGrant) -> bool {
        *grant.valid_after != 0
            || *grant.rate_max_executions != 0
            || *grant.rate_window_seconds != 0
            || (*grant.arg_rules).len() != 0
            || (*grant.loss_guards).len() != 0
    }

    #[inline(always)]
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
            || selector == constants::SELECTOR_SET_SESSION_VALID_AFTER
            || selector == constants::SELECTOR_SET_SESSION_RATE_LIMIT
            || selector == constants::SELECTOR_SET_SESSION_ARG_RULES
            || selector == constants::SELECTOR_SET_SESSION_LOSS_GUARDS
    }
}
