//! The `jwt_signing_keys` operations of
//! [`SigningKeyStore`](authnz_api::SigningKeyStore), written once for every
//! dialect (see [`crate::db`] for how).

use authnz_api::SigningKeyRecord;
use sqlx::Pool;

use crate::db::{self, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::ReadColumns;

pub(crate) async fn signing_keys<D: SqlDialect>(
    pool: &Pool<D>,
) -> Result<Vec<SigningKeyRecord>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT kid, algorithm, public_key, sealed_private_key, created FROM jwt_signing_keys"
    );
    let rows = db::fetch_all(pool, sql, args![]).await?;
    let mut keys = rows
        .iter()
        .map(|r| {
            Ok(SigningKeyRecord {
                kid: r.text(0, "kid")?,
                algorithm: r.text(1, "algorithm")?,
                public_key: r.text(2, "public_key")?,
                sealed_private_key: r.text(3, "sealed_private_key")?,
                created: r.datetime(4, "created")?,
            })
        })
        .collect::<Result<Vec<_>, SqlStoreError>>()?;
    // Ordered here, so ties break in byte order whatever the collation.
    keys.sort_by(|a, b| (b.created, &b.kid).cmp(&(a.created, &a.kid)));
    Ok(keys)
}

pub(crate) async fn add_signing_key<D: SqlDialect>(
    pool: &Pool<D>,
    k: &SigningKeyRecord,
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "INSERT INTO jwt_signing_keys (kid, algorithm, public_key, sealed_private_key, created) ",
        "VALUES (?, ?, ?, ?, ?)"
    );
    let args = args![
        &k.kid,
        &k.algorithm,
        &k.public_key,
        &k.sealed_private_key,
        k.created,
    ];
    db::execute(pool, sql, args).await?;
    Ok(())
}

pub(crate) async fn delete_signing_key<D: SqlDialect>(
    pool: &Pool<D>,
    kid: &str,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(D, "DELETE FROM jwt_signing_keys WHERE kid = ?");
    db::execute(pool, sql, args![kid]).await
}
