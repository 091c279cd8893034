//! One query round trip to ADX's v2 query endpoint, as Microsoft's SDKs make it: the request
//! body and headers, a deadline for the answer to start (not for its download), the body decoded
//! as it arrives on a blocking thread, and the mapping of every kind of answer (frames, error
//! bodies, in-stream failures, timeouts, a refused token) to a result.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::json;

use super::auth::{AuthError, TokenSource};
use super::frames::{self, FrameError, Sink};
use super::incidents::Incidents;
use super::retry::{self, Failure};
use crate::backend::BackendError;
use crate::kql::TableName;

#[derive(Debug, Clone)]
pub struct AdxConfig {
    /// The cluster's query URI, e.g. `https://mycluster.westeurope.kusto.windows.net` (a path
    /// prefix is kept, for proxies and gateways; `http://` only for local engines, with no token).
    pub cluster: Url,
    pub database: String,
    pub table: TableName,
    /// Server-side limit for one query (`servertimeout`); the client waits `margin` longer for
    /// the answer to start, so that ADX's own timeout error arrives and is reported.
    pub timeout: Duration,
    /// [`TIMEOUT_MARGIN`], but for tests.
    pub margin: Duration,
    /// Transient failures are retried while the next attempt would start within this window.
    pub retry_window: Duration,
    /// Lets ADX answer from its own results cache when a result this fresh exists, so that
    /// several replicas of this service share one computation. `None` sends no such option.
    pub results_cache_max_age: Option<Duration>,
}

/// How much longer than `servertimeout` the client waits for an answer to start, and for each
/// part of its body once it has.
pub const TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// The largest answer read: a snapshot of a million standings is about 60 MB of JSON, and
/// anything much larger is not an answer this service asked for.
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// The largest error body read.
const MAX_ERROR_BYTES: usize = 1 << 20;

/// What clients see of a backend's message; the whole text goes to the logs.
const MAX_CLIENT_MESSAGE_CHARS: usize = 300;

/// The REST API version the SDKs announce.
const API_VERSION: &str = "2024-12-12";
const CLIENT_VERSION: &str = concat!("Kusto.Leaderboard:", env!("CARGO_PKG_VERSION"));

/// Body parts in flight between the download and the decoder.
const CHUNKS_IN_FLIGHT: usize = 16;

impl AdxConfig {
    /// How long the client waits for an answer to start, and then for each part of it.
    fn wait(&self) -> Duration {
        self.timeout + self.margin
    }

    /// `/v2/rest/query` under the cluster URL's own path.
    fn endpoint(&self) -> Url {
        super::endpoint(&self.cluster, "v2/rest/query")
    }

    /// Real clusters truncate answers past 500,000 rows or 64 MB, which a full snapshot
    /// exceeds; the query's own row cap and [`MAX_ANSWER_BYTES`] bound the answer instead.
    /// Local engines over `http://` (such as duckdb-kql) never truncate and refuse the option.
    fn no_truncation(&self) -> bool {
        self.cluster.scheme() == "https"
    }
}

/// Runs `csl`, its result rows going to the sink `new_sink` makes for each attempt.
pub async fn run<S, F>(
    http: &reqwest::Client,
    config: &AdxConfig,
    auth: Option<&TokenSource>,
    incidents: &Incidents,
    csl: &str,
    new_sink: F,
) -> Result<S, BackendError>
where
    S: Sink + Send + 'static,
    F: Fn() -> S,
{
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
    let body = Bytes::from(serde_json::to_vec(&body).expect("JSON values serialize"));
    let answer = retry::with_retries(config.retry_window, || {
        let call = Call { http, config, auth, incidents, deadline };
        call.attempt(body.clone(), new_sink())
    })
    .await;
    if answer.is_ok() {
        incidents.answered();
    }
    answer
}

struct Call<'a> {
    http: &'a reqwest::Client,
    config: &'a AdxConfig,
    auth: Option<&'a TokenSource>,
    incidents: &'a Incidents,
    /// The end of the request's budget (token waits count against it).
    deadline: Instant,
}

