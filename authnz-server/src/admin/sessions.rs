//! `authnzrv session purge-expired|delete-user` and `authnzrv apikey
//! revoke-all --user`.

use authnz_server::config::{AdminFlags, SessionCommand};
use serde_json::json;

use super::password::confirm;
use super::{Admin, print_json};

pub async fn run_session(admin: &Admin, command: &SessionCommand) -> anyhow::Result<()> {
    match command {
        SessionCommand::PurgeExpired { flags } => purge_expired(admin, *flags).await,
        SessionCommand::DeleteUser { user, flags } => delete_user(admin, user, *flags).await,
    }
}

/// Delete every session whose expiry has passed (the server's cleanup task
/// waits `sessionexpiry` days past it; this does not).
async fn purge_expired(admin: &Admin, flags: AdminFlags) -> anyhow::Result<()> {
    let now = admin.ctx.clock.now();
    let deleted = admin
        .ctx
        .sessions
        .delete_sessions_expired_before(now)
        .await?;
    if flags.json {
        return print_json(&json!({"deleted": deleted}));
    }
    println!("Deleted {deleted} expired session(s).");
    Ok(())
}

async fn delete_user(admin: &Admin, given: &str, flags: AdminFlags) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    if !flags.yes
        && !confirm(&format!(
            "Delete every session of user {} ({})?",
            user.user_id, user.email
        ))?
    {
        anyhow::bail!("not confirmed; nothing was deleted");
    }
    let deleted = admin
        .ctx
        .sessions
        .delete_user_sessions(user.user_id, None)
        .await?;
    tracing::info!(user = %admin.ctx.pii(&user.user_id.to_string()), deleted, "sessions deleted from the command line");
    admin
        .ctx
        .audit(
            authnz_api::AuditEventType::SessionRevoked,
            authnz_api::AuditOutcome::Ok,
        )
        .subject(user.user_id)
        .reason("admin-cli")
        .emit();
    if flags.json {
        return print_json(&json!({"user_id": user.user_id, "deleted": deleted}));
    }
    println!("Deleted {deleted} session(s) of user {}.", user.user_id);
    Ok(())
}

/// Delete the user's no-session API keys, whatever role they were issued
/// for (a key names its role; a key of an earlier role would come back to
/// life if the user got that role again).
pub async fn revoke_all_apikeys(
    admin: &Admin,
    given: &str,
    flags: AdminFlags,
) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    let mut revoked = 0;
    for role in admin.ctx.roles.list_roles().await? {
        revoked += admin
            .ctx
            .apikeys
            .delete_user_nosession_apikeys(user.user_id, &role.name)
            .await?;
    }
    tracing::info!(user = %admin.ctx.pii(&user.user_id.to_string()), revoked, "API keys revoked from the command line");
    admin
        .ctx
        .audit(
            authnz_api::AuditEventType::ApikeyRevoked,
            authnz_api::AuditOutcome::Ok,
        )
        .subject(user.user_id)
        .reason("admin-cli")
        .emit();
    if flags.json {
        return print_json(&json!({"user_id": user.user_id, "revoked": revoked}));
    }
    println!(
        "Revoked {revoked} no-session API key(s) of user {}. Session-tied keys end with their \
         sessions (`authnzrv session delete-user {}`).",
        user.user_id, user.user_id
    );
    Ok(())
}
