-- kql/window-bucket.sql for a total's window: each player's counted spins and sums in the
-- bucket (of stakes, wins and multipliers in millionths), and the instants of their last spin,
-- of their last that won and of their last whose multiplier added to its sum (NULL while none
-- did). Filled through bound parameters only.
SELECT PlayerID, Spins, Wagered, Won, Multiplied, LastSpin, LastWon, LastMultiplied FROM Rollup
WHERE Span = :span AND Bucket = :bucket AND Partition = :partition
ORDER BY PlayerID
