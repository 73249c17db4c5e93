//! The `groups` and `user_groups` operations of
//! [`GroupStore`](authnz_api::GroupStore), written once for every dialect
//! (see [`crate::db`] for how). `groups` is a reserved word in MySQL 8, so
//! the table is always written quoted (`"groups"`).

use authnz_api::{Group, GroupId, GroupMember, Membership, NewGroup, UserId};
use chrono::NaiveDateTime;
use sqlx::Pool;

use crate::db::{self, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::ReadColumns;

/// The columns [`group_from_row`] reads, unqualified.
macro_rules! group_columns {
    () => {
        "group_id, system_id, group_name, created_by, group_role, created_on, last_updated"
    };
}

/// The columns [`group_from_row`] reads, qualified with the alias `g`.
macro_rules! group_columns_g {
    () => {
        "g.group_id, g.system_id, g.group_name, g.created_by, g.group_role, g.created_on, \
         g.last_updated"
    };
}

/// Read a [`Group`] from the seven columns of [`group_columns!`] at `at`.
fn group_from_row(r: &impl ReadColumns, at: usize) -> Result<Group, SqlStoreError> {
    Ok(Group {
        group_id: r.int(at, "group_id")?,
        system_id: r.text(at + 1, "system_id")?,
        group_name: r.text(at + 2, "group_name")?,
        created_by: r.int(at + 3, "created_by")?,
        group_role: r.text(at + 4, "group_role")?,
        created_on: r.datetime(at + 5, "created_on")?,
        last_updated: r.datetime(at + 6, "last_updated")?,
    })
}

pub(crate) async fn create_group<D: SqlDialect>(
    pool: &Pool<D>,
    group: &NewGroup,
    now: NaiveDateTime,
) -> Result<Group, SqlStoreError> {
    let args = args![
        &group.system_id,
        &group.group_name,
        group.created_by,
        true,
        now,
        now,
        &group.group_role,
    ];
    let mut conn = pool.acquire().await?;
    let group_id = if D::HAS_RETURNING {
        let sql = sql!(
            D,
            r#"INSERT INTO "groups" (system_id, group_name, visibility, created_by, is_active, "#,
            "created_on, last_updated, group_role) VALUES (?, ?, 'private', ?, ?, ?, ?, ?) ",
            "RETURNING group_id"
        );
        let row = D::fetch_optional(&mut conn, sql, args).await?;
        row.ok_or(sqlx::Error::RowNotFound)?.int(0, "group_id")?
    } else {
        let sql = sql!(
            D,
            r#"INSERT INTO "groups" (system_id, group_name, visibility, created_by, is_active, "#,
            "created_on, last_updated, group_role) VALUES (?, ?, 'private', ?, ?, ?, ?, ?)"
        );
        let done = D::execute(&mut conn, sql, args).await?;
        done.last_insert_id.ok_or(SqlStoreError::Decode {
            column: "group_id",
            reason: "the driver reported no id for the new row".to_owned(),
        })?
    };
    Ok(Group {
        group_id,
        system_id: group.system_id.clone(),
        group_name: group.group_name.clone(),
        created_by: group.created_by,
        group_role: group.group_role.clone(),
        created_on: now,
        last_updated: now,
    })
}

pub(crate) async fn group_by_id<D: SqlDialect>(
    pool: &Pool<D>,
    group_id: GroupId,
) -> Result<Option<Group>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        group_columns!(),
        r#" FROM "groups" WHERE group_id = ?"#
    );
    let row = db::fetch_optional(pool, sql, args![group_id]).await?;
    row.map(|r| group_from_row(&r, 0)).transpose()
}

pub(crate) async fn list_groups<D: SqlDialect>(
    pool: &Pool<D>,
) -> Result<Vec<Group>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        group_columns!(),
        r#" FROM "groups" ORDER BY group_id"#
    );
    let rows = db::fetch_all(pool, sql, args![]).await?;
    rows.iter().map(|r| group_from_row(r, 0)).collect()
}

pub(crate) async fn user_memberships<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<Vec<Membership>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        group_columns_g!(),
        r#", m.is_owner FROM user_groups m JOIN "groups" g ON g.group_id = m.group_id "#,
        "WHERE m.user_id = ? ORDER BY g.group_id"
    );
    let rows = db::fetch_all(pool, sql, args![user_id]).await?;
    rows.iter()
        .map(|r| {
            Ok(Membership {
                group: group_from_row(r, 0)?,
                is_owner: r.flag(7, "is_owner")?,
            })
        })
        .collect()
}

pub(crate) async fn group_members<D: SqlDialect>(
    pool: &Pool<D>,
    group_id: GroupId,
) -> Result<Vec<GroupMember>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT user_id, is_owner FROM user_groups WHERE group_id = ? ORDER BY user_id"
    );
    let rows = db::fetch_all(pool, sql, args![group_id]).await?;
    rows.iter()
        .map(|r| {
            Ok(GroupMember {
                user_id: r.int(0, "user_id")?,
                is_owner: r.flag(1, "is_owner")?,
            })
        })
        .collect()
}

