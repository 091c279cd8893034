//! Which content coding an answer is sent in, from `Accept-Encoding` (RFC 9110 §12.5.3), by the
//! rules of tower-http's compression layer: answers compressed ahead of the request (and the
//! entity tag each coding has) are chosen exactly as the bodies that layer compresses. Answers
//! never coded (streams, downloads) ask only that the request takes them so ([`AsIs`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use smallvec::SmallVec;

use super::problem::ApiError;

use crate::representation::Coding;

/// A coding the client may be sent, least preferred first among equal quality values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Candidate {
    Identity,
    Coded(Coding),
}

const CANDIDATES: [Candidate; 3] =
    [Candidate::Identity, Candidate::Coded(Coding::Gzip), Candidate::Coded(Coding::Br)];

/// The client accepts none of the codings there are: 406 (from `Conditions` for the API's
/// answers, from the compression layer for the documents and metrics).
#[derive(Debug, PartialEq, Eq)]
pub struct NotAcceptable;

/// The coding to send (`None`: identity).
pub fn negotiate(headers: &HeaderMap) -> Result<Option<Coding>, NotAcceptable> {
    let explicit: SmallVec<[(Candidate, u16); 4]> =
        items(headers).filter_map(|(name, q)| Some((candidate(name)?, quality(q)?))).collect();
    let chosen = match wildcard(headers) {
        None => {
            let identity_refused = explicit.iter().any(|&(c, q)| c == Candidate::Identity && q == 0);
            match preferred(explicit.iter().copied()) {
                Some(chosen) => chosen,
                None if identity_refused => return Err(NotAcceptable),
                None => Candidate::Identity,
            }
        }
        Some(star) => {
            let quality_of =
                |c: Candidate| explicit.iter().find(|(listed, _)| *listed == c).map_or(star, |&(_, q)| q);
            preferred(CANDIDATES.into_iter().map(|c| (c, quality_of(c)))).ok_or(NotAcceptable)?
        }
    };
    Ok(match chosen {
        Candidate::Identity => None,
        Candidate::Coded(coding) => Some(coding),
    })
}

/// For answers sent as they are, never coded (streams, downloads): the request takes them so,
/// else 406 before the handler runs. Identity is taken unless refused, by `identity;q=0` or by
/// `*;q=0` with no item of its own (RFC 9110 §12.5.3).
pub struct AsIs;

impl<S: Send + Sync> FromRequestParts<S> for AsIs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let own = items(&parts.headers)
            .filter(|&(name, _)| candidate(name) == Some(Candidate::Identity))
            .find_map(|(_, q)| quality(q));
        match own.or_else(|| wildcard(&parts.headers)) {
            Some(0) => Err(ApiError::NotAcceptable),
            _ => Ok(Self),
        }
    }
}

/// The highest quality value, the most preferred coding among equals; nothing refused (q=0).
fn preferred(candidates: impl Iterator<Item = (Candidate, u16)>) -> Option<Candidate> {
    candidates.filter(|&(_, q)| q > 0).max_by_key(|&(c, q)| (q, c)).map(|(c, _)| c)
}

/// Each listed coding's name and its parameter text, across every `Accept-Encoding` field.
fn items(headers: &HeaderMap) -> impl Iterator<Item = (&str, Option<&str>)> {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|text| {
        text.split(',').map(|item| {
            let mut parts = item.splitn(2, ';');
            (parts.next().unwrap_or_default().trim(), parts.next().map(str::trim))
        })
    })
}

fn candidate(name: &str) -> Option<Candidate> {
    let is = |known: &str| name.eq_ignore_ascii_case(known);
    match () {
        () if is("gzip") || is("x-gzip") => Some(Candidate::Coded(Coding::Gzip)),
        () if is("br") => Some(Candidate::Coded(Coding::Br)),
        () if is("identity") => Some(Candidate::Identity),
        () => None,
    }
}

