//! Promotion formats: campaigns scored by a total (the total multiplier, wins, stakes or spins)
//! against an oracle of their own, on both backends (ADX on a real Kusto engine, the embedded
//! store), every view, and the two backends against each other: ties in sums, stakes on both
//! bounds, losing spins (they count for turnover and spins), game filters, prize cutoffs; and
//! totals kept exact by incremental refreshes while spins arrive, on ADX and on the store.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::common::faults::FaultProxy;
use crate::common::fixture::{CampaignDef, Fixture, SPANS, Spin, first_spins, qualifies, standings};
use crate::common::{
    Engine, TestApp, both_backends, eventually, rows, spawn_embedded, spawn_on_cluster, within,
};
use crate::leaderboards::span;

/// A total as the oracle reads the documented semantics: (playerId, points, spins, wagered, won,
/// achievedAt), points exact (a total multiplier in millionths).
type Total = (i32, i64, i64, i64, i64, DateTime<Utc>);

/// What one counted spin adds: its multiplier in millionths (truncated), its win, its stake, or
/// one; a losing spin adds nothing won.
fn points(score: &str, win: i64, stake: i32) -> i64 {
    let won = i128::from(win.max(0));
    match score {
        "total-multiplier" => (won * 1_000_000 / i128::from(stake)) as i64,
        "total-win" => won as i64,
        "total-stake" => i64::from(stake),
        "spins" => 1,
        other => panic!("{other} is not a total"),
    }
}

/// Every player ranked in `[from, to)` for `c`: sums over the spins of a qualifying stake (and
/// game), ranked by points, then by the last counted spin that added to them, then by id.
fn totals(spins: &[Spin], c: &CampaignDef, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Total> {
    let mut by_player: std::collections::BTreeMap<i32, Total> = Default::default();
    let first = first_spins(spins, c, to);
    for (s, _) in spins.iter().zip(first).filter(|(_, first)| *first) {
        if !qualifies(s, c, (from, to)) {
            continue;
        }
        let gain = points(c.score, s.win, s.stake);
        let t = by_player.entry(s.player).or_insert((s.player, 0, 0, 0, 0, DateTime::<Utc>::MIN_UTC));
        t.1 += gain;
        t.2 += 1;
        t.3 += i64::from(s.stake);
        t.4 += s.win.max(0);
        if gain > 0 && s.time > t.5 {
            t.5 = s.time;
        }
    }
    let mut ranked: Vec<Total> = by_player.into_values().filter(|t| t.1 > 0).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.5.cmp(&b.5)).then(a.0.cmp(&b.0)));
    ranked
}

/// The score as served: a total multiplier in units, the others as counted.
fn shown(score: &str, points: i64) -> f64 {
    if score == "total-multiplier" { points as f64 / 1e6 } else { points as f64 }
}

fn campaign(id: &'static str, score: &'static str, fixture: &Fixture) -> CampaignDef {
    CampaignDef {
        id,
        start: fixture.now - Duration::days(2),
        end: fixture.now + Duration::days(2),
        games: None,
        stakes: (None, None),
        score,
        max_spins: None,
    }
}

/// Campaigns of every total: plain, with a game filter, with stakes bounded on both sides (the
/// random spins' stakes include both bounds and stakes just past them), and one that ended; and
/// campaigns counting only first spins (`max-spins`), best and total, live and ended.
pub fn formats(fixture: &Fixture) -> Vec<CampaignDef> {
    let now = fixture.now;
    vec![
        campaign("multiplier", "total-multiplier", fixture),
        CampaignDef { games: Some(vec![2, 4]), ..campaign("wins-games", "total-win", fixture) },
        CampaignDef { stakes: (Some(3), Some(20)), ..campaign("turnover-stakes", "total-stake", fixture) },
        campaign("spins", "spins", fixture),
        CampaignDef {
            start: now - Duration::days(10),
            end: now - Duration::days(5),
            stakes: (Some(2), None),
            ..campaign("multiplier-ended", "total-multiplier", fixture)
        },
        // max-spins: the first spin (or two, or three) of each player from the campaign's start
        // (spins before it do not count), losing ones among them; ties at one instant (the tie
        // spins' players) settled by stake, game and win.
        CampaignDef {
            max_spins: Some(1),
            stakes: (Some(2), None),
            ..campaign("first-best", "best-multiplier", fixture)
        },
        CampaignDef { max_spins: Some(2), ..campaign("first-multiplier", "total-multiplier", fixture) },
        CampaignDef {
            start: now - Duration::days(10),
            end: now - Duration::days(5),
            max_spins: Some(3),
            ..campaign("first-spins-ended", "spins", fixture)
        },
    ]
}

