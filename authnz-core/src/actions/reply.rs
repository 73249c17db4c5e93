//! Building result objects (the `R` of PROTOCOL.md 1.8) and the standard user and
//! session views of PROTOCOL.md 3.0. The result object itself is the wire
//! contract's [`Reply`].

use authnz_api::time::to_isoformat;
use authnz_api::{Session, User};
use chrono::NaiveDateTime;
use serde_json::{Value, json};

pub use authnz_proto::python::repr::py_bool;
pub use authnz_proto::reply::Reply;

/// A datetime as Python `isoformat()`, or `null`.
pub fn dt(t: Option<&NaiveDateTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(to_isoformat(t)))
}

/// The standard 16-key user_info object (never the password hash).
pub fn user_info(u: &User) -> Value {
    json!({
        "user_id": u.user_id,
        "system_id": u.system_id,
        "full_name": u.full_name,
        "email": u.email,
        "email_verified": u.email_verified,
        "is_active": u.is_active,
        "last_login_try": dt(u.last_login_try.as_ref()),
        "last_login_success": dt(u.last_login_success.as_ref()),
        "failed_login_tries": u.failed_login_tries,
        "created_on": dt(Some(&u.created_on)),
        "last_updated": dt(Some(&u.last_updated)),
        "user_role": u.user_role,
        "extra_info": u.extra_info,
        "emailverify_sent_datetime": dt(u.emailverify_sent_datetime.as_ref()),
        "emailforgotpass_sent_datetime": dt(u.emailforgotpass_sent_datetime.as_ref()),
        "emailchangepass_sent_datetime": dt(u.emailchangepass_sent_datetime.as_ref()),
    })
}

/// The standard 18-key session_info object.
pub fn session_info(s: &Session, u: &User) -> Value {
    json!({
        "user_id": u.user_id,
        "system_id": u.system_id,
        "full_name": u.full_name,
        "email": u.email,
        "extra_info": u.extra_info,
        "email_verified": u.email_verified,
        "emailverify_sent_datetime": dt(u.emailverify_sent_datetime.as_ref()),
        "is_active": u.is_active,
        "last_login_try": dt(u.last_login_try.as_ref()),
        "last_login_success": dt(u.last_login_success.as_ref()),
        "created_on": dt(Some(&u.created_on)),
        "user_role": u.user_role,
        "session_token": s.session_token,
        "ip_address": s.ip_address,
        "user_agent": s.user_agent,
        "created": dt(Some(&s.created)),
        "expires": dt(Some(&s.expires)),
        "extra_info_json": s.extra_info_json,
    })
}
