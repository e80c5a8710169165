//! Selectors, interface ids, limits and SNIP-12 type hashes. Each value is written out because
//! Cairo 2.1 has no `selector!`; the Rust crate recomputes every one of them in a test.

// SRC-5 interface ids.
const ISRC5_ID: felt252 = 0x3f918d17e5ee77373b56385708f855659a07f75997f365cf87748628532a055;
const ISRC6_ID: felt252 = 0x2ceccef7f994940b3962a6c67e0ba4fcd37df7d131417c604f91e03caecc1cd;
const ISRC9_V2_ID: felt252 = 0x1d1144bb2138366ff28d8e9ab57456b1d332ac42196230c3a602003c89872;
// XOR of the selectors of add_or_update_session_key, revoke_session_key, get_session_data.
const ISESSION_KEY_MANAGER_ID: felt252 =
    0x37ab4f01106526662a612eaa2926df2aa314c4144b964f183805880bbcfa55d;

// Selectors a session may never call, on any contract (selector!("name")).
const SELECTOR_UPGRADE: felt252 = 0xf2f7c15cbe06c8d94597cd91fd7f3369eae842359235712def5584f8d270cd;
const SELECTOR_ADD_OR_UPDATE_SESSION_KEY: felt252 =
    0x27d4f8b711f8a318b18cac75c0b7c9941844dbbece6f62ca10111055acb64c1;
const SELECTOR_REVOKE_SESSION_KEY: felt252 =
    0x32d4c11046940bbba0d48557b365ca002c6adc3f58d28671c8b7542ab7d60e9;
const SELECTOR_EXECUTE: felt252 = 0x15d40a3d6ca2ac30f4031e42be28da9b056fef9bb7357ac5e85627ee876e5ad;
const SELECTOR_SET_PUBLIC_KEY: felt252 =
    0x2e3e21ff5952b2531241e37999d9c4c8b3034cccc89a202a6bf019bdf5294f9;
const SELECTOR_SET_PUBLIC_KEY_CAMEL: felt252 =
    0xbc0eb87884ab91e330445c3584a50d7ddf4b568f02fbeb456a6242cce3f5d9;
const SELECTOR_EXECUTE_FROM_OUTSIDE_V2: felt252 =
    0x34cc13b274446654ca3233ed2c1620d4c5d1d32fd20b47146a3371064bdc57d;
const SELECTOR_SET_SPENDING_POLICY: felt252 =
    0x27b6399a529753e66438fe0341234566c390277e9c20b0f556016eb33bb698;
const SELECTOR_REMOVE_SPENDING_POLICY: felt252 =
    0x28dac008d849601a4f136c3a869aa4dcb43907ea63ab552ecddfd2281144040;
const SELECTOR_REVOKE_ALL_SESSIONS: felt252 =
    0x91c567d3bebb6230cb3e9941f9e38247a3022fef3a90e55ad69b01a814e2df;
const SELECTOR_SET_SESSION_TARGETS: felt252 =
    0x2f6bd3c383dbc0560d1ce8a614fd661d7cdd24e014b64edf98702458c4a688b;

// ERC-20 selectors whose amount (calldata[1..2], a u256) counts against spending policies.
const SELECTOR_TRANSFER: felt252 = 0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e;
const SELECTOR_APPROVE: felt252 = 0x219209e083275171774dab1df80982e9df2096516f06319c5c6d71ae0a8480c;
const SELECTOR_INCREASE_ALLOWANCE: felt252 =
    0x1d13ab0a76d7407b1d5faccd4b3d8a9efe42f3d3c21766431d4fafb30f45bd4;
const SELECTOR_INCREASE_ALLOWANCE_CAMEL: felt252 =
    0x16cc063b8338363cf388ce7fe1df408bf10f16cd51635d392e21d852fafb683;

// Bounds that keep every admin entry point's gas bounded.
const MAX_ENTRYPOINTS: u32 = 64;
const MAX_TARGETS: u32 = 64;
const MAX_SPENDING_POLICIES: u32 = 16;
// Longest spending window; keeps `window_start + window_seconds` far from u64 overflow.
const MAX_WINDOW_SECONDS: u64 = 0xffffffff;

// SNIP-9 / SNIP-12.
const ANY_CALLER: felt252 = 'ANY_CALLER';
const STARKNET_MESSAGE: felt252 = 'StarkNet Message';
const OUTSIDE_DOMAIN_NAME: felt252 = 'Account.execute_from_outside';
const OUTSIDE_DOMAIN_VERSION: felt252 = 2;
const SNIP12_REVISION: felt252 = 1;
const DOMAIN_TYPE_HASH: felt252 = 0x1ff2f602e42168014d405a94f75e8a93d640751d71d16311266e140d8b0a210;
const OUTSIDE_EXECUTION_TYPE_HASH: felt252 =
    0x312b56c05a7965066ddbda31c016d8d05afc305071c0ca3cdc2192c3c2f1f0f;
// The SNIP-9 v2 domain's hash on Starknet's public chains (computed once; tied by a Rust test).
const CHAIN_ID_SN_MAIN: felt252 = 'SN_MAIN';
const CHAIN_ID_SN_SEPOLIA: felt252 = 'SN_SEPOLIA';
const DOMAIN_HASH_SN_MAIN: felt252 =
    0x9951e1d5316915dc4436acce0a48afd57bb4b6c501687c151e869ab878a2ac;
const DOMAIN_HASH_SN_SEPOLIA: felt252 =
    0x2534050c42890f9cad3cf470a8b54a39c4d283a246dfceb486a8755e44a91df;
const CALL_TYPE_HASH: felt252 = 0x3635c7f2a7ba93844c0d064e18e487f35ab90f7c39d00f186a781fc3f0c2ca9;

// Values returned by get_session_status.
const STATUS_NONE: u8 = 0;
const STATUS_ACTIVE: u8 = 1;
const STATUS_EXPIRED: u8 = 2;
const STATUS_REVOKED: u8 = 3;
const STATUS_EXHAUSTED: u8 = 4;

const VALIDATED: felt252 = 'VALID';