impl Call<'_> {
    /// One try. A token the cluster refuses (401) is dropped and the query sent once more with a
    /// new one, as the SDKs do.
    async fn attempt<S: Sink + Send + 'static>(self, body: Bytes, sink: S) -> Result<S, Failure> {
        let (timeout, wait) = (self.config.timeout, self.config.wait());
        let mut refused = false;
        loop {
            let request_id = format!("leaderboard;{}", uuid::Uuid::new_v4());
            let authorization = self.authorization().await?;
            let response = self.send(body.clone(), authorization.clone(), &request_id).await?;
            let status = response.status();
            if status == StatusCode::OK {
                return decode(response, sink, wait)
                    .await
                    .map_err(|e| e.into_failure(self.incidents, &request_id, timeout));
            }
            if status == StatusCode::UNAUTHORIZED
                && let (Some(auth), Some(value)) = (self.auth, &authorization)
            {
                auth.reject(value);
                if !std::mem::replace(&mut refused, true) {
                    continue;
                }
            }
            let after = retry::retry_after(response.headers());
            let body = read_capped(response, MAX_ERROR_BYTES, wait).await;
            let refusal = Refusal { status, body: &body, after, request_id: &request_id };
            return Err(refusal.failure(self.incidents, timeout));
        }
    }

    /// The Authorization header, when the cluster takes tokens; waiting for one counts against
    /// the request's budget.
    async fn authorization(&self) -> Result<Option<HeaderValue>, Failure> {
        let Some(auth) = self.auth else { return Ok(None) };
        let window = self.config.retry_window;
        let wait = self.deadline.saturating_duration_since(Instant::now());
        auth.authorization(window, wait).await.map(Some).map_err(|e| {
            Failure::fatal(match e {
                AuthError::Timeout { .. } => BackendError::Timeout(window),
                AuthError::Failed { .. } => BackendError::Unreachable(e.to_string()),
            })
        })
    }

    /// Sends the query and waits for the answer to start: ADX's timeout model, where the client
    /// waits for the answer to start, not for its download.
    async fn send(
        &self,
        body: Bytes,
        authorization: Option<HeaderValue>,
        request_id: &str,
    ) -> Result<reqwest::Response, Failure> {
        let config = self.config;
        let mut request = self
            .http
            .post(config.endpoint())
            .header("x-ms-client-request-id", request_id)
            .header("x-ms-app", "leaderboard")
            .header("x-ms-version", API_VERSION)
            .header("x-ms-client-version", CLIENT_VERSION)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        tracing::debug!(%request_id, "ADX query");
        let started = tokio::time::timeout(config.wait(), request.send()).await;
        started
            .map_err(|_| Failure::fatal(BackendError::Timeout(config.timeout)))?
            .map_err(|e| transport(e, config.timeout))
    }
}

/// How a 200 answer ended, short of success.
enum Broken {
    Frames(FrameError),
    Transport(reqwest::Error),
    IdleTimeout,
    TooLarge,
}

impl Broken {
    fn into_failure(self, incidents: &Incidents, request_id: &str, timeout: Duration) -> Failure {
        match self {
            Broken::Frames(e) if e.is_timeout() => {
                out_of_time(incidents, &e.to_string(), request_id, timeout)
            }
            Broken::Frames(FrameError::QueryFailed { code, message, permanent }) => {
                let error = rejected(incidents, code, &message, request_id);
                // In-stream failures say whether retrying can help; without the mark they are final.
                if permanent == Some(false) { Failure::transient(error, None) } else { Failure::fatal(error) }
            }
            Broken::Frames(e @ FrameError::Cancelled) => {
                Failure::fatal(rejected(incidents, "Cancelled".into(), &e.to_string(), request_id))
            }
            Broken::Frames(FrameError::Malformed(m)) => Failure::fatal(BackendError::Malformed(m)),
            Broken::Transport(e) => transport(e, timeout),
            Broken::IdleTimeout => Failure::fatal(BackendError::Timeout(timeout)),
            Broken::TooLarge => Failure::fatal(BackendError::Malformed(format!(
                "the answer is larger than {} MiB",
                MAX_ANSWER_BYTES >> 20
            ))),
        }
    }
}

