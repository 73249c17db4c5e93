//! Value types shared by requests and replies: the records the server
//! returns (`user_info`, `session_info`), API-key claims and the few
//! arguments that take one of two JSON types.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secret::{RedactedJson, Secret};

/// A user as `user-list`, `user-lookup-*`, `user-edit`, `user-lock` and the
/// internal user requests return it (docs/PROTOCOL.md §3.0, 16 keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    pub user_id: i64,
    pub system_id: Option<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub is_active: Option<bool>,
    pub last_login_try: Option<String>,
    pub last_login_success: Option<String>,
    pub failed_login_tries: Option<i64>,
    pub created_on: Option<String>,
    pub last_updated: Option<String>,
    pub user_role: Option<String>,
    pub extra_info: Option<Value>,
    pub emailverify_sent_datetime: Option<String>,
    pub emailforgotpass_sent_datetime: Option<String>,
    pub emailchangepass_sent_datetime: Option<String>,
}

/// An active session and its user, as `session-exists` returns it (18
/// keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user_id: i64,
    pub system_id: Option<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub extra_info: Option<Value>,
    pub email_verified: Option<bool>,
    pub emailverify_sent_datetime: Option<String>,
    pub is_active: Option<bool>,
    pub last_login_try: Option<String>,
    pub last_login_success: Option<String>,
    pub created_on: Option<String>,
    pub user_role: Option<String>,
    pub session_token: Secret,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created: Option<String>,
    pub expires: Option<String>,
    pub extra_info_json: Option<Value>,
}

/// A session as `internal-session-edit` returns it (7 keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: Option<i64>,
    pub session_token: Secret,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created: Option<String>,
    pub expires: Option<String>,
    pub extra_info_json: Option<Value>,
}

/// One session as `user-sessions-list` returns it: never its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedSession {
    /// The opaque id that `user-sessions-revoke` takes (22 characters; the
    /// `sid` claim of the session's JWTs).
    pub session_id: String,
    pub created: String,
    pub expires: String,
    pub ip_address: String,
    pub user_agent: String,
    /// True for the session of the `session_token` the list was asked with.
    pub current: bool,
}

/// The claims of an API key (docs/PROTOCOL.md §3.6), sent back as
/// `apikey_dict` to verify, revoke or refresh it. `Debug` hides `tkn`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKeyClaims(pub Map<String, Value>);

impl ApiKeyClaims {
    /// The claims from the `apikey` text an `apikey-new*` reply returns (a
    /// JSON object in a string).
    pub fn from_apikey(apikey: &Secret) -> Result<Self, crate::Error> {
        match serde_json::from_str(apikey.expose()) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(crate::Error::Protocol(
                "the API key is not a JSON object".into(),
            )),
        }
    }
}

impl std::fmt::Debug for ApiKeyClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = Value::Object(self.0.clone());
        write!(f, "ApiKeyClaims({:?})", RedactedJson(&value))
    }
}

/// `subject` of a new API key: one string or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Subject {
    One(String),
    Many(Vec<String>),
}

impl Default for Subject {
    fn default() -> Self {
        Subject::One(String::new())
    }
}

/// `apiversion` of a new API key: a string or an integer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ApiVersion {
    Int(i64),
    Str(String),
}

impl Default for ApiVersion {
    fn default() -> Self {
        ApiVersion::Int(1)
    }
}
