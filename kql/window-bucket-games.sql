-- kql/window-bucket.sql for a filter of several games: the bucket's rows of each partition
-- listed in :partitions (a JSON array of GameIDs), sorted by player (a player has a row per
-- game they played). Filled through bound parameters only.
SELECT PlayerID, Win, Stake, GameID, EventTime, Spins FROM Rollup
WHERE Span = :span AND Bucket = :bucket AND Partition IN (SELECT value FROM json_each(:partitions))
ORDER BY PlayerID
