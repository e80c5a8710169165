//! SNIP-9 v2 outside execution: caller and time checks, nonces (a bitmap whose latest word rides
//! in the account-wide state slot), the SNIP-12 message hash, and the re-entrancy guard. Who may
//! sign is the account's decision, asked through `OutsideExecutionHooks`.

#[starknet::component]
pub mod OutsideExecutionComponent {
    use starknet::account::Call;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_execution_info};
    use crate::calls::execute_calls;
    use crate::constants;
    use crate::errors::Errors;
    use crate::interfaces::{IOutsideExecutionV2, OutsideExecution};
    use crate::loss_guard::AfterCalls;
    use crate::nonces::nonce_slot;
    use crate::record::{AccountState, tx_tag};
    use crate::snip12;

    #[storage]
    pub struct Storage {
        /// The revoke-all epoch, the re-entrancy tag and the hot nonce word (record.cairo).
        pub account_state: AccountState,
        /// Used SNIP-9 nonces, 128 to a word, for words that are not the hot one.
        pub nonce_bits: Map<felt252, u128>,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {}

    /// What the account decides about an outside execution's signature.
    pub trait OutsideExecutionHooks<TContractState> {
        /// Whether `signature` is the owner's `[r, s]` over `hash`.
        fn is_owner_signature(
            self: @ComponentState<TContractState>, hash: felt252, signature: Span<felt252>,
        ) -> bool;
        /// Checks a session-signed execution against its session's rules and books its use;
        /// panics with the rule that refuses it. Returns what to check once the calls ran.
        fn authorize_session(
            ref self: ComponentState<TContractState>,
            calls: Span<Call>,
            signature: Span<felt252>,
            message_hash: felt252,
            this: ContractAddress,
            now: u64,
            epoch: u32,
        ) -> AfterCalls;
        /// Checks a session execution once its calls ran (the loss guard); panics to refuse it.
        fn after_session_calls(ref self: ComponentState<TContractState>, after: AfterCalls);
    }

    #[embeddable_as(OutsideExecutionV2Impl)]
    impl OutsideExecutionV2<
        TContractState,
        +HasComponent<TContractState>,
        impl Hooks: OutsideExecutionHooks<TContractState>,
        +Drop<TContractState>,
    > of IOutsideExecutionV2<ComponentState<TContractState>> {
        fn execute_from_outside_v2(
            ref self: ComponentState<TContractState>,
            outside_execution: OutsideExecution,
            signature: Span<felt252>,
        ) -> Array<Span<felt252>> {
            // One execution-info syscall serves every check below.
            let info = get_execution_info().unbox();
            let tx = info.tx_info.unbox();
            let this = info.contract_address;
            let now = info.block_info.unbox().block_timestamp;
            let tag = tx_tag(tx.transaction_hash);
            let state = self.account_state.read();
            // A session execution of this transaction runs (or ran): an outside execution that
            // does not come straight from the transaction's sender is one its calls started.
            assert(
                state.session_tag != tag || info.caller_address == tx.account_contract_address,
                Errors::OUTSIDE_REENTRANT,
            );
            let caller: felt252 = outside_execution.caller.into();
            if caller != constants::ANY_CALLER && caller != 0 {
                assert(
                    outside_execution.caller == info.caller_address, Errors::OUTSIDE_INVALID_CALLER,
                );
            }
            assert(outside_execution.execute_after < now, Errors::OUTSIDE_TOO_EARLY);
            assert(now < outside_execution.execute_before, Errors::OUTSIDE_EXPIRED);
            let (after, state_changed) = self.use_nonce(state, outside_execution.nonce);
            let message_hash = snip12::outside_execution_message_hash(
                @outside_execution, this, tx.chain_id,
            );
            if signature.len() == 2 {
                assert(
                    Hooks::is_owner_signature(@self, message_hash, signature),
                    Errors::INVALID_SIGNATURE,
                );
                if state_changed {
                    self.account_state.write(after);
                }
                return execute_calls(outside_execution.calls);
            }
            // Four elements, or more on a session's first use with a grant (session manager).
            assert(signature.len() >= 4, Errors::INVALID_SIGNATURE_LENGTH);
            // One write before the calls: the nonce, and this transaction's tag, which refuses
            // whatever the calls reach an outside execution on this account. Never cleared: a
            // later execution in the same transaction sent by its sender (a relayer bundling)
            // is not nested, and a later transaction has another tag.
            self.account_state.write(AccountState { session_tag: tag, ..after });
            let after_calls = Hooks::authorize_session(
                ref self, outside_execution.calls, signature, message_hash, this, now, state.epoch,
            );
            // Atomic: a failing call reverts the whole execution.
            let results = execute_calls(outside_execution.calls);
            Hooks::after_session_calls(ref self, after_calls);
            results
        }

        fn is_valid_outside_execution_nonce(
            self: @ComponentState<TContractState>, nonce: felt252,
        ) -> bool {
            let slot = nonce_slot(nonce);
            let state = self.account_state.read();
            if slot.hot && slot.index == state.hot_word {
                return state.hot_bits & slot.bit == 0;
            }
            self.nonce_bits.read(slot.key) & slot.bit == 0
        }
    }

    #[generate_trait]
    pub impl InternalImpl<
        TContractState, +HasComponent<TContractState>,
    > of InternalTrait<TContractState> {
        /// The revoke-all epoch of the session manager, kept in this component's slot so that
        /// one read serves every outside execution.
        fn epoch(self: @ComponentState<TContractState>) -> u32 {
            self.account_state.read().epoch
        }

        /// Starts a new revoke-all epoch; returns it.
        fn bump_epoch(ref self: ComponentState<TContractState>) -> u32 {
            let state = self.account_state.read();
            let epoch = state.epoch + 1;
            self.account_state.write(AccountState { epoch, ..state });
            epoch
        }

        /// Marks `nonce` used (refusing a used one): in the hot word of `state` when it is that
        /// word or a later one (the hot word then moves on, its bits kept in the map), else in
        /// the map. Returns the new state and whether it changed.
        #[inline(always)]
        fn use_nonce(
            ref self: ComponentState<TContractState>, state: AccountState, nonce: felt252,
        ) -> (AccountState, bool) {
            let slot = nonce_slot(nonce);
            if slot.hot && slot.index == state.hot_word {
                assert(state.hot_bits & slot.bit == 0, Errors::OUTSIDE_NONCE_USED);
                return (AccountState { hot_bits: state.hot_bits + slot.bit, ..state }, true);
            }
            if slot.hot && slot.index > state.hot_word {
                // Words above the hot one were never used: the new one starts empty.
                if state.hot_bits != 0 {
                    self.nonce_bits.write(state.hot_word.into(), state.hot_bits);
                }
                return (AccountState { hot_word: slot.index, hot_bits: slot.bit, ..state }, true);
            }
            let used = self.nonce_bits.read(slot.key);
            assert(used & slot.bit == 0, Errors::OUTSIDE_NONCE_USED);
            self.nonce_bits.write(slot.key, used + slot.bit);
            (state, false)
        }
    }
}