/// The quality value of the first `*` item that has a valid one.
fn wildcard(headers: &HeaderMap) -> Option<u16> {
    items(headers).filter(|&(name, _)| name == "*").find_map(|(_, q)| quality(q))
}

/// A weight (`q=0.5`) in thousandths; 1000 when absent; `None` when malformed.
fn quality(parameter: Option<&str>) -> Option<u16> {
    let Some(text) = parameter else { return Some(1000) };
    let digits = text.strip_prefix(['q', 'Q'])?.strip_prefix('=')?;
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction =
        fraction.bytes().zip([100, 10, 1]).map(|(b, scale)| u16::from(b - b'0') * scale).sum::<u16>();
    Some(whole + fraction).filter(|&q| q <= 1000)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{HeaderValue, Request, StatusCode};
    use tower::{Layer, ServiceExt};
    use tower_http::compression::CompressionLayer;

    use super::*;

    const CASES: &[&str] = &[
        "",
        "gzip",
        "br",
        "gzip, br",
        "br;q=0.5, gzip",
        "gzip;q=0.5, br;q=0.5",
        "GZIP",
        "x-gzip",
        "deflate",
        "zstd, deflate",
        "identity",
        "identity;q=0",
        "identity;q=0, gzip;q=0",
        "*",
        "*;q=0",
        "*;q=0, gzip",
        "*;q=0, identity",
        "br;q=0, *",
        "*;q=0.3, gzip;q=0.2",
        "gzip;q=0.001, identity;q=0.0001",
        "gzip;q=1.0, br;q=0.999",
        "gzip;q=1.001",
        "gzip; q=0.5, br;q=0.4",
        "gzip;q=.5, br;q=0.1",
        "gzip, gzip;q=0",
        "gzip;q=0, gzip",
        "br;q=0.5, br;q=0.9, gzip;q=0.7",
        ",,gzip,,",
        "compress, gzip;q=0.5",
        "identity;q=0.5, *;q=0",
    ];

    /// What the compression layer does to a JSON body for `accept`: the coding, or 406.
    async fn layer(accept: &str) -> Result<Option<String>, NotAcceptable> {
        let body = format!("{{\"a\":\"{}\"}}", "b".repeat(500));
        let service = CompressionLayer::new().layer(tower::service_fn(move |_: Request<Body>| {
            let body = body.clone();
            async move {
                let mut response = axum::http::Response::new(Body::from(body));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok::<_, std::convert::Infallible>(response)
            }
        }));
        let request = Request::builder().header(header::ACCEPT_ENCODING, accept).body(Body::empty()).unwrap();
        let response = service.oneshot(request).await.unwrap();
        if response.status() == StatusCode::NOT_ACCEPTABLE {
            return Err(NotAcceptable);
        }
        Ok(response.headers().get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap().to_owned()))
    }

    #[tokio::test]
    async fn codings_are_chosen_as_the_compression_layer_chooses_them() {
        for &accept in CASES {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(accept).unwrap());
            let ours = negotiate(&headers).map(|c| c.map(|c| c.as_str().to_owned()));
            assert_eq!(ours, layer(accept).await, "Accept-Encoding: {accept}");
        }
        assert_eq!(negotiate(&HeaderMap::new()), Ok(None), "no field: identity");
    }

    #[test]
    fn quality_values_are_read_to_the_thousandth() {
        assert_eq!(quality(None), Some(1000));
        assert_eq!(quality(Some("q=0.5")), Some(500));
        assert_eq!(quality(Some("Q=0.125")), Some(125));
        assert_eq!(quality(Some("q=1.000")), Some(1000));
        assert_eq!(quality(Some("q=0")), Some(0));
        for bad in ["q=1.001", "q=0.1234", "q=2", "q=.5", "q=0.5x", "x=0.5", "q = 0.5"] {
            assert_eq!(quality(Some(bad)), None, "{bad}");
        }
    }
}
