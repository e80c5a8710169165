//! The floor of an outside execution, for measurement only: `execute_from_outside_v2` checks
//! nothing but that its nonce is above the last one used (one read and one write of one slot)
//! and runs the calls. The session account's own checks cost what it pays above this.

#[starknet::contract]
pub mod FloorAccount {
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use crate::calls::execute_calls;
    use crate::errors::Errors;
    use crate::interfaces::{IOutsideExecutionV2, OutsideExecution};

    #[storage]
    struct Storage {
        /// One slot (a u256 would take two).
        last_nonce: felt252,
    }

    #[abi(embed_v0)]
    impl OutsideExecutionV2Impl of IOutsideExecutionV2<ContractState> {
        fn execute_from_outside_v2(
            ref self: ContractState, outside_execution: OutsideExecution, signature: Span<felt252>,
        ) -> Array<Span<felt252>> {
            let nonce = outside_execution.nonce;
            let last: u256 = self.last_nonce.read().into();
            assert(Into::<felt252, u256>::into(nonce) > last, Errors::OUTSIDE_NONCE_USED);
            self.last_nonce.write(nonce);
            execute_calls(outside_execution.calls)
        }

        fn is_valid_outside_execution_nonce(self: @ContractState, nonce: felt252) -> bool {
            let last: u256 = self.last_nonce.read().into();
            Into::<felt252, u256>::into(nonce) > last
        }
    }
}
