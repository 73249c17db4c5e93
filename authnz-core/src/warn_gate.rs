//! Rate-limited warnings: a backend that fails for every request (Redis
//! down) must not write a log line per request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Says yes at most once per period.
#[derive(Debug)]
pub struct WarnGate {
    every: Duration,
    last: Mutex<Option<Instant>>,
}

impl WarnGate {
    /// A gate that opens at most once per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
        }
    }

    /// True if a warning may be logged now (and then not again for a
    /// period).
    pub fn ready(&self) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return true;
        };
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < self.every => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_period() {
        let g = WarnGate::new(Duration::from_secs(3600));
        assert!(g.ready());
        assert!(!g.ready());
        let g = WarnGate::new(Duration::ZERO);
        assert!(g.ready());
        assert!(g.ready());
    }
}
