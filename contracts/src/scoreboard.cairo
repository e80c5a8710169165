//! A game-style target contract for tests and the demo: players record scores; an admin-like
//! entry point that sessions are usually not allowed to reach; one that always fails, and one
//! that fails with the caller's own message.

use starknet::ContractAddress;

#[starknet::interface]
pub trait IScoreboard<TContractState> {
    fn record_score(ref self: TContractState, points: u64);
    fn reset_score(ref self: TContractState, player: ContractAddress);
    fn fail(ref self: TContractState);
    /// Panics with `message`: a call whose revert reason its caller chooses.
    fn fail_with(ref self: TContractState, message: felt252);
    /// Calls `target.selector(calldata)`: a target that calls back into its caller.
    fn call_back(
        ref self: TContractState,
        target: ContractAddress,
        selector: felt252,
        calldata: Array<felt252>,
    );
    fn get_score(self: @TContractState, player: ContractAddress) -> u64;
    fn get_plays(self: @TContractState) -> u64;
}

#[starknet::contract]
pub mod Scoreboard {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::syscalls::call_contract_syscall;
    use starknet::{ContractAddress, SyscallResultTrait, get_caller_address};

    #[storage]
    struct Storage {
        scores: Map<ContractAddress, u64>,
        plays: u64,
    }

    #[abi(embed_v0)]
    impl ScoreboardImpl of super::IScoreboard<ContractState> {
        fn record_score(ref self: ContractState, points: u64) {
            let player = get_caller_address();
            self.scores.write(player, self.scores.read(player) + points);
            self.plays.write(self.plays.read() + 1);
        }

        fn reset_score(ref self: ContractState, player: ContractAddress) {
            self.scores.write(player, 0);
        }

        fn fail(ref self: ContractState) {
            core::panic_with_felt252('scoreboard/fail');
        }

        fn fail_with(ref self: ContractState, message: felt252) {
            core::panic_with_felt252(message);
        }

        fn call_back(
            ref self: ContractState,
            target: ContractAddress,
            selector: felt252,
            calldata: Array<felt252>,
        ) {
            call_contract_syscall(target, selector, calldata.span()).unwrap_syscall();
        }

        fn get_score(self: @ContractState, player: ContractAddress) -> u64 {
            self.scores.read(player)
        }

        fn get_plays(self: @ContractState) -> u64 {
            self.plays.read()
        }
    }
}
