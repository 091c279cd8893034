//! `Span`: the length of a `/window` view, parsed from KQL-style timespans (`30s`, `15m`,
//! `2h`, `7d`, `1.5h`, `500ms`) or ISO-8601 durations (`PT15M`, `P1DT2H`).

use std::fmt;
use std::sync::LazyLock;

use super::InvalidParam;

/// A positive duration of at most 366 days, in whole milliseconds, so that equal spans
/// written differently (`15m`, `900s`, `PT15M`) are the same value and the same cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span(u64);

const MS_PER_DAY: u64 = 86_400_000;
const MAX_MS: u64 = 366 * MS_PER_DAY;

/// An amount of time as parsed, in units of 10^-19 ms: decimal text never goes through binary
/// floating point (where `1.1 * 3600000` is not a whole number), so `1.1h` is exactly
/// 3,960,000 ms. Arithmetic saturates, far above 366 days, so a huge input still compares as
/// too large.
type Fixed = u128;
/// The longest fraction a number of at most 20 characters can carry.
const FRACTION_DIGITS: u32 = 19;
const ONE_MS: Fixed = 10u128.pow(FRACTION_DIGITS);

impl Span {
    pub fn parse(text: &str) -> Result<Self, InvalidParam> {
        let text = text.trim();
        let amount = if let Some(iso) = text.strip_prefix(['P', 'p']) { iso8601(iso) } else { kql(text) };
        match amount {
            None => Err(InvalidParam::Span(format!(
                "`{}` is not a timespan; use e.g. 30s, 15m, 2h, 7d or PT15M",
                text.chars().take(40).collect::<String>()
            ))),
            Some(0) => Err(InvalidParam::Span("must be greater than zero".into())),
            Some(a) if a > Fixed::from(MAX_MS) * ONE_MS => {
                Err(InvalidParam::Span("must be at most 366d".into()))
            }
            Some(a) if a < ONE_MS => Err(InvalidParam::Span("must be at least 1ms".into())),
            Some(a) if !a.is_multiple_of(ONE_MS) => {
                Err(InvalidParam::Span("finest resolution is 1ms".into()))
            }
            Some(a) => Ok(Self(u64::try_from(a / ONE_MS).expect("at most 366d fits"))),
        }
    }

