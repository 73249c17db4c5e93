//! The `users` operations of [`UserStore`](authnz_api::UserStore), written
//! once for every dialect (see [`crate::db`] for how).

use authnz_api::{ColumnValue, NewUser, User, UserColumn, UserId, UserPatch, extra_info_matches};
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::Pool;

use crate::db::{self, Arg, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::{ReadColumns, user_columns, user_from_row};

/// `INSERT INTO users` with the columns a new user sets, then `$id_column`
/// and `$id_value` (empty, or the explicit `user_id`), then `$tail`.
macro_rules! insert_user_sql {
    ($id_column:literal, $id_value:literal, $tail:literal) => {
        concat!(
            "INSERT INTO users (system_id, full_name, password, email, email_verified, \
             is_active, emailverify_sent_datetime, failed_login_tries, extra_info, created_on, \
             last_updated, user_role",
            $id_column,
            ") VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?::json, ?, ?, ?",
            $id_value,
            ")",
            $tail
        )
    };
}

/// Insert a user; `user_id` `None` lets the database number it (an
/// explicit NULL would not fall back to the column default everywhere,
/// hence two statements).
pub(crate) async fn insert_user<D: SqlDialect>(
    conn: &mut D::Connection,
    user_id: Option<UserId>,
    user: &NewUser,
    now: NaiveDateTime,
) -> Result<UserId, SqlStoreError> {
    let mut args = args![
        &user.system_id,
        &user.full_name,
        &user.password,
        &user.email,
        user.email_verified,
        user.is_active,
        user.emailverify_sent_datetime,
        Arg::json(user.extra_info.as_ref())?,
        now,
        now,
        &user.user_role,
    ];
    if let Some(id) = user_id {
        args.push(id.into());
        let sql = sql!(D, insert_user_sql!(", user_id", ", ?", ""));
        D::execute(conn, sql, args).await?;
        return Ok(id);
    }
    if D::HAS_RETURNING {
        let sql = sql!(D, insert_user_sql!("", "", " RETURNING user_id"));
        let row = D::fetch_optional(conn, sql, args).await?;
        row.ok_or(sqlx::Error::RowNotFound)?.int(0, "user_id")
    } else {
        let sql = sql!(D, insert_user_sql!("", "", ""));
        let done = D::execute(conn, sql, args).await?;
        done.last_insert_id.ok_or(SqlStoreError::Decode {
            column: "user_id",
            reason: "the driver reported no id for the new row".to_owned(),
        })
    }
}

pub(crate) async fn create_user<D: SqlDialect>(
    pool: &Pool<D>,
    user: &NewUser,
    now: NaiveDateTime,
) -> Result<UserId, SqlStoreError> {
    let mut conn = pool.acquire().await?;
    insert_user::<D>(&mut conn, None, user, now).await
}

pub(crate) async fn user_by_id<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<Option<User>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        user_columns!(),
        " FROM users WHERE user_id = ?"
    );
    let row = db::fetch_optional(pool, sql, args![user_id]).await?;
    row.map(|r| user_from_row(&r, 0)).transpose()
}

pub(crate) async fn user_by_email<D: SqlDialect>(
    pool: &Pool<D>,
    email: &str,
) -> Result<Option<User>, SqlStoreError> {
    let sql = sql!(D, "SELECT ", user_columns!(), " FROM users WHERE email = ?");
    let row = db::fetch_optional(pool, sql, args![email]).await?;
    row.map(|r| user_from_row(&r, 0)).transpose()
}

pub(crate) async fn list_users<D: SqlDialect>(pool: &Pool<D>) -> Result<Vec<User>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        user_columns!(),
        " FROM users ORDER BY user_id"
    );
    let rows = db::fetch_all(pool, sql, args![]).await?;
    rows.iter().map(|r| user_from_row(r, 0)).collect()
}

