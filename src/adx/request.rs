//! One query round trip to ADX's v2 query endpoint: the request body and headers, and the
//! mapping of every kind of answer (frames, error bodies, timeouts) to a result.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url, header};
use serde_json::json;

use super::auth::{AuthError, TokenSource};
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
    /// Server-side limit for one query (`servertimeout`); the client waits [`TIMEOUT_MARGIN`]
    /// longer, so that ADX's own timeout error arrives and is reported.
    pub timeout: Duration,
    /// Transient failures are retried while the next attempt would start within this window.
    pub retry_window: Duration,
    /// Lets ADX answer from its own results cache when a result this fresh exists, so that
    /// several replicas of this service share one computation. `None` sends no such option.
    pub results_cache_max_age: Option<Duration>,
}

/// How much longer than `servertimeout` the client waits for an answer.
pub const TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// The largest answer read into memory: a snapshot of a million standings is about 100 MB of
/// JSON, and anything much larger is not an answer this service asked for.
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// What clients see of a backend's message; the whole text goes to the logs.
const MAX_CLIENT_MESSAGE_CHARS: usize = 300;

impl AdxConfig {
    fn endpoint(&self) -> Url {
        let mut url = self.cluster.clone();
        url.set_path("/v2/rest/query");
        url
    }

    /// Real clusters truncate answers past 500,000 rows or 64 MB, which a full snapshot
    /// exceeds; the query's own row cap and [`MAX_ANSWER_BYTES`] bound the answer instead.
    /// Local engines over `http://` (such as duckdb-kql) never truncate and refuse the option.
    fn no_truncation(&self) -> bool {
        self.cluster.scheme() == "https"
    }
}

pub async fn run(
    http: &reqwest::Client,
    config: &AdxConfig,
    auth: Option<&TokenSource>,
    csl: &str,
) -> Result<DataSet, BackendError> {
    let deadline = Instant::now() + config.retry_window;
    let mut options = json!({
        "servertimeout": timespan(config.timeout),
        "request_readonly": true,
    });
    if let Some(age) = config.results_cache_max_age {
        options["query_results_cache_max_age"] = timespan(age).into();
    }
    if config.no_truncation() {
        options["notruncation"] = true.into();
    }
    let body = json!({ "db": config.database, "csl": csl, "properties": { "Options": options } });
    let body = bytes::Bytes::from(serde_json::to_vec(&body).expect("JSON values serialize"));
    retry::with_retries(config.retry_window, || attempt(http, config, auth, body.clone(), deadline)).await
}

/// One try; the token wait counts against the request budget that ends at `deadline`.
async fn attempt(
    http: &reqwest::Client,
    config: &AdxConfig,
    auth: Option<&TokenSource>,
    body: bytes::Bytes,
    deadline: Instant,
) -> Result<DataSet, Failure> {
    let request_id = format!("leaderboard;{}", uuid::Uuid::new_v4());
    let mut request = http
        .post(config.endpoint())
        .timeout(config.timeout + TIMEOUT_MARGIN)
        .header("x-ms-client-request-id", &request_id)
        .header("x-ms-app", "leaderboard")
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body);
    if let Some(auth) = auth {
        let wait = deadline.saturating_duration_since(Instant::now());
        let value = auth.authorization(config.retry_window, wait).await.map_err(|e| {
            Failure::fatal(match e {
                AuthError::Timeout { .. } => BackendError::Timeout(config.retry_window),
                AuthError::Failed { .. } => BackendError::Unreachable(e.to_string()),
            })
        })?;
        request = request.header(header::AUTHORIZATION, value);
    }
    tracing::debug!(%request_id, "ADX query");
    let response = request.send().await.map_err(|e| transport(e, config.timeout))?;
    let status = response.status();
    let after = retry::retry_after(response.headers());
    let bytes = read_capped(response, MAX_ANSWER_BYTES).await.map_err(|e| match e {
        Capped::Transport(e) => transport(e, config.timeout),
        Capped::TooLarge => Failure::fatal(BackendError::Malformed(format!(
            "the answer is larger than {} MiB",
            MAX_ANSWER_BYTES >> 20
        ))),
    })?;
    if status != StatusCode::OK {
        return Err(service_error(status, &bytes, after, &request_id));
    }
    frames::parse(&bytes).map_err(|e| {
        Failure::fatal(match e {
            FrameError::QueryFailed { code, message } => rejected(code, &message, &request_id),
            FrameError::Cancelled => rejected("Cancelled".into(), &e.to_string(), &request_id),
            FrameError::Malformed(m) => BackendError::Malformed(m),
        })
    })
}

