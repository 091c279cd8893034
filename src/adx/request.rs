//! One query round trip to ADX's v2 query endpoint: the request body and headers, and the
//! mapping of every kind of answer (frames, error bodies, timeouts) to a result.

use std::time::Duration;

use reqwest::{StatusCode, Url, header};
use serde_json::json;

use super::auth::TokenSource;
use super::frames::{self, DataSet, FrameError};
use super::retry::{self, Failure};
use crate::backend::BackendError;
use crate::kql::TableName;

#[derive(Debug, Clone)]
pub struct AdxConfig {
    /// The cluster's query URI, e.g. `https://mycluster.westeurope.kusto.windows.net`
    /// (`http://` is allowed for local engines).
    pub cluster: Url,
    pub database: String,
    pub table: TableName,
    /// Server-side and client-side limit for one query.
    pub timeout: Duration,
    /// Transient failures are retried while the next attempt would start within this window.
    pub retry_window: Duration,
    /// Lets ADX answer from its own results cache when a result this fresh exists, so that
    /// several replicas of this service share one computation. `None` sends no such option.
    pub results_cache_max_age: Option<Duration>,
}

impl AdxConfig {
    fn endpoint(&self) -> Url {
        let mut url = self.cluster.clone();
        url.set_path("/v2/rest/query");
        url
    }
}

pub async fn run(
    http: &reqwest::Client,
    config: &AdxConfig,
    auth: Option<&TokenSource>,
    csl: &str,
) -> Result<DataSet, BackendError> {
    let mut options = json!({
        "servertimeout": timespan(config.timeout),
        "request_readonly": true,
    });
    if let Some(age) = config.results_cache_max_age {
        options["query_results_cache_max_age"] = timespan(age).into();
    }
    let body = json!({ "db": config.database, "csl": csl, "properties": { "Options": options } });
    retry::with_retries(config.retry_window, || attempt(http, config, auth, &body)).await
}

async fn attempt(
    http: &reqwest::Client,
    config: &AdxConfig,
    auth: Option<&TokenSource>,
    body: &serde_json::Value,
) -> Result<DataSet, Failure> {
    let request_id = format!("leaderboard;{}", uuid::Uuid::new_v4());
    let mut request = http
        .post(config.endpoint())
        .timeout(config.timeout)
        .header("x-ms-client-request-id", &request_id)
        .header("x-ms-app", "leaderboard")
        .header(header::ACCEPT, "application/json")
        .json(body);
    if let Some(auth) = auth {
        let value = auth
            .authorization()
            .await
            .map_err(|e| Failure::fatal(BackendError::Unreachable(e.to_string())))?;
        request = request.header(header::AUTHORIZATION, value);
    }
    tracing::debug!(%request_id, "ADX query");
    let response = request.send().await.map_err(|e| transport(e, config.timeout))?;
    let status = response.status();
    let after = retry::retry_after(response.headers());
    let bytes = response.bytes().await.map_err(|e| transport(e, config.timeout))?;
    if status != StatusCode::OK {
        return Err(service_error(status, &bytes, after));
    }
    frames::parse(&bytes).map_err(|e| {
        Failure::fatal(match e {
            FrameError::QueryFailed { code, message } => BackendError::Rejected { code, message },
            FrameError::Cancelled => {
                BackendError::Rejected { code: "Cancelled".into(), message: e.to_string() }
            }
            FrameError::Malformed(m) => BackendError::Malformed(m),
        })
    })
}

/// A non-200 answer. ADX marks each error `@permanent`; without the mark, 5xx and 429 are
/// taken as transient and everything else as final.
fn service_error(status: StatusCode, body: &[u8], after: Option<std::time::Duration>) -> Failure {
    let error = frames::parse_service_error(body);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let throttled = BackendError::Throttled(format!("{}: {}", error.code, error.message));
        return Failure::transient(throttled, after);
    }
    let transient = error.permanent.map_or(status.is_server_error(), |permanent| !permanent);
    let rejected = BackendError::Rejected {
        code: format!("HTTP {} {}", status.as_u16(), error.code),
        message: error.message,
    };
    if transient { Failure::transient(rejected, after) } else { Failure::fatal(rejected) }
}

/// No usable answer: a timeout is final (the budget is spent), a broken connection is not.
fn transport(error: reqwest::Error, timeout: Duration) -> Failure {
    if error.is_timeout() {
        Failure::fatal(BackendError::Timeout(timeout))
    } else {
        // Without the URL: it can carry nothing secret today, but error text reaches clients.
        Failure::transient(BackendError::Unreachable(error.without_url().to_string()), None)
    }
}

/// A KQL timespan, `[d.]hh:mm:ss.fffffff`.
fn timespan(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let ticks = d.subsec_nanos() / 100;
    let day = if days > 0 { format!("{days}.") } else { String::new() };
    format!("{day}{h:02}:{m:02}:{s:02}.{ticks:07}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_are_kql_literals() {
        assert_eq!(timespan(Duration::from_secs(5)), "00:00:05.0000000");
        assert_eq!(timespan(Duration::from_millis(1500)), "00:00:01.5000000");
        assert_eq!(timespan(Duration::from_secs(90_061)), "1.01:01:01.0000000");
        assert_eq!(timespan(Duration::ZERO), "00:00:00.0000000");
    }

    #[test]
    fn endpoint_replaces_any_path() {
        let config = AdxConfig {
            cluster: Url::parse("https://c.westeurope.kusto.windows.net/ignored").unwrap(),
            database: "leaderboard".into(),
            table: TableName::default(),
            timeout: Duration::from_secs(5),
            retry_window: Duration::from_secs(5),
            results_cache_max_age: None,
        };
        assert_eq!(config.endpoint().as_str(), "https://c.westeurope.kusto.windows.net/v2/rest/query");
    }
}
