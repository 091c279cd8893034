//! The engine over the scripted in-memory backend, with tokio's clock paused: which queries a
//! view's refreshes send (a full one to load, then incremental ones), refreshes ahead of the
//! readers, coalescing, idle views ending, stale answers and their end, a busy backend that is
//! not a failing one, panics, eviction with open streams, reloads reaching streams, and the span
//! a view logs under.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use tracing::Instrument;

use super::memory::{Memory, Step};
use super::*;
use crate::campaigns::{Campaign, CampaignId, Catalogue};
use crate::leaderboard::{MaxLimit, MaxStandings, Row, Span};

const TTL: Duration = Duration::from_secs(1);

fn base() -> Settings {
    Settings {
        ttl: TTL,
        budget: Duration::from_secs(5),
        max_limit: MaxLimit::DEFAULT,
        max_standings: MaxStandings::DEFAULT,
        stale_if_error: Duration::from_secs(60),
        backend_concurrency: 2,
        idle_after: Duration::from_secs(60),
        max_views: 16,
        max_bytes: 64 << 20,
        late_arrival: Duration::from_secs(600),
        reconcile_every: Duration::from_secs(3600),
        incremental: true,
    }
}

fn campaign() -> Arc<Campaign> {
    let now = Utc::now();
    Arc::new(Campaign {
        id: CampaignId::parse("live").unwrap(),
        name: "Live".into(),
        start: now - chrono::Duration::days(1),
        end: now + chrono::Duration::days(1),
        games: None,
        windows: None,
        stakes: Default::default(),
        prizes: Default::default(),
        score: Default::default(),
        max_spins: None,
    })
}

fn spin(player_id: i32, win: i64) -> Row {
    let achieved_us = Utc::now().timestamp_micros() - 1_000_000;
    Row { player_id, stake: 1, game_id: 1, win, achieved_us, ..Row::default() }
}

fn engine(memory: &Arc<Memory>) -> Engine {
    engine_with(memory, base())
}

/// A backend holding one player's spin, an engine on it with `settings`, and the campaign.
fn one_player(settings: Settings) -> (Arc<Memory>, Engine, Arc<Campaign>) {
    let memory = Arc::new(Memory::default());
    memory.add([spin(1, 10)]);
    let engine = engine_with(&memory, settings);
    (memory, engine, campaign())
}

fn queries(memory: &Memory) -> (usize, usize) {
    (memory.full_queries.load(Ordering::SeqCst), memory.change_queries.load(Ordering::SeqCst))
}

fn leader(read: &Read) -> Option<i32> {
    (!read.snapshot().ranking.is_empty()).then(|| read.snapshot().ranking.row(0).player_id)
}

/// Reads until a refresh ahead has come back with what `wanted` says (the clock moves a period
/// at a time, the refresh running behind the reads).
async fn read_until(engine: &Engine, c: &Arc<Campaign>, view: View, wanted: impl Fn(&Read) -> bool) -> Read {
    for _ in 0..20 {
        let read = engine.read(c, view).await.unwrap();
        if wanted(&read) {
            return read;
        }
        tokio::time::sleep(TTL).await;
    }
    panic!("the view never showed it");
}

#[tokio::test(start_paused = true)]
async fn a_view_loads_by_one_full_query_then_asks_only_for_changes() {
    let memory = Arc::new(Memory::default());
    memory.add([spin(1, 10), spin(2, 20)]);
    let (engine, c) = (engine(&memory), campaign());
    for view in [View::Top, View::Window(Span::parse("15m").unwrap())] {
        let read = engine.read(&c, view).await.unwrap();
        assert_eq!(leader(&read), Some(2));
    }
    assert_eq!(queries(&memory), (2, 0), "one full query for each view");
    memory.add([spin(3, 30)]);
    let read = read_until(&engine, &c, View::Top, |r| leader(r) == Some(3)).await;
    assert_eq!(read.snapshot().ranking.total(), 3);
    read_until(&engine, &c, View::Window(Span::parse("15m").unwrap()), |r| leader(r) == Some(3)).await;
    let (full, changes) = queries(&memory);
    assert_eq!(full, 2, "no more full queries");
    assert!(changes >= 2, "{changes} incremental queries");
}

#[tokio::test(start_paused = true)]
async fn a_failed_incremental_refresh_keeps_what_the_view_learned() {
    let (memory, engine, c) = one_player(base());
    engine.read(&c, View::Top).await.unwrap();
    let failure = crate::backend::BackendError::Unreachable("reset".into());
    memory.script([Step::Fail(failure.clone()), Step::Fail(failure)]);
    memory.add([spin(2, 20)]);
    read_until(&engine, &c, View::Top, |r| leader(r) == Some(2)).await;
    assert_eq!(queries(&memory).0, 1, "the view did not load again");
    assert!(queries(&memory).1 >= 3, "two failed incremental queries, then one that worked");
}