/// Every entry of a board, page by page.
async fn board(app: &TestApp, c: &CampaignDef, last: &str) -> (Vec<Value>, Value) {
    let mut entries = Vec::new();
    loop {
        let path = match last {
            "" => format!("/campaigns/{}/top?offset={}&limit=100", c.id, entries.len()),
            _ => format!("/campaigns/{}/window?last={last}&offset={}&limit=100", c.id, entries.len()),
        };
        let body = app.json(&path).await;
        let page = body["entries"].as_array().unwrap().clone();
        if page.is_empty() {
            return (entries, body);
        }
        entries.extend(page);
    }
}

fn total_of(c: &CampaignDef, e: &Value) -> (i32, f64, i64, i64, i64, DateTime<Utc>) {
    let int = |k: &str| e[k].as_i64().unwrap_or_else(|| panic!("{}: no {k} in {e}", c.id));
    assert!(e.get("win").is_none() && e.get("gameId").is_none(), "a total names no single spin: {e}");
    let time = e["achievedAt"].as_str().unwrap().parse().unwrap();
    (int("playerId") as i32, e["score"].as_f64().unwrap(), int("spins"), int("wagered"), int("won"), time)
}

/// Asserts that `app`'s whole board of `c` over `last` (page by page) is the oracle's for the
/// fixture's spins, with global ranks, and returns its entries.
pub async fn assert_view(
    app: &TestApp,
    fixture: &Fixture,
    c: &CampaignDef,
    (last, span): (&str, Option<Duration>),
) -> Vec<Value> {
    let (from, to) = fixture.window(c, span);
    let (entries, _) = board(app, c, last).await;
    if c.score == "best-multiplier" {
        let want = standings(&fixture.spins, c, from, to);
        assert_eq!(rows(&Value::from(entries.clone()), 1), want, "{} last={last}", c.id);
        return entries;
    }
    let want: Vec<_> = totals(&fixture.spins, c, from, to)
        .into_iter()
        .map(|(p, points, n, wagered, won, at)| (p, shown(c.score, points), n, wagered, won, at))
        .collect();
    let got: Vec<_> = entries.iter().map(|e| total_of(c, e)).collect();
    assert_eq!(got, want, "{} last={last}", c.id);
    let ranks: Vec<u64> = entries.iter().map(|e| e["rank"].as_u64().unwrap()).collect();
    assert!(ranks.iter().enumerate().all(|(i, r)| *r == i as u64 + 1), "global ranks");
    entries
}

#[tokio::test]
async fn every_format_matches_its_oracle_on_both_backends_and_they_agree() {
    let mut fixture = Fixture::new();
    fixture.campaigns = formats(&fixture);
    // A cold view's first query on the test engine can take seconds on a busy machine: wait.
    let both = both_backends(&fixture, &["--request-timeout", "60s"]).await;
    let views = std::iter::once(("", None)).chain(SPANS.iter().map(|s| (*s, Some(span(s)))));
    let mut checked = 0;
    for view in views.collect::<Vec<_>>() {
        for c in &fixture.campaigns {
            let embedded = assert_view(&both.embedded, &fixture, c, view).await;
            let (adx, _) = board(&both.adx, c, view.0).await;
            assert_eq!(adx, embedded, "{} last={}: the backends differ", c.id, view.0);
            checked += embedded.len();
        }
    }
    assert!(checked > 2000, "the oracle ranks players in every view ({checked})");
    let ties = totals(&fixture.spins, &fixture.campaigns[3], fixture.now - Duration::days(2), fixture.now);
    assert!(ties.windows(2).any(|w| w[0].1 == w[1].1), "equal sums are ranked: the tie rule is tested");
}

