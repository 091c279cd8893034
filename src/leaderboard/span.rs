//! `Span`: the length of a `/window` view, parsed from KQL-style timespans (`30s`, `15m`,
//! `2h`, `7d`, `1.5h`, `500ms`) or ISO-8601 durations (`PT15M`, `P1DT2H`).

use std::fmt;

use super::InvalidParam;

/// A positive duration of at most 366 days, in whole milliseconds, so that equal spans
/// written differently (`15m`, `900s`, `PT15M`) are the same value and the same cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span(u64);

const MS_PER_DAY: u64 = 86_400_000;
const MAX_MS: u64 = 366 * MS_PER_DAY;

impl Span {
    pub fn parse(text: &str) -> Result<Self, InvalidParam> {
        let text = text.trim();
        let ms = if let Some(iso) = text.strip_prefix(['P', 'p']) { iso8601(iso) } else { kql(text) };
        match ms {
            Some(ms) if ms > 0.0 && ms <= MAX_MS as f64 && ms.fract() == 0.0 => Ok(Self(ms as u64)),
            Some(ms) if ms > 0.0 && ms < 1.0 => Err(InvalidParam::Span("must be at least 1ms".into())),
            Some(ms) if ms.fract() != 0.0 && ms <= MAX_MS as f64 => {
                Err(InvalidParam::Span("finest resolution is 1ms".into()))
            }
            Some(ms) if ms <= 0.0 => Err(InvalidParam::Span("must be greater than zero".into())),
            Some(_) => Err(InvalidParam::Span("must be at most 366d".into())),
            None => Err(InvalidParam::Span(format!(
                "`{}` is not a timespan; use e.g. 30s, 15m, 2h, 7d or PT15M",
                text.chars().take(40).collect::<String>()
            ))),
        }
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.0 as i64)
    }
}

impl fmt::Display for Span {
    /// The shortest exact KQL-style form, e.g. `15m`, `36h`, `1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(MS_PER_DAY, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
        match units.iter().find(|(size, _)| self.0.is_multiple_of(*size)) {
            Some((size, unit)) => write!(f, "{}{unit}", self.0 / size),
            None => write!(f, "{}ms", self.0),
        }
    }
}

/// `<number><unit>` with unit d, h, m, min, s, ms (KQL timespan literal suffixes).
fn kql(text: &str) -> Option<f64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "d" | "day" | "days" => MS_PER_DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "s" | "sec" | "second" | "seconds" => 1000,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        _ => return None,
    };
    Some(number_value(number)? * factor as f64)
}

/// ISO-8601 duration after the `P`: `[nD][T[nH][nM][nS]]` (weeks, months, years are not
/// fixed lengths of time and are refused).
fn iso8601(text: &str) -> Option<f64> {
    let (date, time) = match text.split_once(['T', 't']) {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (text, None),
    };
    let mut total = fields(date, &[('D', MS_PER_DAY)])?;
    if let Some(time) = time {
        total += fields(time, &[('H', 3_600_000), ('M', 60_000), ('S', 1000)])?;
    }
    (!date.is_empty() || time.is_some()).then_some(total)
}

/// Sums `<number><designator>` pairs that appear in the order given, each at most once.
fn fields(mut text: &str, designators: &[(char, u64)]) -> Option<f64> {
    let mut total = 0.0;
    for &(designator, factor) in designators {
        let Some(end) = text.find([designator, designator.to_ascii_lowercase()]) else {
            continue;
        };
        total += number_value(&text[..end])? * factor as f64;
        text = &text[end + 1..];
    }
    text.is_empty().then_some(total)
}

fn number_value(text: &str) -> Option<f64> {
    let valid = !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
        && text.bytes().any(|b| b.is_ascii_digit());
    if valid { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kql_and_iso_forms_normalise_to_one_value() {
        let fifteen = Span::parse("15m").unwrap();
        for same in ["900s", "PT15M", "pt15m", "0.25h", "900000ms", " 15m "] {
            assert_eq!(Span::parse(same).unwrap(), fifteen, "{same}");
        }
        assert_eq!(Span::parse("P1DT2H").unwrap().millis(), 26 * 3_600_000);
        assert_eq!(Span::parse("7d").unwrap().to_string(), "7d");
        assert_eq!(Span::parse("90m").unwrap().to_string(), "90m");
        assert_eq!(Span::parse("1.5s").unwrap().to_string(), "1500ms");
        assert_eq!(Span::parse("366d").unwrap().millis(), MAX_MS);
    }

    #[test]
    fn refuses_zero_negative_huge_and_garbage() {
        for bad in [
            "",
            "0s",
            "-5m",
            "367d",
            "15",
            "m",
            "15x",
            "1e3s",
            "1..5h",
            "P",
            "PT",
            "P1W",
            "PT1H2D",
            "P1Y",
            "15m;",
            "15m | take 1",
            "0.0001ms",
            "99999999999999999999999d",
            "１５m",
        ] {
            assert!(Span::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
