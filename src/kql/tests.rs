//! The KQL renderer: typed literals in the holes, the filter lines, counts as union legs, change
//! segments, each score's totals and first spins (Microsoft's analyzer checks every text the
//! service renders in `tests/kql-analyzer`).

use chrono::{TimeZone, Utc};

use super::*;
use crate::leaderboard::{BucketCount, FirstSpins, Window};

fn window() -> Window {
    Window {
        from: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 11, 24, 12, 30, 5).unwrap() + chrono::Duration::microseconds(123_456),
    }
}

fn query(games: Option<Vec<i32>>) -> LeaderboardQuery {
    LeaderboardQuery {
        window: window(),
        games,
        stakes: Default::default(),
        limit: 100,
        counts: vec![],
        scoring: Default::default(),
        first: None,
    }
}

#[test]
fn renders_typed_literals_into_the_holes() {
    let text = render(&query(Some(vec![1, 2, 3])), &TableName::default());
    assert!(
        text.starts_with(
            "let spins = ['GamePlay']\n| where EventTime >= datetime(2026-11-01T00:00:00.0000000Z)"
        ),
        "{text}"
    );
    assert!(text.contains("EventTime < datetime(2026-11-24T12:30:05.1234560Z)"), "{text}");
    assert!(text.contains("| where GameID in (1, 2, 3)\n"), "{text}");
    assert!(text.contains("| take 100\n"), "capped: {text}");
    assert!(text.ends_with("| project Total = Count)"), "the total once, no counts: {text}");
    assert!(text.contains("todouble(Win) / Stake"), "real division: {text}");
    assert!(
        text.contains("summarize hint.shufflekey = PlayerID Score = max(Score), Counted = count() by PlayerID\n| where Score > 0;"),
        "{text}"
    );
    assert!(!text.contains("//") && !text.contains('{'), "comments and holes are gone: {text}");
}

#[test]
fn campaigns_without_a_game_filter_drop_the_filter_line() {
    let text = render(&query(None), &TableName::default());
    assert!(!text.contains("GameID in"), "{text}");
    assert!(text.contains("| where Stake > 0\n| extend"), "{text}");
}

#[test]
fn counts_ride_along_as_union_legs() {
    let mut query = query(None);
    let hour = Width::HOUR;
    let ten = Width::seconds(10).unwrap();
    query.counts = vec![CountRun { range: window(), width: hour }, CountRun { range: window(), width: ten }];
    let text = render(&query, &TableName::default());
    assert_eq!(text.matches("| summarize Spins = count() by Bucket = bin(EventTime, ").count(), 2, "{text}");
    assert!(text.contains("bin(EventTime, 3600s))") && text.ends_with("bin(EventTime, 10s))"), "{text}");
}

#[test]
fn changes_render_segments_and_known_counts() {
    let ten = Width::seconds(10).unwrap();
    let segments = vec![
        Segment { range: window(), rows: Some(Grain::Whole), counts: None, watched: false, leaving: false },
        Segment {
            range: window(),
            rows: Some(Grain::Every(ten)),
            counts: Some(ten),
            watched: true,
            leaving: false,
        },
        Segment { range: window(), rows: None, counts: Some(Width::HOUR), watched: false, leaving: false },
        Segment::leaving(window()),
    ];
    let known = vec![BucketCount { bucket: 1_700_000_000_000_000, spins: 12 }];
    let recount = Recount { scoring: Scoring::BestMultiplier, window: window(), first: None };
    let query = ChangesQuery { games: Some(vec![4]), stakes: Default::default(), segments, known, recount };
    let text = render_changes(&query, &TableName::parse("where").unwrap());
    assert!(text.starts_with("let watched = union\n    (['where']\n    | where EventTime >= "), "{text}");
    assert!(text.contains("RowBucket = datetime(2026-11-01T00:00:00.0000000Z), CountBucket = datetime(null), Watched = false, Leaving = false)"), "{text}");
    assert!(
        text.contains("RowBucket = bin(EventTime, 10s), CountBucket = bin(EventTime, 10s), Watched = true, Leaving = false)"),
        "{text}"
    );
    assert!(
        text.contains("RowBucket = datetime(null), CountBucket = bin(EventTime, 3600s), Watched = false, Leaving = false)"),
        "{text}"
    );
    assert!(
        text.contains(
            "RowBucket = datetime(null), CountBucket = datetime(null), Watched = false, Leaving = true)\n"
        ),
        "{text}"
    );
    // Every player read (or leaving) is counted again over the whole view, losing spins too.
    assert!(
        text.contains(
            "let recounted = ['where']\n| where EventTime >= datetime(2026-11-01T00:00:00.0000000Z)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "| where PlayerID in (players)\n| summarize hint.shufflekey = PlayerID Counted = count()"
        ),
        "{text}"
    );
    assert!(text.contains("| project PlayerID, Counted)"), "{text}");
    assert!(text.contains("[\n    datetime(2023-11-14T22:13:20.0000000Z), 12\n];"), "{text}");
    assert!(text.contains("| where GameID in (4)\n"), "{text}");
    let none = ChangesQuery { known: vec![], ..query.clone() };
    assert!(render_changes(&none, &TableName::default()).contains("Spins: long) [];"));

    // A total's recount: the same buckets, then the players with a spin in a changed one summed
    // again over the whole view, every spin of a qualifying stake counted.
    let recount = Recount { scoring: Scoring::TotalStake, window: window(), first: None };
    let totals = render_changes(&ChangesQuery { recount, ..query }, &TableName::default());
    assert!(totals.starts_with("let watched = union\n    (['GamePlay']"), "{totals}");
    assert!(totals.contains("| where GameID in (4)\n| where Stake > 0;\n"), "{totals}");
    assert!(
        totals.contains(
            "let totals = ['GamePlay']\n| where EventTime >= datetime(2026-11-01T00:00:00.0000000Z)"
        )
    );
    assert!(
        totals.contains("| where PlayerID in (players)\n")
            && totals.contains("| extend Gain = tolong(Stake)\n")
    );
    assert!(totals.contains("Bucket = datetime(2026-11-01T00:00:00.0000000Z), Points"), "{totals}");
    assert!(!totals.contains("//") && !totals.contains('{'), "comments and holes are gone: {totals}");
}

