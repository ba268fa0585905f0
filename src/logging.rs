//! Rate-limited logging, in one place: a client that keeps failing, or a flood of bad messages,
//! must not flood the log (nor slow ingest down writing it), and what was held back is said.
//!
//! - [`RateLimit`]: at most one line per period, with the count held back since the last one
//!   (the MQTT collector's connection errors);
//! - [`RateLimitedLog`]: per reason, at most a burst of lines per 10 s, then one line saying how
//!   many were not logged (rejected readings).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most one log line per `every`; counts what it held back.
pub struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub fn new(every: Duration) -> RateLimit {
        RateLimit {
            every,
            last: None,
            suppressed: 0,
        }
    }
    /// Some(number held back since the last line) when a line may be logged now.
    pub fn check(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Logs at most `burst` lines per key and 10 s; says how many were suppressed.
pub struct RateLimitedLog {
    window_start: Instant,
    counts: HashMap<&'static str, u64>,
    burst: u64,
}

impl RateLimitedLog {
    pub fn new(burst: u64) -> Self {
        RateLimitedLog {
            window_start: Instant::now(),
            counts: HashMap::new(),
            burst,
        }
    }

    pub fn warn(&mut self, key: &'static str, topic: &str, msg: &str) {
        if self.window_start.elapsed() > Duration::from_secs(10) {
            for (k, n) in self.counts.drain() {
                if n > self.burst {
                    tracing::warn!(
                        reason = k,
                        suppressed = n - self.burst,
                        "more rejections not logged in the last 10 s"
                    );
                }
            }
            self.window_start = Instant::now();
        }
        let n = self.counts.entry(key).or_insert(0);
        *n += 1;
        if *n <= self.burst {
            tracing::warn!(reason = key, topic, "rejected: {msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit() {
        let mut r = RateLimit::new(Duration::from_secs(60));
        assert_eq!(r.check(), Some(0));
        assert_eq!(r.check(), None);
        assert_eq!(r.check(), None);
        r.last = Some(Instant::now() - Duration::from_secs(61));
        assert_eq!(r.check(), Some(2));
    }
}
