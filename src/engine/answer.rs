//! The answers the engine gives about a snapshot (a page of the board, one player's standing,
//! a friends' board): their JSON shapes, and each answer's entity tag, taken from what the
//! answer shows (the snapshot's head, and the ranked rows with their ranks) before anything is
//! encoded, so that a client already holding the answer costs no encoding. Equal standings
//! give equal tags on every replica; a tag changes exactly when its answer's bytes do.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::snapshot::Snapshot;
use crate::campaigns::CampaignSummary;
use crate::leaderboard::{Around, Entry, Limit, Offset, PlayerId, PlayerIds, Window};
use crate::representation::{ETag, Representation};

/// A page of a board.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Board<'a> {
    #[schema(value_type = CampaignSummary)]
    pub campaign: &'a RawValue,
    #[schema(value_type = Window)]
    pub window: &'a RawValue,
    /// Players ranked in this view (also those past `--max-standings`).
    pub total: u64,
    /// The campaign ended more than `--late-arrival` ago: these standings are final.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The 0-based rank offset of the first entry.
    pub offset: u32,
    #[schema(value_type = Vec<Entry>)]
    pub entries: Entries<'a>,
    /// With a prize table: the score at its last prize rank (`null` while nobody holds that
    /// rank); a player needs more than it, or as much reached earlier, to win a prize.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub prize_cutoff: Option<Option<f64>>,
}

/// One player's standing in a view, with their neighbours.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayerStanding<'a> {
    #[schema(value_type = CampaignSummary)]
    pub campaign: &'a RawValue,
    #[schema(value_type = Window)]
    pub window: &'a RawValue,
    pub total: u64,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The player's entry, or null when they have no counted spin in the view (or rank past
    /// `--max-standings`).
    pub player: Option<Entry>,
    /// Entries from rank r-N to r+N that exist, the player's own included; empty when `player`
    /// is null.
    #[schema(value_type = Vec<Entry>)]
    pub around: Entries<'a>,
    /// With a prize table: the score at its last prize rank (`null` while nobody holds it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub prize_cutoff: Option<Option<f64>>,
    /// With a prize table: how much score the player lacks to reach `prizeCutoff` (0 inside
    /// the prize zone; `null` for an unranked player while the zone is not filled).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub to_prize: Option<Option<f64>>,
}

/// Some players' standings in a view: a friends' board.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendsBoard<'a> {
    #[schema(value_type = CampaignSummary)]
    pub campaign: &'a RawValue,
    #[schema(value_type = Window)]
    pub window: &'a RawValue,
    pub total: u64,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The ranked ones among the ids asked for, ordered by rank (global ranks).
    #[schema(value_type = Vec<Entry>)]
    pub entries: Entries<'a>,
    /// The ids asked for that are not ranked in this view, in the order given.
    pub unranked: &'a [i32],
    /// With a prize table: the score at its last prize rank (`null` while nobody holds it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub prize_cutoff: Option<Option<f64>>,
}

/// About the length of one entry's JSON (ranks, ids and scores at their longest run to ~210).
const ENTRY_BYTES: usize = 192;

/// Entries of a snapshot at some positions, written as they are read (never collected).
pub struct Entries<'a> {
    snapshot: &'a Snapshot,
    positions: Positions<'a>,
}

#[derive(Clone)]
enum Positions<'a> {
    Run(Range<usize>),
    Listed(&'a [usize]),
}

impl Positions<'_> {
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let (run, listed) = match self {
            Self::Run(run) => (run.clone(), &[][..]),
            Self::Listed(listed) => (0..0, *listed),
        };
        run.chain(listed.iter().copied())
    }
}

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.positions.iter().map(|at| self.snapshot.entry(at)))
    }
}

/// What every answer about a snapshot says first, encoded once per snapshot: its campaign and
/// window as JSON, and a hash of them with the total and finality.
#[derive(Debug)]
pub struct Head {
    campaign: Box<RawValue>,
    window: Box<RawValue>,
    hash: u128,
}

/// Bumped whenever answers are written differently: a tag names the bytes, not the standings
/// (`the_encoding_is_pinned_beside_its_name` fails until it is).
const ENCODING: &[u8] = b"leaderboard answers 3";

