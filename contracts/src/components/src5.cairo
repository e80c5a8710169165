//! SRC-5 introspection for a fixed set of interfaces: the contract names them at compile time
//! (no storage, so answering costs no read and deploying writes nothing).

#[starknet::component]
pub mod SRC5Component {
    use crate::constants;
    use crate::interfaces::ISRC5;

    #[storage]
    pub struct Storage {}

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {}

    /// The interfaces a contract supports besides ISRC5 itself.
    pub trait SupportedInterfaces<TContractState> {
        fn is_supported(interface_id: felt252) -> bool;
    }

    #[embeddable_as(SRC5Impl)]
    impl SRC5<
        TContractState, +HasComponent<TContractState>, impl Interfaces: SupportedInterfaces<TContractState>,
    > of ISRC5<ComponentState<TContractState>> {
        fn supports_interface(self: @ComponentState<TContractState>, interface_id: felt252) -> bool {
            interface_id == constants::ISRC5_ID || Interfaces::is_supported(interface_id)
        }
    }
}
