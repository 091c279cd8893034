//! Retrying ADX queries: throttling (429), transient service errors (5xx, `@permanent:
//! false`) and connection failures are tried again with exponential backoff and full jitter,
//! honouring `Retry-After`, until the retry window (the request budget) would be overrun.
//! Permanent errors and answers that arrived but could not be used are final.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::backend::BackendError;
use crate::backoff::Backoff;

/// Why an attempt failed, and whether another attempt may succeed.
#[derive(Debug)]
pub struct Failure {
    pub error: BackendError,
    /// `None`: final. `Some(hint)`: transient, with the server's `Retry-After` if it gave one.
    pub retry: Option<Option<Duration>>,
}

impl Failure {
    pub fn fatal(error: BackendError) -> Self {
        Self { error, retry: None }
    }

    pub fn transient(error: BackendError, after: Option<Duration>) -> Self {
        Self { error, retry: Some(after) }
    }
}

/// Full jitter up to a step doubling from 50 ms to 2 s, so retrying replicas spread out.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));

/// Runs `attempt` until it succeeds, fails for good, or the next wait would end past `window`.
pub async fn with_retries<T, F, Fut>(window: Duration, mut attempt: F) -> Result<T, BackendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let started = Instant::now();
    for n in 0.. {
        let failure = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        let Some(hint) = failure.retry else { return Err(failure.error) };
        let delay = hint.unwrap_or_default().max(BACKOFF.up_to(n + 1));
        if started.elapsed() + delay >= window {
            return Err(failure.error);
        }
        tracing::debug!(attempt = n + 1, ?delay, error = %failure.error, "retrying ADX query");
        tokio::time::sleep(delay).await;
    }
    unreachable!("the loop returns")
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn transient() -> Failure {
        Failure::transient(BackendError::Unreachable("reset".into()), None)
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = with_retries(Duration::from_secs(5), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 { Err(transient()) } else { Ok(7) }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn fatal_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(Duration::from_secs(5), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Failure::fatal(BackendError::Rejected { code: "x".into(), message: "y".into() }))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retry_after_beyond_the_window_gives_up_at_once() {
        let started = Instant::now();
        let result: Result<(), _> = with_retries(Duration::from_secs(1), || async {
            Err(Failure::transient(
                BackendError::Throttled("slow down".into()),
                Some(Duration::from_secs(30)),
            ))
        })
        .await;
        assert!(matches!(result, Err(BackendError::Throttled(_))));
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        assert!(retry_after(&headers).unwrap() > Duration::from_secs(100));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
