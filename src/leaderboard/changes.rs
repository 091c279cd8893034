//! What an incremental refresh asks a backend for, and what comes back: each player's best
//! spin per bucket of some ranges of time (or, for a score that is a total, the whole view's
//! total of each player with a spin in those buckets), each such player's counted spins over the
//! whole view, and how many counted spins each bucket holds, so that the next refresh can ask
//! only for the buckets whose count changed since.
//!
//! Buckets are `bin(EventTime, width)` for a [`Width`] that divides a day (so every engine
//! aligns them alike), or a whole range as one bucket. A bucket is named by its label: the start
//! of its bin (or of its range), in microseconds since the Unix epoch.

use std::time::Duration;

use super::{FirstSpins, Row, Scoring, Window};

/// A bucket width: whole seconds, dividing a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Width(u32);

impl Width {
    pub const HOUR: Self = Self(3600);

    /// `None` unless `seconds` is at least 1 and divides a day.
    pub const fn seconds(seconds: u32) -> Option<Self> {
        if seconds > 0 && 86_400 % seconds == 0 { Some(Self(seconds)) } else { None }
    }

    /// The smallest width (of those that divide an hour, or a day past it) holding `d`.
    pub fn at_least(d: Duration) -> Self {
        const NICE: [u32; 14] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 86_400];
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        Self(NICE.into_iter().find(|&n| u64::from(n) >= secs).unwrap_or(86_400))
    }

    pub fn as_secs(self) -> u32 {
        self.0
    }

    pub fn micros(self) -> i64 {
        i64::from(self.0) * 1_000_000
    }

    /// The label of the bucket holding `us`.
    pub fn floor(self, us: i64) -> i64 {
        us.div_euclid(self.micros()) * self.micros()
    }

    /// The first bucket boundary at or after `us`.
    pub fn ceil(self, us: i64) -> i64 {
        -self.floor(-us)
    }

    /// Whether `us` is a bucket boundary.
    pub fn aligned(self, us: i64) -> bool {
        us.rem_euclid(self.micros()) == 0
    }
}

/// How a segment's spins are grouped into rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// One bucket, labelled with the segment's start.
    Whole,
    Every(Width),
}

/// A range of time and what to return about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub range: Window,
    /// Each player's best spin per bucket of this grain; `None`: no rows.
    pub rows: Option<Grain>,
    /// Counted spins per bucket of this width; `None`: no counts.
    pub counts: Option<Width>,
    /// Rows only for the buckets (of `counts`) whose count differs from the query's `known`.
    pub watched: bool,
    /// Spins that left the view since the last refresh: no rows and no counts, but every player
    /// with a spin here is recounted (their count of spins in the view went down).
    pub leaving: bool,
}

impl Segment {
    /// The spins of `range` that left a sliding window since its last refresh.
    pub fn leaving(range: Window) -> Self {
        Self { range, rows: None, counts: None, watched: false, leaving: true }
    }
}

/// One incremental refresh's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesQuery {
    /// Only spins of these games count (sorted, deduplicated, non-empty); `None` = all games.
    pub games: Option<Vec<i32>>,
    /// Only spins of these stakes count.
    pub stakes: super::Stakes,
    /// Disjoint ranges (a rows-only range may overlap counts-only ones).
    pub segments: Vec<Segment>,
    /// The counts of watched buckets as last seen; a bucket not listed had no counted spin.
    pub known: Vec<BucketCount>,
    pub recount: Recount,
}

/// Who is counted again, and over what: every player with a spin in a bucket whose rows are asked
/// for (a changed watched bucket, or an unwatched one) or in a leaving segment is counted again
/// over `window` (the whole view). For a total, scored by `scoring`, each such row (labelled
/// `window.from`) replaces the player's total; for the best multiplier the rows stay bests per
/// bucket and each such player's number of counted spins comes back beside them
/// ([`Changes::counted`]). A sum (a count too) is not idempotent under re-reads, so it is
/// recounted whole rather than added to. Counts count every spin of a qualifying stake, losing
/// ones too (each changes a player's spins). With `first`, every such player is ranked again
/// from their first spins (read again from `first.since`), whatever the score, and the rows are
/// their whole standings over `window` (labelled `window.from`), which replace theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recount {
    pub scoring: Scoring,
    pub window: Window,
    pub first: Option<FirstSpins>,
}

impl Recount {
    /// Whether the rows are whole standings that replace the held ones, rather than bests per
    /// bucket merged in.
    pub fn replaces(&self) -> bool {
        Self::whole(self.scoring, self.first)
    }

    /// Whether a view scored by `scoring`, counting `first` spins, is recounted as whole
    /// standings: a total's, or any score of first spins (a late spin can change which count).
    pub fn whole(scoring: Scoring, first: Option<FirstSpins>) -> bool {
        scoring.is_total() || first.is_some()
    }
}

/// How many counted spins a bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketCount {
    pub bucket: i64,
    pub spins: u64,
}

/// A player's best spin in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRow {
    pub bucket: i64,
    pub row: Row,
}

/// A recounted player's counted spins over the whole view: for bests per bucket, every recounted
/// player with a spin in the view; for whole standings ([`Recount::replaces`]), each recounted
/// player who does not rank (who leaves the board), with 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub player_id: i32,
    pub spins: u32,
}

/// The answer: rows of every rows segment (watched ones: of their changed buckets only), the
/// count of every bucket that holds a counted spin in a counts segment, and [`Counted`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    pub rows: Vec<BucketRow>,
    pub counts: Vec<BucketCount>,
    pub counted: Vec<Counted>,
}

/// A count-only segment of a full standings query: the counts the first incremental refresh
/// starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRun {
    pub range: Window,
    pub width: Width,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_divide_a_day_and_align_buckets() {
        assert!(Width::seconds(7).is_none() && Width::seconds(0).is_none());
        let w = Width::seconds(10).unwrap();
        assert_eq!((w.floor(25_000_000), w.ceil(25_000_000)), (20_000_000, 30_000_000));
        assert_eq!((w.floor(-1), w.ceil(-1)), (-10_000_000, 0), "before the epoch too");
        assert!(w.aligned(30_000_000) && !w.aligned(30_000_001));
        assert_eq!(Width::at_least(Duration::from_secs(10)).as_secs(), 10);
        assert_eq!(Width::at_least(Duration::from_millis(10_001)).as_secs(), 15);
        assert_eq!(Width::at_least(Duration::from_secs(7200)).as_secs(), 86_400);
    }
}
