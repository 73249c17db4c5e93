//! `authnzrv user add|list|show|lock|unlock|set-role|set-password|delete|totp-disable|
//! passkeys-remove`.
//!
//! Users 2 and 3 (the anonymous and the locked system accounts) are never
//! changed, and user 1, the superuser the health check reads, is never
//! locked, demoted or deleted (its password may be set). Locks go through
//! the same toggle as `internal-user-lock`, so the role restored on unlock,
//! the deleted sessions and the stored lock deadline behave as they do for
//! the server; passwords pass the same policy as on sign-up.

use authnz_api::{NewUser, StoreError, User, UserPatch};
use authnz_core::actions::internal::{LockAction, delete_user_and_sessions, toggle_lock};
use authnz_core::actions::passwords::check_password;
use authnz_core::actions::permissions::{LOCKED, is_system_account};
use authnz_core::actions::reply::{dt, user_info};
use authnz_core::actions::user_sessions::end_other_sessions;
use authnz_core::validate::normalize_email;
use authnz_core::validate::text::cut_password;
use authnz_server::config::{AdminFlags, UserCommand};
use serde_json::{Value, json};

use super::password::{confirm, read_new_password};
use super::{Admin, print_json};

/// The superuser's id: the health check reads its role.
const SUPERUSER_ID: i64 = 1;

/// Roles the commands never assign: `locked` (use `user lock`) and
/// `anonymous` (the role of sessions without a user).
const UNASSIGNABLE: &[&str] = &[LOCKED, "anonymous"];

pub async fn run(admin: &Admin, command: &UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            email,
            role,
            full_name,
            password,
            flags,
        } => {
            add(
                admin,
                email,
                role,
                full_name.as_deref(),
                password.password_stdin,
                *flags,
            )
            .await
        }
        UserCommand::List { flags } => list(admin, *flags).await,
        UserCommand::Show { user, flags } => show(admin, user, *flags).await,
        UserCommand::Lock { user, flags } => lock(admin, user, LockAction::Lock, *flags).await,
        UserCommand::Unlock { user, flags } => lock(admin, user, LockAction::Unlock, *flags).await,
        UserCommand::SetRole { user, role, flags } => set_role(admin, user, role, *flags).await,
        UserCommand::SetPassword {
            user,
            password,
            flags,
        } => set_password(admin, user, password.password_stdin, *flags).await,
        UserCommand::Delete { user, flags } => delete(admin, user, *flags).await,
        UserCommand::TotpDisable { user, flags } => totp_disable(admin, user, *flags).await,
        UserCommand::PasskeysRemove { user, flags } => passkeys_remove(admin, user, *flags).await,
    }
}

/// A role the commands may assign: one of the policy's, not a system role.
fn check_role(admin: &Admin, role: &str) -> anyhow::Result<()> {
    if UNASSIGNABLE.contains(&role) {
        anyhow::bail!(
            "the role {role:?} cannot be assigned here{}",
            if role == LOCKED {
                " (use `authnzrv user lock`)"
            } else {
                ""
            }
        );
    }
    if !admin.ctx.policy.roles.iter().any(|r| r == role) {
        let assignable: Vec<&str> = admin
            .ctx
            .policy
            .roles
            .iter()
            .map(String::as_str)
            .filter(|r| !UNASSIGNABLE.contains(r))
            .collect();
        anyhow::bail!(
            "unknown role {role:?}; the policy's roles are: {}",
            assignable.join(", ")
        );
    }
    Ok(())
}

/// Refuse to change the system accounts (and, unless `superuser_ok`, user 1).
fn check_changeable(user: &User, what: &str, superuser_ok: bool) -> anyhow::Result<()> {
    if is_system_account(user.user_id) {
        anyhow::bail!(
            "user {} is a system account ({}); it cannot be {what}",
            user.user_id,
            user.user_role
        );
    }
    if !superuser_ok && user.user_id == SUPERUSER_ID {
        anyhow::bail!(
            "user 1 is the superuser the health check reads; it cannot be {what} (its password can be set)"
        );
    }
    Ok(())
}

