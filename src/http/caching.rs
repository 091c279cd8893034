//! HTTP caching of answers (RFC 9110, RFC 9111, RFC 5861): the `Cache-Control` policy, a
//! strong entity tag per content coding, and conditional requests (`If-None-Match` → `304 Not
//! Modified`).
//!
//! Handlers answer through the request's [`Conditions`] (the coding it takes, the tags it
//! holds): a representation encoded ahead is sent in the coding asked for, compressed once for
//! every reader of it ([`Conditions::send`]); an answer whose tag is known before its body
//! ([`Conditions::send_tagged`]) is encoded only when the client does not hold it already.
//! A request that accepts no coding there is gets 406 from the extractor, before its handler runs.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use smallvec::SmallVec;

use super::negotiation::{NotAcceptable, negotiate};
use super::problem::ApiError;
use crate::representation::{Coding, ETag, Representation};

/// How long clients and shared caches may keep an answer.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    cache_control: HeaderValue,
    final_cache_control: HeaderValue,
}

impl CachePolicy {
    /// Fresh for the server's own cache TTL (whole seconds, at least one, the smallest unit
    /// `max-age` has), then usable for `stale` while revalidating or when the origin fails.
    /// Final standings are kept as long as late spins may take to be seen (`reconcile`).
    pub fn new(ttl: std::time::Duration, stale: std::time::Duration, reconcile: std::time::Duration) -> Self {
        let max_age = ttl.as_secs().max(1);
        let stale = stale.as_secs();
        let value =
            format!("public, max-age={max_age}, stale-while-revalidate={stale}, stale-if-error={stale}");
        let final_value = format!("public, max-age={}, stale-if-error=86400", reconcile.as_secs().max(1));
        let header = |value: String| HeaderValue::try_from(value).expect("digits and ASCII");
        Self { cache_control: header(value), final_cache_control: header(final_value) }
    }

    /// The `Cache-Control` of answers that may change.
    pub fn changing(&self) -> &HeaderValue {
        &self.cache_control
    }

    /// The `Cache-Control` of final standings.
    pub fn final_standings(&self) -> &HeaderValue {
        &self.final_cache_control
    }
}

/// What a request says about the representations it takes: the content coding it prefers, and
/// the entity tags it holds (only a GET or HEAD is answered 304).
/// A request that accepts no coding there is is refused here (406), before its handler runs.
///
/// It also takes the request's header map, emptied, for the answer's headers: hyper parses a
/// connection's next request into its last response's map, so on a kept-alive connection the
/// map (an allocation too large for the allocator's thread caches once an answer's headers are
/// in it) is made once, not freed and made again per request.
pub struct Conditions {
    coding: Option<Coding>,
    held: SmallVec<[HeaderValue; 1]>,
    room: HeaderMap,
}

/// The last extractor of a handler, as axum requires of a `FromRequest` (a handler that put
/// one after it would not compile): it takes the request's headers, so nothing may read them
/// after it.
impl<S: Send + Sync> FromRequest<S> for Conditions {
    type Rejection = Response;

    async fn from_request(request: Request, _: &S) -> Result<Self, Response> {
        Self::from_parts(&mut request.into_parts().0).map_err(|NotAcceptable| not_acceptable())
    }
}

impl Conditions {
    /// What `parts` say, and their header map emptied.
    fn from_parts(parts: &mut Parts) -> Result<Self, NotAcceptable> {
        let coding = negotiate(&parts.headers)?;
        let held = match parts.method {
            Method::GET | Method::HEAD => {
                parts.headers.get_all(header::IF_NONE_MATCH).iter().cloned().collect()
            }
            _ => SmallVec::new(),
        };
        let mut room = std::mem::take(&mut parts.headers);
        room.clear();
        Ok(Self { coding, held, room })
    }
}

const VARY: HeaderValue = HeaderValue::from_static("accept-encoding");

impl Conditions {
    /// `representation`, encoded ahead, in the coding the client takes (compressed once, kept
    /// with it); 304 when the client holds it.
    pub fn send(
        self,
        representation: &Representation,
        content_type: HeaderValue,
        cache_control: &HeaderValue,
    ) -> Response {
        let coding = self.coding;
        // The tag first: a client that holds the answer costs no compression.
        let etag = coding.map_or_else(|| representation.etag.clone(), |c| representation.etag.coded(c));
        if self.holds(&etag) {
            return not_modified(self.room, etag.0, cache_control);
        }
        let body = coding.map_or(&representation.body, |c| &representation.coded(c).body);
        ok(self.room, body.clone(), etag.0, coding, content_type, cache_control)
    }