/// Downloads the body while a blocking thread decodes it into `sink`, part by part, so that
/// neither the whole body nor its JSON is ever held, and no async worker parses.
async fn decode<S: Sink + Send + 'static>(
    mut response: reqwest::Response,
    mut sink: S,
    wait: Duration,
) -> Result<S, Broken> {
    if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(Broken::TooLarge);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let decoder = tokio::task::spawn_blocking(move || {
        frames::decode(Chunks { rx, current: Bytes::new() }, &mut sink).map(|_| sink)
    });
    let download = async {
        let mut read = 0usize;
        loop {
            let next = tokio::time::timeout(wait, response.chunk()).await;
            let Some(chunk) = next.map_err(|_| Broken::IdleTimeout)?.map_err(Broken::Transport)? else {
                return Ok(());
            };
            read += chunk.len();
            if read > MAX_ANSWER_BYTES {
                return Err(Broken::TooLarge);
            }
            if tx.send(chunk).await.is_err() {
                return Ok(()); // the decoder stopped early: its result says why
            }
        }
    };
    let downloaded = download.await;
    drop(tx);
    let decoded = decoder.await.expect("decoding does not panic");
    match (downloaded, decoded) {
        (Ok(()), Ok(sink)) => Ok(sink),
        // A broken download makes the decoder see a cut stream: the download's error is the cause.
        (Err(broken), _) => Err(broken),
        (Ok(()), Err(e)) => Err(Broken::Frames(e)),
    }
}

/// The body parts, as a reader for the decoder.
struct Chunks {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// A (small) body, read up to `cap` bytes, or as far as it arrives in time.
async fn read_capped(mut response: reqwest::Response, cap: usize, wait: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(wait, response.chunk()).await {
        if body.len() + chunk.len() > cap {
            body.extend_from_slice(&chunk[..cap - body.len()]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    body
}

/// ADX's error for clients: its code and the start of its message; the whole message is logged
/// (once for a run of the same refusal).
fn rejected(incidents: &Incidents, code: String, message: &str, request_id: &str) -> BackendError {
    incidents.refused(&code, message, request_id);
    let mut short: String = message.chars().take(MAX_CLIENT_MESSAGE_CHARS).collect();
    if short.len() < message.len() {
        short.push('…');
    }
    BackendError::Rejected { code, message: short }
}

/// A non-200 answer.
struct Refusal<'a> {
    status: StatusCode,
    body: &'a [u8],
    /// Its `Retry-After`.
    after: Option<Duration>,
    request_id: &'a str,
}

impl Refusal<'_> {
    /// ADX marks each error `@permanent`; without the mark, 5xx and 429 are taken as transient
    /// and everything else as final. A 504, or ADX's "Query is expired", is the query's time
    /// spent (not tried again); a redirect is not followed, as Microsoft's SDKs follow none: it
    /// would send the query, and the token with it, wherever the answer points.
    fn failure(self, incidents: &Incidents, timeout: Duration) -> Failure {
        let Self { status, body, after, request_id } = self;
        if status.is_redirection() {
            return Failure::fatal(BackendError::Unreachable(format!(
                "the cluster answered HTTP {status}, a redirect, which is not followed: set --adx-cluster to \
                 the URL that answers queries"
            )));
        }
        let error = frames::parse_service_error(body);
        if status == StatusCode::GATEWAY_TIMEOUT || frames::out_of_time(&error.code, &error.message) {
            return out_of_time(incidents, &error.message, request_id, timeout);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let throttled = BackendError::Throttled(format!("{}: {}", error.code, error.message));
            return Failure::transient(throttled, after);
        }
        let transient = error.permanent.map_or(status.is_server_error(), |permanent| !permanent);
        let code = format!("HTTP {} {}", status.as_u16(), error.code);
        let rejected = rejected(incidents, code, &error.message, request_id);
        if transient { Failure::transient(rejected, after) } else { Failure::fatal(rejected) }
    }
}

/// ADX gave up on the query for lack of time: final (the budget is spent), and logged as its
/// refusals are, once for a run of them.
fn out_of_time(incidents: &Incidents, message: &str, request_id: &str, timeout: Duration) -> Failure {
    incidents.refused("out of time", message, request_id);
    Failure::fatal(BackendError::Timeout(timeout))
}

/// No usable answer: a connection that could not be made (refused, reset, or not made in time)
/// is tried again; a timeout once connected is final (the budget is spent).
fn transport(error: reqwest::Error, timeout: Duration) -> Failure {
    if error.is_timeout() && !error.is_connect() {
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
mod tests;
