//! Request metrics: each request's count and latency by route template and status, and the
//! requests in flight. The layer sits outside the panic net and every route's layers, so it
//! sees the status the client gets; the route that answered is told to it through a slot the
//! request carries ([`Matched`]), filled by the route's own layer ([`super::route`]) with the
//! route's metric handles, resolved once per route.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::http::{Request, Response};
use pin_project_lite::pin_project;
use prometheus_client::metrics::gauge::Gauge;
use tower::{Layer, Service};

use crate::metrics::{Metrics, RouteMetrics};

/// The label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// Where the route that answers a request leaves its metric handles.
#[derive(Clone, Default)]
pub struct Matched(Arc<OnceLock<Arc<RouteMetrics>>>);

impl Matched {
    pub fn set(&self, route: &Arc<RouteMetrics>) {
        let _ = self.0.set(route.clone());
    }
}

#[derive(Clone)]
pub struct ObserveLayer(Arc<Shared>);

struct Shared {
    in_flight: Gauge,
    unmatched: Arc<RouteMetrics>,
}

impl ObserveLayer {
    pub fn new(metrics: &Metrics) -> Self {
        Self(Arc::new(Shared { in_flight: metrics.in_flight.clone(), unmatched: metrics.route(UNMATCHED) }))
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, shared: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B, R> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible>,
{
    type Response = Response<R>;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let in_flight = InFlight::enter(self.shared.clone());
        let matched = Matched::default();
        request.extensions_mut().insert(matched.clone());
        Observed { inner: self.inner.call(request), matched, started: Instant::now(), in_flight }
    }
}

pin_project! {
    pub struct Observed<F> {
        #[pin]
        inner: F,
        matched: Matched,
        started: Instant,
        in_flight: InFlight,
    }
}

impl<F, R> Future for Observed<F>
where
    F: Future<Output = Result<Response<R>, Infallible>>,
{
    type Output = Result<Response<R>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        let route = this.matched.0.get().unwrap_or(&this.in_flight.0.unmatched);
        route.record(response.status().as_u16(), this.started.elapsed());
        Poll::Ready(Ok(response))
    }
}

/// Counts a request in flight until dropped, also when the client goes away mid-request.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: Arc<Shared>) -> Self {
        shared.in_flight.inc();
        Self(shared)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}