/// Lock the group's row for the rest of the transaction (a write that
/// changes nothing); false if there is no such group. Every write to a
/// group's memberships takes this lock first, so concurrent writes to one
/// group queue on it instead of deadlocking on the membership rows (MySQL's
/// gap locks) or failing on the primary key.
async fn lock_group<D: SqlDialect>(
    conn: &mut D::Connection,
    group_id: GroupId,
) -> Result<bool, SqlStoreError> {
    // On MySQL the affected rows are the rows matched (sqlx sets
    // CLIENT_FOUND_ROWS), so this counts the row although nothing changes.
    let lock = sql!(
        D,
        r#"UPDATE "groups" SET last_updated = last_updated WHERE group_id = ?"#
    );
    Ok(D::execute(conn, lock, args![group_id]).await?.rows_affected > 0)
}

/// Set the group's `last_updated`.
async fn touch_group<D: SqlDialect>(
    conn: &mut D::Connection,
    group_id: GroupId,
    now: NaiveDateTime,
) -> Result<(), SqlStoreError> {
    let touch = sql!(
        D,
        r#"UPDATE "groups" SET last_updated = ? WHERE group_id = ?"#
    );
    D::execute(conn, touch, args![now, group_id]).await?;
    Ok(())
}

/// `Ok(None)`: the group or the user does not exist.
pub(crate) async fn add_group_member<D: SqlDialect>(
    pool: &Pool<D>,
    group_id: GroupId,
    user_id: UserId,
    is_owner: bool,
    now: NaiveDateTime,
) -> Result<Option<bool>, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    if !lock_group::<D>(&mut tx, group_id).await? {
        return Ok(None);
    }
    let user = sql!(D, "SELECT user_id FROM users WHERE user_id = ?");
    if D::fetch_optional(&mut tx, user, args![user_id])
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let update = sql!(
        D,
        "UPDATE user_groups SET is_owner = ? WHERE group_id = ? AND user_id = ?"
    );
    let updated = D::execute(&mut tx, update, args![is_owner, group_id, user_id]).await?;
    let added = updated.rows_affected == 0;
    if added {
        let insert = sql!(
            D,
            "INSERT INTO user_groups (user_id, group_id, is_owner) VALUES (?, ?, ?)"
        );
        D::execute(&mut tx, insert, args![user_id, group_id, is_owner]).await?;
    }
    touch_group::<D>(&mut tx, group_id, now).await?;
    tx.commit().await?;
    Ok(Some(added))
}

pub(crate) async fn remove_group_member<D: SqlDialect>(
    pool: &Pool<D>,
    group_id: GroupId,
    user_id: UserId,
    now: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    if !lock_group::<D>(&mut tx, group_id).await? {
        return Ok(0);
    }
    let delete = sql!(
        D,
        "DELETE FROM user_groups WHERE group_id = ? AND user_id = ?"
    );
    let removed = D::execute(&mut tx, delete, args![group_id, user_id])
        .await?
        .rows_affected;
    if removed > 0 {
        touch_group::<D>(&mut tx, group_id, now).await?;
    }
    tx.commit().await?;
    Ok(removed)
}

pub(crate) async fn delete_group<D: SqlDialect>(
    pool: &Pool<D>,
    group_id: GroupId,
) -> Result<u64, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    if !lock_group::<D>(&mut tx, group_id).await? {
        return Ok(0);
    }
    // The foreign key cascades this; deleting explicitly keeps the result
    // right even on a database whose cascades are missing.
    let members = sql!(D, "DELETE FROM user_groups WHERE group_id = ?");
    D::execute(&mut tx, members, args![group_id]).await?;
    let group = sql!(D, r#"DELETE FROM "groups" WHERE group_id = ?"#);
    let deleted = D::execute(&mut tx, group, args![group_id]).await?;
    tx.commit().await?;
    Ok(deleted.rows_affected)
}

/// For `delete_user`, inside its transaction: the groups `user_id` created
/// pass to the lowest other user id, or go (with their memberships) when no
/// other user is left.
pub(crate) async fn pass_on_created_groups<D: SqlDialect>(
    conn: &mut D::Connection,
    user_id: UserId,
) -> Result<(), SqlStoreError> {
    let heir = sql!(D, "SELECT MIN(user_id) FROM users WHERE user_id <> ?");
    let heir = match D::fetch_optional(conn, heir, args![user_id]).await? {
        Some(row) => row.opt_int(0, "user_id")?,
        None => None,
    };
    if let Some(heir) = heir {
        let sql = sql!(
            D,
            r#"UPDATE "groups" SET created_by = ? WHERE created_by = ?"#
        );
        D::execute(conn, sql, args![heir, user_id]).await?;
    } else {
        let members = sql!(
            D,
            r#"DELETE FROM user_groups WHERE group_id IN "#,
            r#"(SELECT group_id FROM "groups" WHERE created_by = ?)"#
        );
        D::execute(conn, members, args![user_id]).await?;
        let groups = sql!(D, r#"DELETE FROM "groups" WHERE created_by = ?"#);
        D::execute(conn, groups, args![user_id]).await?;
    }
    Ok(())
}
