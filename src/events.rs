//! Spin events as they arrive: the blog's JSON format
//! `{"playerId","gameId","win","stake","eventTime"}`, one batch per request (a JSON array or
//! NDJSON), validated item by item against the GamePlay column types.

use chrono::{DateTime, Datelike, NaiveDateTime, SubsecRound, Timelike, Utc};
use serde_json::Value;
use serde_json::value::RawValue;

/// One spin, typed as the GamePlay columns. Stored as given: a spin with `win <= 0` or
/// `stake <= 0` is kept (as ADX keeps it) and simply never counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spin {
    pub player_id: i32,
    pub game_id: i32,
    pub win: i64,
    pub stake: i32,
    /// UTC, to the microsecond.
    pub event_time: DateTime<Utc>,
}

/// Why one item of a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InvalidEvent {
    /// 0-based position in the array, or line index in NDJSON.
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("the body is neither a JSON array of events nor NDJSON: {0}")]
    Syntax(String),
    #[error("the body is empty: send a JSON array of events or NDJSON")]
    Empty,
    #[error("{} of the events are invalid; nothing was stored", .0.len())]
    Invalid(Vec<InvalidEvent>),
}

/// Parses a whole batch; any invalid item rejects the batch. An empty array is an empty
/// batch (nothing to store); a body with no content at all is refused as a likely mistake.
/// Items are made spins one at a time: a batch never lies in memory as JSON values (a few
/// hundred bytes an event), only as its body and its spins.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Spin>, BatchError> {
    if body.trim_ascii().is_empty() {
        return Err(BatchError::Empty);
    }
    let items = items(body)?;
    let mut spins = Vec::with_capacity(items.len());
    let mut invalid = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match parse_event(item.as_bytes()) {
            Ok(spin) => spins.push(spin),
            Err(reason) => invalid.push(InvalidEvent { index, reason }),
        }
    }
    if invalid.is_empty() { Ok(spins) } else { Err(BatchError::Invalid(invalid)) }
}

/// One event on its own (a stream message, an item of a batch).
pub fn parse_event(bytes: &[u8]) -> Result<Spin, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    spin(&value)
}

/// The items' text, borrowed from the body: those of a JSON array (checked as JSON once), or
/// the non-blank lines of NDJSON (each parsed on its own, so that a bad line is reported with
/// its index rather than failing the whole body).
fn items(body: &[u8]) -> Result<Vec<&str>, BatchError> {
    let text = std::str::from_utf8(body).map_err(|e| BatchError::Syntax(format!("not UTF-8: {e}")))?;
    if text.trim_start().starts_with('[') {
        let array: Vec<&RawValue> =
            serde_json::from_str(text).map_err(|e| BatchError::Syntax(e.to_string()))?;
        return Ok(array.into_iter().map(RawValue::get).collect());
    }
    Ok(text.lines().filter(|l| !l.trim().is_empty()).collect())
}

fn spin(value: &Value) -> Result<Spin, String> {
    let object = value.as_object().ok_or("must be a JSON object")?;
    let field = |name: &str| object.get(name).filter(|v| !v.is_null()).ok_or(format!("`{name}` is missing"));
    Ok(Spin {
        player_id: int32(field("playerId")?, "playerId")?,
        game_id: int32(field("gameId")?, "gameId")?,
        win: int64(field("win")?, "win")?,
        stake: int32(field("stake")?, "stake")?,
        event_time: event_time(field("eventTime")?)?,
    })
}

fn int64(value: &Value, name: &str) -> Result<i64, String> {
    integer(value, name, "Int64")
}

fn int32(value: &Value, name: &str) -> Result<i32, String> {
    integer(value, name, "Int32")
}

/// A JSON integer that fits `T` (the column type named `column_type` in messages). A number
/// written with a fraction of zero (`7.0`) is an integer, as JSON Schema reads it.
fn integer<T: TryFrom<i64>>(value: &Value, name: &str, column_type: &str) -> Result<T, String> {
    let out_of_range = |n: &dyn std::fmt::Display| format!("`{name}` {n} is outside the {column_type} range");
    match value {
        Value::Number(n) if n.is_f64() => {
            let real = n.as_f64().unwrap_or(f64::NAN);
            // Exclusive bounds: 2^63 is past i64::MAX, and an integer literal below i64::MIN
            // arrives rounded to -2^63.
            const BOUND: f64 = (1u64 << 63) as f64;
            if real.fract() != 0.0 || real <= -BOUND || real >= BOUND {
                return Err(format!("`{name}` must be an integer, not {n}"));
            }
            T::try_from(real as i64).map_err(|_| out_of_range(n))
        }
        Value::Number(n) => {
            let wide = n.as_i64().ok_or_else(|| out_of_range(n))?;
            T::try_from(wide).map_err(|_| out_of_range(&wide))
        }
        other => Err(format!("`{name}` must be an integer, not {}", kind(other))),
    }
}

/// RFC 3339, or the generator's `YYYY-MM-DD HH:MM:SS.ffffff` (no zone: UTC). A `T` time with
/// no offset is refused: it reads as RFC 3339 with the offset forgotten, whose instant no one
/// can know.
fn event_time(value: &Value) -> Result<DateTime<Utc>, String> {
    let text = value.as_str().ok_or_else(|| format!("`eventTime` must be a string, not {}", kind(value)))?;
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc()));
    // Named in a refusal only: no copy of it for an event that is taken.
    let shown = || text.chars().take(40).collect::<String>();
    match parsed {
        // ADX's datetime runs from year 1 to 9999, and has no leap second (chrono keeps one).
        Ok(t) if !(1..=9999).contains(&t.year()) => {
            Err(format!("`eventTime` `{}` is outside ADX's datetime range, years 1 to 9999", shown()))
        }
        Ok(t) if t.nanosecond() >= 1_000_000_000 => {
            Err(format!("`eventTime` `{}` is a leap second, which ADX's datetime has not", shown()))
        }
        Ok(t) => Ok(t.trunc_subsecs(6)),
        Err(_) if NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok() => Err(format!(
            "`eventTime` `{}` has no offset, so its instant is ambiguous: add `Z` or e.g. `+01:00`",
            shown()
        )),
        Err(_) => Err(format!("`eventTime` `{}` is not RFC 3339 nor `YYYY-MM-DD HH:MM:SS.ffffff`", shown())),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
