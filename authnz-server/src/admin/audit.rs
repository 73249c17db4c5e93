//! `authnzrv audit`: the audit log, newest first, with the filters and the
//! cursor of `internal-audit-list` (it runs that request's action, so both
//! check and list the same way). Reads only: runs beside running servers.

use authnz_core::actions::RequestType;
use authnz_server::config::AuditArgs;
use serde_json::{Map, Value, json};

use super::{Admin, print_json};

pub async fn run(admin: &Admin, args: &AuditArgs) -> anyhow::Result<()> {
    let mut body = Map::new();
    if let Some(user) = &args.user {
        let given = user.trim();
        // An id is taken as it is: events outlive the user they name.
        let id = match given.parse::<i64>() {
            Ok(id) => id,
            Err(_) => admin.user(given).await?.user_id,
        };
        body.insert("user_id".into(), json!(id));
    }
    for (key, value) in [
        ("event", &args.event),
        ("since", &args.since),
        ("until", &args.until),
        ("cursor", &args.cursor),
    ] {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    }
    body.insert("limit".into(), json!(args.limit));
    let kind = RequestType::InternalAuditList;
    let problems = authnz_proto::schema::check(kind.params(), &body);
    if let Some(p) = problems.first() {
        anyhow::bail!("invalid --{}: {}", p.param, p.problem);
    }
    let reply = authnz_core::actions::run(kind, &admin.ctx, &body)
        .await?
        .into_map();
    if reply.get("success") != Some(&Value::Bool(true)) {
        let reason = reply
            .get("failure_reason")
            .and_then(Value::as_str)
            .unwrap_or("the audit log could not be listed");
        anyhow::bail!("{reason}");
    }
    let events = reply
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next = reply.get("next_cursor").cloned().unwrap_or(Value::Null);
    if args.flags.json {
        return print_json(&json!({"events": events, "next_cursor": next}));
    }
    if events.is_empty() {
        println!("No audit events match.");
    }
    for e in &events {
        let field = |k: &str| match e.get(k) {
            None | Some(Value::Null) => "-".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        println!(
            "{}  {}  {:<20} {:<6} actor={} subject={} address={} reqid={} reason={}",
            field("id"),
            field("time"),
            field("event"),
            field("outcome"),
            field("actor_user_id"),
            field("subject_user_id"),
            field("client_address"),
            field("request_id"),
            field("reason"),
        );
    }
    if let Some(cursor) = next.as_str() {
        println!("More events: add --cursor {cursor}");
    }
    Ok(())
}
