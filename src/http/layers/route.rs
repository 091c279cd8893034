//! What each route adds to the stack, resolved on its first request and kept: its metric
//! handles (left in the request's [`Matched`] slot for the metrics layer), and for the API
//! routes (the ones in the OpenAPI document) the in-flight limit: a request that finds no free
//! slot is refused at once, so a burst costs clients a retry instead of everyone a queue. One
//! layer for both, so that a request passes one boxed service per route rather than two; it
//! also refuses, on every route and fallback, a request without the one valid `Host` field
//! that HTTP/1.1 requires.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use axum::extract::{MatchedPath, Request};
use axum::http::uri::Authority;
use axum::http::{Version, header};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::observe::Matched;
use crate::http::problem::ApiError;
use crate::metrics::{Metrics, RouteMetrics};

#[derive(Clone)]
pub struct RouteLayer(Arc<Routes>);

struct Routes {
    metrics: Arc<Metrics>,
    /// The templates of the routes under the in-flight limit.
    limited: HashSet<String>,
    slots: Arc<Slots>,
}

impl RouteLayer {
    /// `limited` routes share `max_in_flight` slots.
    pub fn new(metrics: Arc<Metrics>, limited: HashSet<String>, max_in_flight: usize) -> Self {
        let slots = Arc::new(Slots { taken: AtomicUsize::new(0), max: max_in_flight });
        Self(Arc::new(Routes { metrics, limited, slots }))
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = RouteService<S>;

    /// Once per route (and per fallback), each with its own resolution.
    fn layer(&self, inner: S) -> RouteService<S> {
        RouteService { inner, route: Arc::new(Route { routes: self.0.clone(), resolved: OnceLock::new() }) }
    }
}

struct Route {
    routes: Arc<Routes>,
    /// `None` for a fallback that answers requests no route matched.
    resolved: OnceLock<Option<Resolved>>,
}

struct Resolved {
    template: Box<str>,
    metrics: Arc<RouteMetrics>,
    limited: bool,
}

impl Route {
    fn resolve(&self, template: Option<&MatchedPath>) -> Option<Resolved> {
        let template = template?.as_str();
        let metrics = self.routes.metrics.route(template);
        let limited = self.routes.limited.contains(template);
        Some(Resolved { template: template.into(), metrics, limited })
    }
}

#[derive(Clone)]
pub struct RouteService<S> {
    inner: S,
    route: Arc<Route>,
}

impl<S> Service<Request> for RouteService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(refusal) = misaddressed(&request) {
            return RouteFuture::Refused {
                response: Some(ApiError::BadRequest(refusal.into()).into_response()),
            };
        }
        let route = &self.route;
        let resolved = route.resolved.get_or_init(|| route.resolve(request.extensions().get()));
        let Some(resolved) = resolved else {
            return RouteFuture::Admitted { inner: self.inner.call(request), slot: None };
        };
        if let Some(matched) = request.extensions().get::<Matched>() {
            matched.set(&resolved.metrics);
        }
        // The request's span (entered while the router polls its route) learns the route.
        tracing::Span::current().record("route", &*resolved.template);
        if !resolved.limited {
            return RouteFuture::Admitted { inner: self.inner.call(request), slot: None };
        }
        match route.routes.slots.take() {
            Some(slot) => RouteFuture::Admitted { inner: self.inner.call(request), slot: Some(slot) },
            None => RouteFuture::Refused { response: Some(ApiError::Overloaded.into_response()) },
        }
    }
}

/// Why `request` is refused as HTTP/1.1 requires of a server (RFC 9112, section 3.2): an
/// HTTP/1.1 request without a `Host` field, or any with more than one or with one that is not
/// a host and optional port.
fn misaddressed(request: &Request) -> Option<&'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if request.version() == Version::HTTP_11 => Some("an HTTP/1.1 request needs a Host header"),
        (None, _) => None,
        (Some(_), Some(_)) => Some("a request may have one Host header, not several"),
        (Some(host), None) => {
            let valid = Authority::try_from(host.as_bytes()).is_ok_and(|host| {
                // No user info; a port, when given, of digits (an empty one is allowed).
                let text = host.as_str();
                !text.contains('@') && (text.len() <= host.host().len() + 1 || host.port_u16().is_some())
            });
            (!valid).then_some("the Host header is not a host and optional port")
        }
    }
}

/// The in-flight slots of the API routes: a count, since no request waits for one (a
/// semaphore's release would take its waiters' lock on every answer).
struct Slots {
    taken: AtomicUsize,
    max: usize,
}

impl Slots {
    /// A slot, if one is free.
    fn take(self: &Arc<Self>) -> Option<Slot> {
        let free = |taken: usize| (taken < self.max).then_some(taken + 1);
        self.taken.fetch_update(Ordering::Acquire, Ordering::Relaxed, free).ok()?;
        Some(Slot(self.clone()))
    }
}

/// A request's slot, given back when its answer is ready.
pub struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::Release);
    }
}

pin_project! {
    #[project = Projected]
    pub enum RouteFuture<F> {
        /// Answered by the route, holding its in-flight slot (if limited) until it answers.
        Admitted { #[pin] inner: F, slot: Option<Slot> },
        Refused { response: Option<Response> },
    }
}

impl<F> Future for RouteFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Admitted { inner, slot } => {
                let answered = ready!(inner.poll(cx));
                slot.take();
                Poll::Ready(answered)
            }
            Projected::Refused { response } => Poll::Ready(Ok(response.take().expect("polled once"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Version;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{Slots, misaddressed};

    fn request(version: Version, hosts: &[&str]) -> axum::extract::Request {
        let mut request = axum::http::Request::builder().version(version).uri("/healthz");
        for host in hosts {
            request = request.header("host", *host);
        }
        request.body(Body::empty()).unwrap()
    }

    #[test]
    fn one_valid_host_is_required_of_http_1_1_and_checked_whenever_given() {
        let refused = |version, hosts: &[&str]| misaddressed(&request(version, hosts)).is_some();
        for hosts in
            [&["example.com"][..], &["127.0.0.1:8080"], &["[::1]:80"], &["Game.Example.com:443"], &["a:"]]
        {
            assert!(!refused(Version::HTTP_11, hosts), "{hosts:?}");
            assert!(!refused(Version::HTTP_10, hosts), "{hosts:?}");
        }
        assert!(!refused(Version::HTTP_10, &[]), "HTTP/1.0 has no Host to require");
        assert!(refused(Version::HTTP_11, &[]));
        for hosts in [&["a", "b"][..], &["a", "a"], &["user@a"], &["a b"], &["a/b"], &["a:port"], &[""]] {
            assert!(refused(Version::HTTP_11, hosts), "{hosts:?}");
            assert!(refused(Version::HTTP_10, hosts), "{hosts:?}");
        }
    }

    #[test]
    fn in_flight_slots_are_counted_and_given_back() {
        let slots = Arc::new(Slots { taken: AtomicUsize::new(0), max: 2 });
        let (first, second) = (slots.take().expect("free"), slots.take().expect("free"));
        assert!(slots.take().is_none(), "both taken");
        drop(first);
        let third = slots.take().expect("given back with its answer");
        assert!(slots.take().is_none());
        drop((second, third));
        assert_eq!(slots.taken.load(Ordering::Relaxed), 0);
    }
}
