-- Leaderboard on the embedded store (SQLite): the same semantics as leaderboard.kql, answering
-- a view's complete standings (every ranked player, in rank order; the caller reads up to its
-- cap and counts the rest). Filled from the same query model by src/store/query.rs, through
-- bound parameters only. The window [from, to) is cut into whole weeks, days and hours, read
-- from the Rollup (every player's best spin and number of spins of each partition), and raw
-- edges read from GamePlay; a player's best spin of the window is the best of their partitions'
-- bests, their counted spins (losing ones too) the sum of their partitions' and edges' counts,
-- and a player ranks once their best is above 0.
-- :partitions lists the Rollup partitions to read: the games of the filter, or the all-games
-- partitions' marker when every game counts. Raw spins count within [:min_stake, :max_stake]
-- (1 and 2^31-1 when every positive stake counts); the Rollup keeps a player's best spin and
-- count whatever the stakes, so a view whose campaign bounds the stakes is read from raw spins
-- only.
-- One SELECT per range (not OR'ed ranges) so that each is a search of the primary key.
WITH candidates AS (
    SELECT PlayerID, Score, EventTime, Win, Stake, GameID, Spins FROM Rollup
    WHERE Span = :week AND Bucket >= :weeks_from AND Bucket < :weeks_to
      AND Partition IN (SELECT value FROM json_each(:partitions))
    UNION ALL
    SELECT PlayerID, Score, EventTime, Win, Stake, GameID, Spins FROM Rollup
    WHERE Span = :day AND Bucket >= :days1_from AND Bucket < :days1_to
      AND Partition IN (SELECT value FROM json_each(:partitions))
    UNION ALL
    SELECT PlayerID, Score, EventTime, Win, Stake, GameID, Spins FROM Rollup
    WHERE Span = :day AND Bucket >= :days2_from AND Bucket < :days2_to
      AND Partition IN (SELECT value FROM json_each(:partitions))
    UNION ALL
    SELECT PlayerID, Score, EventTime, Win, Stake, GameID, Spins FROM Rollup
    WHERE Span = :hour AND Bucket >= :hours1_from AND Bucket < :hours1_to
      AND Partition IN (SELECT value FROM json_each(:partitions))
    UNION ALL
    SELECT PlayerID, Score, EventTime, Win, Stake, GameID, Spins FROM Rollup
    WHERE Span = :hour AND Bucket >= :hours2_from AND Bucket < :hours2_to
      AND Partition IN (SELECT value FROM json_each(:partitions))
    UNION ALL
    SELECT PlayerID, CASE WHEN Win > 0 THEN CAST(Win AS REAL) / Stake ELSE 0.0 END, EventTime, Win, Stake,
           GameID, 1 FROM GamePlay
    WHERE EventTime >= :raw1_from AND EventTime < :raw1_to
      AND Stake >= :min_stake AND Stake <= :max_stake
      AND (:all_games OR GameID IN (SELECT value FROM json_each(:partitions)))
    UNION ALL
    SELECT PlayerID, CASE WHEN Win > 0 THEN CAST(Win AS REAL) / Stake ELSE 0.0 END, EventTime, Win, Stake,
           GameID, 1 FROM GamePlay
    WHERE EventTime >= :raw2_from AND EventTime < :raw2_to
      AND Stake >= :min_stake AND Stake <= :max_stake
      AND (:all_games OR GameID IN (SELECT value FROM json_each(:partitions)))
),
best AS (
    -- Each player's best ratio, first reached earliest, and their counted spins.
    -- One sort: the count is summed over the whole of the player's ordered partition.
    SELECT *, row_number() OVER mine AS n,
           SUM(Spins) OVER (mine ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS Counted
    FROM candidates
    WINDOW mine AS (PARTITION BY PlayerID ORDER BY Score DESC, EventTime ASC, Stake DESC, GameID ASC)
)
SELECT PlayerID, Win, Stake, GameID, EventTime, Counted FROM best
WHERE n = 1 AND Score > 0
ORDER BY Score DESC, EventTime ASC, PlayerID ASC
