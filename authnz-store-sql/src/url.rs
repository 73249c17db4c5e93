//! Telling the SQL dialect from a database URL.
//!
//! URLs are sqlx-style: `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:`
//! (with optional `?mode=...` parameters), `postgres://...`,
//! `postgresql://...`, `mysql://...` and `mariadb://...`. Note that sqlx reads `sqlite:///srv/auth.db` as the
//! absolute path `/srv/auth.db`, where SQLAlchemy (upstream's
//! `AUTHNZERVER_AUTHDB`) would read a relative path; translating upstream
//! configuration is the caller's job.

#[cfg(feature = "sqlite")]
use crate::error::SqlStoreError;

/// The SQL dialects this crate speaks.
///
/// Every variant always exists, so configuration can be checked even in a
/// build without one of the drivers; [`crate::SqlStore::connect`] then fails
/// with [`SqlStoreError::DialectDisabled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite, a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Dialect {
    /// The dialect a URL names, or `None` if it names none this crate knows.
    pub fn from_url(url: &str) -> Option<Dialect> {
        let url = url.trim();
        if starts_with_ignore_case(url, "sqlite:") {
            return Some(Dialect::Sqlite);
        }
        let (scheme, _) = url.split_once("://")?;
        Dialect::from_scheme(scheme)
    }

    /// The dialect a URL scheme names (without `://` or a `+driver`
    /// suffix; any case): `sqlite`, `postgres`/`postgresql`,
    /// `mysql`/`mariadb`. This table is the one place where `mariadb` and
    /// `postgresql` are known to be spellings of the other two.
    pub fn from_scheme(scheme: &str) -> Option<Dialect> {
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            _ => None,
        }
    }

    /// The scheme sqlx knows this dialect's server URLs by: `postgres`,
    /// `mysql` (also for MariaDB, which speaks the same protocol) and
    /// `sqlite`.
    pub fn sqlx_scheme(self) -> &'static str {
        self.name()
    }

    /// `url` with its scheme replaced by [`Dialect::sqlx_scheme`]
    /// (`mariadb://h/db` becomes `mysql://h/db`); other URLs unchanged.
    pub fn sqlx_url(url: &str) -> String {
        let url = url.trim();
        match url.split_once("://") {
            Some((scheme, rest)) => match Dialect::from_scheme(scheme) {
                Some(d) if d != Dialect::Sqlite => format!("{}://{rest}", d.sqlx_scheme()),
                _ => url.to_owned(),
            },
            None => url.to_owned(),
        }
    }

    /// The dialect's name, which is also the name of its Cargo feature.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }

    /// Whether this build has the dialect's driver.
    pub fn is_compiled_in(self) -> bool {
        match self {
            Dialect::Sqlite => cfg!(feature = "sqlite"),
            Dialect::Postgres => cfg!(feature = "postgres"),
            Dialect::MySql => cfg!(feature = "mysql"),
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// A parsed `sqlite:` URL.
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqliteTarget {
    /// The URL with a lower-case scheme, as sqlx expects it.
    pub(crate) url: String,
    /// `sqlite::memory:` or `?mode=memory`.
    pub(crate) in_memory: bool,
}

/// Parse a `sqlite:` URL far enough to tell a file from memory.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_target(url: &str) -> Result<SqliteTarget, SqlStoreError> {
    let url = url.trim();
    if !starts_with_ignore_case(url, "sqlite:") {
        return Err(SqlStoreError::UnsupportedUrl);
    }
    let rest = &url["sqlite:".len()..];
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = database == ":memory:"
        || params
            .split('&')
            .any(|kv| kv.eq_ignore_ascii_case("mode=memory"));
    if database.is_empty() && !in_memory {
        // SQLite would open a private temporary database per connection.
        return Err(SqlStoreError::UnsupportedUrl);
    }
    Ok(SqliteTarget {
        url: format!("sqlite://{rest}"),
        in_memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlx_urls_use_the_sqlx_scheme() {
        assert_eq!(Dialect::sqlx_url("MariaDB://u:p@h/db"), "mysql://u:p@h/db");
        assert_eq!(Dialect::sqlx_url(" mysql://h/db "), "mysql://h/db");
        assert_eq!(Dialect::sqlx_url("postgresql://h/db"), "postgres://h/db");
        assert_eq!(Dialect::sqlx_url("sqlite:///x.db"), "sqlite:///x.db");
        assert_eq!(Dialect::sqlx_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(Dialect::from_scheme("MARIADB"), Some(Dialect::MySql));
        assert_eq!(Dialect::from_scheme("pysqlite"), None);
    }

    #[test]
    fn dialects() {
        assert_eq!(Dialect::from_url("sqlite::memory:"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("SQLite:/tmp/x.db"), Some(Dialect::Sqlite));
        assert_eq!(
            Dialect::from_url("postgres://u@h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(
            Dialect::from_url("postgresql://u@h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(Dialect::from_url("mysql://u@h/db"), Some(Dialect::MySql));
        assert_eq!(Dialect::from_url("MariaDB://u@h/db"), Some(Dialect::MySql));
        assert_eq!(Dialect::from_url("mysql+pymysql://u@h/db"), None);
        assert_eq!(Dialect::from_url("/tmp/x.db"), None);
        assert_eq!(Dialect::from_url("mysql:/no-slashes"), None);
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_targets() {
        let t = sqlite_target("sqlite::memory:").expect("ok");
        assert!(t.in_memory);
        assert_eq!(t.url, "sqlite://:memory:");

        let t = sqlite_target("sqlite:///srv/auth.db").expect("ok");
        assert!(!t.in_memory);
        assert_eq!(t.url, "sqlite:///srv/auth.db");

        let t = sqlite_target("sqlite:auth.db").expect("ok");
        assert_eq!(t.url, "sqlite://auth.db");

        let t = sqlite_target("sqlite://shared?mode=memory&cache=shared").expect("ok");
        assert!(t.in_memory);

        assert!(sqlite_target("sqlite:").is_err());
        assert!(sqlite_target("sqlite://").is_err());
        assert!(sqlite_target("postgres://x").is_err());
    }
}
