//! The answers the engine gives about a snapshot (a page of the board, one player's standing,
//! a friends' board): their JSON shapes (documented by the types here, written by `json`), and
//! each answer's entity tag, taken from what the answer shows (the snapshot's head, and the
//! ranked rows with their ranks) before anything is encoded, so that a client already holding
//! the answer costs no encoding. Equal standings give equal tags on every replica; a tag
//! changes exactly when its answer's bytes do.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use smallvec::SmallVec;
use utoipa::ToSchema;

use self::json::Json;
use super::snapshot::Snapshot;
use crate::campaigns::CampaignSummary;
use crate::leaderboard::{Around, Entry, Limit, Offset, PlayerId, PlayerIds, Row, Window};
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
    pub entries: Vec<Entry>,
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
    pub around: Vec<Entry>,
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
    pub entries: Vec<Entry>,
    /// The ids asked for that are not ranked in this view, in the order given.
    pub unranked: &'a [i32],
    /// With a prize table: the score at its last prize rank (`null` while nobody holds it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub prize_cutoff: Option<Option<f64>>,
}

/// About the length of one entry's JSON (ranks, ids and scores at their longest run to ~210).
const ENTRY_BYTES: usize = 192;

/// The positions of a snapshot's entries that an answer shows.
#[derive(Clone)]
enum Positions<'a> {
    Run(Range<usize>),
    Listed(&'a [usize]),
}

impl Positions<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Run(run) => run.len(),
            Self::Listed(listed) => listed.len(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let (run, listed) = match self {
            Self::Run(run) => (run.clone(), &[][..]),
            Self::Listed(listed) => (0..0, *listed),
        };
        run.chain(listed.iter().copied())
    }
}

/// The bytes a tag hashes on the stack: those of a player's answer with up to 17 rows (`around`
/// up to 8), 25 of the answer's kind and place, 56 a row, 8 of the prize cutoff.
const TAGGED_ON_STACK: usize = 1024;

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
        // Hashed at once, not streamed: a streaming hasher's state is larger than a player's
        // rows, and copies them into its own buffer. A player's answer fits on the stack; a
        // page or friends' board (at most --max-limit rows) takes one allocation.
        let rows = positions.len();
        let mut bytes =
            SmallVec::<[u8; TAGGED_ON_STACK]>::with_capacity(25 + rows * 56 + unranked.len() * 4 + 8);
        bytes.extend_from_slice(&self.snapshot.head.hash.to_le_bytes());
        bytes.push(kind);
        bytes.extend_from_slice(&first.to_le_bytes());
        for at in positions.iter() {
            bytes.extend_from_slice(&shown(at, self.snapshot.ranking.row(at)));
        }
        for id in unranked {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        // The prize labels follow from the ranks and the campaign (in the head); the cutoff
        // from a row the answer may not show.
        if let Some(cutoff) = self.snapshot.prize_cutoff() {
            bytes.extend_from_slice(&cutoff.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        }
        ETag::from_hash(xxhash_rust::xxh3::xxh3_128(&bytes))
    }

    /// The answer's JSON.
    pub fn json(&self) -> Bytes {
        let snapshot = self.snapshot;
        let head = &snapshot.head;
        // Sized for the answer at once (growing it by doubling copied it over and again): its
        // head and each entry at about their longest.
        let capacity =
            |shown: usize| head.campaign.get().len() + head.window.get().len() + 160 + ENTRY_BYTES * shown;
        let prize_cutoff = snapshot.prize_cutoff();
        match &self.shows {
            Shows::Page { offset, entries } => {
                let mut json = Json::answer(snapshot, capacity(entries.len()));
                json.key("offset");
                json.int(*offset);
                json.key("entries");
                json.entries(snapshot, Positions::Run(entries.clone()));
                json.optional("prizeCutoff", prize_cutoff);
                let mut json = json.end();
                json.shrink_to_fit(); // kept with the snapshot, counted by its length
                json.into()
            }
            Shows::Player { at, around } => {
                let mut json = Json::answer(snapshot, capacity(around.len() + 1));
                json.key("player");
                match at {
                    Some(at) => json.entry(&snapshot.entry(*at)),
                    None => json.raw(b"null"),
                }
                json.key("around");
                json.entries(snapshot, Positions::Run(around.clone()));
                json.optional("prizeCutoff", prize_cutoff);
                json.optional("toPrize", snapshot.to_prize(*at));
                json.end().into()
            }
            Shows::Friends { ranked, unranked } => {
                // An unranked friend is an id alone: about a sixteenth of an entry.
                let mut json = Json::answer(snapshot, capacity(ranked.len() + unranked.len().div_ceil(16)));
                json.key("entries");
                json.entries(snapshot, Positions::Listed(ranked));
                json.key("unranked");
                json.serde(unranked);
                json.optional("prizeCutoff", prize_cutoff);
                json.end().into()
            }
        }
    }

    /// The answer's JSON and tag.
    pub fn encode(&self) -> Representation {
        Representation::tagged(self.json(), self.etag())
    }
}

/// What a tag reads of the row at position `at`: the position and every field, in one update
/// of the hasher (a dozen small updates a row cost more than the hashing).
fn shown(at: usize, row: &Row) -> [u8; 56] {
    let fields: [&[u8]; 9] = [
        &(at as u64).to_le_bytes(),
        &row.player_id.to_le_bytes(),
        &row.stake.to_le_bytes(),
        &row.game_id.to_le_bytes(),
        &row.win.to_le_bytes(),
        &row.achieved_us.to_le_bytes(),
        &row.spins.to_le_bytes(),
        &row.wagered.to_le_bytes(),
        &row.points.to_le_bytes(),
    ];
    let (mut shown, mut end) = ([0; 56], 0);
    for field in fields {
        shown[end..end + field.len()].copy_from_slice(field);
        end += field.len();
    }
    shown
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

mod json;
#[cfg(test)]
mod tests;
