//! The query model: each view's window (clamped to its campaign, anchored on the whole second)
//! and an entry's instant as chrono writes it.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 10, h, m, 0).unwrap()
}

fn start() -> DateTime<Utc> {
    t(10, 0)
}

fn end() -> DateTime<Utc> {
    t(12, 0)
}

fn span(text: &str) -> View {
    View::Window(Span::parse(text).unwrap())
}

#[test]
fn top_covers_the_whole_campaign_once_started() {
    assert_eq!(View::Top.window(start(), end(), t(9, 59)), None);
    for now in [t(10, 0), t(11, 0), t(13, 0)] {
        assert_eq!(View::Top.window(start(), end(), now), Some(Window { from: t(10, 0), to: t(12, 0) }));
    }
}

#[test]
fn window_is_the_last_span_clamped_to_the_campaign() {
    assert_eq!(span("15m").window(start(), end(), t(11, 0)), Some(Window { from: t(10, 45), to: t(11, 0) }));
    assert_eq!(span("2h").window(start(), end(), t(11, 0)), Some(Window { from: t(10, 0), to: t(11, 0) }));
    // After the end, the window is the campaign's last span, anchored at its end.
    assert_eq!(span("15m").window(start(), end(), t(15, 0)), Some(Window { from: t(11, 45), to: t(12, 0) }));
    assert_eq!(span("15m").window(start(), end(), t(9, 0)), None);
}

#[test]
fn window_anchors_are_aligned_to_the_whole_second() {
    let now = t(11, 0) + Duration::microseconds(1_234_567);
    let expected = Window { from: t(10, 45) + Duration::seconds(1), to: t(11, 0) + Duration::seconds(1) };
    assert_eq!(span("15m").window(start(), end(), now), Some(expected));
}

fn standing_at(achieved_at: DateTime<Utc>) -> Standing {
    let (win, stake, game_id) = (Some(3), Some(2), Some(1));
    Standing {
        player_id: 1,
        score: 1.5,
        achieved_at,
        win,
        stake,
        game_id,
        spins: 1,
        wagered: None,
        won: None,
    }
}

#[test]
fn an_entry_writes_its_instant_as_chrono_does() {
    for us in [0, 120_000, 123_000, 123_456, 999_999] {
        let at = t(11, 0) + Duration::microseconds(us);
        let json = serde_json::to_value(standing_at(at)).unwrap();
        assert_eq!(json["achievedAt"], serde_json::to_value(at).unwrap(), "{us} µs");
    }
    let whole = serde_json::to_value(standing_at(t(11, 0)));
    assert_eq!(whole.unwrap()["achievedAt"], "2026-11-10T11:00:00Z");
}
