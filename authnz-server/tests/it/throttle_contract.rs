//! The `LoginThrottle` contract of `authnz-api` run on the in-process
//! implementation the server uses by default.

use std::sync::Arc;

use authnz_api::{LoginThrottle, MemoryLoginThrottle};

async fn memory(_test: &'static str) -> Option<Arc<dyn LoginThrottle>> {
    Some(Arc::new(MemoryLoginThrottle::default()))
}

authnz_api::login_throttle_tests!(memory);
