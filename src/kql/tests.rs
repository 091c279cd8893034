use chrono::{TimeZone, Utc};

use super::*;
use crate::leaderboard::Window;

fn query(games: Option<Vec<i32>>) -> LeaderboardQuery {
    LeaderboardQuery {
        window: Window {
            from: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 11, 24, 12, 30, 5).unwrap()
                + chrono::Duration::microseconds(123_456),
        },
        games,
        limit: 100,
    }
}

#[test]
fn renders_typed_literals_into_the_holes() {
    let text = render(&query(Some(vec![1, 2, 3])), &TableName::default());
    assert!(
        text.starts_with("let standings = materialize(['GamePlay']\n| where EventTime >= datetime(2026-11-01T00:00:00.0000000Z)"),
        "{text}"
    );
    assert!(text.contains("EventTime < datetime(2026-11-24T12:30:05.1234560Z)"), "{text}");
    assert!(text.contains("| where GameID in (1, 2, 3)\n"), "{text}");
    assert!(text.contains("| take 100\n| extend Total = total\n"), "capped, with the total: {text}");
    assert!(text.contains("todouble(Win) / Stake"), "real division: {text}");
    assert!(!text.contains("//") && !text.contains('{'), "comments and holes are gone: {text}");
}

#[test]
fn campaigns_without_a_game_filter_drop_the_filter_line() {
    let text = render(&query(None), &TableName::default());
    assert!(!text.contains("GameID in"), "{text}");
    assert!(text.contains("| where Win > 0 and Stake > 0\n| extend"), "{text}");
}

#[test]
fn table_names_are_identifiers_only() {
    assert!(TableName::parse("Game_Play2").is_ok());
    for bad in ["", "1abc", "Game Play", "GamePlay'", "x|take", "a]b", "GamePlay\n"] {
        assert!(TableName::parse(bad).is_err(), "{bad:?}");
    }
    let text = render(&query(None), &TableName::parse("where").unwrap());
    assert!(text.starts_with("let standings = materialize(['where']\n"), "{text}");
}