#[tokio::test(start_paused = true)]
async fn a_refresh_that_panics_is_a_failed_one_and_the_next_works() {
    let (memory, engine, c) = one_player(base());
    memory.script([Step::Panic]);
    assert!(matches!(engine.read(&c, View::Top).await, Err(Error::Failed(_))));
    let read = engine.read(&c, View::Top).await.expect("the view refreshes again");
    assert_eq!(leader(&read), Some(1));
}

#[tokio::test(start_paused = true)]
async fn readers_of_a_cold_view_share_one_query_and_wait_within_the_budget() {
    let (memory, engine, c) = one_player(base());
    memory.script([Step::Delay(Duration::from_secs(2))]);
    let reads = futures::future::join_all((0..10).map(|_| engine.read(&c, View::Top))).await;
    assert!(reads.iter().all(|r| r.as_ref().is_ok_and(|r| leader(r) == Some(1))));
    assert_eq!(queries(&memory), (1, 0), "ten readers, one query");
    let sources: Vec<Source> = reads.iter().map(|r| r.as_ref().unwrap().source).collect();
    let count = |source| sources.iter().filter(|s| **s == source).count();
    assert_eq!(
        (count(Source::Miss), count(Source::Coalesced)),
        (1, 9),
        "one asked, nine shared: {sources:?}"
    );
    // A reader who comes while the query runs shares it too.
    let fresh = View::Window(Span::parse("15m").unwrap());
    memory.script([Step::Delay(Duration::from_secs(2))]);
    let late = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        engine.read(&c, fresh).await
    };
    let (first, late) = tokio::join!(engine.read(&c, fresh), late);
    assert_eq!((first.unwrap().source, late.unwrap().source), (Source::Miss, Source::Coalesced));
    assert_eq!(queries(&memory).0, 2, "one query for both");

    let window = View::Window(Span::parse("1h").unwrap());
    memory.script([Step::Delay(Duration::from_secs(8))]);
    assert!(matches!(engine.read(&c, window).await, Err(Error::Budget(_))), "past the 5 s budget");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let read = engine.read(&c, window).await.expect("the query went on and filled the view");
    assert_eq!((leader(&read), queries(&memory).0), (Some(1), 3));
}

fn engine_with(memory: &Arc<Memory>, settings: Settings) -> Engine {
    Engine::new(memory.clone(), settings, Arc::new(crate::metrics::Metrics::default()))
}

#[tokio::test(start_paused = true)]
async fn readers_of_a_hot_view_never_wait_for_its_refresh_ahead() {
    let (memory, engine, c) = one_player(base());
    engine.read(&c, View::Top).await.unwrap();
    // Every refresh ahead from now on takes 3 s, three periods.
    memory.script((0..5).map(|_| Step::Delay(Duration::from_secs(3))));
    for _ in 0..30 {
        tokio::time::sleep(TTL / 4).await;
        let before = tokio::time::Instant::now();
        let read = engine.read(&c, View::Top).await.unwrap();
        assert_eq!(read.source, Source::Hit);
        assert_eq!(before.elapsed(), Duration::ZERO, "no reader waited");
    }
    let (full, changes) = queries(&memory);
    assert_eq!(full, 1);
    assert!((2..=5).contains(&changes), "refreshed ahead at most every twice a query's duration: {changes}");
}

#[tokio::test(start_paused = true)]
async fn an_unread_view_stops_refreshing_then_ends() {
    let (memory, engine, c) = one_player(base());
    engine.read(&c, View::Top).await.unwrap();
    assert_eq!(engine.registry.len(), 1);
    tokio::time::sleep(TTL * 5).await;
    let asked = queries(&memory);
    assert!(asked.1 <= 1, "one refresh ahead after the read at most: {asked:?}");
    tokio::time::sleep(base().idle_after).await;
    assert_eq!(queries(&memory), asked, "no refresh while unread");
    assert_eq!(engine.registry.len(), 0, "ended after --idle-after unread");
    // Its next reader waits for a fresh one.
    assert_eq!(engine.read(&c, View::Top).await.unwrap().source, Source::Miss);
}

