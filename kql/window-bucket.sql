-- One whole hour, day or week of a best multiplier's window on the embedded store (SQLite): each
-- player's best spin (losing while all of them lost) and counted spins in the Rollup bucket
-- (:span, :bucket) of one partition (a GameID, or 2^32 for all games), in player order: the
-- primary key's, so no sort. (For several games' partitions, src/store/window.rs reads
-- `Partition IN` the JSON array :partitions instead, sorted by player: a player has a row per
-- game.) Filled through bound parameters only.
SELECT PlayerID, Win, Stake, GameID, EventTime, Spins FROM Rollup
WHERE Span = :span AND Bucket = :bucket AND Partition = :partition
ORDER BY PlayerID
