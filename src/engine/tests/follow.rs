//! Refreshes on a backend that tells which players changed since a read (the embedded store's
//! tracked scopes): a board holding every player it ranks asks for those alone and stays the
//! board read whole; a board past `--max-standings` is read whole each time.

use super::*;
use crate::leaderboard::LeaderboardQuery;

fn full_queries_only() -> Settings {
    Settings { incremental: false, ..base() }
}

/// The campaign's whole board, read whole from the backend.
fn whole(memory: &Memory, c: &Campaign) -> Vec<Row> {
    let window = crate::leaderboard::Window { from: c.start, to: c.end };
    let query = LeaderboardQuery {
        window,
        games: None,
        stakes: Default::default(),
        scoring: Default::default(),
        first: None,
        limit: u32::MAX,
        counts: vec![],
    };
    memory.standings_now(&query).rows
}

#[tokio::test(start_paused = true)]
async fn a_board_holding_every_player_asks_only_for_who_changed() {
    let (memory, engine, c) = one_player(full_queries_only());
    memory.tell_changes();
    engine.read(&c, View::Top).await.unwrap();
    // A new leader, a player overtaken by their own better spin, a losing spin, a tie on score.
    let batches = [vec![spin(2, 20)], vec![spin(1, 30), spin(3, 0)], vec![spin(4, 30), spin(2, 5)]];
    for (i, batch) in batches.iter().enumerate() {
        memory.store(batch);
        let wanted = whole(&memory, &c);
        let read = read_until(&engine, &c, View::Top, |r| **r.snapshot().ranking.rows() == wanted[..]).await;
        assert_eq!(read.snapshot().ranking.total(), wanted.len() as u64, "after batch {i}");
    }
    assert_eq!(queries(&memory).0, 1, "read whole once");
    assert!(memory.since_queries.load(Ordering::SeqCst) >= 3);
}

#[tokio::test(start_paused = true)]
async fn a_board_past_its_cap_is_read_whole() {
    let settings = Settings { max_standings: MaxStandings::new(2).unwrap(), ..full_queries_only() };
    let (memory, engine, c) = one_player(settings);
    memory.add([spin(2, 20), spin(3, 30)]);
    memory.tell_changes();
    engine.read(&c, View::Top).await.unwrap();
    memory.store(&[spin(4, 40)]);
    let read = read_until(&engine, &c, View::Top, |r| leader(r) == Some(4)).await;
    assert_eq!((read.snapshot().ranking.len(), read.snapshot().ranking.total()), (2, 4));
    assert_eq!(queries(&memory).0, 2, "a second full read");
    assert_eq!(memory.since_queries.load(Ordering::SeqCst), 0, "and nothing else asked");
}