enum Capped {
    Transport(reqwest::Error),
    TooLarge,
}

/// The (decompressed) body, refused once it passes `cap` bytes.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, Capped> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(Capped::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Capped::Transport)? {
        if body.len() + chunk.len() > cap {
            return Err(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// ADX's error for clients: its code and the start of its message; the whole message is logged.
fn rejected(code: String, message: &str, request_id: &str) -> BackendError {
    tracing::warn!(%request_id, code, message, "ADX refused the query");
    let mut short: String = message.chars().take(MAX_CLIENT_MESSAGE_CHARS).collect();
    if short.len() < message.len() {
        short.push('…');
    }
    BackendError::Rejected { code, message: short }
}

/// A non-200 answer. ADX marks each error `@permanent`; without the mark, 5xx and 429 are
/// taken as transient and everything else as final.
fn service_error(status: StatusCode, body: &[u8], after: Option<Duration>, request_id: &str) -> Failure {
    let error = frames::parse_service_error(body);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let throttled = BackendError::Throttled(format!("{}: {}", error.code, error.message));
        return Failure::transient(throttled, after);
    }
    let transient = error.permanent.map_or(status.is_server_error(), |permanent| !permanent);
    let rejected = rejected(format!("HTTP {} {}", status.as_u16(), error.code), &error.message, request_id);
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on 127.0.0.1 answering `response` verbatim.
    async fn answer_once(response: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            socket.write_all(&response).await.unwrap();
        });
        url
    }

    async fn read(response: Vec<u8>, cap: usize) -> Result<Vec<u8>, Capped> {
        let url = answer_once(response).await;
        read_capped(reqwest::get(url).await.unwrap(), cap).await
    }

    #[tokio::test]
    async fn answers_past_the_cap_are_refused_announced_or_not() {
        let body = "x".repeat(2000);
        let sized = format!("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n{body}");
        assert!(matches!(read(sized.clone().into_bytes(), 1000).await, Err(Capped::TooLarge)));
        let chunked =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n{body}\r\n0\r\n\r\n");
        assert!(matches!(read(chunked.clone().into_bytes(), 1000).await, Err(Capped::TooLarge)));
        assert_eq!(read(chunked.into_bytes(), 2000).await.ok().unwrap().len(), 2000);
        assert_eq!(read(sized.into_bytes(), 2000).await.ok().unwrap().len(), 2000);
    }

    #[test]
    fn clients_get_the_code_and_the_start_of_the_message() {
        let message = format!("Semantic error: {}", "é".repeat(5000));
        let BackendError::Rejected { code, message: short } = rejected("SEM0100".into(), &message, "id")
        else {
            panic!("not rejected");
        };
        assert_eq!(code, "SEM0100");
        assert!(short.starts_with("Semantic error: é"), "{short}");
        assert_eq!(short.chars().count(), MAX_CLIENT_MESSAGE_CHARS + 1, "cut, with an ellipsis");
        let BackendError::Rejected { message: whole, .. } = rejected("x".into(), "short", "id") else {
            panic!("not rejected");
        };
        assert_eq!(whole, "short");
    }

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
        assert!(config.no_truncation(), "a real cluster is asked not to truncate");
        let local = AdxConfig { cluster: Url::parse("http://127.0.0.1:8082").unwrap(), ..config };
        assert!(!local.no_truncation(), "local engines refuse the option");
    }
}
