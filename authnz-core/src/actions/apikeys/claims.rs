//! The API-key claims object of PROTOCOL.md 3.6: building it for a new key (with
//! upstream's key order and `json.dumps` text) and reading the claims a
//! frontend sends back as `apikey_dict`.

use authnz_api::time::to_isoformat;
use authnz_api::{ApiKeyRef, UserId};
use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{Map, Value};

use super::super::ActionError;
use super::super::args::py_int;
use authnz_proto::python::json::dumps_ordered;

/// The claims of a new key. `usa` is present only for session-tied keys.
#[derive(Debug, Clone)]
pub struct NewClaims<'a> {
    pub iss: &'a Value,
    pub ver: &'a Value,
    pub uid: UserId,
    pub rol: &'a str,
    pub usa: Option<&'a str>,
    pub aud: &'a Value,
    pub sub: &'a Value,
    pub ipa: &'a str,
    pub tkn: &'a str,
    pub iat: NaiveDateTime,
    pub nbf: NaiveDateTime,
    pub exp: NaiveDateTime,
}

impl NewClaims<'_> {
    /// The `apikey` result field: the claims as Python `json.dumps` text, in
    /// upstream's key order.
    pub fn to_json_text(&self) -> String {
        let mut entries: Vec<(&str, Value)> = vec![
            ("iss", self.iss.clone()),
            ("ver", self.ver.clone()),
            ("uid", Value::from(self.uid)),
            ("rol", Value::from(self.rol)),
        ];
        if let Some(usa) = self.usa {
            entries.push(("usa", Value::from(usa)));
        }
        entries.extend([
            ("aud", self.aud.clone()),
            ("sub", self.sub.clone()),
            ("ipa", Value::from(self.ipa)),
            ("tkn", Value::from(self.tkn)),
            ("iat", Value::from(to_isoformat(&self.iat))),
            ("nbf", Value::from(to_isoformat(&self.nbf))),
            ("exp", Value::from(to_isoformat(&self.exp))),
        ]);
        dumps_ordered(&entries)
    }
}

/// The claims of a presented key that the server looks at.
#[derive(Debug, Clone, Copy)]
pub struct PresentedKey<'a> {
    pub tkn: &'a str,
    pub uid: UserId,
    pub rol: &'a str,
}

impl<'a> PresentedKey<'a> {
    /// Read `tkn`, `uid` and `rol` from `apikey_dict`. A missing or mistyped
    /// claim is unhandled upstream (HTTP 400, PROTOCOL.md 3.6).
    pub fn from_dict(dict: &'a Map<String, Value>) -> Result<Self, ActionError> {
        let missing =
            |k: &str| ActionError::Unhandled(format!("apikey_dict: missing or bad '{k}'"));
        Ok(PresentedKey {
            tkn: dict
                .get("tkn")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("tkn"))?,
            uid: dict
                .get("uid")
                .and_then(py_int)
                .ok_or_else(|| missing("uid"))?,
            rol: dict
                .get("rol")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("rol"))?,
        })
    }

    pub fn as_ref(&self) -> ApiKeyRef<'a> {
        ApiKeyRef {
            apikey: self.tkn,
            user_id: self.uid,
            user_role: self.rol,
        }
    }
}

/// A claim that must be present in `apikey_dict` (for refresh: `iss`, `ver`,
/// `aud`, `sub`); missing is HTTP 400.
pub fn required_claim<'a>(
    dict: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Value, ActionError> {
    dict.get(key)
        .ok_or_else(|| ActionError::Unhandled(format!("apikey_dict: missing '{key}'")))
}

/// A number of seconds (`int` or `float`) as Python `timedelta(seconds=x)`,
/// rounded to microseconds. Out of range is HTTP 400, as upstream's
/// `OverflowError`.
pub fn seconds(v: &Value, name: &str) -> Result<TimeDelta, ActionError> {
    let bad = || not_seconds(name);
    if let Some(i) = py_int(v) {
        return whole_seconds(i, name);
    }
    let f = v.as_f64().ok_or_else(bad)?;
    let micros = (f * 1e6).round();
    if !micros.is_finite() || micros.abs() > 9.0e15 {
        return Err(bad());
    }
    Ok(TimeDelta::microseconds(micros as i64))
}

/// A whole number of seconds as a duration (HTTP 400 when out of range).
pub fn whole_seconds(i: i64, name: &str) -> Result<TimeDelta, ActionError> {
    TimeDelta::try_seconds(i).ok_or_else(|| not_seconds(name))
}

fn not_seconds(name: &str) -> ActionError {
    ActionError::Unhandled(format!("'{name}' is not a usable number of seconds"))
}

/// `t + d`, or HTTP 400 when out of range.
pub fn add(t: NaiveDateTime, d: TimeDelta) -> Result<NaiveDateTime, ActionError> {
    t.checked_add_signed(d)
        .ok_or_else(|| ActionError::Unhandled("date out of range".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_text_has_upstream_order_and_separators() {
        let t = chrono::NaiveDate::from_ymd_opt(2030, 1, 2)
            .and_then(|d| d.and_hms_micro_opt(3, 4, 5, 6))
            .expect("date");
        let (iss, ver, aud, sub) = (json!("me"), json!(1), json!("aud"), json!(["a", "é"]));
        let claims = NewClaims {
            iss: &iss,
            ver: &ver,
            uid: 4,
            rol: "staff",
            usa: Some("UA"),
            aud: &aud,
            sub: &sub,
            ipa: "10.0.0.1",
            tkn: "T",
            iat: t,
            nbf: t,
            exp: t + TimeDelta::days(1),
        };
        assert_eq!(
            claims.to_json_text(),
            r#"{"iss": "me", "ver": 1, "uid": 4, "rol": "staff", "usa": "UA", "aud": "aud", "sub": ["a", "\u00e9"], "ipa": "10.0.0.1", "tkn": "T", "iat": "2030-01-02T03:04:05.000006", "nbf": "2030-01-02T03:04:05.000006", "exp": "2030-01-03T03:04:05.000006"}"#
        );
        let no_usa = NewClaims {
            usa: None,
            ..claims
        };
        assert!(!no_usa.to_json_text().contains("usa"));
    }

    #[test]
    fn seconds_accept_ints_and_floats() {
        assert_eq!(seconds(&json!(2), "x").ok(), Some(TimeDelta::seconds(2)));
        assert_eq!(
            seconds(&json!(0.25), "x").ok(),
            Some(TimeDelta::milliseconds(250))
        );
        assert!(seconds(&json!(1e300), "x").is_err());
        assert!(seconds(&json!("3"), "x").is_err());
        assert!(whole_seconds(i64::MAX, "x").is_err());
    }
}
