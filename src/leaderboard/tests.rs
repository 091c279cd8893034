use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::campaigns::CampaignId;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 10, h, m, 0).unwrap()
}

fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::parse("c").unwrap(),
        name: "C".into(),
        start: t(10, 0),
        end: t(12, 0),
        games: Some(vec![2]),
    }
}

fn span(text: &str) -> View {
    View::Window(Span::parse(text).unwrap())
}

#[test]
fn top_covers_the_whole_campaign_once_started() {
    let c = campaign();
    assert_eq!(View::Top.window(&c, t(9, 59)), None);
    for now in [t(10, 0), t(11, 0), t(13, 0)] {
        assert_eq!(View::Top.window(&c, now), Some(Window { from: t(10, 0), to: t(12, 0) }));
    }
}

#[test]
fn window_is_the_last_span_clamped_to_the_campaign() {
    let c = campaign();
    assert_eq!(span("15m").window(&c, t(11, 0)), Some(Window { from: t(10, 45), to: t(11, 0) }));
    assert_eq!(span("2h").window(&c, t(11, 0)), Some(Window { from: t(10, 0), to: t(11, 0) }));
    // After the end, the window is the campaign's last span, anchored at its end.
    assert_eq!(span("15m").window(&c, t(15, 0)), Some(Window { from: t(11, 45), to: t(12, 0) }));
    assert_eq!(span("15m").window(&c, t(9, 0)), None);
}

#[test]
fn query_carries_games_and_the_max_limit() {
    let q = View::Top.query(&campaign(), t(11, 0), MaxLimit::new(50).unwrap()).unwrap();
    assert_eq!(q.games, Some(vec![2]));
    assert_eq!(q.limit, 50);
}

#[test]
fn ranks_are_one_based_positions() {
    let s = |player_id| Standing {
        player_id,
        score: 1.0,
        win: 1,
        stake: 1,
        game_id: 1,
        achieved_at: t(10, 0) + Duration::seconds(player_id.into()),
    };
    let ranked = rank([s(7), s(3)]);
    assert_eq!(ranked.iter().map(|e| (e.rank, e.standing.player_id)).collect::<Vec<_>>(), [(1, 7), (2, 3)]);
}
