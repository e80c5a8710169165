//! The paymaster's errors and their JSON-RPC codes.
//!
//! Codes 150–163 are SNIP-29's; the auth and budget refusals that SNIP-29 does not name use
//! 170–179, with the same `An error occurred (NAME)` message form so that existing clients
//! show them sensibly.

use serde_json::{json, Value};

/// Why a request was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaymasterError {
    /// JSON-RPC: the body is not JSON.
    #[error("parse error: {0}")]
    Parse(String),
    /// JSON-RPC: not a valid request object.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// JSON-RPC: unknown method.
    #[error("method not found: {0}")]
    MethodNotFound(String),
    /// JSON-RPC: parameters of the wrong shape.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The configuration is unreadable or invalid (never sent to clients).
    #[error("configuration: {0}")]
    Config(String),
    /// 150: the user address is malformed or no contract is deployed there.
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// 151: the gas token is not one this paymaster accepts.
    #[error("token not supported: {0}")]
    TokenNotSupported(String),
    /// 153: the signature does not verify (found by simulation, before anything is sent).
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// 154: in default mode, the fee transfer the user signed is below the fee now required.
    #[error("max amount too low: {0}")]
    MaxAmountTooLow(String),
    /// 155: the account's class (or a deployment's) is not one this paymaster serves.
    #[error("class hash not supported: {0}")]
    ClassHashNotSupported(String),
    /// 156: the execution would fail (or failed); carries the execution error.
    #[error("transaction execution error: {0}")]
    TransactionExecution(String),
    /// 157: the time bounds are inverted, already past or too far in the future.
    #[error("invalid time bounds: {0}")]
    InvalidTimeBounds(String),
    /// 158: the deployment data does not describe the address it claims.
    #[error("invalid deployment data: {0}")]
    InvalidDeploymentData(String),
    /// 159: the class hash is not declared on the chain.
    #[error("invalid class hash: {0}")]
    InvalidClassHash(String),
    /// 160: unknown tracking id.
    #[error("invalid id: {0}")]
    InvalidId(String),
    /// 163: anything else (node unreachable, storage failure).
    #[error("unknown error: {0}")]
    Unknown(String),
    /// 170: no credentials, or credentials this paymaster does not know.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 171: the client session token has expired.
    #[error("client session token expired")]
    TokenExpired,
    /// 172: the client session token was revoked.
    #[error("client session token revoked")]
    TokenRevoked,
    /// 173: the client session token does not cover this user address.
    #[error("out of scope: {0}")]
    OutOfScope(String),
    /// 174: the key's daily sponsorship budget would be exceeded.
    #[error("budget exceeded: {0}")]
    BudgetExceeded(String),
    /// 175: the key's request rate limit is reached.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// 176: a call targets a contract outside the key's allow-list.
    #[error("target not allowed: {0}")]
    TargetNotAllowed(String),
    /// 177: the fee of this transaction exceeds the operator's per-transaction cap.
    #[error("fee cap exceeded: {0}")]
    FeeCapExceeded(String),
    /// 178: the engine tried the execution as often as it tries any and could not send it
    /// (the node kept failing it, or its relayer transaction kept being refused); it is
    /// refused, nothing is charged, and the same signed execution may be submitted again.
    #[error("attempts exhausted: {0}")]
    AttemptsExhausted(String),
}

