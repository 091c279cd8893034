//! KQL rendering: turns a [`LeaderboardQuery`] or a [`ChangesQuery`] into the query text sent to
//! ADX, by filling the typed holes of `kql/leaderboard.kql` (the best multiplier),
//! `kql/totals.kql` (a score that is a sum), `kql/changes.kql` and `kql/totals-changes.kql`
//! from validated values; a campaign counting only first spins has `kql/first-spins.kql` before
//! its standings template, which then reads `counted` in place of the table (and its incremental
//! refresh `kql/watch.kql` before both, which names the players to rank again; it starts every
//! incremental refresh). No
//! request text ever reaches the output: every hole is written by a function of a typed value
//! (a datetime, an integer, a list of integers, a bucket width, a score format, a validated
//! table name).

use std::fmt::{self, Write};
use std::sync::LazyLock;

use chrono::{DateTime, Timelike, Utc};

use crate::leaderboard::{
    ChangesQuery, CountRun, FirstSpins, Grain, LeaderboardQuery, Recount, Scoring, Segment, Stakes, Width,
    Window,
};

/// An ADX table name: a plain identifier, rendered bracket-quoted so a name that happens to be
/// a KQL keyword still means the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName(String);

impl TableName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut chars = text.chars();
        let valid = (1..=1024).contains(&text.len())
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not a table name: use letters, digits and '_', starting with a letter or '_'"
            ))
        }
    }
}

impl Default for TableName {
    fn default() -> Self {
        Self("GamePlay".into())
    }
}

impl std::str::FromStr for TableName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "['{}']", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    Table,
    From,
    To,
    Games,
    MinStake,
    MaxStake,
    Limit,
    Counts,
    Segments,
    Known,
    Points,
    Since,
    Last,
}

/// What a line filters on, when the whole line is about one filter.
#[derive(Debug, Clone, Copy)]
enum Filter {
    Games,
    Stakes,
}

#[derive(Debug)]
enum Part {
    Text(&'static str),
    Hole(Hole),
    /// Ends a line, which is left out entirely when it filters on what the query does not
    /// filter: `{games}` when every game counts, the stakes when every positive stake does.
    LineEnd {
        filters: Option<Filter>,
    },
}

/// A template, split once into text and holes; comment lines are dropped.
struct Template(Vec<Part>);

static LEADERBOARD: LazyLock<Template> =
    LazyLock::new(|| Template::parse(include_str!("../kql/leaderboard.kql")));
static TOTALS: LazyLock<Template> = LazyLock::new(|| Template::parse(include_str!("../kql/totals.kql")));
static CHANGES: LazyLock<Template> = LazyLock::new(|| Template::parse(include_str!("../kql/changes.kql")));
static FIRST_SPINS: LazyLock<Template> =
    LazyLock::new(|| Template::parse(include_str!("../kql/first-spins.kql")));
static TOTALS_CHANGES: LazyLock<Template> =
    LazyLock::new(|| Template::parse(include_str!("../kql/totals-changes.kql")));
static WATCH: LazyLock<Template> = LazyLock::new(|| Template::parse(include_str!("../kql/watch.kql")));

impl Template {
    fn parse(template: &'static str) -> Self {
        let mut parts = Vec::new();
        for line in template.lines().filter(|l| !l.trim_start().starts_with("//") && !l.trim().is_empty()) {
            let mut rest = line;
            while let Some(open) = rest.find('{') {
                let close = rest[open..].find('}').map(|c| open + c).expect("unclosed hole in KQL template");
                parts.push(Part::Text(&rest[..open]));
                parts.push(Part::Hole(hole(&rest[open + 1..close])));
                rest = &rest[close + 1..];
            }
            parts.push(Part::Text(rest));
            let filters = if line.contains("{games}") {
                Some(Filter::Games)
            } else if line.contains("{min_stake}") || line.contains("{max_stake}") {
                Some(Filter::Stakes)
            } else {
                None
            };
            parts.push(Part::LineEnd { filters });
        }
        Self(parts)
    }

