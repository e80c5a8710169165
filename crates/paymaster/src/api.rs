//! SNIP-29 (spec 0.1) wire types, plus this paymaster's client-session methods.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stark_sessions_abi::{Call, Felt};

use crate::error::PaymasterError;

/// A call as SNIP-29 writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCall {
    /// Target contract.
    pub to: Felt,
    /// Entry point selector.
    pub selector: Felt,
    /// Calldata.
    pub calldata: Vec<Felt>,
}

impl From<WireCall> for Call {
    fn from(c: WireCall) -> Call {
        Call {
            to: c.to,
            selector: c.selector,
            calldata: c.calldata,
        }
    }
}

impl From<&Call> for WireCall {
    fn from(c: &Call) -> WireCall {
        WireCall {
            to: c.to,
            selector: c.selector,
            calldata: c.calldata.clone(),
        }
    }
}

/// The user's side of an invoke to build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInvoke {
    /// The account that will execute the calls.
    pub user_address: Felt,
    /// The calls, in order.
    pub calls: Vec<WireCall>,
}

/// An account to deploy through the UDC (`ACCOUNT_DEPLOYMENT_DATA`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentData {
    /// The address the deployment must produce.
    pub address: Felt,
    /// The account class.
    pub class_hash: Felt,
    /// Deployment salt.
    pub salt: Felt,
    /// Constructor calldata.
    pub calldata: Vec<Felt>,
    /// Signature data for accounts that need one at deployment (unused by UDC deployments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigdata: Option<Vec<Felt>>,
    /// Always 1.
    pub version: u8,
}

/// `paymaster_buildTransaction`'s `transaction`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserTransaction {
    /// Execute calls on a deployed account.
    Invoke {
        /// The calls.
        invoke: UserInvoke,
    },
    /// Deploy an account.
    Deploy {
        /// The deployment.
        deployment: DeploymentData,
    },
    /// Deploy an account and execute calls on it, atomically.
    DeployAndInvoke {
        /// The deployment.
        deployment: DeploymentData,
        /// The calls.
        invoke: UserInvoke,
    },
}

/// The signed side of an invoke to execute.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutableInvoke {
    /// The account.
    pub user_address: Felt,
    /// The typed data `paymaster_buildTransaction` returned.
    pub typed_data: Value,
    /// The account's signature over it, passed through unmodified.
    pub signature: Vec<Felt>,
}

/// `paymaster_executeTransaction`'s `transaction`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExecutableTransaction {
    /// Execute a signed outside execution.
    Invoke {
        /// The signed execution.
        invoke: ExecutableInvoke,
    },
    /// Deploy an account.
    Deploy {
        /// The deployment.
        deployment: DeploymentData,
    },
    /// Deploy an account and execute a signed outside execution on it.
    DeployAndInvoke {
        /// The deployment.
        deployment: DeploymentData,
        /// The signed execution.
        invoke: ExecutableInvoke,
    },
}

/// Who pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum FeeMode {
    /// The paymaster pays.
    Sponsored,
    /// The user pays in `gas_token`, by a final transfer inside the outside execution.
    Default {
        /// The token the fee is paid in.
        gas_token: Felt,
    },
}

/// Execution window, in block-timestamp seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeBounds {
    /// Not before this time.
    #[serde(deserialize_with = "number_or_text")]
    pub execute_after: u64,
    /// Strictly before this time.
    #[serde(deserialize_with = "number_or_text")]
    pub execute_before: u64,
}

/// `parameters` of build and execute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionParameters {
    /// Must be `0x1`.
    pub version: String,
    /// Who pays.
    pub fee_mode: FeeMode,
    /// Optional execution window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_bounds: Option<TimeBounds>,
}

/// Fee figures of a built transaction (u256 values as hex strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeEstimate {
    /// Price of one gas token unit in FRI (10^18 for STRK).
    pub gas_token_price_in_strk: String,
    /// Expected fee, in FRI.
    pub estimated_fee_in_strk: String,
    /// Expected fee, in gas token units.
    pub estimated_fee_in_gas_token: String,
    /// Upper bound the paymaster suggests, in FRI.
    pub suggested_max_fee_in_strk: String,
    /// Upper bound the paymaster suggests, in gas token units.
    pub suggested_max_fee_in_gas_token: String,
}

/// `paymaster_executeTransaction`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecuteResponse {
    /// Follows the transaction through resubmissions.
    pub tracking_id: Felt,
    /// The hash of the transaction sent.
    pub transaction_hash: Felt,
}

/// Where a tracked transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    /// Sent, not yet in a block.
    Active,
    /// In a block (succeeded or reverted).
    Accepted,
    /// Given up: the node lost it and it could not be resent.
    Dropped,
}

impl TrackingStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingStatus::Active => "active",
            TrackingStatus::Accepted => "accepted",
            TrackingStatus::Dropped => "dropped",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(TrackingStatus::Active),
            "accepted" => Some(TrackingStatus::Accepted),
            "dropped" => Some(TrackingStatus::Dropped),
            _ => None,
        }
    }
}

/// A token this paymaster accepts in default mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenData {
    /// The ERC-20 contract.
    pub token_address: Felt,
    /// Its decimals.
    pub decimals: u8,
    /// Price of one unit in FRI, as a hex u256.
    pub price_in_strk: String,
}

