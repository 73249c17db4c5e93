//! The one semantic error type every storage backend maps into.

use std::error::Error as StdError;

/// A boxed source error from a backend driver.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong in a storage backend, in domain terms.
///
/// Backends keep their own `thiserror` enums and convert into this one, keeping
/// the driver error as `source` so logs can show the cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The item the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint was violated (duplicate e-mail, token, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A reference to another item is dangling (unknown user id, unknown role).
    #[error("invalid reference: {0}")]
    InvalidReference(String),
    /// The backend cannot be reached right now (connection refused, pool
    /// timed out). Retrying later may succeed.
    #[error("backend unavailable")]
    Unavailable {
        /// The driver error.
        #[source]
        source: BoxError,
    },
    /// Any other backend failure.
    #[error("backend error")]
    Backend {
        /// The driver error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// Wrap any driver error as a generic backend failure.
    pub fn backend<E: Into<BoxError>>(e: E) -> Self {
        StoreError::Backend { source: e.into() }
    }

    /// Wrap any driver error as "unavailable".
    pub fn unavailable<E: Into<BoxError>>(e: E) -> Self {
        StoreError::Unavailable { source: e.into() }
    }
}
