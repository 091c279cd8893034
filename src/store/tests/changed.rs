//! What a tracked scope tells of the players who changed since a read: after any batch, the
//! board read before with each told player's standing replaced is the board read again, for a
//! best spin and for a total; every player who spun in a counted way is told, no other; a view
//! that is no longer the scope read is told nothing (read it whole).

use super::*;
use crate::backend::Cursor;
use crate::leaderboard::{Row as Standing, Scoring};

fn whole(scoring: Scoring) -> LeaderboardQuery {
    let window = Window { from: at(0), to: at(10 * DAY) };
    LeaderboardQuery {
        window,
        games: None,
        stakes: Stakes::default(),
        limit: 1_000_000,
        counts: vec![],
        scoring,
        first: None,
    }
}

/// `before` with `changed` players' standings replaced (left out if they no longer rank),
/// ranked anew.
fn applied(before: &[Standing], changed: &[Standing]) -> Vec<Standing> {
    let mut by_player: BTreeMap<i32, Standing> = before.iter().map(|r| (r.player_id, *r)).collect();
    for row in changed {
        by_player.insert(row.player_id, *row);
    }
    let mut rows: Vec<Standing> = by_player.into_values().filter(Standing::counts).collect();
    rows.sort_by(Standing::rank_order);
    rows
}

#[tokio::test]
async fn the_players_told_changed_bring_a_read_board_up_to_date() {
    for scoring in [Scoring::BestMultiplier, Scoring::TotalWin, Scoring::TotalMultiplier] {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).await.unwrap();
        let mut rng = StdRng::seed_from_u64(11);
        let mut all = spins(&mut rng, 4000, 10);
        // New players whose spins add nothing to a total (a loss; a win too small for a
        // millionth of a multiplier): told, with no instant that reached a score, unranked.
        let nothing = |player_id, win, stake| Spin { player_id, game_id: 1, win, stake, event_time: at(DAY) };
        all[2100] = nothing(1_000_001, 0, 5);
        all[2101] = nothing(1_000_002, 1, 2_000_000);
        all[2102] = nothing(1_000_003, -3, 1);
        let query = whole(scoring);
        let tracked = Scope { scoring, ..scope(0, 10 * DAY, None) };
        store.track(vec![tracked.clone()]).await.unwrap();
        insert(&store, &all[..2000]).await;
        let read = store.leaderboard(&query).await.unwrap();
        let (mut board, mut cursor) =
            (read.rows, read.cursor.expect("a scope's read tells where it left off"));
        for batch in all[2000..].chunks(250) {
            store.insert(batch.to_vec()).await.unwrap();
            let changed = store.changed_since(&query, cursor).await.unwrap().expect("the same scope");
            let told: BTreeSet<i32> = changed.rows.iter().map(|r| r.player_id).collect();
            let spun: BTreeSet<i32> = batch.iter().filter(|s| s.stake > 0).map(|s| s.player_id).collect();
            assert_eq!(told, spun, "{scoring:?}: exactly the players with a counted spin");
            let again = store.leaderboard(&query).await.unwrap();
            board = applied(&board, &changed.rows);
            assert_eq!(board, again.rows, "{scoring:?}");
            assert_eq!(board.len() as u64, again.total);
            assert!(changed.cursor.seen > cursor.seen);
            cursor = changed.cursor;
        }
        let nothing = store.changed_since(&query, cursor).await.unwrap().unwrap();
        assert!(nothing.rows.is_empty(), "nothing stored since");
        // More players changed than a board holds: read the view whole, no more rows kept.
        let batch = spins(&mut rng, 200, 10);
        store.insert(batch.clone()).await.unwrap();
        let spun = batch.iter().filter(|s| s.stake > 0).map(|s| s.player_id).collect::<BTreeSet<_>>().len();
        let capped = LeaderboardQuery { limit: spun as u32 - 1, ..query.clone() };
        assert_eq!(store.changed_since(&capped, cursor).await.unwrap(), None, "{spun} changed");
        let all = LeaderboardQuery { limit: spun as u32, ..query.clone() };
        let told = store.changed_since(&all, cursor).await.unwrap().expect("as many as the limit");
        assert_eq!(told.rows.len(), spun);
        cursor = told.cursor;
        let other = Cursor { scope: cursor.scope + 100, ..cursor };
        assert_eq!(store.changed_since(&query, other).await.unwrap(), None, "another scope's cursor");
        // The catalogue moved on: the scope read is gone.
        store.track(vec![Scope { games: Some(vec![1]), ..tracked }]).await.unwrap();
        assert_eq!(store.changed_since(&query, cursor).await.unwrap(), None);
    }
}
