//! The ledger against brute force: spins arrive (on time, late within `--late-arrival`, and
//! later than that) while views of every kind are refreshed through their ledgers, answered by
//! the in-memory reference backend; after every refresh each board must equal the brute-force
//! standings of the view at that instant (once very late spins have been reconciled). Every
//! score: a campaign scored by a total recounts the players with new spins, and one counting
//! first spins ranks them again from their first spins (late ones displacing counted ones).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;
use crate::engine::memory::Memory;
use crate::leaderboard::{LeaderboardQuery, Span};

const S: i64 = 1_000_000;
const LATE: Duration = Duration::from_secs(600);
const RECONCILE: Duration = Duration::from_secs(900);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap()
}

/// The view's standings at `now`, by brute force.
fn truth(memory: &Memory, geometry: &Geometry, now: DateTime<Utc>) -> Vec<Row> {
    let window = geometry.view.window(geometry.start, geometry.end, now).unwrap();
    let query = LeaderboardQuery {
        window,
        games: geometry.games.clone(),
        stakes: geometry.stakes,
        limit: u32::MAX,
        counts: vec![],
        scoring: geometry.scoring,
        first: geometry.first,
    };
    memory.standings_now(&query).rows
}

/// A view refreshed through its ledger, as the engine does it.
struct Driven {
    geometry: Geometry,
    ledger: Option<Ledger>,
    loads: usize,
    /// A spin later than --late-arrival arrived since this view last reconciled.
    unreconciled: bool,
}

impl Driven {
    fn new(view: View, games: Option<Vec<i32>>) -> Self {
        Self::scored(view, games, Scoring::BestMultiplier)
    }

    fn scored(view: View, games: Option<Vec<i32>>, scoring: Scoring) -> Self {
        Self::counting(view, games, scoring, None)
    }

    /// A view of a campaign counting each player's first `max` spins.
    fn first(view: View, scoring: Scoring, max: u32) -> Self {
        Self::counting(view, None, scoring, std::num::NonZeroU32::new(max))
    }

    fn counting(
        view: View,
        games: Option<Vec<i32>>,
        scoring: Scoring,
        max: Option<std::num::NonZeroU32>,
    ) -> Self {
        let start = t0() + chrono::Duration::seconds(17);
        let end = t0() + chrono::Duration::days(2);
        let first = max.map(|max| FirstSpins { max, since: start, until: end });
        let counted = (games, Default::default(), scoring, first);
        let geometry = Geometry::new(view, (start, end), counted, (LATE, RECONCILE), 1_000_000).unwrap();
        Self { geometry, ledger: None, loads: 0, unreconciled: false }
    }

    fn refresh(&mut self, memory: &Memory, now: DateTime<Utc>) -> (Arc<[Row]>, Option<Plan>) {
        if let Some(ledger) = self.ledger.take() {
            let plan = ledger.plan(now);
            match ledger.apply(&plan, memory.changes_now(&plan.query)) {
                Ok((ledger, rows)) => {
                    self.ledger = Some(ledger);
                    return (rows, Some(plan));
                }
                Err(reload) => assert_eq!(reload, Reload::Changed),
            }
        }
        self.loads += 1;
        let ledger = Ledger::new(self.geometry.clone(), now);
        if self.geometry.slides() {
            let plan = ledger.plan(now);
            let (ledger, rows) = ledger.apply(&plan, memory.changes_now(&plan.query)).unwrap();
            self.ledger = Some(ledger);
            return (rows, None);
        }
        let window = self.geometry.view.window(self.geometry.start, self.geometry.end, now).unwrap();
        let games = self.geometry.games.clone();
        let query = LeaderboardQuery {
            window,
            games,
            stakes: Default::default(),
            limit: 1_000_000,
            counts: ledger.count_runs(),
            scoring: self.geometry.scoring,
            first: self.geometry.first,
        };
        let standings = memory.standings_now(&query);
        let rows: Arc<[Row]> = standings.rows.into();
        self.ledger = Some(ledger.loaded(rows.clone(), &standings.counts, now));
        (rows, None)
    }
}

fn spin(rng: &mut StdRng, at_us: i64) -> Row {
    let player_id = rng.random_range(1..=60);
    let stake = rng.random_range(1..=4);
    // Few distinct ratios, so ties in score (and in instant) are common.
    let win = if rng.random_bool(0.2) { 0 } else { i64::from(stake) * rng.random_range(1..=6) };
    Row { player_id, stake, game_id: rng.random_range(1..=3), win, achieved_us: at_us, ..Row::default() }
}

