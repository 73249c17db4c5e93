//! The `authdb` item: a database URL in SQLAlchemy syntax (what upstream
//! deployments have in their envfiles) or in sqlx syntax, parsed into a
//! [`DatabaseTarget`] that the store wiring turns into an sqlx connection.
//!
//! Accepted forms:
//!
//! | URL | target |
//! |---|---|
//! | `sqlite://`, `sqlite:///:memory:`, `sqlite::memory:` | in-memory SQLite |
//! | `sqlite:///relative.db` | file `relative.db` (relative to the working directory) |
//! | `sqlite:////abs/path.db` | file `/abs/path.db` |
//! | `sqlite:path`, `sqlite:/abs/path`, `sqlite://path` (sqlx style) | file `path` |
//! | `sqlite+DRIVER://...` (`pysqlite`, ...) | as `sqlite://...` |
//! | `postgresql://...`, `postgresql+DRIVER://...`, `postgres://...` | PostgreSQL, `postgres://...` |
//! | `mysql://...`, `mysql+DRIVER://...`, `mariadb[+DRIVER]://...` | MySQL/MariaDB, `mysql://...` |
//!
//! The SQLAlchemy reading wins where the two syntaxes overlap: `sqlite:///x`
//! is the relative file `x`, as upstream reads it, not sqlx's `/x`. Query
//! parameters are refused on SQLite URLs (the server sets its own connection
//! options) and passed through unchanged for PostgreSQL and MySQL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use authnz_store_sql::Dialect;

/// A parsed `authdb` URL.
///
/// `Display` (and `Debug`) hide the password of a server URL, so the value
/// can be logged.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite database file. The path is as written (relative paths are
    /// relative to the working directory, as upstream).
    SqliteFile {
        /// The database file.
        path: PathBuf,
    },
    /// A private in-memory SQLite database.
    SqliteMemory,
    /// A PostgreSQL server; `url` is normalised to `postgres://...`.
    Postgres {
        /// sqlx URL, `postgres://...`.
        url: String,
    },
    /// A MySQL or MariaDB server; `url` is normalised to `mysql://...`.
    MySql {
        /// sqlx URL, `mysql://...`.
        url: String,
    },
}

impl DatabaseTarget {
    /// Parses a SQLAlchemy- or sqlx-style database URL (see the module doc).
    /// The error text says what is wrong without repeating the URL, which may
    /// hold a password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let (scheme, rest, has_slashes) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme, rest, true),
            None => match url.split_once(':') {
                Some((scheme, rest)) => (scheme, rest, false),
                None => {
                    return Err(
                        "expected a database URL such as sqlite:///path.db or postgresql://user:pass@host/db"
                            .to_owned(),
                    );
                }
            },
        };
        let scheme = scheme.to_ascii_lowercase();
        let (base, driver) = match scheme.split_once('+') {
            Some((base, driver)) => (base, Some(driver)),
            None => (scheme.as_str(), None),
        };
        if driver.is_some_and(str::is_empty) {
            return Err(format!("empty driver name after \"{base}+\""));
        }
        // The spellings of each dialect (`postgresql`, `mariadb`, ...) and
        // its sqlx scheme are the store's: one table for both.
        let server_url = |dialect: Dialect| {
            server_rest(base, rest, has_slashes)
                .map(|rest| format!("{}://{rest}", dialect.sqlx_scheme()))
        };
        match Dialect::from_scheme(base) {
            Some(Dialect::Sqlite) => Self::parse_sqlite(rest, has_slashes),
            Some(d @ Dialect::Postgres) => server_url(d).map(|url| Self::Postgres { url }),
            Some(d @ Dialect::MySql) => server_url(d).map(|url| Self::MySql { url }),
            None => Err(format!(
                "unsupported database scheme \"{base}\": use sqlite, postgresql or mysql"
            )),
        }
    }

    fn parse_sqlite(rest: &str, has_slashes: bool) -> Result<Self, String> {
        if rest.contains('?') {
            return Err(
                "query parameters are not supported on SQLite URLs (the server sets the connection options itself)"
                    .to_owned(),
            );
        }
        let path = if has_slashes {
            // SQLAlchemy: `sqlite://` + `/` + path. Without that third slash
            // SQLAlchemy refuses the URL; we read it as sqlx does.
            rest.strip_prefix('/').unwrap_or(rest)
        } else if rest.is_empty() {
            return Err(
                "empty SQLite path: use sqlite:///path.db or sqlite:// for memory".to_owned(),
            );
        } else {
            rest
        };
        if path.is_empty() || path == ":memory:" {
            return Ok(Self::SqliteMemory);
        }
        Ok(Self::SqliteFile {
            path: PathBuf::from(path),
        })
    }

    /// The URL to hand to sqlx: `sqlite://PATH` (the path as configured,
    /// absolute or relative), `sqlite::memory:`, `postgres://...` or
    /// `mysql://...`.
    ///
    /// For SQLite prefer [`DatabaseTarget::sqlite_path`] with
    /// `SqliteConnectOptions::filename`: a path containing `?` or `#` does
    /// not survive a trip through a URL.
    pub fn sqlx_url(&self) -> String {
        match self {
            Self::SqliteFile { path } => format!("sqlite://{}", path.to_string_lossy()),
            Self::SqliteMemory => "sqlite::memory:".to_owned(),
            Self::Postgres { url } | Self::MySql { url } => url.clone(),
        }
    }

    /// The database file, for a SQLite file target.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::SqliteFile { path } => Some(path),
            _ => None,
        }
    }

    /// The engine this target needs.
    pub fn backend(&self) -> Dialect {
        match self {
            Self::SqliteFile { .. } | Self::SqliteMemory => Dialect::Sqlite,
            Self::Postgres { .. } => Dialect::Postgres,
            Self::MySql { .. } => Dialect::MySql,
        }
    }
}

