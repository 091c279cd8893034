//! The demo catalogue for the zero-config start: campaigns placed around the start-up instant
//! so that every status (live, live with a game filter, ended, upcoming) can be tried at once.

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{Campaign, CampaignId, Catalogue};

/// `demo-live` starts at start-up, so its board fills and moves visibly from the first
/// seconds even on a store that already holds days of spins.
pub fn demo_catalogue(now: DateTime<Utc>) -> Catalogue {
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let started = now.duration_trunc(Duration::seconds(1)).unwrap_or(now);
    let campaign = |id: &str, name: &str, start, end, games: Option<Vec<i32>>| Campaign {
        id: CampaignId::parse(id).expect("demo ids are valid"),
        name: name.to_owned(),
        start,
        end,
        games,
        windows: None,
    };
    Catalogue::new(vec![
        campaign("demo-live", "Demo: all games, since start-up", started, hour + Duration::days(7), None),
        campaign(
            "demo-slots",
            "Demo: games 1-3 only, live",
            hour - Duration::hours(1),
            hour + Duration::days(2),
            Some(vec![1, 2, 3]),
        ),
        campaign(
            "demo-ended",
            "Demo: ended yesterday",
            hour - Duration::days(3),
            hour - Duration::days(1),
            None,
        ),
        campaign(
            "demo-upcoming",
            "Demo: starts tomorrow",
            hour + Duration::days(1),
            hour + Duration::days(8),
            None,
        ),
    ])
}