fn views() -> Vec<Driven> {
    let span = |s: &str| View::Window(Span::parse(s).unwrap());
    vec![
        Driven::new(View::Top, None),
        Driven::new(View::Top, Some(vec![1, 3])),
        Driven::new(span("90s"), None),
        Driven::new(span("15m"), None),
        Driven::new(span("1h"), Some(vec![2])),
        Driven::new(span("2.5h"), None),
        Driven::new(span("9000001ms"), None),
        // Longer than the campaign has run: the window starts at the campaign's start, off the
        // fine grid, and does not slide.
        Driven::new(span("7d"), None),
        // Held at the start at first, sliding from about an hour in.
        Driven::new(span("6h"), None),
        Driven::scored(View::Top, None, Scoring::TotalMultiplier),
        Driven::scored(View::Top, Some(vec![1, 3]), Scoring::TotalWin),
        Driven::scored(View::Top, None, Scoring::TotalStake),
        Driven::scored(View::Top, None, Scoring::Spins),
        Driven::scored(span("15m"), None, Scoring::TotalMultiplier),
        Driven::scored(span("2.5h"), Some(vec![2]), Scoring::TotalWin),
        Driven::scored(span("1h"), None, Scoring::Spins),
        Driven::first(View::Top, Scoring::BestMultiplier, 3),
        Driven::first(View::Top, Scoring::TotalMultiplier, 8),
    ]
}

#[test]
fn boards_stay_exact_while_spins_arrive_late_and_windows_slide() {
    let memory = Memory::default();
    let mut rng = StdRng::seed_from_u64(7);
    // History before the views start, some of it before the campaign.
    let history = (0..400).map(|_| rng.random_range(-3600 * S..5 * 3600 * S)).collect::<Vec<_>>();
    let base = t0().timestamp_micros() + 5 * 3600 * S;
    let mut history: Vec<Row> = history.iter().map(|&dt| spin(&mut rng, base - 5 * 3600 * S + dt)).collect();
    // Spins in the campaign's first fine bucket, which starts off the grid (17 s past it), and
    // just before the campaign.
    let start = t0().timestamp_micros() + 17 * S;
    for (player_id, dt) in [(61, 0), (62, 800_000), (63, 2 * S), (64, -1)] {
        history.push(Row {
            player_id,
            stake: 1,
            game_id: 1,
            win: 40,
            achieved_us: start + dt,
            ..Row::default()
        });
    }
    memory.add(history);
    let mut views = views();
    let mut now = base;
    let mut very_late = 0;
    let mut compared = 0;
    for step in 0..420 {
        now += rng.random_range(1..=90) * S + rng.random_range(0..S);
        let now_at = at(now);
        let mut fresh = Vec::new();
        for _ in 0..rng.random_range(0..12) {
            // Mostly on time, some late within --late-arrival, a few with the same instant.
            let lag =
                if rng.random_bool(0.7) { rng.random_range(0..3 * S) } else { rng.random_range(0..590 * S) };
            let spin = spin(&mut rng, now - lag);
            fresh.push(spin);
        }
        if step % 101 == 5 {
            // Later than --late-arrival: only a reconcile sees it. Once, in the campaign's first
            // fine bucket (off the grid).
            let lag = rng.random_range(700 * S..3 * 3600 * S);
            let spin = spin(&mut rng, now - lag);
            if step == 5 {
                fresh.push(Row {
                    player_id: 65,
                    stake: 1,
                    game_id: 1,
                    win: 9,
                    achieved_us: start + S,
                    ..Row::default()
                });
            }
            fresh.push(spin);
            views.iter_mut().for_each(|v| v.unreconciled = true);
            very_late += 1;
        }
        if let Some(twin) = fresh.last().copied() {
            fresh.push(Row { game_id: twin.game_id % 3 + 1, ..twin });
        }
        memory.add(fresh);
        for view in &mut views {
            let (rows, plan) = view.refresh(&memory, now_at);
            if plan.as_ref().is_none_or(|p| p.reconcile) {
                view.unreconciled = false;
            }
            if !view.unreconciled {
                let truth = truth(&memory, &view.geometry, now_at);
                assert_eq!(*rows, *truth, "step {step}, {:?} at {now_at}", view.geometry.view);
                compared += 1;
            }
        }
    }
    // Very late spins are caught: the boards are compared again once they are reconciled.
    assert!(compared > 420 * views.len() * 3 / 5, "{compared} comparisons");
    for view in &views {
        // A spin later than --late-arrival in the hour a window's tail enters is seen there
        // before any reconcile: the window loads again.
        assert!(view.loads <= 1 + very_late, "{:?} loaded {} times", view.geometry.view, view.loads);
        if !view.geometry.slides() {
            assert_eq!(view.loads, 1, "{:?} loaded again: nothing was deleted", view.geometry.view);
        }
    }
}

