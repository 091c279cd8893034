//! The test dataset and its oracle. The dataset is generated from a fixed seed around the
//! test's start and covers ties, zero and negative stakes, players who never win, window
//! edges to the microsecond, game filters, and ended and upcoming campaigns. The oracle is a
//! brute-force reading of the documented semantics, written independently of the service.

use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spin {
    pub player: i32,
    pub game: i32,
    pub win: i64,
    pub stake: i32,
    pub time: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct CampaignDef {
    pub id: &'static str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub games: Option<Vec<i32>>,
    /// The qualifying stakes, inclusive: `min-stake` and `max-stake`.
    pub stakes: (Option<i32>, Option<i32>),
    /// `score`, as the campaigns file spells it (`best-multiplier`: the default, left unwritten).
    pub score: &'static str,
    /// `max-spins`: only each player's first this many qualifying spins of the campaign count.
    pub max_spins: Option<u32>,
}

/// The spans the tests ask `/window` for; no spin of a live campaign lies near `now - span`,
/// so the answer does not depend on the exact instant of the request.
pub const SPANS: [&str; 5] = ["15m", "1h", "1d", "3d", "30d"];
const SPAN_MINUTES: [i64; 5] = [15, 60, 1440, 4320, 43_200];

pub struct Fixture {
    pub now: DateTime<Utc>,
    pub campaigns: Vec<CampaignDef>,
    pub spins: Vec<Spin>,
}

/// Expected standing: (playerId, score, win, stake, gameId, achievedAt, spins).
pub type Row = (i32, f64, i64, i32, i32, DateTime<Utc>, u32);

impl Fixture {
    pub fn new() -> Self {
        let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
        let edge_end = now - Duration::days(20);
        let campaigns = vec![
            CampaignDef {
                id: "live-all",
                start: now - Duration::days(2),
                end: now + Duration::days(2),
                games: None,
                stakes: (None, None),
                score: "best-multiplier",
                max_spins: None,
            },
            CampaignDef {
                id: "live-games",
                start: now - Duration::days(1),
                end: now + Duration::days(1),
                games: Some(vec![2, 4]),
                stakes: (None, None),
                score: "best-multiplier",
                max_spins: None,
            },
            CampaignDef {
                id: "ended",
                start: now - Duration::days(10),
                end: now - Duration::days(5),
                games: None,
                stakes: (None, None),
                score: "best-multiplier",
                max_spins: None,
            },
            CampaignDef {
                id: "upcoming",
                start: now + Duration::days(1),
                end: now + Duration::days(3),
                games: None,
                stakes: (None, None),
                score: "best-multiplier",
                max_spins: None,
            },
            CampaignDef {
                id: "edges",
                start: edge_end - Duration::days(1),
                end: edge_end,
                games: Some(vec![1, 3]),
                stakes: (None, None),
                score: "best-multiplier",
                max_spins: None,
            },
            // Stakes 3 to 20 count: the random spins' stakes include both bounds and stakes
            // just past them (2, 50), the ties' some inside (3 to 12) and some outside.
            CampaignDef {
                id: "live-stakes",
                start: now - Duration::days(2),
                end: now + Duration::days(2),
                games: None,
                stakes: (Some(3), Some(20)),
                score: "best-multiplier",
                max_spins: None,
            },
        ];
        let mut spins = random_spins(now, 4000);
        spins.extend(edge_spins(campaigns[4].start, edge_end));
        spins.extend(tie_spins(now - Duration::hours(5)));
        Self { now, campaigns, spins }
    }

    pub fn campaigns_toml(&self) -> String {
        self.campaigns
            .iter()
            .map(|c| {
                let mut games = c.games.as_ref().map(|g| format!("games = {g:?}\n")).unwrap_or_default();
                if let Some(min) = c.stakes.0 {
                    games.push_str(&format!("min-stake = {min}\n"));
                }
                if let Some(max) = c.stakes.1 {
                    games.push_str(&format!("max-stake = {max}\n"));
                }
                if let Some(max) = c.max_spins {
                    games.push_str(&format!("max-spins = {max}\n"));
                }
                if c.score != "best-multiplier" {
                    games.push_str(&format!("score = \"{}\"\n", c.score));
                }
                format!(
                    "[[campaigns]]\nid = \"{}\"\nname = \"Campaign {}\"\nstart = \"{}\"\nend = \"{}\"\n{games}\n",
                    c.id,
                    c.id,
                    c.start.to_rfc3339(),
                    c.end.to_rfc3339()
                )
            })
            .collect()
    }

    /// The campaigns file in a temporary directory, which lives as long as the returned guard.
    pub fn write_campaigns(&self) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("campaigns.toml");
        std::fs::write(&path, self.campaigns_toml()).unwrap();
        (dir, path)
    }

    pub fn campaign(&self, id: &str) -> &CampaignDef {
        self.campaigns.iter().find(|c| c.id == id).unwrap()
    }

    /// The documented window: `[start, end)` for top; `[max(start, anchor - span), anchor)`.
    pub fn window(&self, c: &CampaignDef, span: Option<Duration>) -> (DateTime<Utc>, DateTime<Utc>) {
        match span {
            None => (c.start, c.end),
            Some(span) => {
                let anchor = self.now.min(c.end);
                (c.start.max(anchor - span), anchor)
            }
        }
    }

    pub fn expected(&self, c: &CampaignDef, span: Option<Duration>, limit: usize) -> Vec<Row> {
        if self.now < c.start {
            return Vec::new();
        }
        let (from, to) = self.window(c, span);
        let mut rows = standings(&self.spins, c, from, to);
        rows.truncate(limit);
        rows
    }
}

