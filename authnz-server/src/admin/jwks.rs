//! `authnzrv jwks rotate|list`: the JWT signing keys shared by every
//! instance (see `authnz_core::jwt`). Runs beside running servers: they
//! read the keys again within `jwtkeyreload` seconds.

use authnz_core::jwt::PUBLISHED_KEYS;
use authnz_server::config::JwksCommand;
use serde_json::json;

use super::{Admin, print_json};

pub async fn run(admin: &Admin, command: &JwksCommand) -> anyhow::Result<()> {
    match command {
        JwksCommand::Rotate { flags } => {
            let rotation = admin.ctx.jwt.rotate(admin.ctx.clock.now()).await?;
            tracing::info!(kid = %rotation.kid, removed = rotation.removed.len(), "JWT signing key rotated from the command line");
            if flags.json {
                return print_json(&json!({
                    "kid": rotation.kid,
                    "published": rotation.published,
                    "removed": rotation.removed,
                }));
            }
            println!("New current signing key: {}", rotation.kid);
            println!("Published: {}", rotation.published.join(", "));
            if !rotation.removed.is_empty() {
                println!("Removed: {}", rotation.removed.join(", "));
            }
            let reload = admin.ctx.jwt.settings().reload_interval.as_secs();
            println!("Running servers sign with the new key within {reload} s (jwtkeyreload).");
            Ok(())
        }
        JwksCommand::List { flags } => {
            let keys = admin.ctx.jwt.stored().await?;
            if flags.json {
                let list: Vec<_> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, (kid, created))| {
                        json!({
                            "kid": kid,
                            "created": authnz_api::time::to_isoformat(created),
                            "current": i == 0,
                            "published": i < PUBLISHED_KEYS,
                        })
                    })
                    .collect();
                return print_json(&json!(list));
            }
            if keys.is_empty() {
                println!("No signing key is stored (the server makes one at start).");
            }
            for (i, (kid, created)) in keys.iter().enumerate() {
                let what = match i {
                    0 => "current",
                    i if i < PUBLISHED_KEYS => "previous",
                    _ => "unpublished",
                };
                println!("{kid}  {}  {what}", authnz_api::time::to_isoformat(created));
            }
            Ok(())
        }
    }
}