impl Head {
    pub fn new(campaign: &CampaignSummary, window: &Window, total: u64, is_final: bool) -> Self {
        let json = |value: String| RawValue::from_string(value).expect("serde_json wrote it");
        let campaign = json(serde_json::to_string(campaign).expect("a campaign serializes"));
        let window = json(serde_json::to_string(window).expect("a window serializes"));
        let (c, w) = (campaign.get().as_bytes(), window.get().as_bytes());
        let lengths = [c.len() as u64, w.len() as u64, total, u64::from(is_final)].map(u64::to_le_bytes);
        let hash = xxhash_rust::xxh3::xxh3_128(&[ENCODING, &lengths.concat(), c, w].concat());
        Self { campaign, window, hash }
    }
}

/// Which answer about a snapshot: what encoded bodies are kept by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Page { offset: Offset, limit: Limit },
    Player { id: PlayerId, around: Around },
}

/// One answer about a snapshot, read but not yet encoded.
pub struct Answer<'a> {
    snapshot: &'a Snapshot,
    shows: Shows,
}

enum Shows {
    Page {
        offset: u32,
        entries: Range<usize>,
    },
    /// The player's position, if ranked, and the positions around it.
    Player {
        at: Option<usize>,
        around: Range<usize>,
    },
    /// The ranked ones' positions, in rank order, and the others' ids.
    Friends {
        ranked: Vec<usize>,
        unranked: Vec<i32>,
    },
}

impl Snapshot {
    pub fn page(&self, offset: Offset, limit: Limit) -> Answer<'_> {
        let entries = self.ranking.range(offset.get() as usize, limit.get() as usize);
        Answer { snapshot: self, shows: Shows::Page { offset: offset.get(), entries } }
    }

    pub fn player(&self, id: PlayerId, around: Around) -> Answer<'_> {
        let found = self.ranking.around(id.0, usize::from(around.get()));
        let (at, around) = found.map_or((None, 0..0), |(at, around)| (Some(at), around));
        Answer { snapshot: self, shows: Shows::Player { at, around } }
    }

    pub fn friends(&self, ids: &PlayerIds) -> Answer<'_> {
        let (mut ranked, mut unranked) = (Vec::new(), Vec::new());
        for &id in ids.get() {
            match self.ranking.position(id) {
                Some(at) => ranked.push(at),
                None => unranked.push(id),
            }
        }
        ranked.sort_unstable();
        Answer { snapshot: self, shows: Shows::Friends { ranked, unranked } }
    }

    pub fn answer(&self, shape: Shape) -> Answer<'_> {
        match shape {
            Shape::Page { offset, limit } => self.page(offset, limit),
            Shape::Player { id, around } => self.player(id, around),
        }
    }
}