/// The part after `scheme://` of a server URL, which must not be empty.
fn server_rest<'a>(base: &str, rest: &'a str, has_slashes: bool) -> Result<&'a str, String> {
    if !has_slashes {
        return Err(format!(
            "expected {base}://[user[:password]@]host[:port]/database"
        ));
    }
    if rest.is_empty() {
        return Err(format!("nothing after {base}://"));
    }
    Ok(rest)
}

impl FromStr for DatabaseTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Replaces the password in `scheme://user:password@host...` with `***`.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!("{scheme}://{}:***{}", &userinfo[..colon], &rest[at..])
}

impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres { url } | Self::MySql { url } => f.write_str(&redact(url)),
            other => f.write_str(&other.sqlx_url()),
        }
    }
}

impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseTarget({self})")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn file(path: &str) -> DatabaseTarget {
        DatabaseTarget::SqliteFile {
            path: PathBuf::from(path),
        }
    }

    #[test]
    fn sqlalchemy_sqlite_forms() {
        let cases = [
            ("sqlite:///relative.db", file("relative.db")),
            ("sqlite:///sub/dir/x.db", file("sub/dir/x.db")),
            ("sqlite:////abs/path.db", file("/abs/path.db")),
            ("sqlite://", DatabaseTarget::SqliteMemory),
            ("sqlite:///:memory:", DatabaseTarget::SqliteMemory),
            ("sqlite+pysqlite:////abs/x.db", file("/abs/x.db")),
            ("SQLite:///x.db", file("x.db")),
            ("  sqlite:///x.db\n", file("x.db")),
        ];
        for (url, want) in cases {
            assert_eq!(DatabaseTarget::parse(url).unwrap(), want, "{url}");
        }
    }

    #[test]
    fn sqlx_sqlite_forms() {
        let cases = [
            ("sqlite:relative.db", file("relative.db")),
            ("sqlite:/abs/x.db", file("/abs/x.db")),
            ("sqlite::memory:", DatabaseTarget::SqliteMemory),
            ("sqlite://data.db", file("data.db")),
        ];
        for (url, want) in cases {
            assert_eq!(DatabaseTarget::parse(url).unwrap(), want, "{url}");
        }
    }

    #[test]
    fn server_forms_strip_the_driver() {
        let cases = [
            ("postgresql://u:p@h:5432/db", "postgres://u:p@h:5432/db"),
            (
                "postgresql+psycopg2://u:p@h/db?sslmode=require",
                "postgres://u:p@h/db?sslmode=require",
            ),
            ("postgres://h/db", "postgres://h/db"),
            ("postgresql+asyncpg:///db", "postgres:///db"),
        ];
        for (url, want) in cases {
            let target = DatabaseTarget::parse(url).unwrap();
            assert_eq!(target.backend(), Dialect::Postgres);
            assert_eq!(target.sqlx_url(), want, "{url}");
        }
        let cases = [
            ("mysql+pymysql://u:p@h/db", "mysql://u:p@h/db"),
            (
                "mysql://u@h:3306/db?charset=utf8mb4",
                "mysql://u@h:3306/db?charset=utf8mb4",
            ),
            ("mariadb+mariadbconnector://u:p@h/db", "mysql://u:p@h/db"),
        ];
        for (url, want) in cases {
            let target = DatabaseTarget::parse(url).unwrap();
            assert_eq!(target.backend(), Dialect::MySql);
            assert_eq!(target.sqlx_url(), want, "{url}");
        }
    }

    #[test]
    fn sqlx_urls() {
        assert_eq!(file("/abs/x.db").sqlx_url(), "sqlite:///abs/x.db");
        assert_eq!(file("rel/x.db").sqlx_url(), "sqlite://rel/x.db");
        assert_eq!(DatabaseTarget::SqliteMemory.sqlx_url(), "sqlite::memory:");
        assert_eq!(
            file("/abs/x.db").sqlite_path(),
            Some(Path::new("/abs/x.db"))
        );
        assert_eq!(DatabaseTarget::SqliteMemory.sqlite_path(), None);
    }

    #[test]
    fn rejected_forms() {
        for url in [
            "",
            "nonsense",
            "oracle://h/db",
            "sqlite:",
            "sqlite:///x.db?mode=ro",
            "postgresql:h/db",
            "postgresql://",
            "mysql+://h/db",
        ] {
            assert!(DatabaseTarget::parse(url).is_err(), "{url}");
        }
        let err = DatabaseTarget::parse("postgresql:secret@h/db").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn display_hides_passwords() {
        let target = DatabaseTarget::parse("postgresql://user:s3cret@host:5432/db").unwrap();
        assert_eq!(target.to_string(), "postgres://user:***@host:5432/db");
        assert!(!format!("{target:?}").contains("s3cret"));
        let target = DatabaseTarget::parse("mysql://user@host/db").unwrap();
        assert_eq!(target.to_string(), "mysql://user@host/db");
        assert_eq!(file("x.db").to_string(), "sqlite://x.db");
    }
}
