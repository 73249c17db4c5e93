//! `authnzrv webhooks list|retry`: the webhook outbox (see
//! [`authnz_server::webhooks`]). Runs beside running servers: a retried
//! delivery is picked up by whichever instance claims it first.

use authnz_api::{Clock as _, SystemClock, WebhookStore as _};
use authnz_server::config::WebhooksCommand;
use serde_json::json;

use super::{Admin, print_json};

pub async fn run(admin: &Admin, command: &WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::List {
            parked,
            limit,
            flags,
        } => {
            let list = admin.store.deliveries(*parked, *limit).await?;
            if flags.json {
                let items: Vec<_> = list
                    .iter()
                    .map(|d| {
                        json!({
                            "id": d.id,
                            "endpoint": d.endpoint,
                            "event": d.event_type,
                            "created": d.created.and_utc().to_rfc3339(),
                            "attempts": d.attempts,
                            "next_attempt": d.next_attempt.and_utc().to_rfc3339(),
                            "parked": d.parked,
                            "last_error": d.last_error,
                        })
                    })
                    .collect();
                return print_json(&json!(items));
            }
            if list.is_empty() {
                println!("No webhook deliveries are queued.");
            }
            for d in &list {
                println!(
                    "{}  {:<8} {:<20} attempts={} next={} endpoint={} error={}",
                    d.id,
                    if d.parked { "parked" } else { "pending" },
                    d.event_type,
                    d.attempts,
                    d.next_attempt.format("%Y-%m-%dT%H:%M:%S"),
                    d.endpoint,
                    d.last_error.as_deref().unwrap_or("-"),
                );
            }
            Ok(())
        }
        WebhooksCommand::Retry {
            id,
            all_parked,
            flags,
        } => {
            let which = if *all_parked { None } else { *id };
            let n = admin.store.retry_parked(which, SystemClock.now()).await?;
            if which.is_some() && n == 0 {
                anyhow::bail!("no parked delivery with id {}", id.unwrap_or_default());
            }
            if flags.json {
                return print_json(&json!({"retried": n}));
            }
            println!("{n} parked deliveries made due again.");
            Ok(())
        }
    }
}
