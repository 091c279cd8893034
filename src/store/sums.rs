//! The writer's SQL arithmetic on totals, saturating as the service's own does
//! ([`Scoring::points`], the window merge): a sum of wins, stakes or multipliers stops at
//! `i64::MAX` instead of failing. SQLite's `+` on integers turns an overflow into a REAL (which
//! the INTEGER columns then hold, and every read of them fails) and its `SUM` raises "integer
//! overflow": one stored win near `i64::MAX` broke every total campaign's board for good.
//!
//! Registered on the writer's connection, the only one that adds up (readers read the sums):
//! - `sat_add(a, b)`: `a + b`, saturating;
//! - `sat_sum(x)`: the sum of a group (or of a window's frame), exact in 128 bits, saturating
//!   once at the end;
//! - `multiplier(won, stake)`: what a counted spin adds to a total multiplier, in millionths
//!   ([`Scoring::points`] itself).

use rusqlite::functions::{Aggregate, Context, FunctionFlags, WindowAggregate};
use rusqlite::{Connection, Result};

use crate::leaderboard::Scoring;

/// Makes the functions above callable on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("sat_add", 2, flags, |ctx| {
        Ok(ctx.get::<i64>(0)?.saturating_add(ctx.get::<i64>(1)?))
    })?;
    conn.create_window_function("sat_sum", 1, flags, SatSum)?;
    conn.create_scalar_function("multiplier", 2, flags, |ctx| {
        let stake = i32::try_from(ctx.get::<i64>(1)?)
            .ok()
            .filter(|&stake| stake > 0)
            .ok_or_else(|| rusqlite::Error::UserFunctionError("a counted stake is a positive int".into()))?;
        Ok(Scoring::TotalMultiplier.points(ctx.get(0)?, stake))
    })
}

struct SatSum;

impl Aggregate<i128, i64> for SatSum {
    fn init(&self, _: &mut Context<'_>) -> Result<i128> {
        Ok(0)
    }

    fn step(&self, ctx: &mut Context<'_>, sum: &mut i128) -> Result<()> {
        *sum += i128::from(ctx.get::<i64>(0)?);
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, sum: Option<i128>) -> Result<i64> {
        Ok(saturated(sum.unwrap_or(0)))
    }
}

impl WindowAggregate<i128, i64> for SatSum {
    fn value(&self, sum: Option<&mut i128>) -> Result<i64> {
        Ok(saturated(sum.map_or(0, |sum| *sum)))
    }

    fn inverse(&self, ctx: &mut Context<'_>, sum: &mut i128) -> Result<()> {
        *sum -= i128::from(ctx.get::<i64>(0)?);
        Ok(())
    }
}

/// Exact below 2^64 rows of any i64: each step moves the sum by less than 2^63.
fn saturated(sum: i128) -> i64 {
    i64::try_from(sum).unwrap_or(if sum > 0 { i64::MAX } else { i64::MIN })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        conn
    }

    fn one(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn sums_saturate_where_sqlite_fails() {
        let conn = conn();
        let max = i64::MAX;
        let rows = format!("(SELECT {max} AS x UNION ALL SELECT 1 UNION ALL SELECT {max})");
        assert!(conn.query_row(&format!("SELECT SUM(x) FROM {rows}"), [], |r| r.get::<_, i64>(0)).is_err());
        assert_eq!(one(&conn, &format!("SELECT sat_sum(x) FROM {rows}")), max);
        assert_eq!(one(&conn, &format!("SELECT sat_add({max}, 1)")), max);
        assert_eq!(one(&conn, &format!("SELECT sat_add({}, -1)", i64::MIN)), i64::MIN);
        // Below the bound they are the plain sums, a window's frame included.
        assert_eq!(one(&conn, "SELECT sat_add(40, 2)"), 42);
        assert_eq!(one(&conn, "SELECT sat_sum(x) FROM (SELECT 40 AS x UNION ALL SELECT 2)"), 42);
        assert_eq!(one(&conn, "SELECT sat_sum(x) FROM (SELECT 1 AS x WHERE 0)"), 0);
        let moving = "SELECT group_concat(s) FROM (SELECT sat_sum(x) OVER (ORDER BY x ROWS 1 PRECEDING) AS s
                      FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 4))";
        let text: String = conn.query_row(moving, [], |r| r.get(0)).unwrap();
        assert_eq!(text, "1,3,6");
    }

    #[test]
    fn a_multiplier_is_the_services_own() {
        let conn = conn();
        for (won, stake) in [(7, 2), (0, 5), (i64::MAX, 1), (i64::MAX, 3), (10_000_000_000_000, 1)] {
            let sql = format!("SELECT multiplier({won}, {stake})");
            assert_eq!(one(&conn, &sql), Scoring::TotalMultiplier.points(won, stake), "{won} / {stake}");
        }
        // In millionths, truncated, and saturating where the product passes i64::MAX.
        assert_eq!(one(&conn, "SELECT multiplier(7, 3)"), 2_333_333);
        assert_eq!(one(&conn, "SELECT multiplier(9223372036854, 1)"), 9_223_372_036_854_000_000);
        assert_eq!(one(&conn, "SELECT multiplier(9223372036855, 1)"), i64::MAX);
        assert!(conn.query_row("SELECT multiplier(1, 0)", [], |r| r.get::<_, i64>(0)).is_err());
    }
}
