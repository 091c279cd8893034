//! The spin simulator, modelled on the blog's event generator: random players, games and
//! stakes; a win on about one spin in four with a random amount; eventTime = now. Feeds the
//! embedded store so a fresh checkout shows a moving leaderboard.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;

use crate::events::Spin;
use crate::store::EmbeddedStore;

#[derive(Debug, Clone, Copy)]
pub struct Simulation {
    /// Spins per second.
    pub rate: u32,
    /// Player ids are drawn from `1..=players`.
    pub players: i32,
}

const TICK: Duration = Duration::from_millis(100);

/// One random spin at `now`.
pub fn spin(rng: &mut impl rand::Rng, players: i32, now: chrono::DateTime<chrono::Utc>) -> Spin {
    let stake = rng.random_range(1..=50);
    let win = if rng.random_range(0..4) == 0 { rng.random_range(1..=500) } else { 0 };
    Spin {
        player_id: rng.random_range(1..=players),
        game_id: rng.random_range(1..=10),
        win,
        stake,
        event_time: now,
    }
}

/// How far back a fresh demo store is filled, and how densely: enough for every demo
/// campaign (including the one that ended yesterday) to have standings within seconds.
const HISTORY: chrono::Duration = chrono::Duration::days(3);
const HISTORY_PER_MINUTE: i64 = 30;

/// Fills an empty store with past spins, so windows and ended campaigns have standings.
async fn backfill(store: Arc<EmbeddedStore>, players: i32) {
    let now = crate::leaderboard::now();
    let minutes = HISTORY.num_minutes();
    let spins: Vec<Spin> = {
        let mut rng = rand::rng();
        (0..minutes * HISTORY_PER_MINUTE)
            .map(|_| {
                let ago = rng.random_range(1..HISTORY.num_microseconds().unwrap_or(1));
                spin(&mut rng, players, now - chrono::Duration::microseconds(ago))
            })
            .collect()
    };
    for batch in spins.chunks(10_000) {
        if let Err(e) = store.insert(batch.to_vec()).await {
            tracing::warn!(error = %e, "demo history not stored");
            return;
        }
    }
    tracing::info!(spins = spins.len(), "demo history stored");
}

/// Runs until the process ends: a batch of live spins every tick, and alongside, the demo
/// history when the store starts empty.
pub fn spawn(store: Arc<EmbeddedStore>, simulation: Simulation) {
    tracing::info!(rate = simulation.rate, players = simulation.players, "simulating spins");
    tokio::spawn(async move {
        if store.is_empty().await.unwrap_or(false) {
            tokio::spawn(backfill(store.clone(), simulation.players));
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut owed = 0.0;
        loop {
            tick.tick().await;
            owed += f64::from(simulation.rate) * TICK.as_secs_f64();
            let n = owed as usize;
            owed -= n as f64;
            if n == 0 {
                continue;
            }
            let now = crate::leaderboard::now();
            let batch: Vec<Spin> = {
                let mut rng = rand::rng();
                (0..n).map(|_| spin(&mut rng, simulation.players, now)).collect()
            };
            if let Err(e) = store.insert(batch).await {
                tracing::warn!(error = %e, "simulated spins not stored");
            }
        }
    });
}
