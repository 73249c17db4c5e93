//! The crate's own error type and its mapping into [`StoreError`]: anything
//! that says "the server is not reachable right now" (I/O, refused or
//! dropped connections, timeouts, a server still loading its data) becomes
//! [`StoreError::Unavailable`]; everything else (script errors, wrong types,
//! data this crate cannot parse) becomes [`StoreError::Backend`]. The source
//! error is kept either way.

use std::time::Duration;

use authnz_api::StoreError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// What went wrong talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    /// The driver reported an error.
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    /// No answer within the deadline every call has.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A stored value did not have the shape this crate writes.
    #[error("unexpected data in redis: {0}")]
    Corrupt(&'static str),
    /// A stored JSON value did not parse.
    #[error("stored JSON does not parse: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored JSON value did not parse (read as Python reads JSON, so a
    /// stored `NaN` or `Infinity` reads back).
    #[error("stored JSON does not parse: {0}")]
    PyJson(#[from] authnz_api::pyjson::LoadError),
}

impl RedisStoreError {
    /// True when retrying later may succeed: the server cannot be reached,
    /// dropped the connection, timed out or is still starting.
    pub fn is_unavailable(&self) -> bool {
        match self {
            RedisStoreError::Timeout(_) => true,
            RedisStoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_refusal()
                    || e.is_connection_dropped()
                    || matches!(
                        e.kind(),
                        ErrorKind::Server(
                            ServerErrorKind::BusyLoading
                                | ServerErrorKind::TryAgain
                                | ServerErrorKind::ClusterDown
                                | ServerErrorKind::MasterDown
                        )
                    )
            }
            RedisStoreError::Corrupt(_) | RedisStoreError::Json(_) | RedisStoreError::PyJson(_) => {
                false
            }
        }
    }
}

impl From<RedisStoreError> for StoreError {
    fn from(e: RedisStoreError) -> Self {
        // The server's `authnz_store_errors_total` (docs/OPERATIONS.md,
        // "Metrics"); a no-op where no metrics recorder is set.
        metrics::counter!("authnz_store_errors_total", "backend" => "redis").increment(1);
        if e.is_unavailable() {
            StoreError::unavailable(e)
        } else {
            StoreError::backend(e)
        }
    }
}