impl Answer<'_> {
    /// The answer's strong tag, from what it shows (no encoding).
    pub fn etag(&self) -> ETag {
        // Streamed into the hasher: no buffer however many rows the answer shows.
        let mut bytes = xxhash_rust::xxh3::Xxh3::new();
        bytes.update(&self.snapshot.head.hash.to_le_bytes());
        let (kind, first, positions, unranked) = match &self.shows {
            Shows::Page { offset, entries } => {
                (0, u64::from(*offset), Positions::Run(entries.clone()), &[][..])
            }
            Shows::Player { at, around } => {
                (1, at.map_or(u64::MAX, |at| at as u64), Positions::Run(around.clone()), &[][..])
            }
            Shows::Friends { ranked, unranked } => {
                (2, ranked.len() as u64, Positions::Listed(ranked), &unranked[..])
            }
        };
        bytes.update(&[kind]);
        bytes.update(&first.to_le_bytes());
        for at in positions.iter() {
            let row = self.snapshot.ranking.row(at);
            bytes.update(&(at as u64).to_le_bytes());
            bytes.update(&row.player_id.to_le_bytes());
            bytes.update(&row.stake.to_le_bytes());
            bytes.update(&row.game_id.to_le_bytes());
            bytes.update(&row.win.to_le_bytes());
            bytes.update(&row.achieved_us.to_le_bytes());
            bytes.update(&row.spins.to_le_bytes());
            bytes.update(&row.wagered.to_le_bytes());
            bytes.update(&row.points.to_le_bytes());
        }
        for id in unranked {
            bytes.update(&id.to_le_bytes());
        }
        // The prize labels follow from the ranks and the campaign (in the head); the cutoff
        // from a row the answer may not show.
        if let Some(cutoff) = self.snapshot.prize_cutoff() {
            bytes.update(&cutoff.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        }
        ETag::from_hash(bytes.digest128())
    }

    /// The answer's JSON.
    pub fn json(&self) -> Bytes {
        let snapshot = self.snapshot;
        let (campaign, window) = (&*snapshot.head.campaign, &*snapshot.head.window);
        let (total, is_final) = (snapshot.ranking.total(), snapshot.is_final);
        let entries = |positions| Entries { snapshot, positions };
        let prize_cutoff = snapshot.prize_cutoff();
        // Sized for the answer at once (growing it by doubling copied it over and again): its
        // head and each entry at about their longest.
        let capacity = |shown: usize| campaign.get().len() + window.get().len() + 160 + ENTRY_BYTES * shown;
        match &self.shows {
            Shows::Page { offset, entries: run } => {
                let board = Board {
                    campaign,
                    window,
                    total,
                    is_final,
                    offset: *offset,
                    entries: entries(Positions::Run(run.clone())),
                    prize_cutoff,
                };
                let mut json = to_json(capacity(run.len()), &board);
                json.shrink_to_fit(); // kept with the snapshot, counted by its length
                json.into()
            }
            Shows::Player { at, around } => {
                let standing = PlayerStanding {
                    campaign,
                    window,
                    total,
                    is_final,
                    player: at.map(|at| snapshot.entry(at)),
                    around: entries(Positions::Run(around.clone())),
                    prize_cutoff,
                    to_prize: snapshot.to_prize(*at),
                };
                to_json(capacity(around.len() + 1), &standing).into()
            }
            Shows::Friends { ranked, unranked } => {
                let board = FriendsBoard {
                    campaign,
                    window,
                    total,
                    is_final,
                    entries: entries(Positions::Listed(ranked)),
                    unranked,
                    prize_cutoff,
                };
                // An unranked friend is an id alone: about a sixteenth of an entry.
                to_json(capacity(ranked.len() + unranked.len().div_ceil(16)), &board).into()
            }
        }
    }

    /// The answer's JSON and tag.
    pub fn encode(&self) -> Representation {
        Representation::tagged(self.json(), self.etag())
    }
}

/// `value`'s JSON, written into a buffer of `capacity` bytes.
fn to_json(capacity: usize, value: &impl Serialize) -> Vec<u8> {
    let mut json = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut json, value).expect("answers always serialize");
    json
}

/// One answer encoded once: its JSON and tag, and one form derived from them (a stream's
/// frame of it), made on first use and shared by every reader of the same answer.
pub struct Encoded {
    pub representation: Representation,
    derived: OnceLock<Bytes>,
}

impl Encoded {
    pub fn new(representation: Representation) -> Self {
        Self { representation, derived: OnceLock::new() }
    }

    /// Marks the answer as served to many readers (see [`Representation::shared`]).
    pub fn shared(self) -> Self {
        Self { representation: self.representation.shared(), ..self }
    }

    /// The answer's derived form, made by `make` the first time (the same `make` every time).
    pub fn derived(&self, make: impl FnOnce(&Representation) -> Bytes) -> Bytes {
        self.derived.get_or_init(|| make(&self.representation)).clone()
    }

