-- Leaderboard on the embedded store (SQLite): the same semantics as leaderboard.kql.
-- Filled from the same query model by src/store/query.rs, through bound parameters only.
-- The window [from, to) is cut into whole days and hours, read from the Rollup (each
-- partition's best players), and raw edges read from GamePlay. A player in the true top N has
-- their best spin in some partition where they are also in the top N, so the union of
-- partition top-K lists (K >= N) holds every row the answer needs: the result is exact.
WITH candidates AS (
    SELECT PlayerID, Score, EventTime, Win, Stake, GameID FROM Rollup
    WHERE Span = :day AND Bucket >= :days_from AND Bucket < :days_to
    UNION ALL
    SELECT PlayerID, Score, EventTime, Win, Stake, GameID FROM Rollup
    WHERE Span = :hour AND Bucket >= :hours1_from AND Bucket < :hours1_to
    UNION ALL
    SELECT PlayerID, Score, EventTime, Win, Stake, GameID FROM Rollup
    WHERE Span = :hour AND Bucket >= :hours2_from AND Bucket < :hours2_to
    UNION ALL
    SELECT PlayerID, CAST(Win AS REAL) / Stake, EventTime, Win, Stake, GameID FROM GamePlay
    WHERE EventTime >= :raw1_from AND EventTime < :raw1_to AND Win > 0 AND Stake > 0
    UNION ALL
    SELECT PlayerID, CAST(Win AS REAL) / Stake, EventTime, Win, Stake, GameID FROM GamePlay
    WHERE EventTime >= :raw2_from AND EventTime < :raw2_to AND Win > 0 AND Stake > 0
),
counted AS (
    SELECT * FROM candidates
    WHERE :all_games OR GameID IN (SELECT value FROM json_each(:games))
),
best AS (
    -- Each player's best ratio, first reached earliest.
    SELECT *, row_number() OVER (
        PARTITION BY PlayerID ORDER BY Score DESC, EventTime ASC, Stake DESC, GameID ASC
    ) AS n
    FROM counted
)
SELECT PlayerID, Win, Stake, GameID, EventTime FROM best
WHERE n = 1
ORDER BY Score DESC, EventTime ASC, PlayerID ASC
LIMIT :limit
