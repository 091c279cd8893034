-- The spins stored since a tally of first spins (src/store/first.rs) was last brought up to
-- date, on the embedded store: GamePlay's rows past rowid :seen up to :stored (rowids only grow,
-- as no row is ever deleted), of a qualifying stake (and game) in the campaign's [:since, :to),
-- in microseconds. Filled through bound parameters only; a range of the table's rowids.
SELECT PlayerID, Win, Stake, GameID, EventTime FROM GamePlay
WHERE rowid > :seen AND rowid <= :stored
  AND EventTime >= :since AND EventTime < :to
  AND Stake >= :min_stake AND Stake <= :max_stake
  AND (:all_games OR GameID IN (SELECT value FROM json_each(:games)))