    /// A regular expression (as JSON Schema, ECMA-262, and Rust's `regex` read it) for the API
    /// document: every form [`Span::parse`] takes (KQL units and their long names, decimals,
    /// ISO-8601), each number bounded so that whatever it matches is accepted: at most 366
    /// days, whole milliseconds. It leaves out what the parser takes beyond that (leading
    /// zeros, surrounding blanks, trailing dots, larger or finer numbers that happen to fit).
    pub fn pattern() -> &'static str {
        static PATTERN: LazyLock<String> = LazyLock::new(pattern);
        &PATTERN
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

/// See [`Span::pattern`]. Each unit's whole numbers run up to 366 days exactly and its
/// fractions have few enough digits to stay whole milliseconds (a 10^-5 day is 864 ms, a
/// 10^-5 hour 36 ms, a 10^-4 minute 6 ms).
fn pattern() -> String {
    const DAYS: &str = "[1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-5]";
    let days = format!("{}|366", number(DAYS, 5));
    // Every whole number below 366 days in the unit, with fractions; 366 days itself whole.
    let hours =
        format!("{}|8784", number("[1-9][0-9]{0,2}|[1-7][0-9]{3}|8[0-6][0-9]{2}|87[0-7][0-9]|878[0-3]", 5));
    let minutes = format!(
        "{}|527040",
        number("[1-9][0-9]{0,4}|[1-4][0-9]{5}|5[01][0-9]{4}|52[0-6][0-9]{3}|5270[0-3][0-9]", 4)
    );
    let seconds = format!(
        "{}|31622400",
        number(
            "[1-9][0-9]{0,6}|[12][0-9]{7}|30[0-9]{6}|31[0-5][0-9]{5}|316[01][0-9]{4}|3162[01][0-9]{3}|31622[0-3][0-9]{2}",
            3
        )
    );
    let millis = "[1-9][0-9]{0,9}|[12][0-9]{10}|30[0-9]{9}|31[0-5][0-9]{8}|316[01][0-9]{7}|3162[01][0-9]{6}|31622[0-3][0-9]{5}|31622400000";
    let kql = format!(
        "({days})(d|days?)|({hours})(h|hrs?|hours?)|({minutes})(m|min|minutes?)|({seconds})(s|sec|seconds?)|({millis})(ms|millis?|milliseconds?)"
    );
    // ISO-8601: days alone; a time alone (at most 999 h, 99,999 min and 9,999,999 s: 227 days
    // together); or at most 363 days and a time whose fields stay under 24 h, 60 min and 60 s.
    let time = |h: &str, m: &str, s: &str| {
        let (h, m, s) = (format!("({h})[Hh]"), format!("({m})[Mm]"), format!("({s})[Ss]"));
        format!("[Tt]({h}({m})?({s})?|{m}({s})?|{s})")
    };
    let long_time =
        time(&number("[1-9][0-9]{0,2}", 5), &number("[1-9][0-9]{0,4}", 4), &number("[1-9][0-9]{0,6}", 3));
    let day_time = time(
        &number("[1-9]|1[0-9]|2[0-3]", 5),
        &number("[1-9]|[1-5][0-9]", 4),
        &number("[1-9]|[1-5][0-9]", 3),
    );
    let few_days = number("[1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-3]", 5);
    let iso = format!("[Pp](({days})[Dd]|{long_time}|({few_days})[Dd]{day_time})");
    format!("^({kql}|{iso})$")
}

/// A positive decimal: `whole` (alternatives of whole numbers, none zero) with at most
/// `fraction` fraction digits, or a fraction alone (`.5`, `0.05`) ending in a digit not zero.
fn number(whole: &str, fraction: usize) -> String {
    format!("({whole})(\\.[0-9]{{1,{fraction}}})?|0?\\.[0-9]{{0,{}}}[1-9]", fraction - 1)
}

/// `<number><unit>` with unit d, h, m, min, s, ms (KQL timespan literal suffixes).
fn kql(text: &str) -> Option<Fixed> {
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
    times(number, factor)
}

/// ISO-8601 duration after the `P`: `[nD][T[nH][nM][nS]]` (weeks, months, years are not
/// fixed lengths of time and are refused).
fn iso8601(text: &str) -> Option<Fixed> {
    let (date, time) = match text.split_once(['T', 't']) {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (text, None),
    };
    let mut total = fields(date, &[('D', MS_PER_DAY)])?;
    if let Some(time) = time {
        total = total.saturating_add(fields(time, &[('H', 3_600_000), ('M', 60_000), ('S', 1000)])?);
    }
    (!date.is_empty() || time.is_some()).then_some(total)
}

/// Sums `<number><designator>` pairs that appear in the order given, each at most once.
fn fields(mut text: &str, designators: &[(char, u64)]) -> Option<Fixed> {
    let mut total: Fixed = 0;
    for &(designator, factor) in designators {
        let Some(end) = text.find([designator, designator.to_ascii_lowercase()]) else {
            continue;
        };
        total = total.saturating_add(times(&text[..end], factor)?);
        text = &text[end + 1..];
    }
    text.is_empty().then_some(total)
}

/// The decimal `number` of a unit `factor` ms long.
fn times(number: &str, factor: u64) -> Option<Fixed> {
    Some(decimal(number)?.saturating_mul(Fixed::from(factor)))
}

/// Plain decimal text (`15`, `1.5`, `.5`, `5.`) as an exact fixed-point value.
fn decimal(text: &str) -> Option<Fixed> {
    let valid = !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
        && text.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |t: &str| if t.is_empty() { Some(0) } else { t.parse::<Fixed>().ok() };
    // At most 19 fraction digits fit the 20 characters, so the exponent never underflows.
    let fraction = digits(fraction)? * 10u128.pow(FRACTION_DIGITS - fraction.len() as u32);
    Some(digits(whole)?.saturating_mul(ONE_MS).saturating_add(fraction))
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
    fn decimal_spans_are_exact() {
        for (text, ms) in [
            ("1.1h", 3_960_000),
            ("2.3h", 8_280_000),
            ("4.35m", 261_000),
            ("0.1s", 100),
            ("1.001s", 1001),
            (".5s", 500),
            ("5.s", 5000),
            ("PT1.1H", 3_960_000),
            ("P0.5DT0.1S", 43_200_100),
            ("365.5d", MAX_MS - MS_PER_DAY / 2),
        ] {
            assert_eq!(Span::parse(text).map(Span::millis), Ok(ms), "{text}");
        }
        let refused = |text: &str| Span::parse(text).unwrap_err().to_string();
        assert!(refused("1.0001s").contains("finest resolution is 1ms"));
        assert!(refused("0.0005s").contains("at least 1ms"));
        assert!(refused("366.001d").contains("at most 366d"));
        assert!(refused("0.000d").contains("greater than zero"));
    }

    proptest::proptest! {
        /// Against scaled integer arithmetic: `whole.fraction` units are
        /// `(whole * 10^len + fraction) * unit / 10^len` ms, accepted when that is a whole
        /// number from 1 to 366 days.
        #[test]
        fn decimal_spans_match_integer_arithmetic(
            whole in 0u64..400_000,
            fraction in "[0-9]{0,6}",
            unit in proptest::sample::select(vec![("d", MS_PER_DAY), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]),
        ) {
            let scale = 10u128.pow(fraction.len() as u32);
            let scaled = (u128::from(whole) * scale + fraction.parse::<u128>().unwrap_or(0)) * u128::from(unit.1);
            let expected = scaled.is_multiple_of(scale)
                .then(|| scaled / scale)
                .filter(|ms| (1..=u128::from(MAX_MS)).contains(ms))
                .map(|ms| ms as u64);
            let text = if fraction.is_empty() { format!("{whole}{}", unit.0) } else { format!("{whole}.{fraction}{}", unit.0) };
            proptest::prop_assert_eq!(Span::parse(&text).ok().map(Span::millis), expected, "{}", text);
        }
    }

    #[test]
    fn the_documented_pattern_takes_the_spans_clients_write() {
        let pattern = regex::Regex::new(Span::pattern()).unwrap();
        for span in [
            "30s",
            "15m",
            "2h",
            "7d",
            "1.5h",
            "1.1h",
            "0.25h",
            ".5s",
            "1.001s",
            "500ms",
            "90m",
            "366d",
            "365.5d",
            "15min",
            "2hours",
            "1day",
            "3days",
            "100millis",
            "10sec",
            "7999h",
            "8783.5h",
            "8784h",
            "527040m",
            "527039.9999m",
            "29999999s",
            "31622400s",
            "31622400000ms",
            "PT15M",
            "pt15m",
            "P1DT2H",
            "PT36H",
            "P7D",
            "P0.5DT0.1S",
            "PT1.1H",
            "P1DT12H30M15.5S",
            "PT90S",
        ] {
            assert!(Span::parse(span).is_ok(), "{span} parses");
            assert!(pattern.is_match(span), "{span} matches {pattern}");
        }
        for refused in [
            "0s",
            "367d",
            "366.5d",
            "8784.5h",
            "8785h",
            "527041m",
            "31622401s",
            "31622400001ms",
            "0.0001s",
            "1.0001s",
            "15",
            "P1W",
            "PT",
            "P1DT",
            "-5m",
            "15m;",
        ] {
            assert!(!pattern.is_match(refused), "{refused}");
        }
    }

    /// The strings `pattern` matches whole (generation takes no anchors).
    fn unanchored(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
        let inner = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')).expect("anchored");
        proptest::string::string_regex(inner).unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Whatever the documented pattern matches, the server accepts: a client (or a
        /// conformance tester) that follows the document is never refused.
        #[test]
        fn what_the_pattern_matches_parses(span in unanchored(Span::pattern())) {
            proptest::prop_assert!(Span::parse(&span).is_ok(), "{}: {:?}", span, Span::parse(&span));
        }
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
