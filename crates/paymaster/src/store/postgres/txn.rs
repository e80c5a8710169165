//! Transactions on one connection: READ COMMITTED changes run again after a conflict with a
//! concurrent transaction, and read-only snapshots.

use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, Transaction};

use super::pool::storage_error;
use super::TRIES;
use crate::error::PaymasterError;

/// Why a transaction stopped: the database, or the store's own refusal (rolled back alike).
pub(super) enum Failure {
    Db(postgres::Error),
    Refused(PaymasterError),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<PaymasterError> for Failure {
    fn from(e: PaymasterError) -> Self {
        Failure::Refused(e)
    }
}

pub(super) type Res<T> = Result<T, Failure>;

impl Failure {
    pub(super) fn into_error(self) -> PaymasterError {
        match self {
            Failure::Db(e) => storage_error(&e),
            Failure::Refused(e) => e,
        }
    }

    /// A conflict with a concurrent transaction, gone if the transaction runs again.
    fn is_retryable(&self) -> bool {
        let Failure::Db(e) = self else { return false };
        [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::UNIQUE_VIOLATION,
        ]
        .iter()
        .any(|state| e.code() == Some(state))
    }
}

/// Runs `f` in a READ COMMITTED transaction, again after a retryable failure.
pub(super) fn transact<T>(
    client: &mut Client,
    mut f: impl FnMut(&mut Transaction<'_>) -> Res<T>,
) -> Result<T, PaymasterError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = client
            .transaction()
            .map_err(Failure::from)
            .and_then(|mut tx| {
                let out = f(&mut tx)?;
                tx.commit()?;
                Ok(out)
            });
        match outcome {
            Ok(out) => return Ok(out),
            Err(e) if tries < TRIES && e.is_retryable() => {
                // A little random wait, growing, so that racers do not meet again at once.
                let jitter = rand::random::<u64>() % 4;
                std::thread::sleep(Duration::from_millis(u64::from(tries) + jitter));
            }
            Err(e) => return Err(e.into_error()),
        }
    }
}

/// Runs `f` in a read-only REPEATABLE READ transaction: several reads of one snapshot.
pub(super) fn snapshot<T>(
    client: &mut Client,
    f: impl FnOnce(&mut Transaction<'_>) -> Res<T>,
) -> Result<T, PaymasterError> {
    let run = |client: &mut Client| -> Res<T> {
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    };
    run(client).map_err(Failure::into_error)
}