    /// An answer tagged `etag` before it is encoded: `encode` (its JSON) runs only when the
    /// client does not hold it, compressed for this request alone.
    pub fn send_tagged(
        self,
        etag: ETag,
        content_type: HeaderValue,
        cache_control: &HeaderValue,
        encode: impl FnOnce() -> Bytes,
    ) -> Response {
        let coding = self.coding;
        let etag = match coding {
            None => etag,
            Some(coding) => etag.coded(coding),
        };
        if self.holds(&etag) {
            return not_modified(self.room, etag.0, cache_control);
        }
        let body = match coding {
            None => encode(),
            Some(coding) => coding.compress(&encode(), false),
        };
        ok(self.room, body, etag.0, coding, content_type, cache_control)
    }

    /// Whether the client holds `etag` and may be answered 304.
    fn holds(&self, etag: &ETag) -> bool {
        self.held.iter().any(|list| list_matches(list.as_bytes(), etag.0.as_bytes()))
    }
}

fn ok(
    headers: HeaderMap,
    body: Bytes,
    etag: HeaderValue,
    coding: Option<Coding>,
    content_type: HeaderValue,
    cache_control: &HeaderValue,
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = headers;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Some(coding) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.as_str()));
    }
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, cache_control.clone());
    headers.insert(header::VARY, VARY);
    response
}

/// 406: the client takes no coding there is (`identity;q=0` with nothing else it accepts).
fn not_acceptable() -> Response {
    let mut response = ApiError::NotAcceptable.into_response();
    response.headers_mut().insert(header::VARY, VARY);
    response
}

/// RFC 9110 §15.4.5: a 304 carries the fields a 200 would have used to guide caches, and no
/// representation metadata.
fn not_modified(headers: HeaderMap, etag: HeaderValue, cache_control: &HeaderValue) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    *response.headers_mut() = headers;
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, cache_control.clone());
    headers.insert(header::VARY, VARY);
    response
}

/// Whether an `If-None-Match` field value (`*` or a list of entity tags) matches `etag` by weak
/// comparison (RFC 9110 §13.1.2). A malformed list matches nothing past the malformation.
fn list_matches(list: &[u8], etag: &[u8]) -> bool {
    if list.trim_ascii() == b"*" {
        return true;
    }
    let wanted = opaque_tag(etag);
    let mut rest = list;
    loop {
        rest = rest.trim_ascii_start();
        rest = rest.strip_prefix(b",").unwrap_or(rest).trim_ascii_start();
        if rest.is_empty() {
            return false;
        }
        rest = rest.strip_prefix(b"W/").unwrap_or(rest);
        let Some(quoted) = rest.strip_prefix(b"\"") else {
            return false;
        };
        let Some(end) = quoted.iter().position(|&b| b == b'"') else {
            return false;
        };
        if Some(&quoted[..end]) == wanted {
            return true;
        }
        rest = &quoted[end + 1..];
    }
}