/// The password policy's verdict as an error listing its messages.
async fn check_policy(
    admin: &Admin,
    password: &str,
    email: &str,
    full_name: &str,
) -> anyhow::Result<()> {
    let outcome = check_password(&admin.ctx, password, email, full_name).await?;
    if !outcome.ok {
        let mut text = String::from("the password does not pass the password policy");
        for message in &outcome.messages {
            text.push_str("\n  ");
            text.push_str(message);
        }
        anyhow::bail!(text);
    }
    Ok(())
}

async fn add(
    admin: &Admin,
    email: &str,
    role: &str,
    full_name: Option<&str>,
    password_stdin: bool,
    flags: AdminFlags,
) -> anyhow::Result<()> {
    if admin.ctx.validators.email.validate(email).is_err() {
        anyhow::bail!("{email:?} is not a valid e-mail address");
    }
    let email = normalize_email(email);
    check_role(admin, role)?;
    if let Some(existing) = admin.ctx.users.user_by_email(&email).await? {
        anyhow::bail!(
            "a user with this e-mail address exists already (user {})",
            existing.user_id
        );
    }
    let password = read_new_password(password_stdin)?;
    let password = cut_password(&password);
    check_policy(admin, password, &email, full_name.unwrap_or_default()).await?;
    let hash = admin.ctx.hasher.hash(password).await?;
    let now = admin.ctx.clock.now();
    let new_user = NewUser {
        system_id: uuid::Uuid::new_v4().to_string(),
        full_name: full_name.map(str::to_owned),
        password: hash,
        email: email.clone(),
        email_verified: true,
        is_active: true,
        user_role: role.to_owned(),
        extra_info: Some(json!({"provenance": "cli-created", "type": "normal-user"})),
        emailverify_sent_datetime: None,
    };
    let user_id = match admin.ctx.users.create_user(&new_user, now).await {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            anyhow::bail!("a user with this e-mail address exists already")
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user = %admin.ctx.pii(&user_id.to_string()), "user added from the command line");
    admin
        .ctx
        .audit(
            authnz_api::AuditEventType::UserSignup,
            authnz_api::AuditOutcome::Ok,
        )
        .subject(user_id)
        .reason("admin-cli")
        .emit();
    if flags.json {
        print_json(&json!({"user_id": user_id, "email": email, "user_role": role}))
    } else {
        println!("Added user {user_id} ({email}) with role {role}.");
        Ok(())
    }
}

async fn list(admin: &Admin, flags: AdminFlags) -> anyhow::Result<()> {
    let users = admin.ctx.users.list_users().await?;
    if flags.json {
        return print_json(&Value::Array(users.iter().map(user_object).collect()));
    }
    println!(
        "{:>6}  {:<13}  {:<6}  {:<8}  EMAIL",
        "ID", "ROLE", "ACTIVE", "VERIFIED"
    );
    for u in &users {
        println!(
            "{:>6}  {:<13}  {:<6}  {:<8}  {}",
            u.user_id,
            u.user_role,
            yes_no(u.is_active),
            yes_no(u.email_verified),
            u.email
        );
    }
    Ok(())
}

async fn show(admin: &Admin, given: &str, flags: AdminFlags) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    let sessions = admin
        .ctx
        .sessions
        .user_sessions(user.user_id, admin.ctx.clock.now())
        .await?;
    let mut object = user_object(&user);
    if let Value::Object(map) = &mut object {
        map.insert("active_sessions".into(), json!(sessions.len()));
    }
    if flags.json {
        return print_json(&object);
    }
    if let Value::Object(map) = &object {
        for (key, value) in map {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{key:<30} {text}");
        }
    }
    Ok(())
}

