//! What every entry point that runs calls shares: running them, and the admin guard.

use starknet::account::Call;
use starknet::syscalls::call_contract_syscall;
use starknet::{SyscallResultTrait, get_caller_address, get_contract_address};
use crate::errors::Errors;

/// Runs `calls` in order; any failure reverts them all.
pub fn execute_calls(calls: Span<Call>) -> Array<Span<felt252>> {
    let mut results = array![];
    for call in calls {
        results.append(call_contract_syscall(*call.to, *call.selector, *call.calldata).unwrap_syscall());
    }
    results
}

/// Admin entry points answer only the account itself (an owner transaction or outside
/// execution running its calls).
pub fn assert_only_self() {
    assert(get_caller_address() == get_contract_address(), Errors::ONLY_SELF);
}
