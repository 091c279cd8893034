-- The embedded store's schema (SQLite). GamePlay has the ADX table's columns, with EventTime
-- as microseconds since the Unix epoch (UTC).
CREATE TABLE IF NOT EXISTS GamePlay (
    PlayerID INTEGER NOT NULL,
    GameID INTEGER NOT NULL,
    Win INTEGER NOT NULL,
    Stake INTEGER NOT NULL,
    EventTime INTEGER NOT NULL
);
-- Covers the raw edge reads of a window without touching the table.
CREATE INDEX IF NOT EXISTS GamePlay_by_time ON GamePlay (EventTime, Win, Stake, GameID, PlayerID);

-- For each (Span, Bucket, Partition) (Span: an hour, a day or a week, in microseconds; Bucket:
-- its start; Partition: a GameID, or 2^32 for all games), the best spin of each of the
-- partition's top-K players, kept on insert.
CREATE TABLE IF NOT EXISTS Rollup (
    Span INTEGER NOT NULL,
    Bucket INTEGER NOT NULL,
    Partition INTEGER NOT NULL,
    PlayerID INTEGER NOT NULL,
    Score REAL NOT NULL,
    EventTime INTEGER NOT NULL,
    Win INTEGER NOT NULL,
    Stake INTEGER NOT NULL,
    GameID INTEGER NOT NULL,
    PRIMARY KEY (Span, Bucket, Partition, PlayerID)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS Rollup_by_rank ON Rollup (Span, Bucket, Partition, Score DESC, EventTime, PlayerID);

-- K, the rollup depth: the largest limit it answers exactly.
CREATE TABLE IF NOT EXISTS Meta (Key TEXT PRIMARY KEY, Value INTEGER NOT NULL) WITHOUT ROWID;