    /// The text, each hole written by `fill`; a `{games}` line is dropped when `games` is `None`,
    /// a stakes line when every positive stake counts.
    fn render(
        &self,
        (games, stakes): (Option<&[i32]>, Stakes),
        mut fill: impl FnMut(&mut String, Hole),
    ) -> String {
        let (mut out, mut line) = (String::new(), String::new());
        for part in &self.0 {
            match part {
                Part::Text(text) => line.push_str(text),
                Part::Hole(Hole::Games) => {
                    if let Some(games) = games {
                        write_list(&mut line, games);
                    }
                }
                Part::Hole(Hole::MinStake) => write_int(&mut line, stakes.range().0),
                Part::Hole(Hole::MaxStake) => write_int(&mut line, stakes.range().1),
                Part::Hole(h) => fill(&mut line, *h),
                Part::LineEnd { filters } => {
                    let dropped = match filters {
                        Some(Filter::Games) => games.is_none(),
                        Some(Filter::Stakes) => stakes.is_any(),
                        None => false,
                    };
                    if !dropped {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(&line);
                    }
                    line.clear();
                }
            }
        }
        out
    }
}

fn hole(name: &str) -> Hole {
    match name {
        "table" => Hole::Table,
        "from" => Hole::From,
        "to" => Hole::To,
        "games" => Hole::Games,
        "min_stake" => Hole::MinStake,
        "max_stake" => Hole::MaxStake,
        "limit" => Hole::Limit,
        "counts" => Hole::Counts,
        "segments" => Hole::Segments,
        "known" => Hole::Known,
        "points" => Hole::Points,
        "since" => Hole::Since,
        "last" => Hole::Last,
        other => panic!("unknown hole {{{other}}} in KQL template"),
    }
}

/// The standings query for `query` against `table`: the best multiplier's, or the totals'.
pub fn render(query: &LeaderboardQuery, table: &TableName) -> String {
    let counted = (query.games.as_deref(), query.stakes);
    // The counts count every spin that may count (for first spins, not only the first ones).
    let source = if query.first.is_some() { "qualifying" } else { "spins" };
    let counts = |out: &mut String| query.counts.iter().for_each(|run| write_count_run(out, run, source));
    let of = StandingsText {
        scoring: query.scoring,
        window: query.window,
        first: query.first,
        limit: query.limit,
    };
    of.render(counted, &table.to_string(), counts)
}

/// What a standings text computes: every player's standing over `window`, scored by `scoring`
/// (of their first spins only, with `first`), at most `limit` of them.
struct StandingsText {
    scoring: Scoring,
    window: Window,
    first: Option<FirstSpins>,
    limit: u32,
}

impl StandingsText {
    /// The text over `table` (a table, or a table's spins of some players): first-spins.kql for
    /// first spins, then the score's standings template, `counts` writing the legs after its total.
    fn render(
        &self,
        counted: (Option<&[i32]>, Stakes),
        table: &str,
        mut counts: impl FnMut(&mut String),
    ) -> String {
        let template = if self.scoring.is_total() { &TOTALS } else { &LEADERBOARD };
        let mut text = String::new();
        if let Some(first) = self.first {
            text = FIRST_SPINS.render(counted, |out, hole| match hole {
                Hole::Table => out.push_str(table),
                Hole::Since => write_datetime(out, first.since),
                Hole::To => write_datetime(out, self.window.to),
                Hole::Last => write!(out, "{}", first.max.get() - 1).expect("writing to a String"),
                other => unreachable!("{other:?} is not a hole of first-spins.kql"),
            });
            text.push('\n');
        }
        text + &template.render(counted, |out, hole| match hole {
            Hole::Table if self.first.is_some() => out.push_str("counted"),
            Hole::Table => out.push_str(table),
            Hole::From => write_datetime(out, self.window.from),
            Hole::To => write_datetime(out, self.window.to),
            Hole::Limit => write!(out, "{}", self.limit).expect("writing to a String"),
            Hole::Counts => counts(out),
            Hole::Points => out.push_str(points(self.scoring)),
            other => unreachable!("{other:?} is not a hole of the standings templates"),
        })
    }
}

/// What one counted spin adds to a total, as [`Scoring::points`] says, over the columns `Won`
/// (the win, 0 for a losing spin) and `Stake` (positive).
fn points(scoring: Scoring) -> &'static str {
    match scoring {
        Scoring::TotalMultiplier => "Won / Stake * 1000000 + Won % Stake * 1000000 / Stake",
        Scoring::TotalWin => "Won",
        Scoring::TotalStake => "tolong(Stake)",
        Scoring::Spins => "tolong(1)",
        Scoring::BestMultiplier => unreachable!("the best multiplier is not a sum"),
    }
}

