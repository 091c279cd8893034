//! Operational endpoints: liveness, readiness and metrics (not part of the public API).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tokio::sync::Mutex;

use super::AppState;
use super::problem::ApiError;
use crate::backend::Backend;

/// The process is up and serving HTTP.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready for traffic: the campaigns are loaded (the server does not start without them) and
/// the backend answers its ping, as probed at most every few seconds. The Kafka consumer's
/// state follows, for the operator: the brokers being gone does not make the server unready,
/// since the boards are still served from the store.
pub async fn readyz(State(state): State<AppState>) -> Result<String, ApiError> {
    state.readiness.check(&**state.engine.backend()).await.map_err(ApiError::NotReady)?;
    let reports: String = state.readiness.reports.iter().map(|report| report()).collect();
    Ok(format!("ready\n{reports}"))
}

/// How long one probe's verdict stands: load balancers poll often, ADX should not notice.
const PROBE_TTL: Duration = Duration::from_secs(5);
/// A ping slower than this is as good as none.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a part of the service says of itself under `/readyz`'s first line (the Kafka consumer's
/// state, say): lines of text.
pub type Report = Box<dyn Fn() -> String + Send + Sync>;

/// The last backend probe. Callers queue on the lock, so at most one ping is ever in flight.
pub struct Readiness {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
    reports: Vec<Report>,
}

impl Readiness {
    /// Readiness that also shows `reports`.
    pub fn new(reports: Vec<Report>) -> Arc<Self> {
        Arc::new(Self { last: Mutex::default(), reports })
    }

    async fn check(&self, backend: &dyn Backend) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, verdict)) = &*last
            && at.elapsed() < PROBE_TTL
        {
            return verdict.clone();
        }
        let verdict = match tokio::time::timeout(PROBE_TIMEOUT, backend.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the {} backend does not answer: {e}", backend.name())),
            Err(_) => Err(format!("the {} backend did not answer within {PROBE_TIMEOUT:?}", backend.name())),
        };
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    state.engine.observe();
    ([(header::CONTENT_TYPE, content_type)], state.engine.metrics().render())
}
