-- A window's raw edges on the embedded store (SQLite): each counted spin (a qualifying stake, a
-- game of the filter) of [:raw1_from, :raw1_to) and [:raw2_from, :raw2_to), read by the time
-- index and sorted by player (SQLite spills a sort larger than its cache to a temporary file),
-- for src/store/window.rs to merge with the window's whole hours, days and weeks. A row is one
-- spin, counting once. :games is a JSON array of GameIDs, read only when :all_games is false.
-- Filled through bound parameters only. One SELECT per range (not OR'ed ranges) so that each
-- is a search of the time index.
SELECT PlayerID, Win, Stake, GameID, EventTime, 1 AS Spins FROM GamePlay
WHERE EventTime >= :raw1_from AND EventTime < :raw1_to
  AND Stake >= :min_stake AND Stake <= :max_stake
  AND (:all_games OR GameID IN (SELECT value FROM json_each(:games)))
UNION ALL
SELECT PlayerID, Win, Stake, GameID, EventTime, 1 AS Spins FROM GamePlay
WHERE EventTime >= :raw2_from AND EventTime < :raw2_to
  AND Stake >= :min_stake AND Stake <= :max_stake
  AND (:all_games OR GameID IN (SELECT value FROM json_each(:games)))
ORDER BY PlayerID
