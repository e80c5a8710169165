//! A test contract standing for a router that already holds an allowance: `pull` moves tokens
//! from an account that approved it, by `transferFrom`, when anyone asks — value that leaves
//! the account without a `transfer` or `approve` of the account's own.

use starknet::ContractAddress;

#[starknet::interface]
pub trait IRouter<TContractState> {
    /// `token.transferFrom(from, to, amount)`.
    fn pull(
        ref self: TContractState,
        token: ContractAddress,
        from: ContractAddress,
        to: ContractAddress,
        amount: u256,
    );
}

#[starknet::contract]
pub mod Router {
    use starknet::syscalls::call_contract_syscall;
    use starknet::{ContractAddress, SyscallResultTrait};

    #[storage]
    struct Storage {}

    #[abi(embed_v0)]
    impl RouterImpl of super::IRouter<ContractState> {
        fn pull(
            ref self: ContractState,
            token: ContractAddress,
            from: ContractAddress,
            to: ContractAddress,
            amount: u256,
        ) {
            let mut calldata = array![from.into(), to.into()];
            amount.serialize(ref calldata);
            call_contract_syscall(token, selector!("transferFrom"), calldata.span())
                .unwrap_syscall();
        }
    }
}
