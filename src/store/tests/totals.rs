//! Totals on the embedded store against an oracle of their own: every total score, through
//! tracked scopes (built from stored spins, then added to by inserts, and after a restart) and
//! through windows (the rollup's sums and raw edges, or raw spins alone), with game filters and
//! stake bounds, and after the rollup is laid out anew; losing spins count for turnover
//! and spins, players with nothing won are not ranked, equal sums rank by who reached them first.

use super::*;
use crate::leaderboard::Scoring;

/// A total as compared: (player, points, spins, wagered, won, achieved at in µs).
pub(super) type Total = (i32, i64, u32, i64, i64, i64);

fn gain(scoring: Scoring, win: i64, stake: i32) -> i64 {
    let won = i128::from(win.max(0));
    match scoring {
        Scoring::TotalMultiplier => i64::try_from(won * 1_000_000 / i128::from(stake)).unwrap_or(i64::MAX),
        Scoring::TotalWin => win.max(0),
        Scoring::TotalStake => i64::from(stake),
        Scoring::Spins => 1,
        Scoring::BestMultiplier => unreachable!("not a total"),
    }
}

pub(super) fn totals(
    spins: &[Spin],
    window: &Window,
    (games, stakes): (Option<&[i32]>, Stakes),
    scoring: Scoring,
) -> Vec<Total> {
    let mut by_player: BTreeMap<i32, Total> = BTreeMap::new();
    for s in spins.iter().filter(|s| {
        stakes.qualifies(s.stake)
            && window.from <= s.event_time
            && s.event_time < window.to
            && games.is_none_or(|g| g.contains(&s.game_id))
    }) {
        let points = gain(scoring, s.win, s.stake);
        let t = by_player.entry(s.player_id).or_insert((s.player_id, 0, 0, 0, 0, i64::MIN));
        // Sums stop at i64::MAX, as the service's do.
        (t.1, t.2) = (t.1.saturating_add(points), t.2 + 1);
        (t.3, t.4) = (t.3.saturating_add(i64::from(s.stake)), t.4.saturating_add(s.win.max(0)));
        if points > 0 {
            t.5 = t.5.max(micros(s.event_time));
        }
    }
    let mut ranked: Vec<Total> = by_player.into_values().filter(|t| t.1 > 0).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.5.cmp(&b.5)).then(a.0.cmp(&b.0)));
    ranked
}

async fn check(store: &EmbeddedStore, spins: &[Spin], scope: &Scope, cap: u32) -> usize {
    let Scope { window, games, stakes, scoring, .. } = scope.clone();
    let expected = totals(spins, &window, (games.as_deref(), stakes), scoring);
    let query = LeaderboardQuery { window, games, stakes, scoring, limit: cap, counts: vec![], first: None };
    let got = store.leaderboard(&query).await.unwrap();
    let shown: Vec<Total> =
        got.rows.iter().map(|r| (r.player_id, r.points, r.spins, r.wagered, r.win, r.achieved_us)).collect();
    assert_eq!(shown, expected[..expected.len().min(cap as usize)], "{query:?}");
    assert_eq!(got.total, expected.len() as u64, "{query:?}");
    expected.len()
}

/// Random windows of `scope`'s score, games and stakes, complete and capped: read from the
/// rollup's buckets and raw edges (or, with bounded stakes, from raw spins alone).
async fn windows(store: &EmbeddedStore, spins: &[Spin], scope: &Scope, rng: &mut StdRng) {
    for _ in 0..10 {
        let (window, games) = random_query(rng, 10);
        let raw = Scope { window, games, ..scope.clone() };
        let ranked = check(store, spins, &raw, 1_000_000).await as u32;
        check(store, spins, &raw, rng.random_range(1..=ranked.max(1))).await;
    }
}

