//! The campaigns file: what it accepts, and each mistake refused with a message naming it.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
    Catalogue::parse(Path::new("campaigns.toml"), text)
}

const GOOD: &str = r#"
[[campaigns]]
id = "autumn-spins"
name = "Autumn Spins"
start = "2026-11-01T00:00:00Z"
end = "2026-12-01T00:00:00Z"
games = [3, 1, 2, 1]

[[campaigns]]
id = "all-games"
start = 2026-11-01T00:00:00+01:00
end = 2026-11-02T00:00:00.1234567Z
"#;

#[test]
fn parses_and_normalises() {
    let catalogue = parse(GOOD).unwrap();
    let ids: Vec<_> = catalogue.iter().map(|c| c.id.as_str().to_owned()).collect();
    assert_eq!(ids, ["autumn-spins", "all-games"]);
    let autumn = catalogue.get("autumn-spins").unwrap();
    assert_eq!(autumn.games.as_deref(), Some(&[1, 2, 3][..]));
    let all = catalogue.get("all-games").unwrap();
    assert_eq!(all.name, "all-games");
    assert_eq!(all.games, None);
    assert_eq!(all.start.to_rfc3339(), "2026-10-31T23:00:00+00:00");
    assert_eq!(all.end.timestamp_subsec_micros(), 123_456, "kept to microseconds");
}

