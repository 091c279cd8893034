//! Request parameters validated at the edge: `Limit` and `Offset` (which page of a board),
//! `Around` (neighbours of a player), `PlayerId` and `PlayerIds` (Int32, GamePlay's type), and
//! the operator's ceilings `MaxLimit` and `MaxStandings`.

use super::Span;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidParam {
    #[error("limit {0}")]
    Limit(String),
    #[error("offset {0}")]
    Offset(String),
    #[error("around {0}")]
    Around(String),
    #[error("last {0}")]
    Span(String),
    #[error("playerId {0}")]
    PlayerId(String),
    #[error("ids {0}")]
    Ids(String),
}

/// The largest limit a client may ask for (`--max-limit`), at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxLimit(u32);

impl MaxLimit {
    pub const DEFAULT: Self = Self(100);
    /// Far above any leaderboard a person reads, and small enough to keep encoded pages small.
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

/// The most players a snapshot holds (`--max-standings`); players ranked past it are counted in
/// the total but answered as not ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStandings(u32);

impl MaxStandings {
    pub const DEFAULT: Self = Self(1_000_000);
    pub const CEILING: u32 = 100_000_000;

    pub fn new(n: u32) -> Result<Self, String> {
        if (1..=Self::CEILING).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("max standings must be between 1 and {}", Self::CEILING))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// An unsigned integer parameter within `range`, or the `error` built from its description.
fn bounded(
    text: &str,
    range: std::ops::RangeInclusive<u32>,
    error: fn(String) -> InvalidParam,
) -> Result<u32, InvalidParam> {
    let refuse = || error(format!("must be an integer from {} to {}", range.start(), range.end()));
    let n: u64 = text.trim().parse().map_err(|_| refuse())?;
    u32::try_from(n).ok().filter(|n| range.contains(n)).ok_or_else(refuse)
}

/// How many entries a client wants: `1..=max`, default 10 (or max, if smaller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: u32 = 10;

    pub fn parse(text: Option<&str>, max: MaxLimit) -> Result<Self, InvalidParam> {
        match text {
            None => Ok(Self(Self::DEFAULT.min(max.get()))),
            Some(text) => bounded(text, 1..=max.get(), InvalidParam::Limit).map(Self),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Where a page starts: 0-based rank offset, `0..=max standings`, default 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Offset(u32);

impl Offset {
    pub fn parse(text: Option<&str>, max: MaxStandings) -> Result<Self, InvalidParam> {
        match text {
            None => Ok(Self(0)),
            Some(text) => bounded(text, 0..=max.get(), InvalidParam::Offset).map(Self),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// How many neighbours on each side of a player: `0..=50`, default 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Around(u8);

impl Around {
    pub const MAX: u8 = 50;

    pub fn parse(text: Option<&str>) -> Result<Self, InvalidParam> {
        match text {
            None => Ok(Self(0)),
            Some(text) => {
                bounded(text, 0..=u32::from(Self::MAX), InvalidParam::Around).map(|n| Self(n as u8))
            }
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A player id: an Int32, as GamePlay's PlayerID column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlayerId(pub i32);

impl PlayerId {
    pub fn parse(text: &str) -> Result<Self, InvalidParam> {
        int32(text).map(Self).ok_or_else(|| {
            InvalidParam::PlayerId(format!("`{}` is not an Int32", text.chars().take(40).collect::<String>()))
        })
    }
}

fn int32(text: &str) -> Option<i32> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| text.parse().ok()).flatten()
}

/// A friends' list: 1..=max distinct Int32 ids, comma-separated, in the order first given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlayerIds(Vec<i32>);

impl PlayerIds {
    pub fn parse(text: Option<&str>, max: MaxLimit) -> Result<Self, InvalidParam> {
        let text = text.ok_or_else(|| InvalidParam::Ids("is required, e.g. ids=7,42,1001".into()))?;
        let mut ids = Vec::new();
        for item in text.split(',') {
            if ids.len() == max.get() as usize {
                return Err(InvalidParam::Ids(format!("lists more than {} ids", max.get())));
            }
            let id = int32(item.trim()).ok_or_else(|| {
                let shown: String = item.chars().take(40).collect();
                InvalidParam::Ids(format!("`{shown}` is not an Int32; use comma-separated ids, e.g. 7,42"))
            })?;
            ids.push(id);
        }
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        ids.retain(|id| seen.insert(*id));
        Ok(Self(ids))
    }

    pub fn get(&self) -> &[i32] {
        &self.0
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
    fn offset_and_around_bounds() {
        let max = MaxStandings::new(1000).unwrap();
        assert_eq!(Offset::parse(None, max).unwrap().get(), 0);
        assert_eq!(Offset::parse(Some("1000"), max).unwrap().get(), 1000);
        assert!(Offset::parse(Some("1001"), max).is_err());
        assert!(Offset::parse(Some("-1"), max).is_err());
        assert_eq!(Around::parse(None).unwrap().get(), 0);
        assert_eq!(Around::parse(Some("50")).unwrap().get(), 50);
        assert!(Around::parse(Some("51")).is_err());
    }

    #[test]
    fn player_ids_are_int32() {
        assert_eq!(PlayerId::parse("-2147483648").unwrap(), PlayerId(i32::MIN));
        assert_eq!(PlayerId::parse("2147483647").unwrap(), PlayerId(i32::MAX));
        for bad in ["2147483648", "", "+1", "1.0", "0x10", " 1", "1e3", "-"] {
            assert!(PlayerId::parse(bad).is_err(), "{bad:?}");
        }
        let max = MaxLimit::new(3).unwrap();
        assert_eq!(PlayerIds::parse(Some("7, 42,7"), max).unwrap().get(), [7, 42]);
        for bad in [Some(""), Some("1,,2"), Some("1,2,3,4"), Some("a"), None] {
            assert!(PlayerIds::parse(bad, max).is_err(), "{bad:?}");
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