/// The changes query for `query` against `table`: best spins per bucket and their players'
/// counts, a total's recount, or first spins' standings of the players to rank again.
pub fn render_changes(query: &ChangesQuery, table: &TableName) -> String {
    let Recount { scoring, window, first } = query.recount;
    let counted = (query.games.as_deref(), query.stakes);
    let mut fill = |out: &mut String, hole| match hole {
        Hole::Segments => {
            for (i, segment) in query.segments.iter().enumerate() {
                out.push_str(if i == 0 { "\n    (" } else { ",\n    (" });
                write_segment(out, segment, table);
                out.push(')');
            }
        }
        Hole::Known => {
            for (i, known) in query.known.iter().enumerate() {
                out.push_str(if i == 0 { "\n    " } else { ",\n    " });
                write_micros(out, known.bucket);
                write!(out, ", {}", known.spins).expect("writing to a String");
            }
            if !query.known.is_empty() {
                out.push('\n');
            }
        }
        Hole::Table => write!(out, "{table}").expect("writing to a String"),
        Hole::From => write_datetime(out, window.from),
        Hole::To => write_datetime(out, window.to),
        Hole::Points => out.push_str(points(scoring)),
        other => unreachable!("{other:?} is not a hole of the changes templates"),
    };
    let text = WATCH.render(counted, &mut fill) + "\n";
    if first.is_none() {
        let template = if scoring.is_total() { &TOTALS_CHANGES } else { &CHANGES };
        return text + &template.render(counted, &mut fill);
    }
    // Their standings from their first spins, every one of them, then the counts and who left.
    let of = StandingsText { scoring, window, first, limit: u32::MAX };
    let theirs = format!("{table}\n| where PlayerID in (players)");
    let after = |out: &mut String| {
        out.push_str(",\n    (counts),\n    (players\n    | join kind=leftanti standings on PlayerID");
        out.push_str("\n    | project PlayerID, Counted = tolong(0))");
    };
    text + &of.render(counted, &theirs, after)
}

/// `,\n    (<source> | where <range> | summarize Spins = count() by Bucket = bin(EventTime, w))`
fn write_count_run(out: &mut String, run: &CountRun, source: &str) {
    write!(out, ",\n    ({source}\n    | where ").expect("writing to a String");
    write_range(out, run.range);
    out.push_str("\n    | summarize Spins = count() by Bucket = ");
    write_bin(out, run.width);
    out.push(')');
}

fn write_segment(out: &mut String, segment: &Segment, table: &TableName) {
    write!(out, "{table}\n    | where ").expect("writing to a String");
    write_range(out, segment.range);
    out.push_str("\n    | extend RowBucket = ");
    match segment.rows {
        None => out.push_str("datetime(null)"),
        Some(Grain::Whole) => write_datetime(out, segment.range.from),
        Some(Grain::Every(width)) => write_bin(out, width),
    }
    out.push_str(", CountBucket = ");
    match segment.counts {
        None => out.push_str("datetime(null)"),
        Some(width) => write_bin(out, width),
    }
    out.push_str(if segment.watched { ", Watched = true" } else { ", Watched = false" });
    out.push_str(if segment.leaving { ", Leaving = true" } else { ", Leaving = false" });
}

fn write_range(out: &mut String, range: Window) {
    out.push_str("EventTime >= ");
    write_datetime(out, range.from);
    out.push_str(" and EventTime < ");
    write_datetime(out, range.to);
}

fn write_bin(out: &mut String, width: Width) {
    write!(out, "bin(EventTime, {}s)", width.as_secs()).expect("writing to a String");
}

/// `datetime(2026-11-01T00:00:00.0000000Z)`: ADX's own literal, at its 100 ns tick precision.
fn write_datetime(out: &mut String, t: DateTime<Utc>) {
    let ticks = t.nanosecond() % 1_000_000_000 / 100;
    write!(out, "datetime({}.{ticks:07}Z)", t.format("%Y-%m-%dT%H:%M:%S")).expect("writing to a String");
}

fn write_micros(out: &mut String, us: i64) {
    write_datetime(out, DateTime::from_timestamp_micros(us).expect("bucket labels are valid instants"));
}

fn write_int(out: &mut String, n: i32) {
    write!(out, "{n}").expect("writing to a String");
}

fn write_list(out: &mut String, games: &[i32]) {
    for (i, game) in games.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write!(out, "{game}").expect("writing to a String");
    }
}

#[cfg(test)]
mod tests;