#[tokio::test]
async fn every_total_is_exact_on_scopes_and_windows_across_inserts_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(16);
    let mut all = spins(&mut rng, 4000, 10);
    // Wins too small to add a millionth to a multiplier: they reach a total of wins (and its
    // instant), not a total multiplier's.
    let tiny: Vec<Spin> = all.iter().step_by(97).map(|s| Spin { win: 1, stake: 2_000_000, ..*s }).collect();
    all.extend(tiny);
    let (before, after) = all.split_at(2500);
    let whole = Window { from: at(0), to: at(10 * DAY) };
    let bounded = Stakes::new(Some(2), Some(5)).unwrap();
    let mut scopes = Vec::new();
    for scoring in Scoring::ALL.into_iter().filter(|s| s.is_total()) {
        scopes.push(Scope {
            window: whole,
            games: None,
            stakes: Stakes::default(),
            scoring,
            max_spins: None,
        });
        scopes.push(Scope {
            window: whole,
            games: Some(vec![1, 3]),
            stakes: bounded,
            scoring,
            max_spins: None,
        });
    }
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    insert(&store, before).await;
    store.track(scopes.clone()).await.unwrap();
    assert_eq!(scope_ids(&store).await.len(), scopes.len(), "a scope per score and rule");
    for scope in &scopes {
        let query = LeaderboardQuery {
            window: scope.window,
            games: scope.games.clone(),
            stakes: scope.stakes,
            scoring: scope.scoring,
            limit: 1,
            counts: vec![],
            first: None,
        };
        assert!(store.read(move |c| scope::lookup(c, &query)).await.unwrap().is_some(), "{scope:?}");
        assert!(check(&store, before, scope, 1_000_000).await > 20, "built from stored spins");
    }
    insert(&store, after).await;
    let losing = all.iter().filter(|s| s.stake > 0 && s.win <= 0).count();
    assert!(losing > 100, "losing spins of a positive stake are in the data ({losing})");
    for scope in &scopes {
        check(&store, &all, scope, 1_000_000).await;
        check(&store, &all, scope, 7).await;
        windows(&store, &all, scope, &mut rng).await;
    }
    drop(store);
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    store.track(scopes.clone()).await.unwrap();
    for scope in &scopes {
        check(&store, &all, scope, 1_000_000).await;
    }
    // A store of version 6 (no sums in its rollup) is laid out anew: windows add up the sums
    // the rebuild computed from the stored spins.
    let path = store.path().to_owned();
    drop(store);
    Connection::open(&path).unwrap().execute("UPDATE Meta SET Value = 6 WHERE Key = 'schema'", []).unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    store.track(scopes.clone()).await.unwrap();
    for scope in &scopes {
        check(&store, &all, scope, 1_000_000).await;
        windows(&store, &all, scope, &mut rng).await;
    }
    let spins_board = totals(&all, &whole, (None, Stakes::default()), Scoring::Spins);
    assert!(
        spins_board.windows(2).any(|w| w[0].1 == w[1].1),
        "equal sums are ranked: the tie rule is tested"
    );
}

