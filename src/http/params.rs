//! `Params`: the query string of a leaderboard request, parsed once into name/value pairs.
//! A repeated name is refused rather than guessed at, and so is a query string with more
//! parameters than any request needs, counted before anything is decoded.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::problem::ApiError;

/// Far more than the two a leaderboard takes, and few enough that a hostile query string
/// costs next to nothing to refuse.
pub const MAX_PARAMS: usize = 32;

/// The decoded pairs of the query string, each name at most once.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Parses `query` (the text after `?`) in one pass.
    fn parse(query: &str) -> Result<Self, ApiError> {
        // The same pieces `form_urlencoded` yields: empty ones between `&`s are skipped.
        let count = query.split('&').filter(|piece| !piece.is_empty()).count();
        if count > MAX_PARAMS {
            return Err(ApiError::BadRequest(format!(
                "{count} query parameters; at most {MAX_PARAMS} are accepted"
            )));
        }
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        // At most 32 names: compared pairwise, with no set to build for the two a request has.
        let repeated = (1..pairs.len()).find(|&i| pairs[..i].iter().any(|(name, _)| *name == pairs[i].0));
        if let Some((name, _)) = repeated.map(|i| &pairs[i]) {
            return Err(ApiError::BadRequest(format!("query parameter `{name}` is given more than once")));
        }
        Ok(Self(pairs))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Self::parse(parts.uri.query().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(query: &str) -> String {
        Params::parse(query).err().expect("refused").to_string()
    }

    #[test]
    fn pairs_are_decoded_once_and_found_by_name() {
        let params = Params::parse("limit=5&last=1%2E5h&&x=a+b").unwrap();
        assert_eq!(params.get("limit"), Some("5"));
        assert_eq!(params.get("last"), Some("1.5h"));
        assert_eq!(params.get("x"), Some("a b"));
        assert_eq!(params.get("nope"), None);
        assert_eq!(Params::parse("").unwrap().get("limit"), None);
    }

    #[test]
    fn repeated_names_are_refused_even_when_spelled_differently() {
        assert!(refusal("limit=1&limit=2").contains("`limit` is given more than once"));
        assert!(refusal("last=1h&x=1&l%69mit=3&limit=4").contains("`limit`"));
        assert!(refusal("a&a").contains("`a`"));
    }

    #[test]
    fn more_than_the_cap_is_refused_before_decoding() {
        let at_cap: Vec<String> = (0..MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert!(Params::parse(&at_cap.join("&&")).is_ok());
        let over = format!("{}&one-more", at_cap.join("&"));
        assert!(refusal(&over).contains("at most 32"));
        // Broken escapes would decode; the count refuses them first.
        assert!(refusal(&"%FF&".repeat(9000)).contains("9000 query parameters"));
    }
}