async fn lock(
    admin: &Admin,
    given: &str,
    action: LockAction,
    flags: AdminFlags,
) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    let verb = match action {
        LockAction::Lock => "locked",
        LockAction::Unlock => "unlocked",
    };
    check_changeable(&user, verb, action == LockAction::Unlock)?;
    let is_locked = user.user_role == LOCKED;
    let changed = match action {
        LockAction::Lock => !is_locked || user.locked_until.is_some(),
        LockAction::Unlock => is_locked,
    };
    if changed {
        let change = toggle_lock(&admin.ctx, user.user_id, action, None, None).await?;
        if change.reply.0.get("success") != Some(&Value::Bool(true)) {
            anyhow::bail!("the lock toggle of user {} failed", user.user_id);
        }
        if action == LockAction::Unlock {
            // A fresh start for the failed-login back-off (where it is
            // shared, in Redis; an in-process count lives in the server).
            let key = admin.ctx.throttle_key(&user.email);
            if let Err(e) = admin.ctx.throttle.clear(&key).await {
                tracing::warn!(error = %e, "cannot clear the failed-login count");
            }
        }
    }
    let after = admin.user(&user.user_id.to_string()).await?;
    if flags.json {
        return print_json(&json!({
            "user_id": after.user_id,
            "changed": changed,
            "user_role": after.user_role,
            "is_active": after.is_active,
        }));
    }
    if changed {
        println!(
            "User {} {verb}; role now {}.",
            after.user_id, after.user_role
        );
    } else {
        println!(
            "User {} is already {verb} (role {}); nothing changed.",
            after.user_id, after.user_role
        );
    }
    Ok(())
}

async fn set_role(admin: &Admin, given: &str, role: &str, flags: AdminFlags) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    check_changeable(&user, "given another role", false)?;
    check_role(admin, role)?;
    if user.user_role == LOCKED {
        anyhow::bail!(
            "user {} is locked; unlock it first (`authnzrv user unlock {}`), then set its role",
            user.user_id,
            user.user_id
        );
    }
    let patch = UserPatch {
        user_role: Some(role.to_owned()),
        ..UserPatch::default()
    };
    let changed = admin
        .ctx
        .users
        .update_user(user.user_id, &patch, None, admin.ctx.clock.now())
        .await?;
    if changed != 1 {
        anyhow::bail!("user {} was not changed (deleted meanwhile?)", user.user_id);
    }
    tracing::info!(user = %admin.ctx.pii(&user.user_id.to_string()), "role set from the command line");
    admin
        .ctx
        .audit(
            authnz_api::AuditEventType::RoleChanged,
            authnz_api::AuditOutcome::Ok,
        )
        .subject(user.user_id)
        .reason("admin-cli")
        .emit();
    if flags.json {
        return print_json(&json!({
            "user_id": user.user_id,
            "previous_role": user.user_role,
            "user_role": role,
        }));
    }
    println!(
        "User {}: role {} (was {}).",
        user.user_id, role, user.user_role
    );
    Ok(())
}

async fn set_password(
    admin: &Admin,
    given: &str,
    password_stdin: bool,
    flags: AdminFlags,
) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    check_changeable(&user, "given a password", true)?;
    let password = read_new_password(password_stdin)?;
    let password = cut_password(&password);
    check_policy(
        admin,
        password,
        &user.email,
        user.full_name.as_deref().unwrap_or_default(),
    )
    .await?;
    let hash = admin.ctx.hasher.hash(password).await?;
    let patch = UserPatch {
        password: Some(hash),
        ..UserPatch::default()
    };
    let changed = admin
        .ctx
        .users
        .update_user(user.user_id, &patch, None, admin.ctx.clock.now())
        .await?;
    if changed != 1 {
        anyhow::bail!("user {} was not changed (deleted meanwhile?)", user.user_id);
    }
    tracing::info!(user = %admin.ctx.pii(&user.user_id.to_string()), "password set from the command line");
    admin
        .ctx
        .audit(
            authnz_api::AuditEventType::PasswordReset,
            authnz_api::AuditOutcome::Ok,
        )
        .subject(user.user_id)
        .reason("admin-cli")
        .emit();
    let locked_note = if user.user_role == LOCKED {
        " The user is locked: `authnzrv user unlock` lets them log in."
    } else {
        ""
    };
    if flags.json {
        return print_json(
            &json!({"user_id": user.user_id, "changed": true, "locked": user.user_role == LOCKED}),
        );
    }
    println!("Password of user {} set.{locked_note}", user.user_id);
    Ok(())
}

