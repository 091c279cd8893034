//! The ADX path's standings, straight from [`AdxBackend`] on `duckdb-kql serve`: every ranked
//! player in rank order, capped at the query's limit, with the exact total in the same answer,
//! and each player's row the spin that set the score, ties settled as the SQL path settles them.

use leaderboard::backend::{Backend, Standings};
use leaderboard::leaderboard::{LeaderboardQuery, Stakes, Window};

use crate::common::fixture::{CampaignDef, Row};
use crate::common::{Engine, Fixture};

fn query(fixture: &Fixture, c: &CampaignDef, limit: u32) -> LeaderboardQuery {
    let (from, to) = fixture.window(c, None);
    LeaderboardQuery {
        window: Window { from, to },
        games: c.games.clone(),
        stakes: Stakes::new(c.stakes.0, c.stakes.1).unwrap(),
        limit,
        counts: vec![],
        scoring: Default::default(),
        first: None,
    }
}

fn rows(standings: &Standings) -> Vec<Row> {
    standings
        .rows
        .iter()
        .map(|s| (s.player_id, s.ratio(), s.win, s.stake, s.game_id, at(s.achieved_us), s.spins))
        .collect()
}

fn at(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap()
}

#[tokio::test]
async fn standings_are_complete_and_count_every_ranked_player_past_the_cap() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins);
    let adx = engine.backend();
    for id in ["live-all", "live-games", "ended", "edges"] {
        let c = fixture.campaign(id);
        let all = fixture.expected(c, None, usize::MAX);
        assert!(all.len() > 3, "{id} ranks a few players");
        let full = adx.leaderboard(&query(&fixture, c, 1_000_000)).await.unwrap();
        assert_eq!(rows(&full), all, "{id}: every ranked player, in rank order");
        assert_eq!(full.total, all.len() as u64, "{id}");
        let capped = adx.leaderboard(&query(&fixture, c, 3)).await.unwrap();
        assert_eq!(rows(&capped), all[..3], "{id}: the first rows");
        assert_eq!(capped.total, all.len() as u64, "{id}: the total counts past the cap");
    }
    // Nothing counts in the upcoming campaign's span: no rows, and a total of zero.
    let empty = adx.leaderboard(&query(&fixture, fixture.campaign("upcoming"), 10)).await.unwrap();
    assert_eq!(empty, Standings::default());
}

#[tokio::test]
async fn a_players_row_is_the_earliest_best_spin_with_the_larger_stake_then_the_smaller_game() {
    let fixture = Fixture::new();
    // Player 2007 reaches 1000.0 three times at one instant: stake 6 game 4, stake 12 game 4,
    // stake 12 game 2, in that order, so an engine keeping the first row it meets is wrong.
    let spins: Vec<_> = fixture.spins.iter().filter(|s| s.player == 2007).copied().collect();
    assert_eq!(spins.len(), 3);
    let engine = Engine::start(&spins);
    let adx = engine.backend();
    let standings = adx.leaderboard(&query(&fixture, fixture.campaign("live-all"), 10)).await.unwrap();
    assert_eq!(standings.total, 1);
    let row = &standings.rows[0];
    assert_eq!((row.player_id, row.ratio(), row.win, row.stake, row.game_id), (2007, 1000.0, 12_000, 12, 2));
    assert_eq!(at(row.achieved_us), spins[0].time);
}
