//! Passkeys (not upstream, PROTOCOL.md 3.12): registering, listing and
//! deleting a user's passkeys, passwordless login with one, and a passkey
//! as the second step of a login.

use serde_json::Value;

use super::reply::Reply;
use super::request_args::{
    UserPasskeyDeleteArgs, UserPasskeyListArgs, UserPasskeyLoginFinishArgs,
    UserPasskeyLoginStartArgs, UserPasskeyRegisterFinishArgs, UserPasskeyRegisterStartArgs,
    UserPasskeySecondFactorStartArgs,
};
use super::{ActionError, Context};

/// `failure_reason` when the server has no relying party configured.
pub const NOT_CONFIGURED: &str = "passkeys not configured";
const NOT_CONFIGURED_MSG: &str = "Passkeys are not enabled on this server.";

fn not_configured(user_id: Value) -> Reply {
    Reply::failure(NOT_CONFIGURED, &[NOT_CONFIGURED_MSG]).with("user_id", user_id)
}

pub async fn user_passkey_register_start(
    _ctx: &Context,
    args: UserPasskeyRegisterStartArgs<'_>,
) -> Result<Reply, ActionError> {
    Ok(not_configured(args.user_id.into()))
}

pub async fn user_passkey_register_finish(
    _ctx: &Context,
    args: UserPasskeyRegisterFinishArgs<'_>,
) -> Result<Reply, ActionError> {
    Ok(not_configured(args.user_id.into()))
}

pub async fn user_passkey_login_start(
    _ctx: &Context,
    _args: UserPasskeyLoginStartArgs<'_>,
) -> Result<Reply, ActionError> {
    Ok(not_configured(Value::Null))
}

pub async fn user_passkey_login_finish(
    _ctx: &Context,
    _args: UserPasskeyLoginFinishArgs<'_>,
) -> Result<Reply, ActionError> {
    Ok(not_configured(Value::Null))
}

pub async fn user_passkey_list(
    _ctx: &Context,
    args: UserPasskeyListArgs,
) -> Result<Reply, ActionError> {
    Ok(not_configured(args.user_id.into()))
}

pub async fn user_passkey_delete(
    _ctx: &Context,
    args: UserPasskeyDeleteArgs<'_>,
) -> Result<Reply, ActionError> {
    Ok(not_configured(args.user_id.into()))
}

pub async fn user_passkey_second_factor_start(
    _ctx: &Context,
    _args: UserPasskeySecondFactorStartArgs<'_>,
) -> Result<Reply, ActionError> {
    Ok(not_configured(Value::Null))
}