/// `paymaster_createClientSession`'s parameters.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateClientSession {
    /// The client this token is for (a player id, a device id…), recorded with its usage.
    pub client_id: String,
    /// If given, the only user addresses the token may act for.
    #[serde(default)]
    pub user_addresses: Option<Vec<Felt>>,
    /// Lifetime in seconds (default 900).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Requests per minute through this token (at most the key's); counted besides the key's.
    #[serde(default, deserialize_with = "optional_number")]
    pub requests_per_minute: Option<u32>,
    /// Sponsored fees this token may spend in all, in FRI (at most the key's daily budget).
    #[serde(default, deserialize_with = "optional_number")]
    pub max_fee_fri: Option<u128>,
    /// Executions this token may have sponsored in all.
    #[serde(default, deserialize_with = "optional_number")]
    pub max_executions: Option<u64>,
}

/// `paymaster_createClientSession`'s result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSessionCreated {
    /// The token's id, for revocation.
    pub id: String,
    /// The bearer token (shown once).
    pub client_session_token: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
    /// Its own rate limit, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Its own fee limit in FRI, as a decimal string, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fee_fri: Option<String>,
    /// Its own execution limit, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_executions: Option<u64>,
}

/// Turns JSON-RPC `params` into the by-name object: accepts the object itself or a
/// one-element array holding it. A missing `params` is an empty object.
pub fn by_name(params: Option<Value>) -> Result<serde_json::Map<String, Value>, PaymasterError> {
    match params {
        None | Some(Value::Null) => Ok(serde_json::Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(Value::Array(mut items)) if items.len() == 1 => match items.pop() {
            Some(Value::Object(map)) => Ok(map),
            _ => Err(PaymasterError::InvalidParams(
                "a one-element params array must hold an object".into(),
            )),
        },
        Some(Value::Array(items)) if items.is_empty() => Ok(serde_json::Map::new()),
        Some(_) => Err(PaymasterError::InvalidParams(
            "params must be an object or a one-element array holding one".into(),
        )),
    }
}

/// Takes a named parameter and decodes it.
pub fn param<T: serde::de::DeserializeOwned>(
    params: &mut serde_json::Map<String, Value>,
    name: &str,
) -> Result<T, PaymasterError> {
    let value = params
        .remove(name)
        .ok_or_else(|| PaymasterError::InvalidParams(format!("missing parameter `{name}`")))?;
    serde_json::from_value(value)
        .map_err(|e| PaymasterError::InvalidParams(format!("parameter `{name}`: {e}")))
}

/// A number given as a JSON/TOML integer, or as a decimal or `0x` hex string (SNIP-29 clients
/// send time bounds both ways; configuration amounts beyond 2^63 need a string).
pub(crate) fn number_or_text<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u128>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    let value = match Raw::deserialize(d)? {
        Raw::Number(n) => u128::from(n),
        Raw::Text(s) => match s.strip_prefix("0x") {
            Some(h) => u128::from_str_radix(h, 16),
            None => s.parse::<u128>(),
        }
        .map_err(|_| de::Error::custom(format!("`{s}` is not a number")))?,
    };
    T::try_from(value).map_err(|_| de::Error::custom(format!("{value} is out of range")))
}

/// As [`number_or_text`], for an optional value (absent or `null`: `None`).
pub(crate) fn optional_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u128>,
{
    #[derive(Deserialize)]
    #[serde(bound = "T: TryFrom<u128>")]
    struct Given<T>(#[serde(deserialize_with = "number_or_text")] T);
    Ok(Option::<Given<T>>::deserialize(d)?.map(|g| g.0))
}

/// A u128 amount as SNIP-29's hex u256.
pub fn u256_hex(amount: u128) -> String {
    format!("{amount:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_by_name_or_in_a_one_element_array() {
        let object = json!({ "tracking_id": "0x1" });
        assert_eq!(
            by_name(Some(object.clone())).expect("object"),
            by_name(Some(json!([object]))).expect("array")
        );
        assert!(by_name(None).expect("none").is_empty());
        assert!(by_name(Some(json!([1, 2]))).is_err());
        assert!(by_name(Some(json!("x"))).is_err());
    }

    #[test]
    fn time_bounds_accept_numbers_and_decimal_strings() {
        let n: TimeBounds =
            serde_json::from_value(json!({ "execute_after": 1, "execute_before": 2000000000 }))
                .expect("numbers");
        let s: TimeBounds =
            serde_json::from_value(json!({ "execute_after": "1", "execute_before": "2000000000" }))
                .expect("strings");
        assert_eq!(n, s);
        assert!(serde_json::from_value::<TimeBounds>(
            json!({ "execute_after": "soon", "execute_before": 2 })
        )
        .is_err());
    }

    #[test]
    fn transactions_decode_by_their_type_tag() {
        let t: UserTransaction = serde_json::from_value(json!({
            "type": "invoke",
            "invoke": { "user_address": "0x1", "calls": [{ "to": "0x2", "selector": "0x3", "calldata": ["0x4"] }] }
        }))
        .expect("invoke");
        assert!(matches!(t, UserTransaction::Invoke { .. }));
        let mode: FeeMode =
            serde_json::from_value(json!({ "mode": "default", "gas_token": "0x5" })).expect("fee");
        assert_eq!(
            mode,
            FeeMode::Default {
                gas_token: Felt::from(5u8)
            }
        );
    }
}
