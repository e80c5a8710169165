//! The session account: an owner key, plus session keys with expiry, call budgets, entrypoint
//! whitelists, target sets and spending limits, usable only through SNIP-9 outside execution.
//! A thin assembly of its components (components/) and the owner's entry points.

#[starknet::contract(account)]
pub mod SessionAccount {
    use core::ecdsa::check_ecdsa_signature;
    use core::num::traits::Zero;
    use starknet::account::Call;
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use starknet::syscalls::replace_class_syscall;
    use starknet::{ClassHash, ContractAddress, SyscallResultTrait, get_caller_address, get_tx_info};
    use crate::calls::{assert_only_self, execute_calls};
    use crate::components::agent_limits::AgentLimitsComponent;
    use crate::components::outside_execution::OutsideExecutionComponent;
    use crate::components::session_manager::SessionManagerComponent;
    use crate::components::spending_limits::SpendingLimitsComponent;
    use crate::components::src5::SRC5Component;
    use crate::constants;
    use crate::errors::Errors;
    use crate::interfaces::{GrantSpendingLimit, IAccount, IOwner, ISelfRevocation, SessionGrant};
    use crate::loss_guard::AfterCalls;

    component!(path: SRC5Component, storage: src5, event: SRC5Event);
    component!(path: OutsideExecutionComponent, storage: outside, event: OutsideExecutionEvent);
    component!(path: SessionManagerComponent, storage: sessions, event: SessionEvent);
    component!(path: SpendingLimitsComponent, storage: spending, event: SpendingEvent);
    component!(path: AgentLimitsComponent, storage: limits, event: LimitsEvent);

    #[abi(embed_v0)]
    impl SRC5Impl = SRC5Component::SRC5Impl<ContractState>;
    #[abi(embed_v0)]
    impl OutsideExecutionV2Impl =
        OutsideExecutionComponent::OutsideExecutionV2Impl<ContractState>;
    #[abi(embed_v0)]
    impl SessionKeyManagerImpl =
        SessionManagerComponent::SessionKeyManagerImpl<ContractState>;
    #[abi(embed_v0)]
    impl SpendingPoliciesImpl = SpendingLimitsComponent::SpendingPoliciesImpl<ContractState>;
    #[abi(embed_v0)]
    impl SessionLimitsImpl = AgentLimitsComponent::SessionLimitsImpl<ContractState>;
    impl SessionsInternal = SessionManagerComponent::InternalImpl<ContractState>;
    impl SpendingInternal = SpendingLimitsComponent::InternalImpl<ContractState>;
    impl LimitsInternal = AgentLimitsComponent::InternalImpl<ContractState>;

    #[storage]
    struct Storage {
        public_key: felt252,
        owner_key_version: u32,
        #[substorage(v0)]
        src5: SRC5Component::Storage,
        #[substorage(v0)]
        outside: OutsideExecutionComponent::Storage,
        #[substorage(v0)]
        sessions: SessionManagerComponent::Storage,
        #[substorage(v0)]
        spending: SpendingLimitsComponent::Storage,
        #[substorage(v0)]
        limits: AgentLimitsComponent::Storage,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    enum Event {
        #[flat]
        SRC5Event: SRC5Component::Event,
        #[flat]
        OutsideExecutionEvent: OutsideExecutionComponent::Event,
        #[flat]
        SessionEvent: SessionManagerComponent::Event,
        #[flat]
        SpendingEvent: SpendingLimitsComponent::Event,
        #[flat]
        LimitsEvent: AgentLimitsComponent::Event,
        OwnerChanged: OwnerChanged,
        Upgraded: Upgraded,
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

    #[abi(embed_v0)]
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
            public_key: felt252,
        ) -> felt252 {
            self.validate_owner_transaction()
        }

        fn is_valid_signature(
            self: @ContractState, hash: felt252, signature: Array<felt252>,
        ) -> felt252 {
            // Owner signatures only: a session key is never an ERC-1271-style signer.
            if self.is_owner_signature(hash, signature.span()) {
                constants::VALIDATED
            } else {
                0
            }
        }
    }

    #[abi(embed_v0)]
    impl OwnerImpl of IOwner<ContractState> {
        fn get_public_key(self: @ContractState) -> felt252 {
            self.public_key.read()
        }

        fn set_public_key(ref self: ContractState, new_public_key: felt252) {
            assert_only_self();
            assert(new_public_key != 0, Errors::INVALID_PUBLIC_KEY);
            self.public_key.write(new_public_key);
            self.owner_key_version.write(self.owner_key_version.read() + 1);
            self.emit(OwnerChanged { new_public_key });
        }

        fn get_owner_key_version(self: @ContractState) -> u32 {
            self.owner_key_version.read()
        }

        fn upgrade(ref self: ContractState, new_class_hash: ClassHash) {
            assert_only_self();
            replace_class_syscall(new_class_hash).unwrap_syscall();
            self.emit(Upgraded { class_hash: new_class_hash });
        }
    }

