//! SNIP-12 revision 1 hashing of a SNIP-9 v2 OutsideExecution.

use array::{ArrayTrait, SpanTrait};
use poseidon::poseidon_hash_span;
use traits::Into;
use starknet::ContractAddress;
use starknet::account::Call;
use stark_sessions::constants;
use stark_sessions::interfaces::OutsideExecution;

fn hash_call(call: @Call) -> felt252 {
    let mut data = ArrayTrait::new();
    data.append(constants::CALL_TYPE_HASH);
    data.append((*call.to).into());
    data.append(*call.selector);
    data.append(poseidon_hash_span(call.calldata.span()));
    poseidon_hash_span(data.span())
}

fn hash_outside_execution(outside_execution: @OutsideExecution) -> felt252 {
    let mut call_hashes = ArrayTrait::new();
    let mut calls = *outside_execution.calls;
    loop {
        match calls.pop_front() {
            Option::Some(call) => call_hashes.append(hash_call(call)),
            Option::None => { break; },
        };
    };
    let mut data = ArrayTrait::new();
    data.append(constants::OUTSIDE_EXECUTION_TYPE_HASH);
    data.append((*outside_execution.caller).into());
    data.append(*outside_execution.nonce);
    data.append((*outside_execution.execute_after).into());
    data.append((*outside_execution.execute_before).into());
    data.append(poseidon_hash_span(call_hashes.span()));
    poseidon_hash_span(data.span())
}

fn hash_domain(chain_id: felt252) -> felt252 {
    let mut data = ArrayTrait::new();
    data.append(constants::DOMAIN_TYPE_HASH);
    data.append(constants::OUTSIDE_DOMAIN_NAME);
    data.append(constants::OUTSIDE_DOMAIN_VERSION);
    data.append(chain_id);
    data.append(constants::SNIP12_REVISION);
    poseidon_hash_span(data.span())
}

/// The message a signer signs for an outside execution on `account`.
fn outside_execution_message_hash(
    outside_execution: @OutsideExecution, account: ContractAddress, chain_id: felt252
) -> felt252 {
    let mut data = ArrayTrait::new();
    data.append(constants::STARKNET_MESSAGE);
    data.append(hash_domain(chain_id));
    data.append(account.into());
    data.append(hash_outside_execution(outside_execution));
    poseidon_hash_span(data.span())
}