/// Whether `s` is a spin `c` counts in `[from, to)`: a positive stake within its bounds, one
/// of its games (a losing spin included).
pub fn qualifies(s: &Spin, c: &CampaignDef, (from, to): (DateTime<Utc>, DateTime<Utc>)) -> bool {
    s.time >= from
        && s.time < to
        && s.stake > 0
        && c.stakes.0.is_none_or(|min| s.stake >= min)
        && c.stakes.1.is_none_or(|max| s.stake <= max)
        && c.games.as_ref().is_none_or(|g| g.contains(&s.game))
}

/// Whether each of `spins` may count for `c` in a view ending at `to`: every one without
/// `max-spins`; with it, only each player's first N spins of a qualifying stake and game from
/// the campaign's start (by time, then the larger stake, the smaller game, the larger win, a
/// losing win as 0).
pub fn first_spins(spins: &[Spin], c: &CampaignDef, to: DateTime<Utc>) -> Vec<bool> {
    let Some(max) = c.max_spins else { return vec![true; spins.len()] };
    let mut order: Vec<usize> =
        (0..spins.len()).filter(|&i| qualifies(&spins[i], c, (c.start, to))).collect();
    let key = |s: &Spin| (s.player, s.time, -i64::from(s.stake), s.game, -s.win.max(0));
    order.sort_by_key(|&i| key(&spins[i]));
    let mut counted = vec![false; spins.len()];
    let mut seen: std::collections::HashMap<i32, u32> = Default::default();
    for i in order {
        let n = seen.entry(spins[i].player).or_default();
        *n += 1;
        counted[i] = *n <= max;
    }
    counted
}