pub(crate) async fn update_user<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    patch: &UserPatch,
    only_if_active: Option<bool>,
    now: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    // One static statement: each nullable column has a "set it" flag and a
    // value (so NULL can be written), the others use COALESCE. On MySQL the
    // affected rows are the rows *matched* (sqlx sets CLIENT_FOUND_ROWS), so
    // an update that changes nothing still counts, as elsewhere.
    let sql = sql!(
        D,
        "UPDATE users SET \
           full_name = CASE WHEN ? THEN ? ELSE full_name END, \
           password = COALESCE(?, password), \
           email = COALESCE(?, email), \
           email_verified = COALESCE(?, email_verified), \
           is_active = COALESCE(?, is_active), \
           user_role = COALESCE(?, user_role), \
           extra_info = CASE WHEN ? THEN ?::json ELSE extra_info END, \
           emailverify_sent_datetime = CASE WHEN ? THEN ? ELSE emailverify_sent_datetime END, \
           emailforgotpass_sent_datetime = \
             CASE WHEN ? THEN ? ELSE emailforgotpass_sent_datetime END, \
           locked_until = CASE WHEN ? THEN ? ELSE locked_until END, \
           last_updated = ? \
         WHERE user_id = ? AND (?::boolean IS NULL OR is_active = ?)"
    );
    let extra_info = Arg::json(patch.extra_info.as_ref().and_then(Option::as_ref))?;
    let args = args![
        patch.full_name.is_some(),
        patch.full_name.as_ref().and_then(Option::as_deref),
        &patch.password,
        &patch.email,
        patch.email_verified,
        patch.is_active,
        &patch.user_role,
        patch.extra_info.is_some(),
        extra_info,
        patch.emailverify_sent_datetime.is_some(),
        patch.emailverify_sent_datetime.flatten(),
        patch.emailforgotpass_sent_datetime.is_some(),
        patch.emailforgotpass_sent_datetime.flatten(),
        patch.locked_until.is_some(),
        patch.locked_until.flatten(),
        now,
        user_id,
        only_if_active,
        only_if_active,
    ];
    db::execute(pool, sql, args).await
}

pub(crate) async fn delete_user<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<u64, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    // The foreign keys cascade all of these; deleting explicitly keeps the
    // result right even on a database whose cascades are missing.
    for sql in [
        sql!(D, "DELETE FROM apikeys WHERE user_id = ?"),
        sql!(D, "DELETE FROM apikeys_nosession WHERE user_id = ?"),
        sql!(D, "DELETE FROM sessions WHERE user_id = ?"),
        sql!(D, "DELETE FROM preferences WHERE user_id = ?"),
        sql!(D, "DELETE FROM user_groups WHERE user_id = ?"),
        sql!(D, "DELETE FROM user_recovery_codes WHERE user_id = ?"),
        sql!(D, "DELETE FROM user_totp WHERE user_id = ?"),
        sql!(D, "DELETE FROM login_tickets WHERE user_id = ?"),
        sql!(D, "DELETE FROM user_passkeys WHERE user_id = ?"),
        sql!(D, "DELETE FROM passkey_challenges WHERE user_id = ?"),
    ] {
        D::execute(&mut tx, sql, args![user_id]).await?;
    }
    crate::groups::pass_on_created_groups::<D>(&mut tx, user_id).await?;
    let sql = sql!(D, "DELETE FROM users WHERE user_id = ?");
    let deleted = D::execute(&mut tx, sql, args![user_id]).await?;
    tx.commit().await?;
    Ok(deleted.rows_affected)
}

pub(crate) async fn superuser_role<D: SqlDialect>(
    pool: &Pool<D>,
) -> Result<Option<String>, SqlStoreError> {
    let sql = sql!(D, "SELECT user_role FROM users WHERE user_id = 1");
    let row = db::fetch_optional(pool, sql, args![]).await?;
    row.map(|r| r.text(0, "user_role")).transpose()
}

