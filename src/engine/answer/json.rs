//! The answers' JSON, written straight into one buffer: keys as literal bytes, integers with
//! `itoa`, instants digit by digit, floats and strings through `serde_json` (so they read as
//! serde writes them). A player's answer is encoded per request; through serde's derived
//! `Serialize` (a map entry per field, each key escaped, a `String` per instant) its JSON was
//! the largest cost of the request. The shapes are the documented types of `answer`; a test
//! holds every answer byte for byte equal to what serde writes from them.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;

use super::Positions;
use crate::engine::snapshot::Snapshot;
use crate::leaderboard::Entry;

/// An answer's JSON as it is written.
pub(super) struct Json {
    out: Vec<u8>,
}

impl Json {
    /// Starts an answer about `snapshot`, `{"campaign":..,"window":..,"total":..,"final":..`,
    /// in a buffer of `capacity` bytes.
    pub fn answer(snapshot: &Snapshot, capacity: usize) -> Self {
        let mut json = Self { out: Vec::with_capacity(capacity) };
        json.raw(b"{\"campaign\":");
        json.raw(snapshot.head.campaign.get().as_bytes());
        json.raw(b",\"window\":");
        json.raw(snapshot.head.window.get().as_bytes());
        json.raw(b",\"total\":");
        json.int(snapshot.ranking.total());
        json.raw(if snapshot.is_final { b",\"final\":true" } else { b",\"final\":false" });
        json
    }

    /// `,"key":` (the key as written: plain ASCII). Inlined, as `raw` and `int` are: their
    /// lengths are then known where they are called, and the bytes are moved without a call.
    #[inline]
    pub fn key(&mut self, key: &str) {
        self.raw(b",\"");
        self.raw(key.as_bytes());
        self.raw(b"\":");
    }

    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    #[inline]
    pub fn int(&mut self, n: impl itoa::Integer) {
        self.raw(itoa::Buffer::new().format(n).as_bytes());
    }

    /// `,"key":value` for a field serde skips when it is `None`.
    pub fn optional(&mut self, key: &str, value: Option<Option<f64>>) {
        if let Some(value) = value {
            self.key(key);
            self.serde(&value);
        }
    }

    /// `value` as serde_json writes it (floats, escaped strings).
    pub fn serde(&mut self, value: &(impl Serialize + ?Sized)) {
        serde_json::to_writer(&mut self.out, value).expect("plain values always serialize");
    }

    /// The entries of `snapshot` at `positions`, as a JSON array.
    pub fn entries(&mut self, snapshot: &Snapshot, positions: Positions<'_>) {
        self.raw(b"[");
        for (i, at) in positions.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            self.entry(&snapshot.entry(at));
        }
        self.raw(b"]");
    }

    /// One entry: its fields in `Entry`'s order, `None`s skipped.
    pub fn entry(&mut self, entry: &Entry) {
        let standing = &entry.standing;
        self.raw(b"{\"rank\":");
        self.int(entry.rank);
        self.key("playerId");
        self.int(standing.player_id);
        self.key("score");
        self.serde(&standing.score);
        self.key("achievedAt");
        self.instant(&standing.achieved_at);
        for (key, value) in [("win", standing.win), ("stake", standing.stake.map(i64::from))] {
            if let Some(value) = value {
                self.key(key);
                self.int(value);
            }
        }
        if let Some(game_id) = standing.game_id {
            self.key("gameId");
            self.int(game_id);
        }
        self.key("spins");
        self.int(standing.spins);
        for (key, value) in [("wagered", standing.wagered), ("won", standing.won)] {
            if let Some(value) = value {
                self.key(key);
                self.int(value);
            }
        }
        if let Some(prize) = &entry.prize {
            self.key("prize");
            self.serde(&**prize);
        }
        self.raw(b"}");
    }

    /// An instant as a JSON string, as `leaderboard`'s serializer writes it (chrono's RFC 3339
    /// with `Z` and as many fraction digits as it has): digit by digit for years 0 to 9999.
    pub fn instant(&mut self, at: &DateTime<Utc>) {
        let (date, time) = (at.date_naive(), at.time());
        if !(0..=9999).contains(&date.year()) || time.nanosecond() >= 1_000_000_000 {
            return self.serde(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        }
        let mut text = *b"\"0000-00-00T00:00:00";
        let year = date.year() as u32;
        let fields = [(1, year / 100), (3, year % 100), (6, date.month()), (9, date.day())];
        let clock = [(12, time.hour()), (15, time.minute()), (18, time.second())];
        for (at, value) in fields.into_iter().chain(clock) {
            text[at] = b'0' + (value / 10) as u8;
            text[at + 1] = b'0' + (value % 10) as u8;
        }
        self.raw(&text);
        let nanos = time.nanosecond();
        let (fraction, digits) = match nanos {
            0 => (0, 0),
            _ if nanos % 1_000_000 == 0 => (nanos / 1_000_000, 3),
            _ if nanos % 1_000 == 0 => (nanos / 1_000, 6),
            _ => (nanos, 9),
        };
        if digits > 0 {
            let mut text = *b".000000000";
            let mut rest = fraction;
            for at in (1..=digits).rev() {
                text[at] = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            self.raw(&text[..=digits]);
        }
        self.raw(b"Z\"");
    }

    pub fn end(mut self) -> Vec<u8> {
        self.raw(b"}");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    use super::Json;

    fn written(at: &DateTime<Utc>) -> String {
        let mut json = Json { out: Vec::new() };
        json.instant(at);
        String::from_utf8(json.out).unwrap()
    }

    proptest! {
        /// Every instant a row can hold reads as chrono writes it: any microsecond from year
        /// -9999 to 19999 (outside 0-9999 written by chrono itself).
        #[test]
        fn instants_read_as_chrono_writes_them(
            us in -377_705_116_800_000_000_i64..568_971_820_800_000_000,
            whole in 0_u8..4,
        ) {
            // Whole seconds and milliseconds too: they have fewer fraction digits.
            let us = match whole { 0 => us - us.rem_euclid(1_000_000), 1 => us - us.rem_euclid(1_000), _ => us };
            let at = DateTime::<Utc>::from_timestamp_micros(us).unwrap();
            let chrono = serde_json::to_string(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).unwrap();
            prop_assert_eq!(written(&at), chrono);
        }
    }

    #[test]
    fn instants_at_the_edges_of_the_fast_path() {
        for (text, expected) in [
            ("0000-01-01T00:00:00Z", "\"0000-01-01T00:00:00Z\""),
            ("9999-12-31T23:59:59.999999Z", "\"9999-12-31T23:59:59.999999Z\""),
            ("2026-12-05T03:04:05.120Z", "\"2026-12-05T03:04:05.120Z\""),
            ("2026-12-05T03:04:05.000123Z", "\"2026-12-05T03:04:05.000123Z\""),
            ("+10000-01-01T00:00:00Z", "\"+10000-01-01T00:00:00Z\""),
        ] {
            let at: DateTime<Utc> = text.parse().unwrap();
            assert_eq!(written(&at), expected);
        }
    }
}
