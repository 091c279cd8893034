//! What a stream consumer hands the store with the spins it read: where each partition
//! resumes, and the messages it refused. Both are written in the spins' own transaction, so
//! the stored spins, the resume points and the rejects never disagree, whatever stops the
//! process.

use std::collections::BTreeMap;

use rusqlite::{Connection, Transaction, params};

/// One partition's resume point: the offset of the next message to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

/// A message that is not a valid event, kept for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
    /// The value's first bytes ([`Rejected::HEAD`] at most); `None` for a message without one.
    pub head: Option<Vec<u8>>,
}

impl Rejected {
    /// How much of a refused value is kept: enough to recognise it, never a whole payload.
    pub const HEAD: usize = 256;
}

/// The bookkeeping of one consumed batch.
#[derive(Debug, Clone, Default)]
pub struct Consumed {
    pub positions: Vec<Position>,
    pub rejected: Vec<Rejected>,
}

/// Records `consumed` in `tx`. A reject seen twice (it cannot be, short of a bug upstream)
/// keeps its first record.
pub(super) fn record(tx: &Transaction, consumed: &Consumed) -> rusqlite::Result<()> {
    let mut position = tx.prepare_cached(
        "INSERT INTO ConsumedOffset (Topic, Partition, NextOffset) VALUES (?1, ?2, ?3)
         ON CONFLICT (Topic, Partition) DO UPDATE SET NextOffset = excluded.NextOffset",
    )?;
    for p in &consumed.positions {
        position.execute(params![p.topic, p.partition, p.next_offset])?;
    }
    let mut rejected = tx.prepare_cached(
        "INSERT OR IGNORE INTO Rejected (Topic, Partition, Offset, Reason, Head, RejectedAt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let now = super::micros(chrono::Utc::now());
    for r in &consumed.rejected {
        rejected.execute(params![r.topic, r.partition, r.offset, r.reason, r.head, now])?;
    }
    Ok(())
}

/// Every stored resume point of `topic`, by partition.
pub(super) fn positions(conn: &Connection, topic: &str) -> rusqlite::Result<BTreeMap<i32, i64>> {
    let mut statement = conn.prepare("SELECT Partition, NextOffset FROM ConsumedOffset WHERE Topic = ?1")?;
    statement.query_map([topic], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Spin;
    use crate::store::EmbeddedStore;

    fn spin(player: i32) -> Spin {
        let event_time = "2026-11-20T10:00:00Z".parse().unwrap();
        Spin { player_id: player, game_id: 1, win: 5, stake: 1, event_time }
    }

    fn position(partition: i32, next_offset: i64) -> Position {
        Position { topic: "gameplay".into(), partition, next_offset }
    }

    #[tokio::test]
    async fn positions_and_rejects_are_stored_with_the_spins_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).await.unwrap();
        assert!(store.positions("gameplay").await.unwrap().is_empty());
        let rejected = Rejected {
            topic: "gameplay".into(),
            partition: 1,
            offset: 4,
            reason: "not JSON".into(),
            head: Some(b"{oops".to_vec()),
        };
        let first = Consumed { positions: vec![position(0, 3), position(1, 5)], rejected: vec![rejected] };
        store.insert_consumed(vec![spin(1), spin(2)], first).await.unwrap();
        let second = Consumed { positions: vec![position(0, 7)], rejected: vec![] };
        store.insert_consumed(vec![spin(3)], second).await.unwrap();
        drop(store);

        let store = EmbeddedStore::open(dir.path()).await.unwrap();
        assert_eq!(store.positions("gameplay").await.unwrap(), BTreeMap::from([(0, 7), (1, 5)]));
        assert!(store.positions("other").await.unwrap().is_empty());
        assert_eq!(store.count().await.unwrap(), 3);
        let kept: (i64, String, Vec<u8>) = store
            .read(|c| {
                c.query_row("SELECT Offset, Reason, Head FROM Rejected", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
            })
            .await
            .unwrap();
        assert_eq!(kept, (4, "not JSON".into(), b"{oops".to_vec()));
    }
}