#[tokio::test]
async fn a_totals_campaign_says_how_it_scores_and_its_prize_edge_in_exact_units() {
    let now = Utc::now();
    let at = |minute: i32| now - Duration::minutes(60 - i64::from(minute));
    // Player 1: 10/3 + 0 (a loss) = 3.333333; player 2: 7/2 = 3.5; player 3: 1/3 three times =
    // 0.999999; player 4 only loses (staked, never ranked).
    let spins =
        [(1, 10, 3, 1), (1, 0, 5, 2), (2, 7, 2, 3), (3, 1, 3, 4), (3, 1, 3, 5), (3, 1, 3, 6), (4, 0, 9, 7)]
            .map(|(player, win, stake, minute)| Spin { player, game: 1, win, stake, time: at(minute) });
    let mut fixture = Fixture::new();
    fixture.spins = spins.to_vec();
    fixture.campaigns = vec![campaign("race", "total-multiplier", &fixture)];
    let (dir, path) = fixture.write_campaigns();
    let table = "[[campaigns.prizes]]\nranks = \"1-2\"\nprize = \"Gold\"\n";
    std::fs::write(&path, format!("{}{table}", std::fs::read_to_string(&path).unwrap())).unwrap();
    let (app, _data) = crate::common::spawn_embedded(&path, &[]).await;
    app.ingest(&spins).await;

    let campaign = app.json("/campaigns/race").await;
    assert_eq!(campaign["score"], "total-multiplier", "{campaign}");
    let top = app.json("/campaigns/race/top").await;
    let scores: Vec<(i64, f64)> = top["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["playerId"].as_i64().unwrap(), e["score"].as_f64().unwrap()))
        .collect();
    assert_eq!(scores, [(2, 3.5), (1, 3.333333), (3, 0.999999)], "{top}");
    assert_eq!(top["total"], 3, "a player with only losing spins is not ranked");
    assert_eq!(top["prizeCutoff"], 3.333333);
    let first = &top["entries"][1];
    assert_eq!(
        (first["spins"].clone(), first["wagered"].clone(), first["won"].clone()),
        (2.into(), 8.into(), 10.into())
    );
    let third = app.json("/campaigns/race/players/3").await;
    assert_eq!(third["toPrize"], 2.333334, "exact to the millionth: {third}");
    let csv = app.get("/campaigns/race/standings.csv").await.text().await.unwrap();
    assert_eq!(csv.lines().next(), Some("rank,playerId,score,spins,wagered,won,achievedAt,prize"));
    assert!(csv.lines().nth(1).unwrap().starts_with("1,2,3.5,1,2,7,"), "{csv}");
    drop(dir);
}

/// Whether `c`'s board of `view` (`top`, `window?last=...`) is exactly the oracle's for the
/// window it states.
async fn exact(app: &TestApp, c: &CampaignDef, view: &str, spins: &[Spin]) -> bool {
    let sep = if view.contains('?') { '&' } else { '?' };
    let body = app.json(&format!("/campaigns/{}/{view}{sep}limit=1000", c.id)).await;
    let at = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let (from, to) = (at(&body["window"]["from"]), at(&body["window"]["to"]));
    if c.score == "best-multiplier" {
        let want = standings(spins, c, from, to);
        return body["total"] == want.len() && rows(&body["entries"], 1) == want;
    }
    let want: Vec<_> = totals(spins, c, from, to)
        .into_iter()
        .map(|(p, points, n, wagered, won, at)| (p, shown(c.score, points), n, wagered, won, at))
        .collect();
    let got: Vec<_> = body["entries"].as_array().unwrap().iter().map(|e| total_of(c, e)).collect();
    body["total"] == want.len() && got == want
}

/// Waits until every view of every campaign in `live` is exact against `spins`.
async fn every_view_shows(app: &TestApp, live: &[&CampaignDef], views: &[&str], spins: &[Spin], round: i32) {
    for c in live {
        for view in views {
            eventually(&format!("{} {view} shows round {round}", c.id), || exact(app, c, view, spins)).await;
        }
    }
}

#[tokio::test]
async fn totals_and_first_spins_on_adx_stay_exact_through_incremental_refreshes_that_recount_players() {
    let mut fixture = Fixture::new();
    fixture.campaigns = formats(&fixture);
    let engine = Engine::writable(&fixture.spins);
    let proxy = FaultProxy::start(engine.url()).await;
    let (_dir, campaigns) = fixture.write_campaigns();
    let flags = ["--late-arrival", "30s", "--reconcile-every", "3s", "--max-limit", "1000"];
    let app = spawn_on_cluster(&proxy.url, &campaigns, &flags).await;
    // The live campaigns: every total, and first spins scored by a best and by a total.
    let live: Vec<&CampaignDef> = fixture.campaigns.iter().filter(|c| c.end > fixture.now).collect();
    assert_eq!(live.len(), 6, "every total and both first spins");
    let mut spins = fixture.spins.clone();
    // The whole board, and a window short enough that spins leave it while the test runs.
    let views = ["top", "window?last=30s"];
    for c in &live {
        for view in views {
            assert!(exact(&app, c, view, &spins).await, "{} {view} at first", c.id);
        }
    }
    let mut rng = StdRng::seed_from_u64(16);
    let mut spin = |time: DateTime<Utc>| {
        let stake = [1, 2, 3, 5, 20, 21][rng.random_range(0..6)];
        let win = if rng.random_bool(0.3) { 0 } else { i64::from(stake) * rng.random_range(1..=30) + 1 };
        let (player, game) = (rng.random_range(1..=330), rng.random_range(1..=5));
        Spin { player, game, win, stake, time: time.trunc_subsecs(6) }
    };
    let started = Utc::now();
    for round in 0..6 {
        let now = Utc::now();
        let mut fresh: Vec<Spin> = (0..6).map(|_| spin(now)).collect();
        // Late within --late-arrival; and, twice, later than that (seen by a reconcile).
        fresh.push(spin(now - Duration::seconds(15)));
        if round % 3 == 1 {
            fresh.push(spin(now - Duration::minutes(4)));
        }
        engine.append(&fresh).await;
        spins.extend(fresh);
        every_view_shows(&app, &live, &views, &spins, round).await;
    }
    // The window slides past the first round's spins: their players are counted again.
    for c in &live {
        within(
            std::time::Duration::from_secs(60),
            &format!("the first round left {}'s window", c.id),
            || async {
                let body = app.json(&format!("/campaigns/{}/window?last=30s", c.id)).await;
                let from: DateTime<Utc> = body["window"]["from"].as_str().unwrap().parse().unwrap();
                from > started && exact(&app, c, "window?last=30s", &spins).await
            },
        )
        .await;
    }
    // One full query per board (a window's first refresh, then its ledger loads bucket by bucket);
    // the rest recount only the players with new spins or spins that left. A window of first
    // spins is read whole at every refresh (a late spin before it can displace one in it).
    let exchanges = proxy.exchanges();
    let incremental = |t: &str| t.starts_with("let watched = union");
    let first_spins = |t: &str| t.contains("let qualifying = ");
    let full = exchanges.iter().filter(|(t, _)| !incremental(t) && !first_spins(t)).count();
    let steady: Vec<&String> = exchanges.iter().map(|(t, _)| t).filter(|t| incremental(t)).collect();
    let totals = live.iter().filter(|c| c.max_spins.is_none()).count();
    assert_eq!(full, totals * views.len(), "no board of a total loaded twice");
    assert!(steady.len() > 10 && steady.iter().all(|t| t.contains("| where PlayerID in (players)")));
    let first = steady.iter().filter(|t| t.contains("\nlet qualifying = ")).count();
    assert!(first > 4, "first spins ranked again incrementally ({first} queries)");
}

/// On the embedded store too, every live format's board and window stay exact as spins arrive:
/// a board is brought up to date from the players the store tells changed, new players whose
/// spins add nothing to a total among them (a loss; a win below a millionth of a multiplier).
#[tokio::test]
async fn every_live_format_on_the_store_stays_exact_as_spins_arrive() {
    let mut fixture = Fixture::new();
    fixture.campaigns = formats(&fixture);
    let (_dir, campaigns) = fixture.write_campaigns();
    let (app, _data) = spawn_embedded(&campaigns, &["--cache-ttl", "200ms", "--max-limit", "1000"]).await;
    app.ingest(&fixture.spins).await;
    let live: Vec<&CampaignDef> = fixture.campaigns.iter().filter(|c| c.end > fixture.now).collect();
    assert_eq!(live.len(), 6, "every total and both first spins");
    let views = ["top", "window?last=1h"];
    let mut spins = fixture.spins.clone();
    for round in 0..4 {
        if round > 0 {
            let now = Utc::now().trunc_subsecs(6);
            let fresh = [(0, 5, 1), (1, 2_000_000, 2), (-4, 1, 3), (41, 2, 4), (0, 3, 5)].map(
                |(win, stake, game)| Spin {
                    player: 900_000 + round * 10 + game,
                    game,
                    win,
                    stake,
                    time: now,
                },
            );
            app.ingest(&fresh).await;
            spins.extend(fresh);
        }
        every_view_shows(&app, &live, &views, &spins, round).await;
    }
}
