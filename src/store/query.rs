//! SQL rendering for the embedded store: turns a [`LeaderboardQuery`] into the parameters of
//! `kql/leaderboard.sql` (the window cut into raw edges, whole hours and whole days) and reads
//! the standings back.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, named_params};

use super::{DAY, HOUR, micros};
use crate::leaderboard::{LeaderboardQuery, Standing};

pub const LEADERBOARD: &str = include_str!("../../kql/leaderboard.sql");

/// `[from, to)` in microseconds; empty when `from >= to`.
type Range = (i64, i64);
const EMPTY: Range = (0, 0);

/// Which parts of the window each source covers; together they tile `[from, to)` exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub raw: [Range; 2],
    pub hours: [Range; 2],
    pub days: Range,
}

fn floor(t: i64, span: i64) -> i64 {
    t.div_euclid(span) * span
}

fn ceil(t: i64, span: i64) -> i64 {
    -floor(-t, span)
}

impl Plan {
    pub fn new(from: i64, to: i64) -> Self {
        let (h_from, h_to) = (ceil(from, HOUR), floor(to, HOUR));
        if h_from >= h_to {
            return Self { raw: [(from, to), EMPTY], hours: [EMPTY; 2], days: EMPTY };
        }
        let raw = [(from, h_from), (h_to, to)];
        let (d_from, d_to) = (ceil(h_from, DAY), floor(h_to, DAY));
        if d_from >= d_to {
            return Self { raw, hours: [(h_from, h_to), EMPTY], days: EMPTY };
        }
        Self { raw, hours: [(h_from, d_from), (d_to, h_to)], days: (d_from, d_to) }
    }
}

pub fn run(conn: &Connection, query: &LeaderboardQuery) -> rusqlite::Result<Vec<Standing>> {
    let plan = Plan::new(micros(query.window.from), micros(query.window.to));
    let games = serde_json::to_string(query.games.as_deref().unwrap_or_default()).expect("ints serialize");
    let mut statement = conn.prepare_cached(LEADERBOARD)?;
    let rows = statement.query_map(
        named_params! {
            ":day": DAY, ":hour": HOUR,
            ":days_from": plan.days.0, ":days_to": plan.days.1,
            ":hours1_from": plan.hours[0].0, ":hours1_to": plan.hours[0].1,
            ":hours2_from": plan.hours[1].0, ":hours2_to": plan.hours[1].1,
            ":raw1_from": plan.raw[0].0, ":raw1_to": plan.raw[0].1,
            ":raw2_from": plan.raw[1].0, ":raw2_to": plan.raw[1].1,
            ":all_games": query.games.is_none(), ":games": games,
            ":limit": query.limit,
        },
        |row| {
            let (win, stake): (i64, i32) = (row.get("Win")?, row.get("Stake")?);
            Ok(Standing {
                player_id: row.get("PlayerID")?,
                score: win as f64 / f64::from(stake),
                win,
                stake,
                game_id: row.get("GameID")?,
                achieved_at: instant(row.get("EventTime")?),
            })
        },
    )?;
    rows.collect()
}

fn instant(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).expect("stored times come from valid instants")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn covered(plan: &Plan) -> Vec<Range> {
        let mut parts: Vec<Range> =
            plan.raw.iter().chain(&plan.hours).chain([&plan.days]).copied().filter(|(a, b)| a < b).collect();
        parts.sort();
        parts
    }

    #[test]
    fn plans_tile_the_window_exactly() {
        let day0 = 20_000 * DAY;
        for (from, to) in [
            (day0 + 5 * MIN, day0 + 20 * MIN),
            (day0 + 5 * MIN, day0 + 3 * HOUR + 1),
            (day0 - 7 * MIN, day0 + 5 * DAY + 2 * HOUR + 3),
            (day0, day0 + 2 * DAY),
            (-DAY - 1, DAY + 1),
        ] {
            let parts = covered(&Plan::new(from, to));
            assert_eq!(parts.first().unwrap().0, from);
            assert_eq!(parts.last().unwrap().1, to);
            assert!(parts.windows(2).all(|w| w[0].1 == w[1].0), "contiguous: {parts:?}");
        }
        let plan = Plan::new(day0 - 7 * MIN, day0 + 5 * DAY + 2 * HOUR + 3);
        assert_eq!(plan.days, (day0, day0 + 5 * DAY));
        assert_eq!(plan.hours, [(day0, day0), (day0 + 5 * DAY, day0 + 5 * DAY + 2 * HOUR)]);
        assert_eq!(
            plan.raw,
            [(day0 - 7 * MIN, day0), (day0 + 5 * DAY + 2 * HOUR, day0 + 5 * DAY + 2 * HOUR + 3)]
        );
    }
}