#[tokio::test(start_paused = true)]
async fn a_failing_view_is_served_stale_within_stale_if_error_then_not() {
    let (memory, engine, c) = one_player(Settings { stale_if_error: Duration::from_secs(5), ..base() });
    engine.read(&c, View::Top).await.unwrap();
    let failure = crate::backend::BackendError::Unreachable("reset".into());
    memory.script((0..100).map(|_| Step::Fail(failure.clone())));
    let stale = read_until(&engine, &c, View::Top, |r| r.source == Source::Stale).await;
    assert_eq!(leader(&stale), Some(1), "the last good board");
    let mut ended = false;
    for _ in 0..20 {
        tokio::time::sleep(TTL).await;
        if engine.read(&c, View::Top).await.is_err() {
            ended = true;
            break;
        }
    }
    assert!(ended, "past --stale-if-error the error is answered");
}

#[tokio::test(start_paused = true)]
async fn a_refresh_that_waits_for_a_backend_slot_is_late_not_failing() {
    let (memory, engine, c) =
        one_player(Settings { backend_concurrency: 1, budget: Duration::from_secs(2), ..base() });
    let window = View::Window(Span::parse("1h").unwrap());
    engine.read(&c, View::Top).await.unwrap();
    engine.read(&c, window).await.unwrap();
    // The next queries hold the only slot (and the one waiting place) for 30 s each.
    memory.script((0..4).map(|_| Step::Delay(Duration::from_secs(30))));
    let mut sources = Vec::new();
    for _ in 0..20 {
        tokio::time::sleep(TTL).await;
        sources.push(engine.read(&c, View::Top).await.unwrap().source);
        sources.push(engine.read(&c, window).await.unwrap().source);
    }
    assert!(sources.iter().all(|s| *s == Source::Hit), "never marked stale: {sources:?}");
}

#[tokio::test(start_paused = true)]
async fn views_past_max_views_push_out_the_least_recently_read_and_end_its_streams() {
    let (_memory, engine, c) = one_player(Settings { max_views: 2, ..base() });
    let span = |s: &str| View::Window(Span::parse(s).unwrap());
    let mut first = engine.subscribe(&c, span("1h")).unwrap();
    engine.read(&c, span("1h")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut second = engine.subscribe(&c, span("2h")).unwrap();
    engine.read(&c, span("2h")).await.unwrap();
    assert_eq!(engine.registry.len(), 2);
    let first_snapshot = Arc::downgrade(first.latest().unwrap().unwrap().snapshot());
    engine.read(&c, span("3h")).await.unwrap();
    assert_eq!(engine.registry.len(), 2, "the bound holds with streams open");
    assert!(!first.changed().await, "the least recently read view's stream ended");
    // A stream that is never polled again (its client stopped reading) holds no snapshot of
    // the ended view.
    for _ in 0..100 {
        if first_snapshot.upgrade().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        first_snapshot.upgrade().is_none() && first.latest().is_none(),
        "the ended view's snapshot is freed"
    );
    let still = tokio::time::timeout(TTL * 3, second.changed()).await;
    assert!(!matches!(still, Ok(false)), "the other stream stays open");
}

#[tokio::test(start_paused = true)]
async fn a_reload_sends_the_changed_campaign_to_open_streams_and_ends_removed_ones() {
    let (_memory, engine, c) = one_player(base());
    let mut stream = engine.subscribe(&c, View::Top).unwrap();
    engine.read(&c, View::Top).await.unwrap();
    let renamed = Arc::new(Campaign { name: "Renamed".into(), ..(*c).clone() });
    engine.reload(&Catalogue::new(vec![(*renamed).clone()]));
    loop {
        assert!(stream.changed().await);
        let latest = stream.latest().unwrap().unwrap();
        if latest.snapshot().campaign.campaign.name == "Renamed" {
            break;
        }
    }
    engine.reload(&Catalogue::new(vec![]));
    while stream.changed().await {}
    assert_eq!(engine.registry.len(), 0);
}

mod arrivals;
mod follow;
mod untouched;

/// A log line of `tracing`'s, captured.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_view_logs_under_its_own_span_not_the_first_readers() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let (memory, engine, c) = one_player(base());
    let request = tracing::info_span!("request", request_id = "first-reader");
    engine.read(&c, View::Top).instrument(request).await.unwrap();
    let failure = crate::backend::BackendError::Unreachable("reset".into());
    memory.script((0..100).map(|_| Step::Fail(failure.clone())));
    read_until(&engine, &c, View::Top, |r| r.source == Source::Stale).await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text.lines().find(|l| l.contains("refresh failed")).expect("the failure is logged");
    assert!(line.contains("view{campaign=live view=Top}"), "{line}");
    assert!(!text.contains("first-reader"), "no line of the view's carries its first reader's span:\n{text}");
}
