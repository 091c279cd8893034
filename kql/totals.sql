-- Totals on the embedded store (SQLite): each player's sums as totals.kql adds them (which then
-- keeps the players above 0 points), what a total's tracked scope is built from (src/store/scope.rs; windows merge the Rollup's sums instead, as
-- src/store/window.rs does): every player with a counted spin in the scope, ranked or not. A
-- player whose spins all lost has 0 points and is not ranked (the standings read the scope's
-- rows above 0), but their spins and stakes are counted here, so that a later winning spin adds
-- to them. Filled through bound parameters only: the window [:from, :to) in
-- microseconds, the games (:all_games, or the JSON array :games), the qualifying stakes
-- [:min_stake, :max_stake] (1 and 2^31-1 when every positive stake counts) and :scoring, what
-- one counted spin adds (1: its multiplier in millionths, truncated; 2: its win; 3: its stake;
-- 4: one). A losing spin counts, adding its stake and one spin and no win. Integer arithmetic
-- throughout, saturating at 2^63-1 as the service's own (src/store/sums.rs: sat_sum, and
-- multiplier, each spin's Won / Stake * 1000000 + Won % Stake * 1000000 / Stake). AchievedAt:
-- the last counted spin that added to the score.
SELECT PlayerID, sat_sum(Gain) AS Points, COUNT(*) AS Counted, sat_sum(Stake) AS Wagered,
       sat_sum(Won) AS Won, MAX(CASE WHEN Gain > 0 THEN EventTime END) AS AchievedAt
FROM (
    SELECT PlayerID, Stake, EventTime, Won,
           CASE :scoring WHEN 1 THEN multiplier(Won, Stake)
                         WHEN 2 THEN Won WHEN 3 THEN Stake ELSE 1 END AS Gain
    FROM (SELECT PlayerID, Stake, EventTime, MAX(Win, 0) AS Won FROM GamePlay
          WHERE EventTime >= :from AND EventTime < :to
            AND Stake >= :min_stake AND Stake <= :max_stake
            AND (:all_games OR GameID IN (SELECT value FROM json_each(:games))))
)
GROUP BY PlayerID
