//! How a window of the embedded store is cut into the parts it is read from: raw edges shorter
//! than an hour, then up to two runs of whole hours, of whole days, and one of whole weeks,
//! which the Rollup holds per player.

use super::{DAY, HOUR, WEEK};

/// `[from, to)` in microseconds; empty when `from >= to`.
type Range = (i64, i64);
const EMPTY: Range = (0, 0);

/// Which parts of the window each source covers; together they tile `[from, to)` exactly:
/// raw edges shorter than an hour, then up to two runs of hours, of days, and one of weeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub raw: [Range; 2],
    pub hours: [Range; 2],
    pub days: [Range; 2],
    pub weeks: Range,
}

fn floor(t: i64, span: i64) -> i64 {
    t.div_euclid(span) * span
}

fn ceil(t: i64, span: i64) -> i64 {
    -floor(-t, span)
}

/// Splits `[from, to)` into its whole `span`s in the middle and the edges on either side;
/// `None` when no whole span fits.
fn split(from: i64, to: i64, span: i64) -> Option<([Range; 2], Range)> {
    let (inner_from, inner_to) = (ceil(from, span), floor(to, span));
    (inner_from < inner_to).then_some(([(from, inner_from), (inner_to, to)], (inner_from, inner_to)))
}

impl Plan {
    /// All of `[from, to)` from raw spins.
    pub fn raw(from: i64, to: i64) -> Self {
        Self { raw: [(from, to), EMPTY], hours: [EMPTY; 2], days: [EMPTY; 2], weeks: EMPTY }
    }

    /// The Rollup buckets the plan reads, as (span, start): each whole week, day and hour.
    pub fn buckets(&self) -> Vec<(i64, i64)> {
        let runs = [(WEEK, self.weeks), (DAY, self.days[0]), (DAY, self.days[1])];
        let runs = runs.into_iter().chain([(HOUR, self.hours[0]), (HOUR, self.hours[1])]);
        let starts =
            |(span, (from, to)): (i64, Range)| (from..to).step_by(span as usize).map(move |at| (span, at));
        runs.flat_map(starts).collect()
    }

    pub fn new(from: i64, to: i64) -> Self {
        let mut plan = Self::raw(from, to);
        let Some((raw, hours)) = split(from, to, HOUR) else { return plan };
        (plan.raw, plan.hours) = (raw, [hours, EMPTY]);
        let Some((hours, days)) = split(hours.0, hours.1, DAY) else { return plan };
        (plan.hours, plan.days) = (hours, [days, EMPTY]);
        let Some((days, weeks)) = split(days.0, days.1, WEEK) else { return plan };
        (plan.days, plan.weeks) = (days, weeks);
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn covered(plan: &Plan) -> Vec<Range> {
        let all = plan.raw.iter().chain(&plan.hours).chain(&plan.days).chain([&plan.weeks]);
        let mut parts: Vec<Range> = all.copied().filter(|(a, b)| a < b).collect();
        parts.sort();
        parts
    }

    #[test]
    fn plans_tile_the_window_exactly() {
        let day0 = 20_000 * DAY;
        for (from, to) in [
            (day0 + 5 * MIN, day0 + 20 * MIN),
            (day0 + 5 * MIN, day0 + 3 * HOUR + 1),
            (day0 - 7 * MIN, day0 + 5 * DAY + 2 * HOUR + 3),
            (day0, day0 + 2 * DAY),
            (-DAY - 1, DAY + 1),
            (5 * WEEK - 3 * HOUR - 1, 9 * WEEK + 4 * DAY + 1),
        ] {
            let parts = covered(&Plan::new(from, to));
            assert_eq!(parts.first().unwrap().0, from);
            assert_eq!(parts.last().unwrap().1, to);
            assert!(parts.windows(2).all(|w| w[0].1 == w[1].0), "contiguous: {parts:?}");
        }
        let plan = Plan::new(day0 - 7 * MIN, day0 + 5 * DAY + 2 * HOUR + 3);
        assert_eq!(
            plan.raw,
            [(day0 - 7 * MIN, day0), (day0 + 5 * DAY + 2 * HOUR, day0 + 5 * DAY + 2 * HOUR + 3)]
        );
        assert_eq!(plan.hours, [(day0, day0), (day0 + 5 * DAY, day0 + 5 * DAY + 2 * HOUR)]);
        assert_eq!(plan.days, [(day0, day0 + 5 * DAY), EMPTY]);
        let week0 = 3000 * WEEK;
        let plan = Plan::new(week0 - 2 * DAY - 1, week0 + 3 * WEEK + DAY + HOUR);
        assert_eq!(plan.weeks, (week0, week0 + 3 * WEEK));
        assert_eq!(plan.days, [(week0 - 2 * DAY, week0), (week0 + 3 * WEEK, week0 + 3 * WEEK + DAY)]);
        let last_hour = (week0 + 3 * WEEK + DAY, week0 + 3 * WEEK + DAY + HOUR);
        assert_eq!(plan.hours, [(week0 - 2 * DAY, week0 - 2 * DAY), last_hour]);
    }
}
