//! The stark-sessions contracts: a session-key smart account assembled from components, a
//! floor account that measures what the session checks cost, and a small game-style target
//! contract used by the tests and the demo.

pub mod constants;
pub mod errors;
pub mod interfaces;
pub mod snip12;
pub mod grant;
pub mod nonces;
pub mod record;
pub mod calls;
pub mod spending;
pub mod terms;
pub mod rules;
pub mod loss_guard;
pub mod components {
    pub mod src5;
    pub mod outside_execution;
    pub mod session_manager;
    pub mod spending_limits;
    pub mod agent_limits;
}
pub mod session_account;
pub mod floor_account;
pub mod scoreboard;
pub mod router;
