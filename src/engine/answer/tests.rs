//! The answers' shapes, tags and encodings, checked on snapshots built by hand.

use super::*;
use crate::campaigns::{Campaign, CampaignId, Prizes};
use crate::engine::snapshot::Ranking;
use crate::leaderboard::{MaxLimit, MaxStandings, Row, Scoring};

fn snapshot(rows: &[Row], total: u64, is_final: bool, prizes: &[(&str, &str)]) -> Snapshot {
    scored(rows, total, is_final, prizes, Scoring::BestMultiplier)
}

fn scored(rows: &[Row], total: u64, is_final: bool, prizes: &[(&str, &str)], score: Scoring) -> Snapshot {
    let start = "2026-11-01T00:00:00Z".parse().unwrap();
    let end = "2026-12-01T00:00:00Z".parse().unwrap();
    let campaign = Campaign {
        id: CampaignId::parse("c").unwrap(),
        name: "c".into(),
        start,
        end,
        games: None,
        windows: None,
        stakes: Default::default(),
        prizes: Prizes::parse(prizes.iter().copied()).unwrap(),
        score,
        max_spins: None,
    };
    let window = Window { from: start, to: end };
    let ranking = Ranking::new(rows.into(), total);
    Snapshot::new(CampaignSummary::at(&campaign, start), window, ranking, is_final)
}

fn row(player_id: i32, win: i64) -> Row {
    Row { player_id, stake: 10, game_id: 1, win, achieved_us: 1_764_000_000_000_000, ..Row::default() }
}

/// Every answer's tag is taken from what it shows, not from its bytes: across snapshots
/// that differ in one thing each, two answers have equal tags exactly when their bytes are
/// equal, whatever part of the snapshot they show.
#[test]
fn tags_are_equal_exactly_when_the_answers_bytes_are() {
    let base: Vec<Row> = (1..=6).map(|p| row(p, 100 - i64::from(p))).collect();
    let changed = |at: usize, change: fn(&mut Row)| {
        let mut rows = base.clone();
        change(&mut rows[at]);
        rows
    };
    let prizes = [("1", "Gold"), ("2-4", "Silver")];
    // Totals: a losing spin changes a total's spins and wagered and nothing else it shows.
    let at = 1_764_000_000_000_000;
    let total: Vec<Row> = (1..=6).map(|p| Row::total(p, 100 - i64::from(p), (3, 30, 12), at)).collect();
    let total_changed = |change: fn(&mut Row)| {
        let mut rows = total.clone();
        change(&mut rows[5]);
        rows
    };
    let totals = [
        total.clone(),
        total_changed(|r| r.spins += 1),
        total_changed(|r| r.wagered += 5),
        total_changed(|r| r.points -= 1),
    ];
    let snapshots = [
        snapshot(&base, 6, false, &[]),
        snapshot(&base, 6, false, &prizes),
        snapshot(&base, 7, false, &prizes),
        snapshot(&base, 6, true, &prizes),
        snapshot(&base[..3], 3, false, &prizes),
        // The cutoff (rank 4) moves: pages that do not show rank 4 say it all the same.
        snapshot(&changed(3, |r| r.win = 95), 6, false, &prizes),
        snapshot(&changed(5, |r| r.stake = 20), 6, false, &prizes),
        snapshot(&changed(5, |r| r.game_id = 2), 6, false, &prizes),
        snapshot(&changed(5, |r| r.achieved_us += 1), 6, false, &prizes),
        // A losing spin changes a best's spins and nothing else it shows.
        snapshot(&changed(5, |r| r.spins += 1), 6, false, &prizes),
        snapshot(&changed(0, |r| r.player_id = 99), 6, false, &prizes),
    ]
    .into_iter()
    .chain(totals.iter().map(|rows| scored(rows, 6, false, &prizes, Scoring::TotalWin)))
    .collect::<Vec<_>>();
    let (max, standings) = (MaxLimit::new(100).unwrap(), MaxStandings::new(100).unwrap());
    let page = |offset: &str, limit: &str| Shape::Page {
        offset: Offset::parse(Some(offset), standings).unwrap(),
        limit: Limit::parse(Some(limit), max).unwrap(),
    };
    let player = |id: &str, around: &str| Shape::Player {
        id: PlayerId::parse(id).unwrap(),
        around: Around::parse(Some(around)).unwrap(),
    };
    let shapes = [
        page("0", "2"),
        page("4", "2"),
        page("0", "10"),
        player("6", "0"),
        player("1", "1"),
        player("99", "0"),
    ];
    let friends = PlayerIds::parse(Some("6,1,42"), max).unwrap();
    let mut answers = Vec::new();
    for snapshot in &snapshots {
        for &shape in &shapes {
            let answer = snapshot.answer(shape);
            answers.push((answer.json(), answer.etag()));
        }
        let answer = snapshot.friends(&friends);
        answers.push((answer.json(), answer.etag()));
    }
    for (a, (json_a, tag_a)) in answers.iter().enumerate() {
        for (json_b, tag_b) in &answers[a + 1..] {
            assert_eq!(json_a == json_b, tag_a == tag_b, "{json_a:?}\n{json_b:?}");
        }
    }
    let distinct: std::collections::HashSet<_> = answers.iter().map(|(json, _)| json.clone()).collect();
    assert!(distinct.len() > answers.len() / 2, "the snapshots differ where the shapes look");
}

