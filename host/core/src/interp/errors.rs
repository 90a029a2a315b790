//! Retry and Catch: which error names a retrier or catcher matches, and retry delays.

use crate::error::names;
use crate::model::{Jitter, Retrier};
use crate::rng::Rng;

/// Whether an `ErrorEquals` list matches `error`, by AWS's rules: `States.ALL` matches anything
/// but `States.Runtime` (AWS's recordings show it catching `States.DataLimitExceeded` from a task
/// result); `States.TaskFailed` matches anything but those two and the timeouts.
pub fn matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|e| {
        e == error
            || match e.as_str() {
                names::ALL => error != names::RUNTIME,
                names::TASK_FAILED => {
                    !is_terminal(error)
                        && error != names::TIMEOUT
                        && error != names::HEARTBEAT_TIMEOUT
                }
                names::TIMEOUT => error == names::HEARTBEAT_TIMEOUT,
                _ => false,
            }
    })
}

fn is_terminal(error: &str) -> bool {
    error == names::RUNTIME || error == names::DATA_LIMIT_EXCEEDED
}

/// Seconds to wait before retry number `attempt` (1-based) of `r`.
pub fn retry_delay(r: &Retrier, attempt: u32, rng: &mut Rng) -> f64 {
    let mut d = r.interval_seconds as f64 * r.backoff_rate.powi(attempt.saturating_sub(1) as i32);
    if let Some(max) = r.max_delay_seconds {
        d = d.min(max as f64);
    }
    if !d.is_finite() {
        d = 31_622_401.0;
    }
    match r.jitter {
        Jitter::None => d,
        Jitter::Full => d * rng.next_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards() {
        assert!(matches(&v(&["States.ALL"]), "Custom"));
        assert!(!matches(&v(&["States.ALL"]), "States.Runtime"));
        assert!(matches(&v(&["States.ALL"]), "States.DataLimitExceeded"));
        assert!(!matches(
            &v(&["States.TaskFailed"]),
            "States.DataLimitExceeded"
        ));
        assert!(matches(&v(&["States.Runtime"]), "States.Runtime"));
        assert!(matches(&v(&["States.TaskFailed"]), "Exception"));
        assert!(!matches(&v(&["States.TaskFailed"]), "States.Timeout"));
        assert!(matches(&v(&["States.Timeout"]), "States.HeartbeatTimeout"));
        assert!(!matches(&v(&["A", "B"]), "C"));
    }

    #[test]
    fn backoff_and_cap() {
        let r = Retrier {
            error_equals: v(&["States.ALL"]),
            interval_seconds: 2,
            max_attempts: 5,
            backoff_rate: 3.0,
            max_delay_seconds: Some(10),
            jitter: Jitter::None,
        };
        let mut rng = Rng::new(1);
        assert_eq!(retry_delay(&r, 1, &mut rng), 2.0);
        assert_eq!(retry_delay(&r, 2, &mut rng), 6.0);
        assert_eq!(retry_delay(&r, 3, &mut rng), 10.0);
        let j = Retrier {
            jitter: Jitter::Full,
            ..r
        };
        let d = retry_delay(&j, 2, &mut rng);
        assert!((0.0..6.0).contains(&d));
    }
}
