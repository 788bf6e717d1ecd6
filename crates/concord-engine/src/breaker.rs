//! Protection of each target system: a circuit breaker (stop calling a system that keeps
//! failing, try again after a pause) and a token-bucket rate limit. Both are plain state driven
//! by the times passed in, so they are tested without sleeping.

use std::time::{Duration, Instant};

/// The circuit of one system.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    open_for: Duration,
    state: CircuitState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed {
        consecutive_failures: u32,
    },
    /// No calls until the instant; then one trial call.
    Open {
        until: Instant,
    },
    /// One trial call is in flight.
    HalfOpen,
}

impl CircuitBreaker {
    pub fn new(failure_threshold: u32, open_for: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            open_for,
            state: CircuitState::Closed {
                consecutive_failures: 0,
            },
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// May a call go out now? `Err(until)` says when to ask again.
    pub fn allow(&mut self, now: Instant) -> Result<(), Instant> {
        match self.state {
            CircuitState::Closed { .. } => Ok(()),
            CircuitState::Open { until } if now >= until => {
                self.state = CircuitState::HalfOpen;
                Ok(())
            }
            CircuitState::Open { until } => Err(until),
            // While the trial is out, others wait a little and ask again.
            CircuitState::HalfOpen => Err(now + Duration::from_millis(100).min(self.open_for)),
        }
    }

    pub fn on_success(&mut self) {
        self.state = CircuitState::Closed {
            consecutive_failures: 0,
        };
    }

    pub fn on_failure(&mut self, now: Instant) {
        self.state = match self.state {
            CircuitState::Closed {
                consecutive_failures,
            } if consecutive_failures + 1 < self.failure_threshold => CircuitState::Closed {
                consecutive_failures: consecutive_failures + 1,
            },
            _ => CircuitState::Open {
                until: now + self.open_for,
            },
        };
    }
}

/// A token bucket: `rate` calls per second, bursts up to `rate`.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// `rate_per_sec == 0` means unlimited.
    pub fn new(rate_per_sec: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate_per_sec),
            tokens: f64::from(rate_per_sec),
            last: now,
        }
    }

    /// Takes a token, or says how long to wait for one.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Exponential backoff with full jitter: a random delay in `[0, min(max, base * 2^(attempt-1))]`,
/// never less than `base / 2` so a flapping target is not hammered. `random` is in `[0, 1)`.
pub fn backoff(attempt: u32, base: Duration, max: Duration, random: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let ceiling = exp.min(max);
    let floor = (base / 2).min(ceiling);
    floor + (ceiling - floor).mul_f64(random.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_pause() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            b.on_failure(t0);
            assert!(b.allow(t0).is_ok());
        }
        b.on_failure(t0);
        assert_eq!(
            b.allow(t0 + Duration::from_secs(1)),
            Err(t0 + Duration::from_secs(10))
        );
        // After the pause, exactly one trial goes out.
        assert!(b.allow(t0 + Duration::from_secs(10)).is_ok());
        assert!(b.allow(t0 + Duration::from_secs(10)).is_err());
        // A failed trial re-opens, a successful one closes.
        b.on_failure(t0 + Duration::from_secs(10));
        assert!(b.allow(t0 + Duration::from_secs(11)).is_err());
        assert!(b.allow(t0 + Duration::from_secs(20)).is_ok());
        b.on_success();
        assert!(b.allow(t0 + Duration::from_secs(20)).is_ok());
        assert_eq!(
            b.state(),
            CircuitState::Closed {
                consecutive_failures: 0
            }
        );
    }

    #[test]
    fn success_resets_failure_count() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(2, Duration::from_secs(10));
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        assert!(
            b.allow(t0).is_ok(),
            "failures must be consecutive to open the circuit"
        );
    }

    #[test]
    fn rate_limiter_refills_over_time() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(2, t0);
        assert!(r.take(t0).is_ok());
        assert!(r.take(t0).is_ok());
        let wait = r.take(t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(r.take(t0 + Duration::from_millis(500)).is_ok());
        assert!(RateLimiter::new(0, t0).take(t0).is_ok());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        assert_eq!(backoff(1, base, max, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(4, base, max, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(30, base, max, 1.0), max);
        assert_eq!(backoff(30, base, max, 0.0), Duration::from_millis(50));
        assert!(backoff(3, base, max, 0.5) < backoff(3, base, max, 1.0));
    }
}
