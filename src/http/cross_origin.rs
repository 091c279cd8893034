//! Cross-origin protection of `POST /events`. A web page of another origin may send a browser's
//! "simple" POST without asking first (a `text/plain` body, or a `Blob` without a type), so on a
//! server without an ingest token any page its visitors open could store spins. Browsers say
//! where such a request comes from (`Sec-Fetch-Site`, else `Origin`); one from another origin
//! is refused unless `--cors-origins` allows that origin. Clients that are not browsers (curl,
//! game servers, SDKs) send neither header and pass. The rules are those of Go's
//! `net/http.CrossOriginProtection`.

use axum::http::{HeaderMap, HeaderValue, header};

use super::layers::CorsOrigins;
use super::problem::ApiError;

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Refuses a request a browser sent from a web page of another origin than this server's,
/// unless `trusted` allows that origin.
pub fn check(headers: &HeaderMap, trusted: Option<&CorsOrigins>) -> Result<(), ApiError> {
    let origin = headers.get(header::ORIGIN);
    match headers.get(SEC_FETCH_SITE).map(HeaderValue::as_bytes) {
        Some(b"same-origin" | b"none") => return Ok(()),
        // `same-site` (another subdomain) and `cross-site`: the origin must be trusted.
        Some(_) => {}
        // A browser from before Fetch Metadata, or no browser at all.
        None => match origin {
            None => return Ok(()),
            Some(origin) if same_host(origin, headers) => return Ok(()),
            Some(_) => {}
        },
    }
    if let (Some(origin), Some(trusted)) = (origin, trusted)
        && trusted.trusts(origin)
    {
        return Ok(());
    }
    let from = origin.and_then(|o| o.to_str().ok()).unwrap_or("another site");
    Err(ApiError::CrossOrigin(from.chars().take(128).collect()))
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn same_host(origin: &HeaderValue, headers: &HeaderMap) -> bool {
    let host = origin.as_bytes().split(|&b| b == b'/').nth(2);
    let to = headers.get(header::HOST).map(HeaderValue::as_bytes);
    matches!((host, to), (Some(host), Some(to)) if !host.is_empty() && host.eq_ignore_ascii_case(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        for &(name, value) in pairs {
            headers.insert(name, HeaderValue::from_static(value));
        }
        headers
    }

    fn allowed(pairs: &[(&'static str, &'static str)], trusted: Option<&str>) -> bool {
        let trusted = trusted.map(|t| t.parse::<CorsOrigins>().unwrap());
        check(&headers(pairs), trusted.as_ref()).is_ok()
    }

    #[test]
    fn clients_that_are_not_browsers_and_same_origin_pages_pass() {
        assert!(allowed(&[], None), "curl, SDKs and game servers send no Origin");
        assert!(allowed(&[("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:8080")], None));
        assert!(allowed(&[("sec-fetch-site", "none")], None), "typed into the address bar");
        assert!(allowed(&[("origin", "http://127.0.0.1:8080")], None), "an older browser, same host");
        assert!(allowed(&[("origin", "HTTP://127.0.0.1:8080")], None));
    }

    #[test]
    fn pages_of_other_origins_are_refused_unless_trusted() {
        let evil = [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")];
        assert!(!allowed(&evil, None));
        assert!(!allowed(&evil, Some("https://game.example")));
        assert!(allowed(&evil, Some("https://game.example, https://evil.example")));
        assert!(allowed(&evil, Some("*")));
        assert!(!allowed(&[("sec-fetch-site", "same-site"), ("origin", "https://a.127.0.0.1:8080")], None));
        // Older browsers: the origin alone.
        assert!(!allowed(&[("origin", "https://evil.example")], None));
        assert!(!allowed(&[("origin", "http://127.0.0.1:9090")], None), "another port is another origin");
        assert!(!allowed(&[("origin", "null")], Some("https://game.example")), "a sandboxed page");
        assert!(!allowed(&[("sec-fetch-site", "cross-site")], Some("*")), "no origin to trust");
    }

    #[test]
    fn the_refusal_names_the_origin() {
        let refused = check(&headers(&[("origin", "https://evil.example")]), None).unwrap_err();
        assert!(refused.to_string().contains("https://evil.example"), "{refused}");
        assert_eq!(refused.document().status, 403);
    }
}
