-- The embedded store's schema (SQLite). GamePlay has the ADX table's columns, with EventTime
-- as microseconds since the Unix epoch (UTC). Every other table is derived from GamePlay and
-- rebuilt from it when Meta's 'schema' version differs from the code's.
CREATE TABLE IF NOT EXISTS GamePlay (
    PlayerID INTEGER NOT NULL,
    GameID INTEGER NOT NULL,
    Win INTEGER NOT NULL,
    Stake INTEGER NOT NULL,
    EventTime INTEGER NOT NULL
);
-- Covers the raw edge reads of a window and the building of a scope without touching the table.
CREATE INDEX IF NOT EXISTS GamePlay_by_time ON GamePlay (EventTime, Win, Stake, GameID, PlayerID);

-- For each (Span, Bucket, Partition) (Span: an hour, a day or a week, in microseconds; Bucket:
-- its start; Partition: a GameID, or 2^32 for all games), every player with a spin of a
-- positive stake in it: their best spin (Score 0 while all of them lost), their number of such
-- spins, and what every total adds up over them (kql/totals.sql's sums: the stakes, the wins,
-- the multipliers in millionths; the instants of the last spin, of the last that won and of the
-- last whose multiplier added to its sum, NULL while none did), kept on insert.
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
    Spins INTEGER NOT NULL,
    Wagered INTEGER NOT NULL,
    Won INTEGER NOT NULL,
    Multiplied INTEGER NOT NULL,
    LastSpin INTEGER NOT NULL,
    LastWon INTEGER,
    LastMultiplied INTEGER,
    PRIMARY KEY (Span, Bucket, Partition, PlayerID)
) WITHOUT ROWID;

-- The tracked scopes: a window [WindowFrom, WindowTo), a game filter (Games: a JSON array
-- of GameIDs, or 'null' for all games), the qualifying stakes [MinStake, MaxStake] (1 and
-- 2^31-1 when every positive stake counts) and the score (Scoring: 0 the best multiplier, with
-- every player's best spin (Score 0 while all of them lost) and counted spins in ScopeBest; 1 to
-- 4 a total, as kql/totals.sql numbers them, with every player's sums in ScopeTotal).
CREATE TABLE IF NOT EXISTS Scope (
    ScopeID INTEGER PRIMARY KEY,
    WindowFrom INTEGER NOT NULL,
    WindowTo INTEGER NOT NULL,
    Games TEXT NOT NULL,
    MinStake INTEGER NOT NULL,
    MaxStake INTEGER NOT NULL,
    Scoring INTEGER NOT NULL,
    UNIQUE (WindowFrom, WindowTo, Games, MinStake, MaxStake, Scoring)
);
CREATE TABLE IF NOT EXISTS ScopeBest (
    ScopeID INTEGER NOT NULL,
    PlayerID INTEGER NOT NULL,
    Score REAL NOT NULL,
    EventTime INTEGER NOT NULL,
    Win INTEGER NOT NULL,
    Stake INTEGER NOT NULL,
    GameID INTEGER NOT NULL,
    Spins INTEGER NOT NULL,
    Changed INTEGER NOT NULL,
    PRIMARY KEY (ScopeID, PlayerID)
) WITHOUT ROWID;
-- The standings in rank order, covering every column read, so a scope is read in one pass.
CREATE INDEX IF NOT EXISTS ScopeBest_by_rank
    ON ScopeBest (ScopeID, Score DESC, EventTime, PlayerID, Win, Stake, GameID, Spins);
-- The players whose row changed since a spin (Changed: the GamePlay rowid of the last spin that
-- changed it; rows built at once from the stored spins, the last spin stored then, so that a read
-- from before the build is told every row).
CREATE INDEX IF NOT EXISTS ScopeBest_by_change ON ScopeBest (ScopeID, Changed);

-- A total scope's players: their score's points, counted spins, the sums of their stakes and
-- wins, and the last counted spin that added to the score (NULL while none has).
CREATE TABLE IF NOT EXISTS ScopeTotal (
    ScopeID INTEGER NOT NULL,
    PlayerID INTEGER NOT NULL,
    Points INTEGER NOT NULL,
    Counted INTEGER NOT NULL,
    Wagered INTEGER NOT NULL,
    Won INTEGER NOT NULL,
    AchievedAt INTEGER,
    Changed INTEGER NOT NULL,
    PRIMARY KEY (ScopeID, PlayerID)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ScopeTotal_by_rank
    ON ScopeTotal (ScopeID, Points DESC, AchievedAt, PlayerID, Counted, Wagered, Won);
CREATE INDEX IF NOT EXISTS ScopeTotal_by_change ON ScopeTotal (ScopeID, Changed);

-- 'schema': the version of the derived tables' layout and contents.
CREATE TABLE IF NOT EXISTS Meta (Key TEXT PRIMARY KEY, Value INTEGER NOT NULL) WITHOUT ROWID;

-- The Kafka consumer's position: for each partition of a topic, the offset of the next
-- message to read. Written in the same transaction as the spins those messages carried, so a
-- restart (even after kill -9) resumes exactly where the stored spins end. Not derived: never
-- rebuilt.
CREATE TABLE IF NOT EXISTS ConsumedOffset (
    Topic TEXT NOT NULL,
    Partition INTEGER NOT NULL,
    NextOffset INTEGER NOT NULL,
    PRIMARY KEY (Topic, Partition)
) WITHOUT ROWID;
-- Messages the consumer skipped, for the operator: why, and the first bytes of the value
-- (NULL for a message without one). RejectedAt: microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS Rejected (
    Topic TEXT NOT NULL,
    Partition INTEGER NOT NULL,
    Offset INTEGER NOT NULL,
    Reason TEXT NOT NULL,
    Head BLOB,
    RejectedAt INTEGER NOT NULL,
    PRIMARY KEY (Topic, Partition, Offset)
) WITHOUT ROWID;
