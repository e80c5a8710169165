//! A client session token's own limits and usage, and the one rule both backends apply when a
//! reservation goes through a token (under the lock of the token's row, with the key's budget
//! in the same transaction).

use crate::error::PaymasterError;

/// Limits set when a token is minted, each within its API key's (`None`: only the key's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenLimits {
    /// Requests allowed per minute through this token (counted besides the key's).
    pub requests_per_minute: Option<u32>,
    /// Sponsored fees this token may reserve and be charged in all, in FRI.
    pub max_fee_fri: Option<u128>,
    /// Executions this token may have sponsored in all.
    pub max_executions: Option<u64>,
}

/// What a token used of its limits: fees reserved (not settled) plus charged, in FRI, and
/// executions holding a reservation or charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Reserved plus charged fees, in FRI.
    pub fee_fri: u128,
    /// Executions counted.
    pub executions: u64,
}

/// What a reservation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Reserved.
    Granted,
    /// The key's daily budget would be exceeded.
    OverKeyBudget,
    /// The token's `max_fee_fri` (given) would be exceeded.
    OverTokenFee(u128),
    /// The token used its `max_executions` (given).
    OverTokenExecutions(u64),
    /// The token was revoked, or no longer exists.
    TokenRevoked,
}

impl ReserveOutcome {
    /// Whether it was reserved.
    pub fn is_granted(self) -> bool {
        self == ReserveOutcome::Granted
    }

    /// Why a reservation of `amount` FRI was refused, for the client (the key's daily budget
    /// being `budget`); `None` when granted.
    pub fn refusal(self, amount: u128, budget: u128) -> Option<PaymasterError> {
        let exceeded = PaymasterError::BudgetExceeded;
        match self {
            ReserveOutcome::Granted => None,
            ReserveOutcome::OverKeyBudget => Some(exceeded(format!(
                "this execution needs {amount} FRI of this key's daily budget of {budget} FRI"
            ))),
            ReserveOutcome::OverTokenFee(max) => Some(exceeded(format!(
                "this execution needs {amount} FRI; this client session token may spend \
                 {max} FRI in all"
            ))),
            ReserveOutcome::OverTokenExecutions(max) => Some(exceeded(format!(
                "this client session token used its {max} executions"
            ))),
            ReserveOutcome::TokenRevoked => Some(PaymasterError::TokenRevoked),
        }
    }
}

/// A token's row as a reservation finds it (locked).
#[derive(Debug, Clone, Copy)]
pub(super) struct TokenRow {
    pub revoked: bool,
    pub limits: TokenLimits,
    pub usage: TokenUsage,
}

/// The token's usage after a reservation of `amount` that replaces `previous` (what the same
/// execution attempt had reserved through it), counting one more execution when `first` (the
/// execution holds no other reservation or charge); or the refusal.
pub(super) fn book_on_token(
    row: Option<TokenRow>,
    previous: u128,
    amount: u128,
    first: bool,
) -> Result<TokenUsage, ReserveOutcome> {
    let row = row
        .filter(|r| !r.revoked)
        .ok_or(ReserveOutcome::TokenRevoked)?;
    let fee = row
        .usage
        .fee_fri
        .saturating_sub(previous)
        .checked_add(amount);
    let executions = row.usage.executions + u64::from(first);
    match (fee, row.limits.max_fee_fri) {
        (None, Some(max)) => return Err(ReserveOutcome::OverTokenFee(max)),
        (Some(fee), Some(max)) if fee > max => return Err(ReserveOutcome::OverTokenFee(max)),
        _ => {}
    }
    if let Some(max) = row.limits.max_executions.filter(|max| executions > *max) {
        return Err(ReserveOutcome::OverTokenExecutions(max));
    }
    Ok(TokenUsage {
        fee_fri: fee.unwrap_or(u128::MAX),
        executions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(max_fee_fri: Option<u128>, max_executions: Option<u64>, used: (u128, u64)) -> TokenRow {
        TokenRow {
            revoked: false,
            limits: TokenLimits {
                requests_per_minute: None,
                max_fee_fri,
                max_executions,
            },
            usage: TokenUsage {
                fee_fri: used.0,
                executions: used.1,
            },
        }
    }

    #[test]
    fn a_token_books_within_its_limits_and_says_which_one_refused() {
        let free = book_on_token(Some(row(None, None, (5, 1))), 0, 10, true);
        assert_eq!(
            free,
            Ok(TokenUsage {
                fee_fri: 15,
                executions: 2
            })
        );
        let fee = book_on_token(Some(row(Some(14), None, (5, 1))), 0, 10, true);
        assert_eq!(fee, Err(ReserveOutcome::OverTokenFee(14)));
        // Re-sizing its own reservation counts the new size only, and no new execution.
        let resized = book_on_token(Some(row(Some(14), Some(1), (5, 1))), 5, 14, false);
        assert_eq!(
            resized,
            Ok(TokenUsage {
                fee_fri: 14,
                executions: 1
            })
        );
        let executions = book_on_token(Some(row(None, Some(1), (0, 1))), 0, 1, true);
        assert_eq!(executions, Err(ReserveOutcome::OverTokenExecutions(1)));
        let mut revoked = row(None, None, (0, 0));
        revoked.revoked = true;
        assert_eq!(
            book_on_token(Some(revoked), 0, 1, true),
            Err(ReserveOutcome::TokenRevoked)
        );
        assert_eq!(
            book_on_token(None, 0, 1, true),
            Err(ReserveOutcome::TokenRevoked)
        );
    }
}
