//! Request parameters validated at the edge: `Limit` (how many entries to show) and
//! `MaxLimit` (the operator's ceiling, which is also how many rows a backend query fetches).

use super::Span;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidParam {
    #[error("limit {0}")]
    Limit(String),
    #[error("last {0}")]
    Span(String),
}

/// The largest limit a client may ask for (`--max-limit`), at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxLimit(u32);

impl MaxLimit {
    pub const DEFAULT: Self = Self(100);
    /// Far above any leaderboard a person reads, and small enough to keep cached bodies small.
    pub const CEILING: u32 = 10_000;

    pub fn new(n: u32) -> Result<Self, String> {
        if (1..=Self::CEILING).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("max limit must be between 1 and {}", Self::CEILING))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// How many entries a client wants: `1..=max`, default 10 (or max, if smaller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: u32 = 10;

    pub fn parse(text: Option<&str>, max: MaxLimit) -> Result<Self, InvalidParam> {
        let Some(text) = text else {
            return Ok(Self(Self::DEFAULT.min(max.get())));
        };
        let out_of_range = || InvalidParam::Limit(format!("must be an integer from 1 to {}", max.get()));
        let n: u64 = text.trim().parse().map_err(|_| out_of_range())?;
        match u32::try_from(n) {
            Ok(n) if (1..=max.get()).contains(&n) => Ok(Self(n)),
            _ => Err(out_of_range()),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// `last` is required on `/window`.
pub fn parse_last(text: Option<&str>) -> Result<Span, InvalidParam> {
    match text {
        Some(t) => Span::parse(t),
        None => Err(InvalidParam::Span("is required, e.g. last=15m".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_bounds() {
        let max = MaxLimit::new(100).unwrap();
        assert_eq!(Limit::parse(None, max).unwrap().get(), 10);
        assert_eq!(Limit::parse(None, MaxLimit::new(3).unwrap()).unwrap().get(), 3);
        assert_eq!(Limit::parse(Some("100"), max).unwrap().get(), 100);
        assert_eq!(Limit::parse(Some("1"), max).unwrap().get(), 1);
        for bad in ["0", "101", "-1", "ten", "", "1.5", "99999999999999999999999", "1;drop"] {
            assert!(Limit::parse(Some(bad), max).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn max_limit_bounds() {
        assert!(MaxLimit::new(0).is_err());
        assert!(MaxLimit::new(MaxLimit::CEILING + 1).is_err());
        assert_eq!(MaxLimit::new(5).unwrap().get(), 5);
    }

    #[test]
    fn last_is_required() {
        assert!(parse_last(None).is_err());
        assert_eq!(parse_last(Some("15m")).unwrap().millis(), 900_000);
    }
}
