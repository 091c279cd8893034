//! KQL rendering: turns a [`LeaderboardQuery`] into the query text sent to ADX, by filling the
//! typed holes of `kql/leaderboard.kql` from validated values. No request text ever reaches
//! the output: every hole is written by a function of a typed value (a datetime, an integer,
//! a list of integers, a validated table name).

use std::fmt::{self, Write};
use std::sync::LazyLock;

use chrono::{DateTime, Timelike, Utc};

use crate::leaderboard::LeaderboardQuery;

const LEADERBOARD: &str = include_str!("../kql/leaderboard.kql");

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    Table,
    From,
    To,
    Games,
    Limit,
}

#[derive(Debug)]
enum Segment {
    Text(&'static str),
    Hole(Hole),
    /// Ends a line that is left out entirely when its hole has nothing to say.
    LineEnd {
        optional: bool,
    },
}

/// The template, split once into text and holes; comment lines are dropped.
static TEMPLATE: LazyLock<Vec<Segment>> = LazyLock::new(|| parse_template(LEADERBOARD));

fn parse_template(template: &'static str) -> Vec<Segment> {
    let mut segments = Vec::new();
    for line in template.lines().filter(|l| !l.trim_start().starts_with("//") && !l.trim().is_empty()) {
        let mut rest = line;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map(|c| open + c).expect("unclosed hole in KQL template");
            segments.push(Segment::Text(&rest[..open]));
            segments.push(Segment::Hole(hole(&rest[open + 1..close])));
            rest = &rest[close + 1..];
        }
        segments.push(Segment::Text(rest));
        segments.push(Segment::LineEnd { optional: line.contains("{games}") });
    }
    segments
}

fn hole(name: &str) -> Hole {
    match name {
        "table" => Hole::Table,
        "from" => Hole::From,
        "to" => Hole::To,
        "games" => Hole::Games,
        "limit" => Hole::Limit,
        other => panic!("unknown hole {{{other}}} in KQL template"),
    }
}

/// The leaderboard query for `query` against `table`.
pub fn render(query: &LeaderboardQuery, table: &TableName) -> String {
    let mut out = String::with_capacity(LEADERBOARD.len());
    let mut line = String::new();
    let mut skip_line = false;
    for segment in TEMPLATE.iter() {
        match segment {
            Segment::Text(text) => line.push_str(text),
            Segment::Hole(Hole::Games) => match &query.games {
                Some(games) => write_list(&mut line, games),
                None => skip_line = true,
            },
            Segment::Hole(h) => write_hole(&mut line, *h, query, table).expect("writing to a String"),
            Segment::LineEnd { optional } => {
                if !(*optional && skip_line) {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&line);
                }
                line.clear();
                skip_line = false;
            }
        }
    }
    out
}

fn write_hole(out: &mut String, hole: Hole, query: &LeaderboardQuery, table: &TableName) -> fmt::Result {
    match hole {
        Hole::Table => write!(out, "['{}']", table.0),
        Hole::From => write_datetime(out, query.window.from),
        Hole::To => write_datetime(out, query.window.to),
        Hole::Limit => write!(out, "{}", query.limit),
        Hole::Games => unreachable!("handled by render"),
    }
}

/// `datetime(2026-11-01T00:00:00.0000000Z)`: ADX's own literal, at its 100 ns tick precision.
fn write_datetime(out: &mut String, t: DateTime<Utc>) -> fmt::Result {
    let ticks = t.nanosecond() % 1_000_000_000 / 100;
    write!(out, "datetime({}.{ticks:07}Z)", t.format("%Y-%m-%dT%H:%M:%S"))
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