/// Wins near `i64::MAX`: every sum saturates there, on a scope built from stored spins, on one
/// added to by inserts, on windows (the rollup's sums and raw edges), and after the rollup is laid
/// out anew; nothing fails (SQLite's own sums turned an overflow into a REAL or an error).
#[tokio::test]
async fn sums_saturate_at_the_largest_win() {
    let dir = tempfile::tempdir().unwrap();
    let spin = |player_id, win, stake, day: i64| Spin {
        player_id,
        game_id: 1,
        win,
        stake,
        event_time: at(day * DAY + 1),
    };
    let huge = [
        spin(1, i64::MAX, 1, 1),
        spin(1, i64::MAX, 1, 2),
        spin(2, 5_000_000_000_000_000_000, 3, 1),
        spin(2, 5_000_000_000_000_000_000, 3, 3),
        spin(3, 10_000_000_000_000, 1, 2),
        spin(4, 7, 2, 1),
        spin(4, 0, i32::MAX, 2),
    ];
    let (before, after) = huge.split_at(3);
    let whole = Window { from: at(0), to: at(10 * DAY) };
    let scopes = every_total(whole, &[None]);
    let store = built_between(dir.path(), before, &scopes, after).await;
    every_view(&store, &huge, &scopes).await;
    let wins = totals(&huge, &whole, (None, Stakes::default()), Scoring::TotalWin);
    assert_eq!(wins[0], (1, i64::MAX, 2, 2, i64::MAX, micros(at(2 * DAY + 1))), "the largest sum saturates");
    assert_eq!(wins[1].1, i64::MAX, "two wins that pass i64::MAX together saturate too");
    let path = store.path().to_owned();
    drop(store);
    Connection::open(&path).unwrap().execute("UPDATE Meta SET Value = 7 WHERE Key = 'schema'", []).unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    store.track(scopes.clone()).await.unwrap();
    every_view(&store, &huge, &scopes).await;
}

/// Every total score over `window`, for each of `games`, every positive stake counting.
fn every_total(window: Window, games: &[Option<Vec<i32>>]) -> Vec<Scope> {
    let scope = |scoring, games: &Option<Vec<i32>>| Scope {
        window,
        games: games.clone(),
        stakes: Stakes::default(),
        scoring,
        max_spins: None,
    };
    let totals = Scoring::ALL.into_iter().filter(|s| s.is_total());
    totals.flat_map(|scoring| games.iter().map(move |g| scope(scoring, g))).collect()
}

/// A store in `dir` holding `before`, `scopes` built from them, then `after` inserted.
async fn built_between(
    dir: &std::path::Path,
    before: &[Spin],
    scopes: &[Scope],
    after: &[Spin],
) -> EmbeddedStore {
    let store = EmbeddedStore::open(dir).await.unwrap();
    insert(&store, before).await;
    store.track(scopes.to_vec()).await.unwrap();
    insert(&store, after).await;
    store
}

/// Each scope's whole board, and its windows of whole days (the rollup's sums) and cut mid-day
/// (raw edges too), against the oracle.
async fn every_view(store: &EmbeddedStore, spins: &[Spin], scopes: &[Scope]) {
    let windows =
        [Window { from: at(DAY), to: at(4 * DAY) }, Window { from: at(DAY + 1), to: at(3 * DAY + 2) }];
    for scope in scopes {
        check(store, spins, scope, 1_000_000).await;
        for window in windows {
            check(store, spins, &Scope { window, ..scope.clone() }, 1_000_000).await;
        }
    }
}

/// A player whose counted spins had all lost when a total scope was built (0 points: not
/// ranked) keeps them in the scope: once a spin of theirs wins, their spins and turnover count
/// the losing ones too (the build left such players out, and their first win started afresh).
#[tokio::test]
async fn losing_spins_stored_before_a_total_scope_is_built_count_once_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let spin = |player_id, game_id, win, stake, day: i64| Spin {
        player_id,
        game_id,
        win,
        stake,
        event_time: at(day * DAY + 1),
    };
    let all = [
        spin(1, 1, 0, 5, 1),
        spin(1, 1, -3, 2, 1),
        spin(1, 2, 0, 7, 1),
        spin(2, 1, 10, 1, 1),
        spin(1, 1, 4, 3, 2),
    ];
    let (before, after) = all.split_at(4);
    let whole = Window { from: at(0), to: at(10 * DAY) };
    let scopes = every_total(whole, &[None, Some(vec![1])]);
    let store = built_between(dir.path(), before, &scopes, after).await;
    every_view(&store, &all, &scopes).await;
    let wins = totals(&all, &whole, (Some(&[1]), Stakes::default()), Scoring::TotalWin);
    assert_eq!(wins[1], (1, 4, 3, 10, 4, micros(at(2 * DAY + 1))), "three spins, ten staked");
}
