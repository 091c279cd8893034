//! A JSON answer as sent: its encoded body and its strong entity tag, computed once and shared
//! by every reader of the same answer; and the same answer in each content coding the service
//! sends ([`Coding`]), compressed once on first use with a tag of its own.

mod coding;

use std::sync::OnceLock;

use axum::http::HeaderValue;
use bytes::Bytes;

pub use coding::Coding;

/// A strong validator of one encoded body: a 128-bit content hash (XXH3, a fixed algorithm),
/// so every replica gives the same body the same tag and shared caches revalidate anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(pub HeaderValue);

impl ETag {
    /// The tag of `body`, from its bytes.
    pub fn of(body: &[u8]) -> Self {
        Self::from_hash(xxhash_rust::xxh3::xxh3_128(body))
    }

    /// The tag named by `hash`: a hash of whatever fixes the body's bytes.
    pub fn from_hash(hash: u128) -> Self {
        let mut text = [b'"'; 34];
        hex(hash, &mut text[1..33]);
        Self(HeaderValue::from_bytes(&text).expect("hex is a valid header value"))
    }

    /// The tag of the same representation in `coding` (`"<hash>-gzip"`): RFC 9110 §8.8.3 wants
    /// a strong validator to differ between a representation's content codings.
    pub fn coded(&self, coding: Coding) -> Self {
        let opaque = self.0.as_bytes().strip_suffix(b"\"").expect("a quoted tag");
        let tagged = [opaque, b"-", coding.as_str().as_bytes(), b"\""].concat();
        Self(HeaderValue::from_bytes(&tagged).expect("a tag and a coding name"))
    }
}

fn hex(mut value: u128, out: &mut [u8]) {
    for digit in out.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// A JSON body with its entity tag, and its compressed forms once asked for.
#[derive(Debug)]
pub struct Representation {
    pub body: Bytes,
    pub etag: ETag,
    /// Compressed harder when many readers share the compressed bytes.
    shared: bool,
    coded: [OnceLock<Coded>; Coding::ALL.len()],
}

/// The body in one content coding, with its own tag.
#[derive(Debug)]
pub struct Coded {
    pub body: Bytes,
    pub etag: ETag,
}

impl Representation {
    /// `body` tagged with `etag`, which a hash of what fixes its bytes gave.
    pub fn tagged(body: Bytes, etag: ETag) -> Self {
        Self { body, etag, shared: false, coded: Default::default() }
    }

    /// Tags `body`: hashes it, so callers that serve the same body many times keep the result.
    pub fn json(body: Bytes) -> Self {
        let etag = ETag::of(&body);
        Self::tagged(body, etag)
    }

    /// Encodes `value` as JSON and tags it.
    pub fn of(value: &impl serde::Serialize) -> Self {
        Self::json(serde_json::to_vec(value).expect("answers always serialize").into())
    }

    /// Marks the representation as served many times: its compressed forms take the most
    /// effort, made once for every reader.
    pub fn shared(self) -> Self {
        Self { shared: true, ..self }
    }

    /// The body in `coding`, compressed on first use.
    pub fn coded(&self, coding: Coding) -> &Coded {
        self.coded[coding as usize].get_or_init(|| Coded {
            body: coding.compress(&self.body, self.shared),
            etag: self.etag.coded(coding),
        })
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
        assert_eq!(ETag::from_hash(0xab).0, format!("\"{:032x}\"", 0xab));
        assert_eq!(ETag::from_hash(u128::MAX).0, format!("\"{}\"", "f".repeat(32)));
    }

    #[test]
    fn each_coding_is_made_once_with_its_own_tag() {
        let representation = Representation::json(Bytes::from(r#"{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}"#));
        for coding in Coding::ALL {
            let coded = representation.coded(coding);
            let opaque = representation.etag.0.to_str().unwrap().trim_end_matches('"');
            assert_eq!(coded.etag.0, format!("{opaque}-{}\"", coding.as_str()));
            assert_eq!(coding.decompress(&coded.body), representation.body);
            let again = representation.coded(coding);
            assert_eq!(again.body.as_ptr(), coded.body.as_ptr(), "compressed once");
        }
    }
}
