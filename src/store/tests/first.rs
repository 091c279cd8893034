//! max-spins on the store against an oracle of the rule: every score over each player's first
//! spins, through windows that start after the campaign, with many spins at one instant and
//! alike spins past the cap; and the campaign's tally brought up to date by later inserts, late
//! spins among them (counted while their player is short, counted again whole when one pushes
//! out a counted spin).

use super::totals::{Total, totals};
use super::*;
use crate::leaderboard::{FirstSpins, Scoring};

/// Each player's first `max` spins of a qualifying stake from `since`, straight from the rule:
/// by time, then the larger stake, the smaller game, the larger win (a losing one as 0).
fn first(spins: &[Spin], since: i64, max: usize, stakes: Stakes) -> Vec<Spin> {
    let mut by_player: BTreeMap<i32, Vec<Spin>> = BTreeMap::new();
    for s in spins.iter().filter(|s| stakes.qualifies(s.stake) && micros(s.event_time) >= since) {
        by_player.entry(s.player_id).or_default().push(*s);
    }
    let key = |s: &Spin| (s.event_time, -i64::from(s.stake), s.game_id, -s.win.max(0));
    let cut = |mut mine: Vec<Spin>| {
        mine.sort_by_key(key);
        mine.truncate(max);
        mine
    };
    by_player.into_values().flat_map(cut).collect()
}

/// The store's answer for `window` of a campaign of `[since, until)` counting each player's first
/// `max` spins of `stakes`, against the oracle over `all` (the spins stored); the ranked players.
async fn check(
    store: &EmbeddedStore,
    all: &[Spin],
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    (max, stakes, scoring): (usize, Stakes, Scoring),
    window: Window,
) -> usize {
    let before_end: Vec<Spin> = all.iter().filter(|s| s.event_time < until).copied().collect();
    let counted = first(&before_end, micros(since), max, stakes);
    let max = std::num::NonZeroU32::new(max as u32).unwrap();
    let first = Some(FirstSpins { max, since, until });
    let query =
        LeaderboardQuery { window, games: None, stakes, scoring, first, limit: 1_000_000, counts: vec![] };
    let got = store.leaderboard(&query).await.unwrap();
    assert_eq!(got.total, got.rows.len() as u64, "{query:?}");
    let any = (None, Stakes::default());
    if scoring.is_total() {
        let want = totals(&counted, &window, any, scoring);
        let shown: Vec<Total> = got
            .rows
            .iter()
            .map(|r| (r.player_id, r.points, r.spins, r.wagered, r.win, r.achieved_us))
            .collect();
        assert_eq!(shown, want, "{query:?}");
        want.len()
    } else {
        let want = super::oracle(&counted, &window, any);
        let shown: Vec<Row> = got
            .rows
            .iter()
            .map(|r| (r.player_id, r.win, r.stake, r.game_id, r.achieved_us, r.spins))
            .collect();
        assert_eq!(shown, want, "{query:?}");
        want.len()
    }
}

/// Makes the store keep a tally of each of `rules` (cap, stakes, score) for `campaign`, as the
/// service tracks its catalogue.
async fn track(
    store: &EmbeddedStore,
    campaign: (DateTime<Utc>, DateTime<Utc>),
    rules: &[(usize, Stakes, Scoring)],
) {
    let scope = |&(max, stakes, scoring): &(usize, Stakes, Scoring)| Scope {
        window: Window { from: campaign.0, to: campaign.1 },
        games: None,
        stakes,
        scoring,
        max_spins: std::num::NonZeroU32::new(max as u32),
    };
    store.track(rules.iter().map(scope).collect()).await.unwrap();
}

/// How many times the store counted a campaign's spins whole.
fn recounts(store: &EmbeddedStore) -> u64 {
    store.tallies.counted_whole()
}

#[tokio::test]
async fn first_spins_count_from_the_campaigns_start_in_the_spin_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(23);
    let all = spins(&mut rng, 3000, 10);
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    insert(&store, &all).await;
    let campaign = (at(DAY), at(10 * DAY));
    let caps = [(1, Stakes::default()), (3, Stakes::new(Some(2), Some(5)).unwrap()), (40, Stakes::default())];
    let rules: Vec<_> = caps
        .into_iter()
        .flat_map(|(max, stakes)| Scoring::ALL.map(|scoring| (max, stakes, scoring)))
        .collect();
    track(&store, campaign, &rules).await;
    let mut ranked = 0;
    for &rule in &rules {
        for window in
            [Window { from: campaign.0, to: campaign.1 }, Window { from: at(4 * DAY), to: at(6 * DAY) }]
        {
            ranked += check(&store, &all, campaign, rule, window).await;
        }
    }
    assert!(ranked > 500, "the rule ranks players ({ranked})");
    assert_eq!(recounts(&store), 3 * 5, "each campaign's rules counted once, then read from the tally");
    // A campaign no longer tracked keeps no tally: each of its reads counts it for itself.
    track(&store, campaign, &[]).await;
    let whole = Window { from: campaign.0, to: campaign.1 };
    for _ in 0..2 {
        check(&store, &all, campaign, rules[0], whole).await;
    }
    assert_eq!(recounts(&store), 3 * 5 + 2);
}

/// Spins stored after a campaign's tally was first counted: in time order (taken as they come),
/// then late ones (counted while their player is short of the cap; one that pushes out a
/// counted spin makes the campaign be counted again), and alike spins past the cap.
#[tokio::test]
async fn a_campaigns_tally_takes_the_spins_stored_since_and_counts_again_when_one_displaces() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(41);
    let mut pool = spins(&mut rng, 4000, 8);
    let twins: Vec<Spin> = pool.iter().step_by(7).copied().collect();
    pool.extend(twins);
    pool.sort_by_key(|s| s.event_time);
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let campaign = (at(0), at(8 * DAY));
    let windows =
        [Window { from: campaign.0, to: campaign.1 }, Window { from: at(5 * DAY), to: at(7 * DAY) }];
    let rules =
        [(20, Stakes::default(), Scoring::BestMultiplier), (60, Stakes::default(), Scoring::TotalWin)];
    track(&store, campaign, &rules).await;
    // Three in four spins in time order, a batch at a time; then the rest, late and shuffled.
    let (timely, mut late): (Vec<Spin>, Vec<Spin>) = pool.into_iter().partition(|_| rng.random_bool(0.75));
    rand::seq::SliceRandom::shuffle(late.as_mut_slice(), &mut rng);
    let mut stored = Vec::new();
    for (phase, batches) in [timely.chunks(300), late.chunks(150)].into_iter().enumerate() {
        for batch in batches {
            insert(&store, batch).await;
            stored.extend_from_slice(batch);
            for rule in rules {
                for window in windows {
                    check(&store, &stored, campaign, rule, window).await;
                }
            }
        }
        let whole = recounts(&store);
        if phase == 0 {
            assert_eq!(whole, 2, "in time order, each campaign is counted once, then takes what is stored");
        } else {
            assert!(whole > 2, "late spins displaced counted ones: the campaigns were counted again");
        }
    }
}
