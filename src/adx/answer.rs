//! The answers to the service's own queries, read straight from the response as it arrives: each
//! result row becomes a compact [`Row`] (or a bucket's count, or the total) the moment it is
//! parsed, so a million-player answer never exists as JSON values in memory.
//!
//! Columns are found by name: `PlayerID`, `Win`, `Stake`, `GameID`, `EventTime` (a player's
//! spin, with `Counted`, their counted spins, when the answer has it), or `PlayerID`, `Points`,
//! `Counted`, `Wagered`, `Won`, `EventTime` (a player's total), `Bucket` (the bucket it is the
//! best of), `PlayerID` and `Counted` alone (a recounted player's spins, in a changes answer),
//! `Spins` (a bucket's count, on a row without a player) and `Total` (the number of ranked
//! players, on a row of its own).

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};

use super::frames::{self, Sink, TableHead};
use crate::leaderboard::{BucketCount, Counted, Row};

/// What a query answered.
#[derive(Debug, Default)]
pub struct Answer {
    pub rows: Vec<Row>,
    /// The bucket of each row that has one (in a changes answer, every row).
    pub buckets: Vec<i64>,
    pub counts: Vec<BucketCount>,
    /// Recounted players' spins (a changes answer's).
    pub counted: Vec<Counted>,
    pub total: Option<u64>,
    pub(super) columns: Option<Columns>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Player,
    Win,
    Stake,
    Game,
    Time,
    Bucket,
    Spins,
    Total,
    Points,
    Counted,
    Wagered,
    Won,
    Other,
}

#[derive(Debug)]
pub(super) struct Columns {
    roles: Vec<Role>,
    buckets: bool,
}

impl Columns {
    fn bind(head: &TableHead) -> Result<Self, String> {
        let roles: Vec<Role> = head
            .columns
            .iter()
            .map(|c| match c.name.as_str() {
                "PlayerID" => Role::Player,
                "Win" => Role::Win,
                "Stake" => Role::Stake,
                "GameID" => Role::Game,
                "EventTime" => Role::Time,
                "Bucket" => Role::Bucket,
                "Spins" => Role::Spins,
                "Total" => Role::Total,
                "Points" => Role::Points,
                "Counted" => Role::Counted,
                "Wagered" => Role::Wagered,
                "Won" => Role::Won,
                _ => Role::Other,
            })
            .collect();
        let has = |role| roles.contains(&role);
        let spin = [Role::Player, Role::Win, Role::Stake, Role::Game, Role::Time];
        let total = [Role::Player, Role::Points, Role::Counted, Role::Wagered, Role::Won, Role::Time];
        if has(Role::Player) && !spin.iter().all(|&r| has(r)) && !total.iter().all(|&r| has(r)) {
            return Err("the answer has PlayerID without every spin (or total) column".into());
        }
        if has(Role::Spins) && !has(Role::Bucket) {
            return Err("the answer has Spins without Bucket".into());
        }
        Ok(Self { buckets: has(Role::Bucket) && has(Role::Player), roles })
    }
}

/// One row's cells, by role.
#[derive(Default)]
struct Cells {
    player: Option<i64>,
    win: Option<i64>,
    stake: Option<i64>,
    game: Option<i64>,
    time: Option<i64>,
    bucket: Option<i64>,
    spins: Option<i64>,
    total: Option<i64>,
    points: Option<i64>,
    counted: Option<i64>,
    wagered: Option<i64>,
    won: Option<i64>,
}

impl Sink for Answer {
    fn start(&mut self, head: &TableHead) -> Result<(), String> {
        if self.columns.is_some() {
            return Err("the answer has more than one result table".into());
        }
        self.columns = Some(Columns::bind(head)?);
        Ok(())
    }

    fn row<'de, A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<(), A::Error> {
        let columns = self.columns.as_ref().expect("rows come after their table's start");
        let mut cells = Cells::default();
        for (i, &role) in columns.roles.iter().enumerate() {
            let kind = match role {
                Role::Time | Role::Bucket => Cell::Time,
                Role::Other => Cell::Skip,
                _ => Cell::Int,
            };
            let Some(value) = seq.next_element_seed(kind)? else {
                return Err(error(format!("row has {i} cells for {} columns", columns.roles.len())));
            };
            let slot = match role {
                Role::Player => &mut cells.player,
                Role::Win => &mut cells.win,
                Role::Stake => &mut cells.stake,
                Role::Game => &mut cells.game,
                Role::Time => &mut cells.time,
                Role::Bucket => &mut cells.bucket,
                Role::Spins => &mut cells.spins,
                Role::Total => &mut cells.total,
                Role::Points => &mut cells.points,
                Role::Counted => &mut cells.counted,
                Role::Wagered => &mut cells.wagered,
                Role::Won => &mut cells.won,
                Role::Other => continue,
            };
            *slot = value;
        }
        let extra = frames::rest(&mut seq)?;
        if extra > 0 {
            let width = columns.roles.len();
            return Err(error(format!("row has {} cells for {width} columns", width + extra)));
        }
        let buckets = columns.buckets;
        self.take(cells, buckets).map_err(error)
    }

    fn replace(&mut self) {
        self.rows.clear();
        self.buckets.clear();
        self.counts.clear();
        self.counted.clear();
        self.total = None;
    }
}