    /// Bytes held: the body, and about as much again for its derived and compressed forms.
    pub fn weight(&self) -> u64 {
        self.representation.body.len() as u64 * 2
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::campaigns::{Campaign, CampaignId, Prizes};
    use crate::engine::snapshot::Ranking;
    use crate::leaderboard::{MaxLimit, MaxStandings, Row, Scoring};

    fn snapshot(rows: &[Row], total: u64, is_final: bool, prizes: &[(&str, &str)]) -> Snapshot {
        scored(rows, total, is_final, prizes, Scoring::BestMultiplier)
    }

    fn scored(rows: &[Row], total: u64, is_final: bool, prizes: &[(&str, &str)], score: Scoring) -> Snapshot {
        let start = "2026-11-01T00:00:00Z".parse().unwrap();
        let end = "2026-12-01T00:00:00Z".parse().unwrap();
        let campaign = Campaign {
            id: CampaignId::parse("c").unwrap(),
            name: "c".into(),
            start,
            end,
            games: None,
            windows: None,
            stakes: Default::default(),
            prizes: Prizes::parse(prizes.iter().copied()).unwrap(),
            score,
            max_spins: None,
        };
        let window = Window { from: start, to: end };
        let ranking = Ranking::new(rows.into(), total);
        Snapshot::new(CampaignSummary::at(&campaign, start), window, ranking, is_final)
    }

    fn row(player_id: i32, win: i64) -> Row {
        Row { player_id, stake: 10, game_id: 1, win, achieved_us: 1_764_000_000_000_000, ..Row::default() }
    }

    /// Every answer's tag is taken from what it shows, not from its bytes: across snapshots
    /// that differ in one thing each, two answers have equal tags exactly when their bytes are
    /// equal, whatever part of the snapshot they show.
    #[test]
    fn tags_are_equal_exactly_when_the_answers_bytes_are() {
        let base: Vec<Row> = (1..=6).map(|p| row(p, 100 - i64::from(p))).collect();
        let changed = |at: usize, change: fn(&mut Row)| {
            let mut rows = base.clone();
            change(&mut rows[at]);
            rows
        };
        let prizes = [("1", "Gold"), ("2-4", "Silver")];
        // Totals: a losing spin changes a total's spins and wagered and nothing else it shows.
        let at = 1_764_000_000_000_000;
        let total: Vec<Row> = (1..=6).map(|p| Row::total(p, 100 - i64::from(p), (3, 30, 12), at)).collect();
        let total_changed = |change: fn(&mut Row)| {
            let mut rows = total.clone();
            change(&mut rows[5]);
            rows
        };
        let totals = [
            total.clone(),
            total_changed(|r| r.spins += 1),
            total_changed(|r| r.wagered += 5),
            total_changed(|r| r.points -= 1),
        ];
        let snapshots = [
            snapshot(&base, 6, false, &[]),
            snapshot(&base, 6, false, &prizes),
            snapshot(&base, 7, false, &prizes),
            snapshot(&base, 6, true, &prizes),
            snapshot(&base[..3], 3, false, &prizes),
            // The cutoff (rank 4) moves: pages that do not show rank 4 say it all the same.
            snapshot(&changed(3, |r| r.win = 95), 6, false, &prizes),
            snapshot(&changed(5, |r| r.stake = 20), 6, false, &prizes),
            snapshot(&changed(5, |r| r.game_id = 2), 6, false, &prizes),
            snapshot(&changed(5, |r| r.achieved_us += 1), 6, false, &prizes),
            // A losing spin changes a best's spins and nothing else it shows.
            snapshot(&changed(5, |r| r.spins += 1), 6, false, &prizes),
            snapshot(&changed(0, |r| r.player_id = 99), 6, false, &prizes),
        ]
        .into_iter()
        .chain(totals.iter().map(|rows| scored(rows, 6, false, &prizes, Scoring::TotalWin)))
        .collect::<Vec<_>>();
        let (max, standings) = (MaxLimit::new(100).unwrap(), MaxStandings::new(100).unwrap());
        let page = |offset: &str, limit: &str| Shape::Page {
            offset: Offset::parse(Some(offset), standings).unwrap(),
            limit: Limit::parse(Some(limit), max).unwrap(),
        };
        let player = |id: &str, around: &str| Shape::Player {
            id: PlayerId::parse(id).unwrap(),
            around: Around::parse(Some(around)).unwrap(),
        };
        let shapes = [
            page("0", "2"),
            page("4", "2"),
            page("0", "10"),
            player("6", "0"),
            player("1", "1"),
            player("99", "0"),
        ];
        let friends = PlayerIds::parse(Some("6,1,42"), max).unwrap();
        let mut answers = Vec::new();
        for snapshot in &snapshots {
            for &shape in &shapes {
                let answer = snapshot.answer(shape);
                answers.push((answer.json(), answer.etag()));
            }
            let answer = snapshot.friends(&friends);
            answers.push((answer.json(), answer.etag()));
        }
        for (a, (json_a, tag_a)) in answers.iter().enumerate() {
            for (json_b, tag_b) in &answers[a + 1..] {
                assert_eq!(json_a == json_b, tag_a == tag_b, "{json_a:?}\n{json_b:?}");
            }
        }
        let distinct: std::collections::HashSet<_> = answers.iter().map(|(json, _)| json.clone()).collect();
        assert!(distinct.len() > answers.len() / 2, "the snapshots differ where the shapes look");
    }

    /// `ENCODING` names the bytes answers are written as (tags of old bytes must not name new
    /// ones): those of a sample of answers are pinned beside it, so that writing answers
    /// differently fails here until `ENCODING` is bumped and the new bytes pinned with it.
    #[test]
    fn the_encoding_is_pinned_beside_its_name() {
        let rows: Vec<Row> = (1..=6).map(|p| row(p, 100 - i64::from(p))).collect();
        let at = 1_764_000_000_000_000;
        let totals: Vec<Row> = (1..=6).map(|p| Row::total(p, 100 - i64::from(p), (3, 30, 12), at)).collect();
        let prizes = [("1", "Gold"), ("2-4", "Silver")];
        let (max, standings) = (MaxLimit::new(100).unwrap(), MaxStandings::new(100).unwrap());
        let page = Shape::Page {
            offset: Offset::parse(Some("1"), standings).unwrap(),
            limit: Limit::parse(Some("3"), max).unwrap(),
        };
        let player =
            Shape::Player { id: PlayerId::parse("4").unwrap(), around: Around::parse(Some("1")).unwrap() };
        let friends = PlayerIds::parse(Some("6,1,42"), max).unwrap();
        let best = snapshot(&rows, 7, false, &prizes);
        let total = scored(&totals, 6, true, &[], Scoring::TotalMultiplier);
        let bytes = [
            best.answer(page).json(),
            best.answer(player).json(),
            best.friends(&friends).json(),
            total.answer(page).json(),
            total.answer(player).json(),
        ]
        .concat();
        let written = (std::str::from_utf8(ENCODING).unwrap(), xxhash_rust::xxh3::xxh3_64(&bytes));
        let pinned = ("leaderboard answers 3", 13_897_786_224_083_813_731);
        assert_eq!(
            written,
            pinned,
            "answers are written differently: bump ENCODING and pin the new hash with it\n{}",
            String::from_utf8_lossy(&bytes)
        );
    }

    #[test]
    fn the_prize_zone_is_read_from_the_ranking() {
        let rows: Vec<Row> = (1..=5).map(|p| row(p, 100 - i64::from(p))).collect();
        let prizes = [("1", "Gold"), ("2-3", "Silver")];
        let full = snapshot(&rows, 5, false, &prizes);
        assert_eq!(full.prize_cutoff(), Some(Some(9.7)), "rank 3's score");
        assert_eq!(full.to_prize(Some(2)), Some(Some(0.0)), "rank 3 is inside");
        assert_eq!(full.to_prize(Some(4)).unwrap().map(|lack| (lack * 10.0).round()), Some(2.0));
        assert_eq!(full.to_prize(None), Some(Some(9.7)), "unranked: the whole cutoff");
        assert_eq!(full.entry(2).prize.as_deref(), Some("Silver"));
        assert_eq!(full.entry(3).prize, None);
        let short = snapshot(&rows[..2], 2, false, &prizes);
        assert_eq!(
            (short.prize_cutoff(), short.to_prize(None), short.to_prize(Some(1))),
            (Some(None), Some(None), Some(Some(0.0)))
        );
        let none = snapshot(&rows, 5, false, &[]);
        assert_eq!((none.prize_cutoff(), none.to_prize(Some(0)), none.entry(0).prize), (None, None, None));
    }
}