    #[abi(embed_v0)]
    impl SelfRevocationImpl of ISelfRevocation<ContractState> {
        fn revoke_own_session(ref self: ContractState) {
            let session_key = self.limits.take_self_revocation();
            if session_key != 0 {
                SessionKeyManagerImpl::revoke_session_key(ref self, session_key);
            }
        }
    }

    impl Interfaces of SRC5Component::SupportedInterfaces<ContractState> {
        fn is_supported(interface_id: felt252) -> bool {
            interface_id == constants::ISRC6_ID
                || interface_id == constants::ISRC9_V2_ID
                || interface_id == constants::ISESSION_KEY_MANAGER_ID
        }
    }

    impl OutsideHooks of OutsideExecutionComponent::OutsideExecutionHooks<ContractState> {
        #[inline(always)]
        fn is_owner_signature(
            self: @OutsideExecutionComponent::ComponentState<ContractState>,
            hash: felt252,
            signature: Span<felt252>,
        ) -> bool {
            self.get_contract().is_owner_signature(hash, signature)
        }

        #[inline(always)]
        fn authorize_session(
            ref self: OutsideExecutionComponent::ComponentState<ContractState>,
            calls: Span<Call>,
            signature: Span<felt252>,
            message_hash: felt252,
            this: ContractAddress,
            now: u64,
            epoch: u32,
        ) -> AfterCalls {
            let mut contract = self.get_contract_mut();
            contract.sessions.authorize(calls, signature, message_hash, this, now, epoch)
        }

        #[inline(always)]
        fn after_session_calls(
            ref self: OutsideExecutionComponent::ComponentState<ContractState>, after: AfterCalls,
        ) {
            if after.measures.is_empty() {
                return;
            }
            let mut contract = self.get_contract_mut();
            contract.limits.after_calls(after);
        }
    }

    impl SessionHooks of SessionManagerComponent::SessionManagerHooks<ContractState> {
        #[inline(always)]
        fn charge_spending(
            ref self: SessionManagerComponent::ComponentState<ContractState>,
            session_key: felt252,
            policies_len: u32,
            calls: Span<Call>,
            now: u64,
        ) {
            let mut contract = self.get_contract_mut();
            contract.spending.charge_calls(session_key, policies_len, calls, now);
        }

        fn clear_policies(
            ref self: SessionManagerComponent::ComponentState<ContractState>,
            session_key: felt252,
            policies_len: u32,
        ) {
            let mut contract = self.get_contract_mut();
            contract.spending.clear_policies(session_key, policies_len);
        }

        fn check_limits(
            ref self: SessionManagerComponent::ComponentState<ContractState>,
            session_key: felt252,
            limits: u16,
            calls: Span<Call>,
            this: ContractAddress,
            now: u64,
        ) -> AfterCalls {
            let mut contract = self.get_contract_mut();
            contract.limits.check(session_key, limits, calls, this, now)
        }

        fn begin_self_revocation(
            ref self: SessionManagerComponent::ComponentState<ContractState>, session_key: felt252,
        ) {
            let mut contract = self.get_contract_mut();
            contract.limits.begin_self_revocation(session_key);
        }

        fn clear_limits(
            ref self: SessionManagerComponent::ComponentState<ContractState>, session_key: felt252,
        ) {
            let mut contract = self.get_contract_mut();
            contract.limits.clear(session_key);
        }

        fn starts_later(
            self: @SessionManagerComponent::ComponentState<ContractState>,
            session_key: felt252,
            now: u64,
        ) -> bool {
            self.get_contract().limits.starts_later(session_key, now)
        }

        fn put_granted_limits(
            ref self: SessionManagerComponent::ComponentState<ContractState>,
            session_key: felt252,
            valid_until: u64,
            grant: @SessionGrant,
        ) -> u16 {
            let mut contract = self.get_contract_mut();
            contract.limits.put_granted(session_key, valid_until, grant)
        }

        fn add_policy(
            ref self: SessionManagerComponent::ComponentState<ContractState>,
            session_key: felt252,
            index: u32,
            limit: GrantSpendingLimit,
        ) {
            let mut contract = self.get_contract_mut();
            contract.spending.add_policy(session_key, index, limit);
        }

        fn owner_key(self: @SessionManagerComponent::ComponentState<ContractState>) -> (felt252, u32) {
            let contract = self.get_contract();
            (contract.public_key.read(), contract.owner_key_version.read())
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        #[inline(always)]
        fn is_owner_signature(self: @ContractState, hash: felt252, signature: Span<felt252>) -> bool {
            signature.len() == 2
                && check_ecdsa_signature(
                    hash, self.public_key.read(), *signature.at(0), *signature.at(1),
                )
        }

        fn validate_owner_transaction(self: @ContractState) -> felt252 {
            let tx_info = get_tx_info().unbox();
            let signature = tx_info.signature;
            assert(signature.len() == 2, Errors::INVALID_SIGNATURE_LENGTH);
            assert(
                self.is_owner_signature(tx_info.transaction_hash, signature),
                Errors::INVALID_SIGNATURE,
            );
            constants::VALIDATED
        }
    }
}