impl Answer {
    fn take(&mut self, cells: Cells, buckets: bool) -> Result<(), String> {
        if let Some(player) = cells.player {
            let player_id = int32(player, "PlayerID")?;
            if let (None, None, Some(counted)) = (cells.win, cells.points, cells.counted) {
                self.counted.push(Counted { player_id, spins: spins(counted)? });
                return Ok(());
            }
            let row = standing(player_id, &cells)?;
            if !row.counts() {
                return Err(format!("a ranked player has win {} and stake {} ({row:?})", row.win, row.stake));
            }
            if buckets && let Some(bucket) = cells.bucket {
                self.buckets.push(bucket);
            }
            self.rows.push(row);
        } else if let Some(spins) = cells.spins {
            let spins = u64::try_from(spins).map_err(|_| format!("a bucket of {spins} spins"))?;
            let bucket = cells.bucket.ok_or("a count without its Bucket")?;
            self.counts.push(BucketCount { bucket, spins });
        } else if let Some(total) = cells.total {
            if self.total.is_some() {
                return Err("the answer has two totals".into());
            }
            self.total = Some(u64::try_from(total).map_err(|_| format!("a total of {total}"))?);
        } else {
            return Err("a row with no player, count or total".into());
        }
        Ok(())
    }
}

/// A player's best spin, or their total when the answer has `Points`.
fn standing(player_id: i32, cells: &Cells) -> Result<Row, String> {
    let achieved_us = cells.time.ok_or("a null EventTime")?;
    let Some(points) = cells.points else {
        return Ok(Row {
            player_id,
            stake: int32(cells.stake.ok_or("a null Stake")?, "Stake")?,
            game_id: int32(cells.game.ok_or("a null GameID")?, "GameID")?,
            win: cells.win.ok_or("a null Win")?,
            achieved_us,
            spins: cells.counted.map(spins).transpose()?.unwrap_or(0),
            ..Row::default()
        });
    };
    let counted = spins(cells.counted.ok_or("a null Counted")?)?;
    let sums = (counted, cells.wagered.ok_or("a null Wagered")?, cells.won.ok_or("a null Won")?);
    Ok(Row::total(player_id, points, sums, achieved_us))
}

fn spins(counted: i64) -> Result<u32, String> {
    u32::try_from(counted).map_err(|_| format!("Counted {counted} is outside UInt32"))
}

fn int32(n: i64, column: &str) -> Result<i32, String> {
    i32::try_from(n).map_err(|_| format!("{column} {n} is outside Int32"))
}

fn error<E: serde::de::Error>(msg: impl fmt::Display) -> E {
    E::custom(msg)
}

/// How to read one cell.
#[derive(Clone, Copy)]
enum Cell {
    Int,
    /// A datetime, as microseconds since the Unix epoch.
    Time,
    Skip,
}

