//! The stark-sessions contracts: a session-key smart account and a small game-style target
//! contract used by the tests and the demo.

mod constants;
mod errors;
mod interfaces;
mod snip12;
mod nonces;
mod record;
mod spending;
mod session_account;
mod scoreboard;
