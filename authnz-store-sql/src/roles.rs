//! The `roles` operations of [`RoleStore`](authnz_api::RoleStore), written
//! once for every dialect (see [`crate::db`] for how).

use authnz_api::{InitialData, Role};
use chrono::NaiveDateTime;
use sqlx::Pool;

use crate::db::{self, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::ReadColumns;
use crate::users;

pub(crate) async fn list_roles<D: SqlDialect>(pool: &Pool<D>) -> Result<Vec<Role>, SqlStoreError> {
    let sql = sql!(D, r#"SELECT name, "desc" FROM roles"#);
    let rows = db::fetch_all(pool, sql, args![]).await?;
    let mut roles = rows
        .iter()
        .map(|r| {
            Ok(Role {
                name: r.text(0, "name")?,
                desc: r.text(1, "desc")?,
            })
        })
        .collect::<Result<Vec<_>, SqlStoreError>>()?;
    // Ordered here: names in byte order whatever the database's collation.
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}

async fn roles_exist<D: SqlDialect>(conn: &mut D::Connection) -> Result<bool, SqlStoreError> {
    let sql = sql!(D, "SELECT 1 FROM roles LIMIT 1");
    Ok(D::fetch_optional(conn, sql, args![]).await?.is_some())
}

pub(crate) async fn initialize<D: SqlDialect>(
    pool: &Pool<D>,
    data: &InitialData,
    now: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    // On SQLite the transaction holds the write lock from its first
    // statement, so no other writer can seed roles between the check and
    // the inserts; elsewhere a concurrent initializer shows as a conflict.
    let mut tx = db::begin_write(pool).await?;
    if roles_exist::<D>(&mut tx).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    for role in &data.roles {
        let sql = sql!(D, r#"INSERT INTO roles (name, "desc") VALUES (?, ?)"#);
        match D::execute(&mut tx, sql, args![&role.name, &role.desc]).await {
            Ok(_) => {}
            // Either a concurrent initializer committed its roles after our
            // check (then the database is seeded: not an error), or `data`
            // names a role twice (a conflict). Ask again to tell which.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                tx.rollback().await?;
                let mut conn = pool.acquire().await?;
                return if roles_exist::<D>(&mut conn).await? {
                    Ok(false)
                } else {
                    Err(sqlx::Error::Database(e).into())
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Explicit ids, as upstream: the built-in users are 1, 2 and 3.
    for (user_id, user) in (1..).zip(&data.users) {
        users::insert_user::<D>(&mut tx, Some(user_id), user, now).await?;
    }
    if let Some(sql) = D::AFTER_EXPLICIT_USER_IDS {
        D::execute(&mut tx, sql, args![]).await?;
    }
    tx.commit().await?;
    Ok(true)
}