#[test]
fn a_steady_refresh_reads_what_can_have_changed_not_the_view() {
    let memory = Memory::default();
    let mut rng = StdRng::seed_from_u64(11);
    let base = t0().timestamp_micros() + 30 * 3600 * S;
    let history: Vec<Row> = (0..2000)
        .map(|_| {
            let dt = rng.random_range(0..30 * 3600 * S);
            spin(&mut rng, base - dt)
        })
        .collect();
    memory.add(history);
    let mut views = views();
    let fine = views[0].geometry.fine.micros();
    let coarse = views[0].geometry.coarse.micros();
    let late = LATE.as_micros() as i64;
    for view in &mut views {
        view.refresh(&memory, at(base));
    }
    let mut now = base;
    for _ in 0..200 {
        now += rng.random_range(1..=5) * S;
        let fresh: Vec<Row> = (0..3)
            .map(|_| {
                let dt = rng.random_range(0..S);
                spin(&mut rng, now - dt)
            })
            .collect();
        memory.add(fresh);
        for view in &mut views {
            let (_, plan) = view.refresh(&memory, at(now));
            let plan = plan.expect("steady");
            if plan.reconcile {
                continue;
            }
            // What the segments span up to now (a campaign's board reads up to its end, where
            // no spin is yet).
            let read: i64 = plan
                .query
                .segments
                .iter()
                .map(|s| s.range.to.timestamp_micros().min(now) - s.range.from.timestamp_micros())
                .sum();
            // The open buckets, the tail, and at most one hour read again finely.
            let bound = late + 2 * fine + fine + coarse;
            assert!(read <= bound, "{:?} read {} s", view.geometry.view, read / S);
            assert!(plan.query.known.len() <= (late / fine) as usize + 2);
        }
    }
}

#[test]
fn deleted_spins_make_the_view_load_again() {
    let memory = Memory::default();
    let mut rng = StdRng::seed_from_u64(3);
    let base = t0().timestamp_micros() + 3600 * S;
    let history: Vec<Row> = (0..300)
        .map(|_| {
            let dt = rng.random_range(0..60 * S);
            spin(&mut rng, base - dt)
        })
        .collect();
    memory.add(history);
    let mut view = Driven::new(View::Top, None);
    view.refresh(&memory, at(base));
    memory.remove(|s| s.player_id != 7);
    let (rows, _) = view.refresh(&memory, at(base + S));
    assert_eq!(view.loads, 2);
    assert_eq!(*rows, *truth(&memory, &view.geometry, at(base + S)));
}

#[test]
fn views_a_ledger_cannot_follow_are_not_incremental() {
    let range = (t0(), t0() + chrono::Duration::days(1));
    let geometry = |view, scoring, first| {
        Geometry::new(view, range, (None, Default::default(), scoring, first), (LATE, RECONCILE), 10)
    };
    let (best, total) = (Scoring::BestMultiplier, Scoring::TotalWin);
    let window = |s: &str| View::Window(Span::parse(s).unwrap());
    assert!(geometry(window("20s"), best, None).is_none(), "shorter than two fine buckets");
    assert!(geometry(window("21s"), best, None).is_some());
    assert!(geometry(window("21s"), total, None).is_some(), "a total's window");
    assert!(geometry(View::Top, total, None).is_some(), "a total's whole board");
    let first = Some(FirstSpins {
        max: std::num::NonZeroU32::MIN,
        since: t0(),
        until: t0() + chrono::Duration::days(2),
    });
    assert!(geometry(View::Top, best, first).is_some(), "first spins: their players ranked again whole");
    // A late spin before a window can displace a counted spin in it: read whole.
    assert!(geometry(window("1h"), best, first).is_none(), "a window of first spins");
    assert!(geometry(window("20s"), best, first).is_none());
}

#[test]
fn after_a_long_pause_a_window_reads_no_more_of_the_spins_that_left_than_its_length() {
    let memory = Memory::default();
    let mut rng = StdRng::seed_from_u64(5);
    let base = t0().timestamp_micros() + 5 * 3600 * S;
    let spins_over = |rng: &mut StdRng, from: i64, n: usize| -> Vec<Row> {
        (0..n)
            .map(|_| {
                let at = from + rng.random_range(0..2 * 3600 * S);
                spin(rng, at)
            })
            .collect()
    };
    memory.add(spins_over(&mut rng, base - 2 * 3600 * S, 600));
    let mut view = Driven::new(View::Window(Span::parse("15m").unwrap()), None);
    view.refresh(&memory, at(base));
    view.refresh(&memory, at(base + S));
    // Three hours without a refresh (a backend outage, say), while spins go on arriving.
    memory.add(spins_over(&mut rng, base + 3600 * S, 600));
    let later = base + 3 * 3600 * S;
    let plan = view.ledger.as_ref().unwrap().plan(at(later));
    let leaving: Vec<&Segment> = plan.query.segments.iter().filter(|s| s.leaving).collect();
    assert_eq!(leaving.len(), 1);
    let read = leaving[0].range.to - leaving[0].range.from;
    assert!(read <= chrono::Duration::minutes(15), "{read}");
    let (rows, _) = view.refresh(&memory, at(later));
    assert!(!rows.is_empty());
    assert_eq!(*rows, *truth(&memory, &view.geometry, at(later)), "exact all the same");
}
