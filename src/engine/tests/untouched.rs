//! Refreshes on a backend that tells of what it stores and answers no incremental query (the
//! embedded store): a view no told batch touched since its last query asks nothing, and is
//! confirmed all the same; a batch that touches it, one stored without being told, and a window
//! that slides each make the next refresh ask again. A final board on a fed store stops being
//! final while its feed is behind.

use super::*;

fn full_queries_only() -> Settings {
    Settings { incremental: false, ..base() }
}

fn untouched(engine: &Engine) -> u64 {
    engine.metrics().refreshes_untouched.get()
}

/// Reads `view` once a period for `periods` periods; the last read.
async fn read_for(engine: &Engine, c: &Arc<Campaign>, view: View, periods: u32) -> Read {
    let mut read = engine.read(c, view).await.unwrap();
    for _ in 0..periods {
        tokio::time::sleep(TTL).await;
        read = engine.read(c, view).await.unwrap();
    }
    read
}

#[tokio::test(start_paused = true)]
async fn a_view_no_stored_spin_touched_is_confirmed_without_a_query() {
    let (memory, engine, c) = one_player(full_queries_only());
    let first = engine.read(&c, View::Top).await.unwrap();
    let read = read_for(&engine, &c, View::Top, 5).await;
    assert_eq!(queries(&memory), (1, 0), "only the load asked the backend");
    assert!(untouched(&engine) >= 3, "{} refreshes confirmed it", untouched(&engine));
    assert!(read.confirmed() > first.confirmed(), "the standings were confirmed since the load");
    assert!(Arc::ptr_eq(read.snapshot(), first.snapshot()), "the same snapshot, bytes and tags");

    // A batch it ranks: the next refresh asks, and shows it.
    memory.store(&[spin(2, 20)]);
    read_until(&engine, &c, View::Top, |r| leader(r) == Some(2)).await;
    let asked = queries(&memory).0;
    assert_eq!(asked, 2, "one query for the batch");
    read_for(&engine, &c, View::Top, 3).await;
    assert_eq!(queries(&memory).0, asked, "and none after it");
}

#[tokio::test(start_paused = true)]
async fn spins_stored_without_being_told_are_never_taken_as_none() {
    let memory = Arc::new(Memory::default());
    memory.add([spin(1, 10)]);
    let engine = engine_with(&memory, full_queries_only());
    let c = Arc::new(Campaign { games: Some(vec![1]), ..(*campaign()).clone() });
    read_for(&engine, &c, View::Top, 2).await;
    assert_eq!(queries(&memory).0, 1);
    // A batch numbered but never told: while it is the last, nothing can be taken as unchanged.
    memory.add([spin(3, 30)]);
    read_until(&engine, &c, View::Top, |r| leader(r) == Some(3)).await;
    // Another, then one told of another game: its number shows the gap, and every view takes
    // itself as touched (the told one alone touches nothing).
    memory.add([spin(4, 40)]);
    memory.store(&[Row { game_id: 2, ..spin(5, 50) }]);
    let read = read_until(&engine, &c, View::Top, |r| leader(r) == Some(4)).await;
    assert_eq!(read.snapshot().ranking.total(), 3, "players 1, 3 and 4: game 2 is not the campaign's");
}

/// On the wall clock (a window is anchored at the current whole second, which paused time does
/// not move): refreshes a period apart see the window moved, and ask.
#[tokio::test]
async fn a_sliding_window_asks_once_it_moved() {
    let (memory, engine, c) = one_player(full_queries_only());
    let view = View::Window(Span::parse("15m").unwrap());
    let started = std::time::Instant::now();
    while queries(&memory).0 < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "the window was never asked for again");
        engine.read(&c, view).await.unwrap();
        tokio::time::sleep(TTL / 4).await;
    }
    assert_eq!(untouched(&engine), 0, "no refresh took the window as unchanged");
}

/// On the wall clock (the campaign starts a second from now): a view read while its campaign
/// is upcoming asks nothing, so a spin told of then (stamped inside the campaign by a game
/// server whose clock is ahead) is read at the first refresh after the start, not taken as seen.
#[tokio::test]
async fn a_view_read_while_upcoming_asks_once_its_campaign_started() {
    let memory = Arc::new(Memory::default());
    let engine = engine_with(&memory, full_queries_only());
    let start = Utc::now() + chrono::Duration::seconds(1);
    let c = Arc::new(Campaign { start, ..(*campaign()).clone() });
    assert!(engine.read(&c, View::Top).await.unwrap().snapshot().ranking.is_empty());
    memory.store(&[Row { achieved_us: start.timestamp_micros() + 500_000, ..spin(1, 10) }]);
    // Read on while upcoming: the spin's batch touches the view, which refreshes before the start.
    while Utc::now() < start {
        assert!(
            engine.read(&c, View::Top).await.unwrap().snapshot().ranking.is_empty(),
            "nothing counts yet"
        );
        tokio::time::sleep(TTL / 10).await;
    }
    assert_eq!(queries(&memory).0, 0, "nothing was asked before the start");
    let started = std::time::Instant::now();
    while leader(&engine.read(&c, View::Top).await.unwrap()) != Some(1) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the spin stored before the start never counted"
        );
        tokio::time::sleep(TTL / 4).await;
    }
    assert_eq!(queries(&memory).0, 1, "one query, after the start");
}

#[tokio::test(start_paused = true)]
async fn where_the_ledger_refreshes_it_asks_for_changes_as_before() {
    let (memory, engine, c) = one_player(base());
    read_for(&engine, &c, View::Top, 4).await;
    assert!(queries(&memory).1 >= 3, "incremental queries: {:?}", queries(&memory));
    assert_eq!(untouched(&engine), 0);
}

#[tokio::test(start_paused = true)]
async fn a_final_board_stops_being_final_while_the_feed_is_behind_at_no_query() {
    let now = Utc::now();
    let (start, end) = (now - chrono::Duration::days(2), now - chrono::Duration::days(1));
    let c = Arc::new(Campaign { start, end, ..(*campaign()).clone() });
    let memory = Arc::new(Memory::default());
    memory.add([Row { achieved_us: (end - chrono::Duration::hours(1)).timestamp_micros(), ..spin(1, 10) }]);
    memory.fed.store(true, Ordering::SeqCst);
    let engine = engine_with(&memory, full_queries_only());
    let first = engine.read(&c, View::Top).await.unwrap();
    assert!(first.snapshot().is_final, "ended a day ago, the feed caught up");
    // A stalled partition, a lost broker: spins may wait that the board would count.
    memory.behind.store(true, Ordering::SeqCst);
    let behind = read_until(&engine, &c, View::Top, |r| !r.snapshot().is_final).await;
    assert_eq!(leader(&behind), Some(1), "the same standings");
    memory.behind.store(false, Ordering::SeqCst);
    read_until(&engine, &c, View::Top, |r| r.snapshot().is_final).await;
    assert_eq!(queries(&memory), (1, 0), "only the load asked the backend");
}
