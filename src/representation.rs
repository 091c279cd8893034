//! A JSON answer as sent: its encoded body and its strong entity tag, computed once and shared
//! by every reader of the same answer.

use axum::http::HeaderValue;
use bytes::Bytes;

/// A strong validator of one encoded body: a 128-bit content hash (XXH3, a fixed algorithm),
/// so every replica gives the same body the same tag and shared caches revalidate anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(pub HeaderValue);

impl ETag {
    pub fn of(body: &[u8]) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_128(body);
        Self(HeaderValue::try_from(format!("\"{hash:032x}\"")).expect("hex is a valid header value"))
    }
}

/// A JSON body with its entity tag.
#[derive(Debug, Clone)]
pub struct Representation {
    pub body: Bytes,
    pub etag: ETag,
}

impl Representation {
    /// Tags `body`: hashes it, so callers that serve the same body many times keep the result.
    pub fn json(body: Bytes) -> Self {
        let etag = ETag::of(&body);
        Self { body, etag }
    }

    /// Encodes `value` as JSON and tags it.
    pub fn of(value: &impl serde::Serialize) -> Self {
        Self::json(serde_json::to_vec(value).expect("answers always serialize").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_strong_quoted_and_follow_the_bytes() {
        let tag = ETag::of(b"{}");
        assert_eq!(tag, ETag::of(b"{}"));
        assert_ne!(tag, ETag::of(b"{ }"));
        let text = tag.0.to_str().unwrap();
        assert!(text.starts_with('"') && text.ends_with('"') && text.len() == 34, "{text}");
    }
}
