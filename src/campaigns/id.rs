//! `CampaignId`: the validated campaign identifier used in URLs, cache keys and the catalogue.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Matches `^[a-z0-9][a-z0-9-]{0,63}$`; cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CampaignId(Arc<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "campaign id must be 1 to 64 characters of lowercase ASCII letters, digits and '-', starting with a letter or digit"
)]
pub struct InvalidCampaignId;

impl CampaignId {
    pub fn parse(text: &str) -> Result<Self, InvalidCampaignId> {
        let bytes = text.as_bytes();
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let valid = (1..=64).contains(&bytes.len())
            && allowed(&bytes[0])
            && bytes[1..].iter().all(|b| allowed(b) || *b == b'-');
        if valid { Ok(Self(text.into())) } else { Err(InvalidCampaignId) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Found by its text in maps keyed by id (it hashes and compares as its text).
impl std::borrow::Borrow<str> for CampaignId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_shape() {
        for ok in ["a", "autumn-spins", "0", "x-", &"a".repeat(64)] {
            assert_eq!(CampaignId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_everything_else() {
        let long = "a".repeat(65);
        for bad in ["", "-a", "A", "autumn_spins", "a b", "é", "a'", "a|b", "a\n", &long] {
            assert_eq!(CampaignId::parse(bad), Err(InvalidCampaignId), "{bad:?}");
        }
    }
}