/// `ENCODING` names the bytes answers are written as (tags of old bytes must not name new
/// ones): those of a sample of answers are pinned beside it, so that writing answers
/// differently fails here until `ENCODING` is bumped and the new bytes pinned with it.
#[test]
fn the_encoding_is_pinned_beside_its_name() {
    let rows: Vec<Row> = (1..=6).map(|p| row(p, 100 - i64::from(p))).collect();
    let at = 1_764_000_000_000_000;
    let totals: Vec<Row> = (1..=6).map(|p| Row::total(p, 100 - i64::from(p), (3, 30, 12), at)).collect();
    let prizes = [("1", "Gold"), ("2-4", "Silver")];
    let (max, standings) = (MaxLimit::new(100).unwrap(), MaxStandings::new(100).unwrap());
    let page = Shape::Page {
        offset: Offset::parse(Some("1"), standings).unwrap(),
        limit: Limit::parse(Some("3"), max).unwrap(),
    };
    let player =
        Shape::Player { id: PlayerId::parse("4").unwrap(), around: Around::parse(Some("1")).unwrap() };
    let friends = PlayerIds::parse(Some("6,1,42"), max).unwrap();
    let best = snapshot(&rows, 7, false, &prizes);
    let total = scored(&totals, 6, true, &[], Scoring::TotalMultiplier);
    let bytes = [
        best.answer(page).json(),
        best.answer(player).json(),
        best.friends(&friends).json(),
        total.answer(page).json(),
        total.answer(player).json(),
    ]
    .concat();
    let written = (std::str::from_utf8(ENCODING).unwrap(), xxhash_rust::xxh3::xxh3_64(&bytes));
    let pinned = ("leaderboard answers 3", 13_897_786_224_083_813_731);
    assert_eq!(
        written,
        pinned,
        "answers are written differently: bump ENCODING and pin the new hash with it\n{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn the_prize_zone_is_read_from_the_ranking() {
    let rows: Vec<Row> = (1..=5).map(|p| row(p, 100 - i64::from(p))).collect();
    let prizes = [("1", "Gold"), ("2-3", "Silver")];
    let full = snapshot(&rows, 5, false, &prizes);
    assert_eq!(full.prize_cutoff(), Some(Some(9.7)), "rank 3's score");
    assert_eq!(full.to_prize(Some(2)), Some(Some(0.0)), "rank 3 is inside");
    assert_eq!(full.to_prize(Some(4)).unwrap().map(|lack| (lack * 10.0).round()), Some(2.0));
    assert_eq!(full.to_prize(None), Some(Some(9.7)), "unranked: the whole cutoff");
    assert_eq!(full.entry(2).prize.as_deref(), Some("Silver"));
    assert_eq!(full.entry(3).prize, None);
    let short = snapshot(&rows[..2], 2, false, &prizes);
    assert_eq!(
        (short.prize_cutoff(), short.to_prize(None), short.to_prize(Some(1))),
        (Some(None), Some(None), Some(Some(0.0)))
    );
    let none = snapshot(&rows, 5, false, &[]);
    assert_eq!((none.prize_cutoff(), none.to_prize(Some(0)), none.entry(0).prize), (None, None, None));
}

/// What serde writes from an answer's documented shape: what `Answer::json` must write.
fn serde_written(answer: &Answer<'_>) -> Vec<u8> {
    let snapshot = answer.snapshot;
    let (campaign, window) = (&*snapshot.head.campaign, &*snapshot.head.window);
    let (total, is_final, prize_cutoff) =
        (snapshot.ranking.total(), snapshot.is_final, snapshot.prize_cutoff());
    let entries =
        |positions: Positions<'_>| positions.iter().map(|at| snapshot.entry(at)).collect::<Vec<_>>();
    match &answer.shows {
        Shows::Page { offset, entries: run } => serde_json::to_vec(&Board {
            campaign,
            window,
            total,
            is_final,
            offset: *offset,
            entries: entries(Positions::Run(run.clone())),
            prize_cutoff,
        }),
        Shows::Player { at, around } => serde_json::to_vec(&PlayerStanding {
            campaign,
            window,
            total,
            is_final,
            player: at.map(|at| snapshot.entry(at)),
            around: entries(Positions::Run(around.clone())),
            prize_cutoff,
            to_prize: snapshot.to_prize(*at),
        }),
        Shows::Friends { ranked, unranked } => serde_json::to_vec(&FriendsBoard {
            campaign,
            window,
            total,
            is_final,
            entries: entries(Positions::Listed(ranked)),
            unranked,
            prize_cutoff,
        }),
    }
    .unwrap()
}

/// A standing of either kind, any of its fields at any value a backend can answer.
fn any_row() -> impl proptest::strategy::Strategy<Value = Row> {
    use proptest::prelude::*;
    let instant = -62_135_596_800_000_000_i64..253_402_300_799_999_999;
    (
        any::<i32>(),
        1..=i32::MAX,
        any::<i32>(),
        any::<i64>(),
        instant,
        any::<u32>(),
        any::<i64>(),
        1..=i64::MAX,
    )
        .prop_map(|(player_id, stake, game_id, win, achieved_us, spins, wagered, points)| Row {
            player_id,
            stake,
            game_id,
            win,
            achieved_us,
            spins,
            wagered,
            points,
        })
}

proptest::proptest! {
    /// Every answer (pages, players, friends; either kind of standing, every score, with and
    /// without prizes whose labels need escaping) is written byte for byte as serde writes its
    /// documented shape.
    #[test]
    fn answers_are_written_as_serde_writes_their_shapes(
        rows in proptest::collection::vec(any_row(), 0..12),
        totals in proptest::bool::ANY,
        score in 0_usize..5,
        extra in 0_u64..3,
        is_final in proptest::bool::ANY,
        prized in proptest::bool::ANY,
        offset in 0_u32..14,
        limit in 1_u32..14,
        around in 0_u8..4,
        asked in proptest::collection::vec(0_usize..14, 0..5),
    ) {
        // Distinct players; a total has no stake or game (`Row::is_total`).
        let rows: Vec<Row> = rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| Row { player_id: i as i32 * 7 - 20, ..row })
            .map(|row| if totals { Row { stake: 0, game_id: 0, ..row } } else { Row { points: 0, ..row } })
            .collect();
        let scoring = [Scoring::BestMultiplier, Scoring::TotalMultiplier, Scoring::TotalWin, Scoring::TotalStake, Scoring::Spins][score];
        let prizes: &[(&str, &str)] = if prized { &[("1", "Gold \"1st\" \u{1F3C6}"), ("2-4", "tab\there\\ and\u{7}")] } else { &[] };
        let snapshot = scored(&rows, rows.len() as u64 + extra, is_final, prizes, scoring);
        let (max, standings) = (MaxLimit::new(100).unwrap(), MaxStandings::new(100).unwrap());
        let id = |i: usize| rows.get(i).map_or(999, |row| row.player_id);
        let ids = asked.iter().map(|&i| id(i).to_string()).collect::<Vec<_>>().join(",");
        let mut answers = vec![
            snapshot.answer(Shape::Page {
                offset: Offset::parse(Some(&offset.to_string()), standings).unwrap(),
                limit: Limit::parse(Some(&limit.to_string()), max).unwrap(),
            }),
            snapshot.answer(Shape::Player {
                id: PlayerId::parse(&id(offset as usize).to_string()).unwrap(),
                around: Around::parse(Some(&around.to_string())).unwrap(),
            }),
        ];
        let friends = PlayerIds::parse(Some(&ids), max).ok();
        answers.extend(friends.iter().map(|friends| snapshot.friends(friends)));
        for answer in answers {
            let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
            proptest::prop_assert_eq!(text(&answer.json()), text(&serde_written(&answer)));
        }
    }
}
