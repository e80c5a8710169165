//! The loss guard's measurements: a guarded token's balance before a session's calls, with
//! what its spending policy still allowed then; after the calls, the loss must not exceed
//! that allowance (whatever path the value left by), and the window is charged the larger of
//! the loss and what the selector counting charged.

use starknet::syscalls::call_contract_syscall;
use starknet::{ContractAddress, SyscallResultTrait};
use crate::constants;

/// One guarded token, measured before the calls.
#[derive(Copy, Drop, Debug)]
pub struct GuardMeasure {
    pub token: ContractAddress,
    pub balance_before: u256,
    /// What the policy's window allowed before this execution (0: no policy).
    pub allowance_before: u128,
    /// The start of that window (the execution's time when a new one opens).
    pub window_start: u64,
}

/// What the account checks after a session execution's calls: nothing, for a session without
/// a loss guard.
#[derive(Copy, Drop, Debug)]
pub struct AfterCalls {
    pub account: ContractAddress,
    pub session_key: felt252,
    pub measures: Span<GuardMeasure>,
}

#[generate_trait]
pub impl AfterCallsImpl of AfterCallsTrait {
    #[inline(always)]
    fn nothing(account: ContractAddress) -> AfterCalls {
        AfterCalls { account, session_key: 0, measures: array![].span() }
    }
}

/// `token.balance_of(account)`.
pub fn balance_of(token: ContractAddress, account: ContractAddress) -> u256 {
    let mut out = call_contract_syscall(
        token, constants::SELECTOR_BALANCE_OF, array![account.into()].span(),
    )
        .unwrap_syscall();
    Serde::<u256>::deserialize(ref out).unwrap()
}

/// How much `after` is below `before` (0 when it is not).
pub fn loss(before: u256, after: u256) -> u256 {
    if after >= before {
        0
    } else {
        before - after
    }
}