#[test]
fn table_names_are_identifiers_only() {
    assert!(TableName::parse("Game_Play2").is_ok());
    for bad in ["", "1abc", "Game Play", "GamePlay'", "x|take", "a]b", "GamePlay\n"] {
        assert!(TableName::parse(bad).is_err(), "{bad:?}");
    }
    let text = render(&query(None), &TableName::parse("where").unwrap());
    assert!(text.starts_with("let spins = ['where']\n"), "{text}");
}

#[test]
fn totals_render_each_scores_points_from_the_totals_template() {
    let expected = [
        (Scoring::TotalMultiplier, "| extend Gain = Won / Stake * 1000000 + Won % Stake * 1000000 / Stake;"),
        (Scoring::TotalWin, "| extend Gain = Won;"),
        (Scoring::TotalStake, "| extend Gain = tolong(Stake);"),
        (Scoring::Spins, "| extend Gain = tolong(1);"),
    ];
    for (scoring, points) in expected {
        let query = LeaderboardQuery { scoring, ..query(Some(vec![4])) };
        let text = render(&query, &TableName::default());
        assert!(text.contains(points), "{scoring:?}: {text}");
        assert!(text.contains("| where Stake > 0\n| where GameID in (4)\n"), "losing spins count: {text}");
        assert!(!text.contains("Win > 0 and"), "{text}");
        assert!(text.contains("| take 100\n") && text.ends_with("| project Total = Count)"), "{text}");
        assert!(!text.contains("//") && !text.contains('{'), "comments and holes are gone: {text}");
    }
    let best = render(&query(None), &TableName::default());
    assert!(!best.contains("Gain"), "the best multiplier keeps its own template: {best}");
}

#[test]
fn first_spins_come_before_the_standings_which_read_them_in_place_of_the_table() {
    let since = Utc.with_ymd_and_hms(2026, 10, 30, 0, 0, 0).unwrap();
    let until = since + chrono::Duration::days(30);
    let first = Some(FirstSpins { max: std::num::NonZeroU32::new(50).unwrap(), since, until });
    for scoring in [Scoring::BestMultiplier, Scoring::TotalWin] {
        let text =
            render(&LeaderboardQuery { first, scoring, ..query(Some(vec![2])) }, &TableName::default());
        assert!(text.starts_with("let qualifying = ['GamePlay']\n| where EventTime >= datetime(2026-10-30T00:00:00.0000000Z) and EventTime < datetime(2026-11-24T12:30:05.1234560Z)\n"), "{text}");
        assert!(text.contains("let counted = qualifying\n| extend Lose"), "{text}");
        assert!(text.contains("array_slice(array_sort_asc(make_list(Key)), 0, 49) by PlayerID"), "{text}");
        assert!(
            text.contains("let spins = counted\n| where EventTime >= datetime(2026-11-01T00:00:00.0000000Z)"),
            "{text}"
        );
        assert_eq!(text.matches("['GamePlay']").count(), 1, "the table is read once: {text}");
        assert!(!text.contains("//") && !text.contains('{'), "comments and holes are gone: {text}");
        // A board's first load counts every spin that may count, not only the first ones.
        let ten = Width::seconds(10).unwrap();
        let counts = vec![CountRun { range: window(), width: ten }];
        let loaded =
            render(&LeaderboardQuery { first, scoring, counts, ..query(None) }, &TableName::default());
        assert!(loaded.ends_with("(qualifying\n    | where EventTime >= datetime(2026-11-01T00:00:00.0000000Z) and EventTime < datetime(2026-11-24T12:30:05.1234560Z)\n    | summarize Spins = count() by Bucket = bin(EventTime, 10s))"), "{loaded}");
        // An incremental refresh ranks again, from their first spins, the players it names.
        let segments = vec![Segment::leaving(window())];
        let recount = Recount { scoring, window: window(), first };
        let changes = ChangesQuery {
            games: Some(vec![2]),
            stakes: Default::default(),
            segments,
            known: vec![],
            recount,
        };
        let text = render_changes(&changes, &TableName::default());
        assert!(text.starts_with("let watched = union\n    (['GamePlay']\n"), "{text}");
        assert!(text.contains("let qualifying = ['GamePlay']\n| where PlayerID in (players)\n| where EventTime >= datetime(2026-10-30"), "{text}");
        assert!(text.contains("| take 4294967295\n"), "every one of them: {text}");
        assert!(text.ends_with("(counts),\n    (players\n    | join kind=leftanti standings on PlayerID\n    | project PlayerID, Counted = tolong(0))"), "{text}");
        assert!(!text.contains("//") && !text.contains('{'), "comments and holes are gone: {text}");
    }
}