impl<'de> DeserializeSeed<'de> for Cell {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<i64>, D::Error> {
        match self {
            Cell::Skip => de.deserialize_ignored_any(IgnoredAny).map(|_| None),
            _ => de.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Cell {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Cell::Time => f.write_str("a datetime or null"),
            _ => f.write_str("an integer or null"),
        }
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Option<i64>, E> {
        match self {
            Cell::Int => Ok(Some(n)),
            _ => Err(error(format!("{n} is not a datetime"))),
        }
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Option<i64>, E> {
        match (self, i64::try_from(n)) {
            (Cell::Int, Ok(n)) => Ok(Some(n)),
            _ => Err(error(format!("{n} is not a valid value here"))),
        }
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Option<i64>, E> {
        match self {
            Cell::Time => micros(s).map(Some).ok_or_else(|| error(format!("{s:?} is not a datetime"))),
            _ => Err(error(format!("{s:?} is not an integer"))),
        }
    }
}

/// Microseconds since the Unix epoch of a Kusto datetime (`2026-11-01T10:00:00.1234567Z`, the
/// fraction and the `Z` optional); digits past the microsecond are dropped, as everywhere in the
/// service.
pub fn micros(s: &str) -> Option<i64> {
    fast_micros(s.as_bytes()).or_else(|| frames::parse_datetime(s).map(|t| t.timestamp_micros()))
}

fn fast_micros(b: &[u8]) -> Option<i64> {
    let b = b.strip_suffix(b"Z").unwrap_or(b);
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let mut us = 0i64;
    if b.len() > 19 {
        let fraction = b[19..].strip_prefix(b".")?;
        if fraction.is_empty() || fraction.len() > 9 || !fraction.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for (i, &c) in fraction.iter().take(6).enumerate() {
            us += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
        }
    }
    let days = i64::from(date.num_days_from_ce()) - 719_163;
    Some((days * 86_400 + i64::from(h * 3600 + m * 60 + s)) * 1_000_000 + us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(body: serde_json::Value) -> Result<Answer, frames::FrameError> {
        let mut answer = Answer::default();
        frames::decode(serde_json::to_vec(&body).unwrap().as_slice(), &mut answer).map(|_| answer)
    }

    fn v2(columns: &[(&str, &str)], rows: serde_json::Value) -> serde_json::Value {
        let columns: Vec<_> =
            columns.iter().map(|(n, t)| json!({"ColumnName": n, "ColumnType": t})).collect();
        json!([
            {"FrameType": "DataSetHeader", "Version": "v2.0"},
            {"FrameType": "DataTable", "TableId": 1, "TableKind": "PrimaryResult", "TableName": "PrimaryResult",
             "Columns": columns, "Rows": rows},
            {"FrameType": "DataSetCompletion", "HasErrors": false, "Cancelled": false}
        ])
    }

    const SPIN: [(&str, &str); 7] = [
        ("PlayerID", "int"),
        ("Bucket", "datetime"),
        ("Win", "long"),
        ("Stake", "int"),
        ("GameID", "int"),
        ("EventTime", "datetime"),
        ("Spins", "long"),
    ];

    #[test]
    fn rows_counts_and_totals_are_read_by_column_name() {
        let answer = decode(v2(
            &SPIN,
            json!([
                [7, "2026-11-01T00:00:00Z", 25, 10, 3, "2026-11-01T00:00:01.5Z", null],
                [null, "2026-11-01T00:00:10Z", null, null, null, null, 12]
            ]),
        ))
        .unwrap();
        let at = micros("2026-11-01T00:00:00Z").unwrap();
        assert_eq!(
            answer.rows,
            [Row {
                player_id: 7,
                stake: 10,
                game_id: 3,
                win: 25,
                achieved_us: at + 1_500_000,
                ..Row::default()
            }]
        );
        assert_eq!(answer.buckets, [at]);
        assert_eq!(answer.counts, [BucketCount { bucket: at + 10_000_000, spins: 12 }]);

        let total = decode(v2(&[("Total", "long"), ("Extra", "string")], json!([[5, "x"]]))).unwrap();
        assert_eq!(total.total, Some(5));
    }

    #[test]
    fn impossible_rows_are_malformed() {
        let malformed = |rows| matches!(decode(v2(&SPIN, rows)), Err(frames::FrameError::Malformed(_)));
        let t = "2026-11-01T00:00:00Z";
        assert!(malformed(json!([[7, t, 0, 10, 3, t, null]])), "a losing spin");
        assert!(malformed(json!([[7, t, 5, 10, 3000000000i64, t, null]])), "GameID outside Int32");
        assert!(malformed(json!([[7, t, 5, 10, 3, null, null]])), "no EventTime");
        assert!(malformed(json!([[7, t, 5, 10, 3, t]])), "a cell short");
        assert!(malformed(json!([[7, t, 5, 10, 3, t, null, 1]])), "a cell too many");
        assert!(malformed(json!([[null, t, null, null, null, null, null]])), "nothing");
        assert!(malformed(json!([["7", t, 5, 10, 3, t, null]])), "a string for an int");
    }

    #[test]
    fn kusto_datetimes_are_read_to_the_microsecond() {
        let base = micros("2026-11-02T08:00:01Z").unwrap();
        assert_eq!(
            base,
            chrono::DateTime::parse_from_rfc3339("2026-11-02T08:00:01Z").unwrap().timestamp_micros()
        );
        assert_eq!(micros("2026-11-02T08:00:01.1234567Z"), Some(base + 123_456));
        assert_eq!(micros("2026-11-02T08:00:01.123456Z"), Some(base + 123_456));
        assert_eq!(micros("2026-11-02T08:00:01.5"), Some(base + 500_000));
        assert_eq!(micros("1969-12-31T23:59:59.999999Z"), Some(-1));
        assert_eq!(micros("2026-11-02T08:00:01+01:00"), Some(base - 3_600_000_000), "an offset, by chrono");
        for bad in ["yesterday", "2026-13-01T00:00:00Z", "2026-11-02T24:00:00Z", "2026-11-02T08:00:01.Z"] {
            assert_eq!(micros(bad), None, "{bad}");
        }
    }
}
