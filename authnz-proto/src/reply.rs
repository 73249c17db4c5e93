//! Building result objects (the `R` of the envelope, docs/PROTOCOL.md).

use serde_json::{Map, Value};

/// A result object under construction. Always has `success` and `messages`.
#[derive(Debug, Clone)]
pub struct Reply(pub Map<String, Value>);

impl Reply {
    /// A successful result with these messages.
    pub fn success<S: AsRef<str>>(messages: &[S]) -> Self {
        Self::base(true, messages)
    }

    /// A failed result with a `failure_reason` and messages.
    pub fn failure<S: AsRef<str>>(reason: &str, messages: &[S]) -> Self {
        let mut r = Self::base(false, messages);
        r.0.insert("failure_reason".into(), Value::String(reason.to_owned()));
        r
    }

    /// A failed result without `failure_reason` (e.g. nothing deleted).
    pub fn failure_without_reason<S: AsRef<str>>(messages: &[S]) -> Self {
        Self::base(false, messages)
    }

    fn base<S: AsRef<str>>(success: bool, messages: &[S]) -> Self {
        let mut m = Map::new();
        m.insert("success".into(), Value::Bool(success));
        m.insert(
            "messages".into(),
            Value::Array(
                messages
                    .iter()
                    .map(|s| Value::String(s.as_ref().to_owned()))
                    .collect(),
            ),
        );
        Self(m)
    }

    /// Add or replace a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// The finished result object.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}
