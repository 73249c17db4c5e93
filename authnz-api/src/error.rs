//! The one semantic error type every storage backend maps into.

use std::error::Error as StdError;

use crate::logtext::LogText;

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
    ///
    /// The text may quote client data (a driver's message naming the
    /// duplicate value), so it displays escaped: these errors are logged.
    #[error("conflict: {}", LogText(.0))]
    Conflict(String),
    /// A reference to another item is dangling (unknown user id, unknown role).
    ///
    /// Displayed escaped, as [`StoreError::Conflict`].
    #[error("invalid reference: {}", LogText(.0))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_in_messages_displays_escaped() {
        let e = StoreError::Conflict("Duplicate entry 'a\nFAKE\u{0}' for key".into());
        let shown = e.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\0'), "{shown}");
        assert!(shown.contains(r"a\nFAKE\x00"), "{shown}");
        let e = StoreError::InvalidReference("x\r\ny".into());
        assert_eq!(e.to_string(), r"invalid reference: 'x\r\ny'");
    }
}
