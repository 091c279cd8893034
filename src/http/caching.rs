//! HTTP caching of API answers (RFC 9110, RFC 9111, RFC 5861): strong entity tags computed
//! once per encoded body, the `Cache-Control` policy, and conditional requests
//! (`If-None-Match` → `304 Not Modified`).
//!
//! Handlers answer with a [`Representation`] (a body and its entity tag); the [`conditional`]
//! middleware gives every `200` that carries an `ETag` the caching policy (unless the handler
//! chose its own, as for final results), and answers `304`
//! when the client already holds that representation.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::representation::Representation;

impl IntoResponse for Representation {
    fn into_response(self) -> Response {
        let headers = [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::ETAG, self.etag.0),
        ];
        (headers, self.body).into_response()
    }
}

/// How long clients and shared caches may keep an answer.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    cache_control: HeaderValue,
}

impl CachePolicy {
    /// Fresh for the server's own cache TTL (whole seconds, at least one, the smallest unit
    /// `max-age` has), then usable for `stale` while revalidating or when the origin fails.
    pub fn new(ttl: Duration, stale: Duration) -> Self {
        let max_age = ttl.as_secs().max(1);
        let stale = stale.as_secs();
        let value =
            format!("public, max-age={max_age}, stale-while-revalidate={stale}, stale-if-error={stale}");
        Self { cache_control: HeaderValue::try_from(value).expect("digits and ASCII") }
    }
}

/// Applies the caching policy to tagged answers and turns a matching `If-None-Match` into 304.
///
/// It runs outside compression, so it sees the representation actually sent: a compressed one
/// gets its own tag (`"<hash>-gzip"`), as RFC 9110 §8.8.3 requires of strong validators.
pub async fn conditional(State(policy): State<Arc<CachePolicy>>, request: Request, next: Next) -> Response {
    let candidates = if matches!(*request.method(), Method::GET | Method::HEAD) {
        request.headers().get_all(header::IF_NONE_MATCH).iter().cloned().collect()
    } else {
        Vec::new()
    };
    let mut response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let headers = response.headers_mut();
    let Some(etag) = selected_etag(headers) else {
        return response;
    };
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, policy.cache_control.clone());
    }
    let held = candidates.iter().any(|list| list_matches(list.as_bytes(), etag.as_bytes()));
    headers.insert(header::ETAG, etag);
    if held { not_modified(response.headers()) } else { response }
}

/// The response's tag, distinguished by its content coding when it has one.
fn selected_etag(headers: &HeaderMap) -> Option<HeaderValue> {
    let etag = headers.get(header::ETAG)?;
    let Some(coding) = headers.get(header::CONTENT_ENCODING) else {
        return Some(etag.clone());
    };
    let opaque = etag.as_bytes().strip_suffix(b"\"")?;
    let tagged = [opaque, b"-", coding.as_bytes(), b"\""].concat();
    HeaderValue::from_bytes(&tagged).ok()
}

/// RFC 9110 §15.4.5: a 304 carries the fields a 200 would have used to guide caches, and no
/// representation metadata.
fn not_modified(sent: &HeaderMap) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    for name in [header::CACHE_CONTROL, header::CONTENT_LOCATION, header::DATE, header::ETAG, header::EXPIRES]
    {
        if let Some(value) = sent.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    for vary in sent.get_all(header::VARY) {
        response.headers_mut().append(header::VARY, vary.clone());
    }
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
    fn a_compressed_representation_has_its_own_tag() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static("\"abc\""));
        assert_eq!(selected_etag(&headers).unwrap(), "\"abc\"");
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(selected_etag(&headers).unwrap(), "\"abc-br\"");
    }

    #[test]
    fn policy_rounds_to_whole_seconds_of_at_least_one() {
        let policy = CachePolicy::new(Duration::from_millis(300), Duration::from_secs(60));
        assert_eq!(policy.cache_control, "public, max-age=1, stale-while-revalidate=60, stale-if-error=60");
        let policy = CachePolicy::new(Duration::from_millis(2500), Duration::ZERO);
        assert_eq!(policy.cache_control, "public, max-age=2, stale-while-revalidate=0, stale-if-error=0");
    }
}
