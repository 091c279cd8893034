//! The demo catalogue for the zero-config start: campaigns placed around the start-up instant
//! so that every status (live, live with a game filter, ended, upcoming) can be tried at once,
//! a prize table (on `demo-live`), and a race of another format (`demo-race`: the total
//! multiplier of spins of stake 2 or more, with prizes).

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{Campaign, CampaignId, Catalogue, Prizes};
use crate::leaderboard::{Scoring, Stakes};

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
        score: Scoring::default(),
        max_spins: None,
        stakes: Default::default(),
        prizes: Default::default(),
    };
    let prizes = [("1", "€500"), ("2-3", "€100"), ("4-10", "50 free spins")];
    let live = Campaign {
        prizes: Prizes::parse(prizes).expect("the demo table is valid"),
        ..campaign(
            "demo-live",
            "Demo: all games, since start-up, with prizes",
            started,
            hour + Duration::days(7),
            None,
        )
    };
    let race = Campaign {
        score: Scoring::TotalMultiplier,
        stakes: Stakes::new(Some(2), None).expect("the demo bound is valid"),
        prizes: Prizes::parse([("1", "€250"), ("2-5", "20 free spins")]).expect("the demo table is valid"),
        ..campaign(
            "demo-race",
            "Demo: race, total multiplier of stakes 2+, since start-up, with prizes",
            started,
            hour + Duration::days(7),
            None,
        )
    };
    Catalogue::new(vec![
        live,
        race,
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
