//! Spin batches as `POST /events` and Kafka read them: both JSON shapes and time formats, the
//! extremes of each field's type, and every bad item reported with its index.

use super::*;

const GOOD: &str =
    r#"{"playerId":1,"gameId":2,"win":100,"stake":10,"eventTime":"2026-11-02 08:00:01.123456"}"#;

#[test]
fn array_and_ndjson_with_both_time_formats() {
    let array = format!(
        "[{GOOD}, {}]",
        r#"{"playerId":-3,"gameId":0,"win":0,"stake":-5,"eventTime":"2026-11-02T09:00:00+01:00","extra":true}"#
    );
    let spins = parse_batch(array.as_bytes()).unwrap();
    assert_eq!(spins.len(), 2);
    assert_eq!(spins[0].event_time.to_rfc3339(), "2026-11-02T08:00:01.123456+00:00");
    assert_eq!(spins[1].event_time.to_rfc3339(), "2026-11-02T08:00:00+00:00");
    assert_eq!((spins[1].player_id, spins[1].stake, spins[1].win), (-3, -5, 0), "stored as given");
    let ndjson = format!("{GOOD}\n\n{GOOD}\r\n");
    let offsets = r#"[{"playerId":1,"gameId":2,"win":1,"stake":1,"eventTime":"2026-11-02T08:00:00.5Z"},
                      {"playerId":1,"gameId":2,"win":1,"stake":1,"eventTime":"2026-11-02T08:00:00-02:30"}]"#;
    let times: Vec<String> =
        parse_batch(offsets.as_bytes()).unwrap().iter().map(|s| s.event_time.to_rfc3339()).collect();
    assert_eq!(times, ["2026-11-02T08:00:00.500+00:00", "2026-11-02T10:30:00+00:00"]);
    assert_eq!(parse_batch(ndjson.as_bytes()).unwrap().len(), 2);
}

#[test]
fn extremes_of_each_type_fit() {
    let text = format!(
        r#"[{{"playerId":{},"gameId":{},"win":{},"stake":{},"eventTime":"0001-01-01T00:00:00Z"}}]"#,
        i32::MAX,
        i32::MIN,
        i64::MAX,
        i32::MAX
    );
    let spin = parse_batch(text.as_bytes()).unwrap()[0];
    assert_eq!(
        (spin.player_id, spin.game_id, spin.win, spin.stake),
        (i32::MAX, i32::MIN, i64::MAX, i32::MAX)
    );
}

#[test]
fn every_bad_item_is_reported_with_its_index() {
    let bad = [
        (r#"{"gameId":2,"win":100,"stake":10,"eventTime":"2026-11-02 08:00:00"}"#, "playerId` is missing"),
        (r#"{"playerId":"1","gameId":2,"win":100,"stake":10,"eventTime":"2026-11-02 08:00:00"}"#, "a string"),
        (r#"{"playerId":1.5,"gameId":2,"win":100,"stake":10,"eventTime":"2026-11-02 08:00:00"}"#, "integer"),
        (
            r#"{"playerId":2147483648,"gameId":2,"win":100,"stake":10,"eventTime":"2026-11-02 08:00:00"}"#,
            "Int32",
        ),
        (
            r#"{"playerId":1,"gameId":2,"win":9223372036854775808,"stake":10,"eventTime":"2026-11-02 08:00:00"}"#,
            "Int64",
        ),
        (r#"{"playerId":1,"gameId":2,"win":100,"stake":10,"eventTime":"yesterday"}"#, "eventTime"),
        (r#"{"playerId":1,"gameId":2,"win":100,"stake":10,"eventTime":"2026-13-02 08:00:00"}"#, "eventTime"),
        (
            r#"{"playerId":1,"gameId":2,"win":100,"stake":10,"eventTime":"2026-11-02T08:00:00.123456"}"#,
            "no offset",
        ),
        (r#"{"playerId":1,"gameId":2,"win":100,"stake":10,"eventTime":"2026-11-02T08:00:00"}"#, "ambiguous"),
        (
            r#"{"playerId":1,"gameId":2,"win":100,"stake":10,"eventTime":"0000-12-31T23:00:00Z"}"#,
            "years 1 to",
        ),
        (
            r#"{"playerId":1,"gameId":2,"win":100,"stake":10,"eventTime":"0001-01-01T00:30:00+01:00"}"#,
            "years 1 to",
        ),
        (
            r#"{"playerId":1,"gameId":2,"win":100,"stake":10,"eventTime":"2016-12-31T23:59:60Z"}"#,
            "leap second",
        ),
        (
            r#"{"playerId":1,"gameId":2,"win":null,"stake":10,"eventTime":"2026-11-02 08:00:00"}"#,
            "win` is missing",
        ),
        ("[1,2]", "object"),
    ];
    let body = format!("[{GOOD},{}]", bad.iter().map(|(b, _)| *b).collect::<Vec<_>>().join(","));
    let Err(BatchError::Invalid(invalid)) = parse_batch(body.as_bytes()) else { panic!("must be refused") };
    assert_eq!(invalid.len(), bad.len());
    for (i, (item, (_, reason))) in invalid.iter().zip(bad).enumerate() {
        assert_eq!(item.index, i + 1);
        assert!(item.reason.contains(reason), "{item:?} should mention {reason}");
    }
}

#[test]
fn syntax_errors_and_empty_batches() {
    assert!(matches!(parse_batch(b"[{"), Err(BatchError::Syntax(_))));
    assert_eq!(parse_batch(b"[]"), Ok(Vec::new()), "an empty array is an empty batch");
    assert!(matches!(parse_batch(b"  \n "), Err(BatchError::Empty)));
    assert!(matches!(parse_batch(&[0xff, 0xfe]), Err(BatchError::Syntax(_))));
    let Err(BatchError::Invalid(invalid)) = parse_batch(format!("{GOOD}\nnot json\n").as_bytes()) else {
        panic!()
    };
    assert_eq!(invalid[0].index, 1);
}

#[test]
fn integral_numbers_written_with_a_zero_fraction_are_integers() {
    let text = r#"[{"playerId":-106.0,"gameId":2.0,"win":1e3,"stake":10,"eventTime":"2026-11-02 08:00:00"}]"#;
    let spin = parse_batch(text.as_bytes()).unwrap()[0];
    assert_eq!((spin.player_id, spin.game_id, spin.win), (-106, 2, 1000));
    for bad in [r#""playerId":2147483648.0"#, r#""playerId":1e300"#, r#""playerId":0.5"#] {
        let text = format!(r#"[{{{bad},"gameId":2,"win":1,"stake":10,"eventTime":"2026-11-02 08:00:00"}}]"#);
        assert!(parse_batch(text.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn integers_past_int64_are_refused_whatever_their_form() {
    for win in ["-9223372036854775809", "9223372036854775808", "-9.3e18", "1e19"] {
        let text = format!(
            r#"[{{"playerId":1,"gameId":2,"win":{win},"stake":10,"eventTime":"2026-11-02 08:00:00"}}]"#
        );
        assert!(parse_batch(text.as_bytes()).is_err(), "{win}");
    }
}