/// Every player ranked among `spins` in `[from, to)` for campaign `c`, in rank order, each with
/// their number of counted spins (losing ones too).
pub fn standings(spins: &[Spin], c: &CampaignDef, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Row> {
    let mut best: std::collections::BTreeMap<i32, Row> = Default::default();
    let mut counted: std::collections::BTreeMap<i32, u32> = Default::default();
    let first = first_spins(spins, c, to);
    for (s, _) in spins.iter().zip(first).filter(|(_, first)| *first) {
        if !qualifies(s, c, (from, to)) {
            continue;
        }
        *counted.entry(s.player).or_default() += 1;
        if s.win <= 0 {
            continue;
        }
        let row = (s.player, s.win as f64 / f64::from(s.stake), s.win, s.stake, s.game, s.time, 0);
        // The spin that set the score: best ratio, earliest, larger stake, smaller game.
        let better = |old: &Row| {
            row.1
                .total_cmp(&old.1)
                .then(old.5.cmp(&row.5))
                .then(row.3.cmp(&old.3))
                .then(old.4.cmp(&row.4))
                .is_gt()
        };
        if best.get(&s.player).is_none_or(better) {
            best.insert(s.player, row);
        }
    }
    let mut rows: Vec<Row> =
        best.into_values().map(|r| (r.0, r.1, r.2, r.3, r.4, r.5, counted[&r.0])).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.5.cmp(&b.5)).then(a.0.cmp(&b.0)));
    rows
}

/// Random play over the last 11 days, with ratios that often collide so ties happen.
fn random_spins(now: DateTime<Utc>, n: usize) -> Vec<Spin> {
    let mut rng = StdRng::seed_from_u64(20261124);
    let mut spins = Vec::with_capacity(n);
    while spins.len() < n {
        let ago = Duration::microseconds(rng.random_range(1_000_000..11 * 86_400_000_000i64));
        let time = now - ago;
        let near_edge =
            SPAN_MINUTES.iter().any(|m| (time - (now - Duration::minutes(*m))).num_minutes().abs() < 10);
        if near_edge {
            continue;
        }
        let player = rng.random_range(1..=300);
        // Players 290..=300 only ever lose: they must never appear.
        let stake = [-5, 0, 1, 2, 3, 4, 5, 10, 20, 50][rng.random_range(0..10)];
        let win = if player >= 290 || rng.random_bool(0.3) {
            0
        } else if rng.random_bool(0.6) {
            i64::from(stake.max(1)) * rng.random_range(1..=12)
        } else {
            rng.random_range(1..=600)
        };
        spins.push(Spin { player, game: rng.random_range(1..=5), win, stake, time });
    }
    spins
}

/// Spins on both sides of the `edges` campaign's boundaries, to the microsecond: the start
/// and `end - 1h` are in, `end` and just before the start are out. Players 1001.. only play
/// here, each with one spin, so their presence says which edges count.
fn edge_spins(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Spin> {
    let us = Duration::microseconds(1);
    let hour = Duration::hours(1);
    [
        (1001, start - us),
        (1002, start),
        (1003, end - hour - us),
        (1004, end - hour),
        (1005, end - us),
        (1006, end),
    ]
    .into_iter()
    .map(|(player, time)| Spin { player, game: 1, win: 100 + i64::from(player - 1000), stake: 10, time })
    .chain([Spin { player: 1007, game: 2, win: 10_000, stake: 1, time: end - hour }]) // filtered game
    .collect()
}

/// Exact ties: the same best ratio reached by several players, some at the same instant (then
/// playerId decides), one player who reaches their best twice (the first time counts), and one
/// who reaches it three times at one instant (the larger stake, then the smaller game, counts;
/// the others come first, so an engine keeping the first row it meets gets it wrong).
fn tie_spins(at: DateTime<Utc>) -> Vec<Spin> {
    let spin = |player, game, win, stake, time| Spin { player, game, win, stake, time };
    let s = Duration::seconds(1);
    vec![
        spin(2001, 2, 1_000_000, 1000, at),
        spin(2003, 4, 2_000_000, 2000, at),
        spin(2002, 2, 1000, 1, at),
        spin(2004, 4, 3000, 3, at - s),
        spin(2005, 2, 4000, 4, at + s),
        spin(2005, 4, 5000, 5, at - s - s),
        spin(2006, 2, i64::from(i32::MAX) * 1000, i32::MAX, at + s),
        spin(2007, 4, 6000, 6, at + s + s),
        spin(2007, 4, 12_000, 12, at + s + s),
        spin(2007, 2, 12_000, 12, at + s + s),
    ]
}
