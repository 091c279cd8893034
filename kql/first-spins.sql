-- The spins a campaign with `max-spins` may count, on the embedded store: every spin of a
-- qualifying stake (and game) from :since to :to, in microseconds: the campaign's, to count each
-- player's first max-spins of them as they come (src/store/first.rs, by the order of
-- src/leaderboard/first.rs), or a window's, to reduce those of them that count, as
-- kql/first-spins.kql does on ADX. Filled through bound parameters only; a scan of the range in
-- time order, by the time index (no sort).
SELECT PlayerID, Win, Stake, GameID, EventTime FROM GamePlay
WHERE EventTime >= :since AND EventTime < :to
  AND Stake >= :min_stake AND Stake <= :max_stake
  AND (:all_games OR GameID IN (SELECT value FROM json_each(:games)))
ORDER BY EventTime
