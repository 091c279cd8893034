//! How a standing is written as JSON, by hand rather than derived: an entry's fields written
//! flat (serde's `flatten` goes through a map serializer, field by field), and its instant
//! formatted on the stack as chrono writes it (chrono's writer allocates a string and formats
//! through `fmt`). A player's answer writes a dozen entries per request. The field names and
//! their optionality are the ones the types' `serde` attributes give the OpenAPI document; a
//! test below pins the text.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{Entry, Standing};

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("Entry", 11)?;
        fields.serialize_field("rank", &self.rank)?;
        self.standing.fields(&mut fields)?;
        optional(&mut fields, "prize", &self.prize)?;
        fields.end()
    }
}

impl Serialize for Standing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("Standing", 9)?;
        self.fields(&mut fields)?;
        fields.end()
    }
}

impl Standing {
    fn fields<F: SerializeStruct>(&self, fields: &mut F) -> Result<(), F::Error> {
        fields.serialize_field("playerId", &self.player_id)?;
        fields.serialize_field("score", &self.score)?;
        fields.serialize_field("achievedAt", &Rfc3339(&self.achieved_at))?;
        optional(fields, "win", &self.win)?;
        optional(fields, "stake", &self.stake)?;
        optional(fields, "gameId", &self.game_id)?;
        fields.serialize_field("spins", &self.spins)?;
        optional(fields, "wagered", &self.wagered)?;
        optional(fields, "won", &self.won)
    }
}

/// A field written only when it has a value.
fn optional<F: SerializeStruct, T: Serialize>(
    fields: &mut F,
    name: &'static str,
    value: &Option<T>,
) -> Result<(), F::Error> {
    match value {
        Some(value) => fields.serialize_field(name, value),
        None => fields.skip_field(name),
    }
}

/// An instant as chrono writes it (RFC 3339, `Z`, as many fraction digits as it has).
struct Rfc3339<'a>(&'a DateTime<Utc>);

impl Serialize for Rfc3339<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buffer = [0; 30];
        match write_rfc3339(self.0, &mut buffer) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        }
    }
}

/// `at` as `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it, into `buffer`; `None` for
/// the instants it writes otherwise (years outside 0-9999, leap seconds).
fn write_rfc3339<'b>(at: &DateTime<Utc>, buffer: &'b mut [u8; 30]) -> Option<&'b str> {
    let at = at.naive_utc(); // read as it is: no offset to add
    let (year, nanos) = (u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?, at.nanosecond());
    if nanos >= 1_000_000_000 {
        return None;
    }
    let (fraction, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut at_byte = 0;
    let mut put = |text: &[u8]| {
        buffer[at_byte..at_byte + text.len()].copy_from_slice(text);
        at_byte += text.len();
    };
    put(&digits::<4>(year));
    put(b"-");
    put(&digits::<2>(at.month()));
    put(b"-");
    put(&digits::<2>(at.day()));
    put(b"T");
    put(&digits::<2>(at.hour()));
    put(b":");
    put(&digits::<2>(at.minute()));
    put(b":");
    put(&digits::<2>(at.second()));
    if width > 0 {
        put(b".");
        put(&digits::<9>(fraction)[9 - width..]);
    }
    put(b"Z");
    std::str::from_utf8(&buffer[..at_byte]).ok()
}

/// `value`'s last `N` decimal digits, zero-padded.
fn digits<const N: usize>(mut value: u32) -> [u8; N] {
    let mut out = [b'0'; N];
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::SecondsFormat;
    use proptest::prelude::*;

    use super::*;

    fn spin() -> Standing {
        let achieved_at = "2026-11-10T11:00:00.120Z".parse().unwrap();
        Standing {
            player_id: 7,
            score: 1.5,
            achieved_at,
            win: Some(3),
            stake: Some(2),
            game_id: Some(1),
            spins: 4,
            wagered: None,
            won: None,
        }
    }

    #[test]
    fn entries_are_written_flat_with_only_the_fields_they_have() {
        let entry = Entry { rank: 3, standing: spin(), prize: Some(Arc::from("€250")) };
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"rank":3,"playerId":7,"score":1.5,"achievedAt":"2026-11-10T11:00:00.120Z","win":3,"stake":2,"gameId":1,"spins":4,"prize":"€250"}"#
        );
        let total =
            Standing { win: None, stake: None, game_id: None, wagered: Some(20), won: Some(30), ..spin() };
        assert_eq!(
            serde_json::to_string(&Entry { rank: 1, standing: total, prize: None }).unwrap(),
            r#"{"rank":1,"playerId":7,"score":1.5,"achievedAt":"2026-11-10T11:00:00.120Z","spins":4,"wagered":20,"won":30}"#
        );
    }

    fn chrono(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    #[test]
    fn instants_chrono_writes_otherwise_are_left_to_it() {
        let mut buffer = [0; 30];
        for text in ["-0001-01-01T00:00:00Z", "+10000-01-01T00:00:00Z"] {
            let at: DateTime<Utc> = text.parse().unwrap();
            assert_eq!(write_rfc3339(&at, &mut buffer), None, "{text}");
            assert_eq!(serde_json::to_value(Rfc3339(&at)).unwrap(), chrono(&at));
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(
            23,
            59,
            59,
            1_500_000_000,
        );
        let leap = leap.unwrap().and_utc();
        assert_eq!(write_rfc3339(&leap, &mut buffer), None);
        assert_eq!(serde_json::to_value(Rfc3339(&leap)).unwrap(), chrono(&leap));
    }

    proptest! {
        /// Every instant of years 0-9999 is written as chrono writes it, whatever its fraction.
        #[test]
        fn instants_are_written_as_chrono_writes_them(
            seconds in -62_167_219_200i64..253_402_300_800,
            nanos in prop_oneof![Just(0u32), (0..1_000u32).prop_map(|m| m * 1_000_000), (0..1_000_000u32).prop_map(|u| u * 1_000), 0..1_000_000_000u32],
        ) {
            let at = DateTime::from_timestamp(seconds, nanos).unwrap();
            let mut buffer = [0; 30];
            let expected = chrono(&at);
            prop_assert_eq!(write_rfc3339(&at, &mut buffer), Some(expected.as_str()));
        }
    }
}
