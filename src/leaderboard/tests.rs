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