#[test]
fn every_campaign_is_found_by_its_id_and_nothing_else_is() {
    let entry = |i: usize| {
        format!(
            "[[campaigns]]\nid = \"c-{i}\"\nstart = \"2026-11-01T00:00:00Z\"\nend = \"2026-12-01T00:00:00Z\"\n"
        )
    };
    let catalogue = parse(&(0..500).map(entry).collect::<String>()).unwrap();
    for i in 0..500 {
        assert_eq!(catalogue.get(&format!("c-{i}")).unwrap().id.as_str(), format!("c-{i}"));
    }
    for unknown in ["c-500", "C-1", "c-1 ", ""] {
        assert!(catalogue.get(unknown).is_none(), "{unknown:?}");
    }
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn errors_name_the_file_the_campaign_and_the_field() {
    let one = |id: &str, start: &str, end: &str, extra: &str| {
        format!("[[campaigns]]\nid = \"{id}\"\nstart = {start}\nend = {end}\n{extra}\n")
    };
    let cases = [
        (one("Bad_Id", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", ""), "Bad_Id", "`id`"),
        (one("c", "2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z", ""), "(c)", "`end`"),
        (one("c", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", ""), "(c)", "`end`"),
        (one("c", "2026-11-01", "2026-11-02T00:00:00Z", ""), "(c)", "`start`"),
        (one("c", "2026-11-01T00:00:00", "2026-11-02T00:00:00Z", ""), "(c)", "`start`"),
        (one("c", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "games = []"), "(c)", "`games`"),
        (one("c", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "games = [3000000000]"), "(c)", "`games`"),
        (one("c", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "name = \" \""), "(c)", "`name`"),
    ];
    for (text, campaign, field) in cases {
        let e = error_of(&text);
        assert!(e.contains("campaigns.toml") && e.contains(campaign) && e.contains(field), "{e}");
    }
    let dup = format!(
        "{GOOD}\n[[campaigns]]\nid = \"all-games\"\nstart = 2026-11-01T00:00:00Z\nend = 2026-11-03T00:00:00Z\n"
    );
    let e = error_of(&dup);
    assert!(e.contains("duplicate") && e.contains("all-games") && e.contains("#3"), "{e}");
    let e = error_of(
        "[[campaigns]]\nid = \"c\"\nstart = 2026-11-01T00:00:00Z\nend = 2026-11-02T00:00:00Z\nbogus = 1\n",
    );
    assert!(e.contains("campaigns.toml") && e.contains("bogus"), "{e}");
    // An empty file (an editor's save in progress) is no catalogue: the last good one stays.
    for empty in ["", "\n", "# nothing yet\n", "campaigns = []\n"] {
        let e = error_of(empty);
        assert!(e.contains("campaigns.toml") && e.contains("no campaign"), "{empty:?}: {e}");
    }
}

#[test]
fn status_follows_the_half_open_interval() {
    let catalogue = parse(GOOD).unwrap();
    let c = catalogue.iter().next().unwrap();
    assert_eq!(c.status_at(c.start - chrono::Duration::microseconds(1)), CampaignStatus::Upcoming);
    assert_eq!(c.status_at(c.start), CampaignStatus::Live);
    assert_eq!(c.status_at(c.end), CampaignStatus::Ended);
}

#[test]
fn demo_catalogue_has_every_status() {
    let now = chrono::Utc::now();
    let statuses: Vec<_> = demo_catalogue(now).iter().map(|c| c.status_at(now)).collect();
    for s in [CampaignStatus::Live, CampaignStatus::Ended, CampaignStatus::Upcoming] {
        assert!(statuses.contains(&s), "{statuses:?}");
    }
    assert!(
        demo_catalogue(now).iter().any(|c| c.games.is_some() && c.status_at(now) == CampaignStatus::Live)
    );
    let race =
        demo_catalogue(now).iter().find(|c| c.score.is_total()).cloned().expect("a race of another format");
    assert!(!race.prizes.is_empty() && race.status_at(now) == CampaignStatus::Live, "{race:?}");
}

#[test]
fn prizes_are_read_validated_and_listed_under_their_file_names() {
    let text = r#"
[[campaigns]]
id = "race"
start = 2026-11-01T00:00:00Z
end = 2026-11-02T00:00:00Z

[[campaigns.prizes]]
ranks = "2-3"
prize = "€250"

[[campaigns.prizes]]
ranks = "1"
prize = "€1,000"
"#;
    let catalogue = parse(text).unwrap();
    let race = catalogue.iter().next().unwrap();
    assert_eq!(race.prizes.at(1).map(|p| &**p), Some("€1,000"));
    let json = serde_json::to_value(&**race).unwrap();
    assert_eq!(
        json["prizes"],
        serde_json::json!([{"ranks": "1", "prize": "€1,000"}, {"ranks": "2-3", "prize": "€250"}])
    );

    let plain = parse(GOOD).unwrap();
    let plain = serde_json::to_value(&**plain.iter().next().unwrap()).unwrap();
    assert!(plain.get("prizes").is_none(), "no table, no field: {plain}");
}

#[test]
fn bad_prizes_name_their_field() {
    let one = |extra: &str| {
        format!(
            "[[campaigns]]\nid = \"c\"\nstart = 2026-11-01T00:00:00Z\nend = 2026-11-02T00:00:00Z\n{extra}\n"
        )
    };
    for extra in [
        "[[campaigns.prizes]]\nranks = \"1-5\"\nprize = \"a\"\n[[campaigns.prizes]]\nranks = \"5\"\nprize = \"b\"",
        "[[campaigns.prizes]]\nranks = \"0\"\nprize = \"a\"",
        "[[campaigns.prizes]]\nranks = \"3-2\"\nprize = \"a\"",
        "[[campaigns.prizes]]\nranks = \"1\"\nprize = \" \"",
    ] {
        let e = error_of(&one(extra));
        assert!(e.contains("campaigns.toml") && e.contains("(c)") && e.contains("`prizes`"), "{extra}: {e}");
    }
    // A prize without its label is a parse error: it names the line and the field.
    let e = error_of(&one("[[campaigns.prizes]]\nranks = \"1\""));
    assert!(e.contains("line 5") && e.contains("missing field `prize`"), "{e}");
}

#[test]
fn stake_bounds_are_read_validated_and_listed_under_their_file_names() {
    let one = |extra: &str| {
        format!(
            "[[campaigns]]\nid = \"c\"\nstart = 2026-11-01T00:00:00Z\nend = 2026-11-02T00:00:00Z\n{extra}\n"
        )
    };
    let catalogue = parse(&one("min-stake = 20\nmax-stake = 5000")).unwrap();
    let c = catalogue.iter().next().unwrap();
    assert_eq!((c.stakes.min, c.stakes.max), (Some(20), Some(5000)));
    let json = serde_json::to_value(&**c).unwrap();
    assert_eq!((json["min-stake"].clone(), json["max-stake"].clone()), (20.into(), 5000.into()));
    let plain = parse(GOOD).unwrap();
    let plain = serde_json::to_value(&**plain.iter().next().unwrap()).unwrap();
    assert!(plain.get("min-stake").is_none() && plain.get("max-stake").is_none(), "{plain}");
    for (extra, field) in [
        ("min-stake = 0", "`min-stake`"),
        ("max-stake = -3", "`max-stake`"),
        ("min-stake = 50\nmax-stake = 10", "`max-stake`"),
        ("max-stake = 3000000000", "`max-stake`"),
    ] {
        let e = error_of(&one(extra));
        assert!(e.contains("campaigns.toml") && e.contains("(c)") && e.contains(field), "{extra}: {e}");
    }
}

#[test]
fn the_score_is_read_validated_and_listed_under_its_file_name() {
    let one = |extra: &str| {
        format!(
            "[[campaigns]]\nid = \"c\"\nstart = 2026-11-01T00:00:00Z\nend = 2026-11-02T00:00:00Z\n{extra}\n"
        )
    };
    for scoring in Scoring::ALL {
        let catalogue = parse(&one(&format!("score = \"{}\"", scoring.as_str()))).unwrap();
        let c = catalogue.iter().next().unwrap();
        assert_eq!(c.score, scoring);
        assert_eq!(serde_json::to_value(&**c).unwrap()["score"], scoring.as_str());
    }
    let first = parse(&one("score = \"spins\"\nmax-spins = 5000")).unwrap();
    let first = first.iter().next().unwrap();
    assert_eq!(first.max_spins.map(|n| n.get()), Some(5000));
    assert_eq!(serde_json::to_value(&**first).unwrap()["max-spins"], 5000, "listed as the file names it");
    for bad in ["max-spins = 0", "max-spins = -2", "max-spins = 5000000000"] {
        let e = error_of(&one(bad));
        assert!(e.contains("(c)") && e.contains("`max-spins`"), "{bad}: {e}");
    }
    let plain = parse(&one("")).unwrap();
    let plain = plain.iter().next().unwrap();
    assert!(serde_json::to_value(&**plain).unwrap().get("max-spins").is_none());
    assert_eq!(plain.score, Scoring::BestMultiplier, "absent: today's format");
    assert_eq!(serde_json::to_value(&**plain).unwrap()["score"], "best-multiplier", "always listed");
    for extra in ["score = \"sum\"", "score = 3"] {
        let e = error_of(&one(extra));
        assert!(e.contains("campaigns.toml") && e.contains("score"), "{extra}: {e}");
    }
}