impl PaymasterError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            PaymasterError::Parse(_) => -32700,
            PaymasterError::InvalidRequest(_) => -32600,
            PaymasterError::MethodNotFound(_) => -32601,
            PaymasterError::InvalidParams(_) => -32602,
            PaymasterError::Config(_) => -32603,
            PaymasterError::InvalidAddress(_) => 150,
            PaymasterError::TokenNotSupported(_) => 151,
            PaymasterError::InvalidSignature(_) => 153,
            PaymasterError::MaxAmountTooLow(_) => 154,
            PaymasterError::ClassHashNotSupported(_) => 155,
            PaymasterError::TransactionExecution(_) => 156,
            PaymasterError::InvalidTimeBounds(_) => 157,
            PaymasterError::InvalidDeploymentData(_) => 158,
            PaymasterError::InvalidClassHash(_) => 159,
            PaymasterError::InvalidId(_) => 160,
            PaymasterError::Unknown(_) => 163,
            PaymasterError::Unauthorized(_) => 170,
            PaymasterError::TokenExpired => 171,
            PaymasterError::TokenRevoked => 172,
            PaymasterError::OutOfScope(_) => 173,
            PaymasterError::BudgetExceeded(_) => 174,
            PaymasterError::RateLimited(_) => 175,
            PaymasterError::TargetNotAllowed(_) => 176,
            PaymasterError::FeeCapExceeded(_) => 177,
            PaymasterError::AttemptsExhausted(_) => 178,
        }
    }

    /// The SNIP-29 style name of the error.
    pub fn name(&self) -> &'static str {
        match self {
            PaymasterError::Parse(_) => "PARSE_ERROR",
            PaymasterError::InvalidRequest(_) => "INVALID_REQUEST",
            PaymasterError::MethodNotFound(_) => "METHOD_NOT_FOUND",
            PaymasterError::InvalidParams(_) => "INVALID_PARAMS",
            PaymasterError::Config(_) => "CONFIGURATION",
            PaymasterError::InvalidAddress(_) => "INVALID_ADDRESS",
            PaymasterError::TokenNotSupported(_) => "TOKEN_NOT_SUPPORTED",
            PaymasterError::InvalidSignature(_) => "INVALID_SIGNATURE",
            PaymasterError::MaxAmountTooLow(_) => "MAX_AMOUNT_TOO_LOW",
            PaymasterError::ClassHashNotSupported(_) => "CLASS_HASH_NOT_SUPPORTED",
            PaymasterError::TransactionExecution(_) => "TRANSACTION_EXECUTION_ERROR",
            PaymasterError::InvalidTimeBounds(_) => "INVALID_TIME_BOUNDS",
            PaymasterError::InvalidDeploymentData(_) => "INVALID_DEPLOYMENT_DATA",
            PaymasterError::InvalidClassHash(_) => "INVALID_CLASS_HASH",
            PaymasterError::InvalidId(_) => "INVALID_ID",
            PaymasterError::Unknown(_) => "UNKNOWN_ERROR",
            PaymasterError::Unauthorized(_) => "UNAUTHORIZED",
            PaymasterError::TokenExpired => "TOKEN_EXPIRED",
            PaymasterError::TokenRevoked => "TOKEN_REVOKED",
            PaymasterError::OutOfScope(_) => "OUT_OF_SCOPE",
            PaymasterError::BudgetExceeded(_) => "BUDGET_EXCEEDED",
            PaymasterError::RateLimited(_) => "RATE_LIMITED",
            PaymasterError::TargetNotAllowed(_) => "TARGET_NOT_ALLOWED",
            PaymasterError::FeeCapExceeded(_) => "FEE_CAP_EXCEEDED",
            PaymasterError::AttemptsExhausted(_) => "ATTEMPTS_EXHAUSTED",
        }
    }

    /// The JSON-RPC `error` object.
    pub fn to_json(&self) -> Value {
        let message = if self.code() < 0 {
            self.to_string()
        } else {
            format!("An error occurred ({})", self.name())
        };
        let data = match self {
            PaymasterError::TransactionExecution(reason) => json!({ "execution_error": reason }),
            PaymasterError::TokenExpired | PaymasterError::TokenRevoked => Value::Null,
            _ => Value::String(self.to_string()),
        };
        if data.is_null() {
            json!({ "code": self.code(), "message": message })
        } else {
            json!({ "code": self.code(), "message": message, "data": data })
        }
    }
}

impl From<rusqlite::Error> for PaymasterError {
    fn from(e: rusqlite::Error) -> Self {
        PaymasterError::Unknown(format!("storage: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snip29_errors_carry_their_spec_codes_and_messages() {
        let cases = [
            (
                PaymasterError::InvalidAddress(String::new()),
                150,
                "INVALID_ADDRESS",
            ),
            (
                PaymasterError::TokenNotSupported(String::new()),
                151,
                "TOKEN_NOT_SUPPORTED",
            ),
            (
                PaymasterError::InvalidSignature(String::new()),
                153,
                "INVALID_SIGNATURE",
            ),
            (
                PaymasterError::MaxAmountTooLow(String::new()),
                154,
                "MAX_AMOUNT_TOO_LOW",
            ),
            (
                PaymasterError::ClassHashNotSupported(String::new()),
                155,
                "CLASS_HASH_NOT_SUPPORTED",
            ),
            (
                PaymasterError::TransactionExecution(String::new()),
                156,
                "TRANSACTION_EXECUTION_ERROR",
            ),
            (
                PaymasterError::InvalidTimeBounds(String::new()),
                157,
                "INVALID_TIME_BOUNDS",
            ),
            (
                PaymasterError::InvalidDeploymentData(String::new()),
                158,
                "INVALID_DEPLOYMENT_DATA",
            ),
            (
                PaymasterError::InvalidClassHash(String::new()),
                159,
                "INVALID_CLASS_HASH",
            ),
            (PaymasterError::InvalidId(String::new()), 160, "INVALID_ID"),
            (PaymasterError::Unknown(String::new()), 163, "UNKNOWN_ERROR"),
        ];
        for (error, code, name) in cases {
            let json = error.to_json();
            assert_eq!(json["code"], code);
            assert_eq!(json["message"], format!("An error occurred ({name})"));
        }
        let exhausted = PaymasterError::AttemptsExhausted("16 tries".into()).to_json();
        assert_eq!(
            (&exhausted["code"], &exhausted["message"]),
            (
                &json!(178),
                &json!("An error occurred (ATTEMPTS_EXHAUSTED)")
            )
        );
        let exec = PaymasterError::TransactionExecution("boom".into()).to_json();
        assert_eq!(exec["data"]["execution_error"], "boom");
    }
}