/// `SELECT <user columns> FROM users WHERE <column> = ? ORDER BY user_id`:
/// one constant statement per column of the closed [`UserColumn`] list, so
/// no SQL text is ever built from input (spec Q-13).
pub(crate) fn find_users_sql<D: SqlDialect>(column: UserColumn) -> &'static str {
    macro_rules! by {
        ($column:literal) => {
            sql!(
                D,
                "SELECT ",
                user_columns!(),
                " FROM users WHERE ",
                $column,
                " = ? ORDER BY user_id"
            )
        };
    }
    match column {
        UserColumn::UserId => by!("user_id"),
        UserColumn::SystemId => by!("system_id"),
        UserColumn::FullName => by!("full_name"),
        UserColumn::Email => by!("email"),
        UserColumn::EmailVerified => by!("email_verified"),
        UserColumn::IsActive => by!("is_active"),
        UserColumn::EmailverifySentDatetime => by!("emailverify_sent_datetime"),
        UserColumn::EmailforgotpassSentDatetime => by!("emailforgotpass_sent_datetime"),
        UserColumn::EmailchangepassSentDatetime => by!("emailchangepass_sent_datetime"),
        UserColumn::LastLoginSuccess => by!("last_login_success"),
        UserColumn::LastLoginTry => by!("last_login_try"),
        UserColumn::FailedLoginTries => by!("failed_login_tries"),
        UserColumn::CreatedOn => by!("created_on"),
        UserColumn::LastUpdated => by!("last_updated"),
        UserColumn::UserRole => by!("user_role"),
    }
}

pub(crate) async fn find_users<D: SqlDialect>(
    pool: &Pool<D>,
    column: UserColumn,
    value: &ColumnValue,
) -> Result<Vec<User>, SqlStoreError> {
    if value.kind() != column.kind() {
        return Ok(Vec::new());
    }
    let arg = match value {
        ColumnValue::Int(i) => Arg::from(*i),
        ColumnValue::Text(t) => Arg::from(t),
        // Stored as 0/1 on SQLite (PROTOCOL.md 8.2), which is how it binds a bool.
        ColumnValue::Bool(b) => Arg::from(*b),
        ColumnValue::DateTime(t) => Arg::from(*t),
    };
    let rows = db::fetch_all(pool, find_users_sql::<D>(column), vec![arg]).await?;
    rows.iter().map(|r| user_from_row(r, 0)).collect()
}

pub(crate) async fn find_users_by_extra_info<D: SqlDialect>(
    pool: &Pool<D>,
    wanted: &serde_json::Map<String, Value>,
) -> Result<Vec<User>, SqlStoreError> {
    if wanted.is_empty() {
        return list_users(pool).await;
    }
    // SQL narrows down as far as the dialect can; the values are compared
    // here, exactly as JSON, so that every backend matches the same way
    // (upstream SQLite only matched strings).
    let mut conn = pool.acquire().await?;
    let rows = D::extra_info_candidates(&mut conn, wanted).await?;
    let mut users = Vec::with_capacity(rows.len());
    for r in &rows {
        let user = user_from_row(r, 0)?;
        if extra_info_matches(user.extra_info.as_ref(), wanted) {
            users.push(user);
        }
    }
    Ok(users)
}

pub(crate) async fn users_with_lock_deadline<D: SqlDialect>(
    pool: &Pool<D>,
) -> Result<Vec<User>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        user_columns!(),
        " FROM users WHERE locked_until IS NOT NULL ORDER BY user_id"
    );
    let rows = db::fetch_all(pool, sql, args![]).await?;
    rows.iter().map(|r| user_from_row(r, 0)).collect()
}

pub(crate) async fn lift_lock_if_due<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    restore_role: &str,
    now: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    let sql = sql!(
        D,
        "UPDATE users SET is_active = true, user_role = ?, locked_until = NULL, \
           last_updated = ? \
         WHERE user_id = ? AND locked_until IS NOT NULL AND locked_until <= ?"
    );
    let changed = db::execute(pool, sql, args![restore_role, now, user_id, now]).await?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "postgres")]
    fn find_sql_names_the_right_column_numbered() {
        for c in UserColumn::ALL {
            let sql = find_users_sql::<sqlx::Postgres>(c);
            let tail = format!(" FROM users WHERE {} = $1 ORDER BY user_id", c.name());
            assert!(sql.ends_with(&tail), "{c:?}: {sql}");
        }
    }

    #[test]
    #[cfg(feature = "sqlite")]
    fn find_sql_names_the_right_column_positional() {
        for c in UserColumn::ALL {
            let sql = find_users_sql::<sqlx::Sqlite>(c);
            let tail = format!(" FROM users WHERE {} = ? ORDER BY user_id", c.name());
            assert!(sql.ends_with(&tail), "{c:?}: {sql}");
        }
    }
}