async fn delete(admin: &Admin, given: &str, flags: AdminFlags) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    check_changeable(&user, "deleted", false)?;
    if !flags.yes
        && !confirm(&format!(
            "Delete user {} ({}) with their sessions and API keys?",
            user.user_id, user.email
        ))?
    {
        anyhow::bail!("not confirmed; nothing was deleted");
    }
    if !delete_user_and_sessions(&admin.ctx, user.user_id).await? {
        anyhow::bail!("user {} is still there after the delete", user.user_id);
    }
    tracing::info!(user = %admin.ctx.pii(&user.user_id.to_string()), "user deleted from the command line");
    admin
        .ctx
        .audit(
            authnz_api::AuditEventType::UserDeleted,
            authnz_api::AuditOutcome::Ok,
        )
        .subject(user.user_id)
        .reason("admin-cli")
        .emit();
    if flags.json {
        return print_json(&json!({"user_id": user.user_id, "deleted": true}));
    }
    println!("User {} deleted.", user.user_id);
    Ok(())
}

/// Remove the user's TOTP authenticator and recovery codes, as
/// `user-totp-disable` does but without a password or code, and end every
/// session of theirs.
async fn totp_disable(admin: &Admin, given: &str, flags: AdminFlags) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    let removed = admin
        .ctx
        .second_factors
        .store
        .delete_totp(user.user_id)
        .await?;
    let ended = if removed > 0 {
        end_other_sessions(&admin.ctx, user.user_id, None).await?
    } else {
        0
    };
    if removed > 0 {
        tracing::info!(user = %admin.ctx.pii(&user.user_id.to_string()), "TOTP disabled from the command line");
        admin
            .ctx
            .audit(
                authnz_api::AuditEventType::SecondFactorDisabled,
                authnz_api::AuditOutcome::Ok,
            )
            .subject(user.user_id)
            .reason("admin-cli")
            .emit();
    }
    if flags.json {
        return print_json(&json!({
            "user_id": user.user_id,
            "disabled": removed > 0,
            "sessions_ended": ended,
        }));
    }
    if removed > 0 {
        println!(
            "TOTP of user {} disabled; {ended} session(s) ended. Their password alone logs in again.",
            user.user_id
        );
    } else {
        println!("User {} has no TOTP authenticator.", user.user_id);
    }
    Ok(())
}

/// Remove every passkey of the user (and, without an enabled TOTP
/// authenticator, their recovery codes), as `user-passkey-delete` does for
/// one but without a password, and end every session of theirs.
async fn passkeys_remove(admin: &Admin, given: &str, flags: AdminFlags) -> anyhow::Result<()> {
    let user = admin.user(given).await?;
    let removed = admin
        .ctx
        .second_factors
        .store
        .delete_passkeys(user.user_id)
        .await?;
    let ended = if removed > 0 {
        end_other_sessions(&admin.ctx, user.user_id, None).await?
    } else {
        0
    };
    if removed > 0 {
        tracing::info!(user = %admin.ctx.pii(&user.user_id.to_string()), removed, "passkeys removed from the command line");
        admin
            .ctx
            .audit(
                authnz_api::AuditEventType::PasskeyRemoved,
                authnz_api::AuditOutcome::Ok,
            )
            .subject(user.user_id)
            .reason("admin-cli")
            .emit();
    }
    if flags.json {
        return print_json(&json!({
            "user_id": user.user_id,
            "removed": removed,
            "sessions_ended": ended,
        }));
    }
    if removed > 0 {
        println!(
            "{removed} passkey(s) of user {} removed; {ended} session(s) ended.",
            user.user_id
        );
    } else {
        println!("User {} has no passkey.", user.user_id);
    }
    Ok(())
}

/// The protocol's `user_info` object plus the lock deadline.
fn user_object(user: &User) -> Value {
    let mut object = user_info(user);
    if let Value::Object(map) = &mut object {
        map.insert("locked_until".into(), dt(user.locked_until.as_ref()));
    }
    object
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
