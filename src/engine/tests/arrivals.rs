//! Stored spins reaching the views: a read view whose spins arrive is refreshed before its
//! period ends (no sooner than a quarter of it after the last refresh); a view nobody reads, or
//! one the spins cannot change, is not.

use super::*;

fn in_game(player_id: i32, win: i64, game_id: i32) -> Row {
    Row { game_id, ..spin(player_id, win) }
}

/// A view read once, then refreshed ahead once more (read during its period), and read again
/// after that: warm, and read since its last refresh.
async fn warm(engine: &Engine, c: &Arc<Campaign>, memory: &Memory) -> (usize, usize) {
    engine.read(c, View::Top).await.unwrap();
    let loaded = queries(memory);
    engine.read(c, View::Top).await.unwrap();
    while queries(memory) == loaded {
        tokio::time::sleep(TTL / 10).await;
    }
    tokio::task::yield_now().await;
    engine.read(c, View::Top).await.unwrap();
    queries(memory)
}

#[tokio::test(start_paused = true)]
async fn spins_stored_for_a_read_view_bring_its_refresh_forward() {
    let memory = Arc::new(Memory::default());
    memory.add([spin(1, 10)]);
    let (engine, c) = (engine(&memory), campaign());
    let before = warm(&engine, &c, &memory).await;
    let stored = tokio::time::Instant::now();
    memory.store(&[spin(2, 20)]);
    while queries(&memory) == before {
        tokio::time::sleep(TTL / 20).await;
    }
    assert!(stored.elapsed() < TTL / 2, "refreshed {:?} after the spins, not a period on", stored.elapsed());
    tokio::time::sleep(TTL / 20).await;
    let read = engine.read(&c, View::Top).await.unwrap();
    assert_eq!((leader(&read), read.source), (Some(2), Source::Hit), "the readers see it at once");
}

#[tokio::test(start_paused = true)]
async fn spins_a_view_cannot_rank_or_that_nobody_reads_refresh_nothing() {
    let memory = Arc::new(Memory::default());
    memory.add([in_game(1, 10, 1)]);
    let engine = engine(&memory);
    let c = Arc::new(Campaign { games: Some(vec![1]), ..(*campaign()).clone() });
    let before = warm(&engine, &c, &memory).await;
    // Both within the period the view would wait for without them.
    memory.store(&[in_game(2, 20, 2)]);
    tokio::time::sleep(TTL / 3).await;
    assert_eq!(queries(&memory), before, "another game's spins");
    memory.store(&[in_game(3, 30, 1)]);
    tokio::time::sleep(TTL / 3).await;
    assert!(queries(&memory) > before, "its own game's spins");
    // Unread for a period, the view goes cold: spins wait for its next reader.
    tokio::time::sleep(TTL * 3).await;
    let cold = queries(&memory);
    memory.store(&[in_game(4, 40, 1)]);
    tokio::time::sleep(TTL * 2).await;
    assert_eq!(queries(&memory), cold, "nobody reads it");
    let read = engine.read(&c, View::Top).await.unwrap();
    assert_eq!((leader(&read), read.source), (Some(4), Source::Miss), "its next reader asks");
}