/// The tag's characters between the quotes, whether or not it is weak.
fn opaque_tag(etag: &[u8]) -> Option<&[u8]> {
    let etag = etag.strip_prefix(b"W/").unwrap_or(etag);
    etag.strip_prefix(b"\"")?.strip_suffix(b"\"")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::Request;

    use super::*;

    const TAG: &[u8] = b"\"abc\"";

    #[test]
    fn if_none_match_compares_weakly_over_lists_and_star() {
        for list in
            ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", " \"x\" ,W/\"abc\" ", "*", " * ", "\"a,b\", \"abc\""]
        {
            assert!(list_matches(list.as_bytes(), TAG), "{list}");
        }
        for list in ["\"abcd\"", "abc", "\"ab\"c\"", "", ",,", "W/abc", "\"x\", abc, \"abc\"", "\"abc"] {
            assert!(!list_matches(list.as_bytes(), TAG), "{list}");
        }
    }

    #[test]
    fn policy_rounds_to_whole_seconds_of_at_least_one() {
        let policy = CachePolicy::new(Duration::from_millis(300), Duration::from_secs(60), Duration::ZERO);
        assert_eq!(policy.changing(), "public, max-age=1, stale-while-revalidate=60, stale-if-error=60");
        assert_eq!(policy.final_standings(), "public, max-age=1, stale-if-error=86400");
        let policy = CachePolicy::new(Duration::from_millis(2500), Duration::ZERO, Duration::from_secs(600));
        assert_eq!(policy.changing(), "public, max-age=2, stale-while-revalidate=0, stale-if-error=0");
        assert_eq!(policy.final_standings(), "public, max-age=600, stale-if-error=86400");
    }

    async fn conditions(headers: &[(&str, &str)]) -> Conditions {
        let mut request = Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).unwrap();
        Conditions::from_request(request, &()).await.unwrap()
    }

    const JSON: HeaderValue = HeaderValue::from_static("application/json");

    #[tokio::test]
    async fn an_answer_the_client_holds_is_never_encoded() {
        let policy = HeaderValue::from_static("public, max-age=1");
        let etag = ETag::of(b"{}");
        let coded = etag.coded(Coding::Gzip);
        let held =
            conditions(&[("accept-encoding", "gzip"), ("if-none-match", coded.0.to_str().unwrap())]).await;
        let never = || -> Bytes { panic!("a held answer is not encoded") };
        let response = held.send_tagged(etag.clone(), JSON, &policy, never);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], coded.0);
        assert_eq!(response.headers()[header::CACHE_CONTROL], policy);
        assert_eq!(response.headers()[header::VARY], "accept-encoding");
        // The identity tag does not validate the compressed representation.
        let other =
            conditions(&[("accept-encoding", "gzip"), ("if-none-match", etag.0.to_str().unwrap())]).await;
        let response = other.send_tagged(etag.clone(), JSON, &policy, || Bytes::from_static(b"{}"));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[header::ETAG], coded.0);
    }

    #[tokio::test]
    async fn a_request_that_takes_no_coding_is_refused_before_its_handler() {
        // Whatever the client holds: the handler, and with it any encoding, never runs.
        let request = Request::builder()
            .header("accept-encoding", "identity;q=0")
            .header("if-none-match", "*")
            .body(Body::empty())
            .unwrap();
        let Err(response) = Conditions::from_request(request, &()).await else {
            panic!("a request that takes no coding is refused")
        };
        assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(response.headers()[header::VARY], "accept-encoding");
    }

    #[tokio::test]
    async fn a_representation_is_compressed_once_for_every_reader() {
        let policy = HeaderValue::from_static("no-cache");
        let representation =
            Representation::json(Bytes::from(format!("[{}]", "1,".repeat(300) + "1"))).shared();
        let brotli = || conditions(&[("accept-encoding", "gzip;q=0.5, br")]);
        let first = brotli().await.send(&representation, JSON, &policy);
        let second = brotli().await.send(&representation, JSON, &policy);
        assert_eq!(first.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(first.headers()[header::ETAG], representation.coded(Coding::Br).etag.0);
        let body = |response: Response| async {
            axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()
        };
        let (first, second) = (body(first).await, body(second).await);
        assert_eq!(first.as_ptr(), second.as_ptr(), "the same compressed bytes");
        assert_eq!(Coding::Br.decompress(&first), representation.body);
        let plain = conditions(&[]).await.send(&representation, JSON, &policy);
        assert_eq!(plain.headers()[header::ETAG], representation.etag.0);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    }

    /// The answer's headers go in the request's map, emptied: its room, none of its fields.
    #[tokio::test]
    async fn an_answer_is_written_in_the_room_of_its_requests_headers() {
        let fields: Vec<(String, String)> = (0..20).map(|i| (format!("x-field-{i}"), "1".into())).collect();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let (mut parts, ()) = fields
            .iter()
            .fold(Request::builder(), |request, (name, value)| request.header(*name, *value))
            .body(())
            .unwrap()
            .into_parts();
        let room = parts.headers.capacity();
        let conditions = Conditions::from_parts(&mut parts).unwrap();
        assert!(parts.headers.is_empty(), "taken from the request");
        let response = conditions.send(&Representation::json(Bytes::from_static(b"{}")), JSON, &JSON);
        assert_eq!(response.headers().capacity(), room, "the request's room, not a map of its own");
        assert_eq!(response.headers().len(), 4, "{:?}", response.headers());
        assert!(response.headers().keys().all(|name| !name.as_str().starts_with("x-field")));
    }
}
