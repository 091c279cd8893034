//! The answers the engine gives about a snapshot (a page of the board, one player's standing,
//! a friends' board), their JSON shapes, and the encoded bodies kept per snapshot so that a
//! popular page or player is serialized and hashed once however many read it.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use serde::Serialize;
use utoipa::ToSchema;

use super::snapshot::Snapshot;
use crate::campaigns::CampaignSummary;
use crate::leaderboard::{Around, Entry, Limit, Offset, PlayerId, PlayerIds, Window};
use crate::representation::Representation;

/// A page of a board.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Board<'a> {
    pub campaign: &'a CampaignSummary,
    pub window: Window,
    /// Players ranked in this view (also those past `--max-standings`).
    pub total: u64,
    /// The campaign ended more than `--late-arrival` ago: these standings are final.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The 0-based rank offset of the first entry.
    pub offset: u32,
    pub entries: Vec<Entry>,
}

/// One player's standing in a view, with their neighbours.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayerStanding<'a> {
    pub campaign: &'a CampaignSummary,
    pub window: Window,
    pub total: u64,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The player's entry, or null when they have no counted spin in the view (or rank past
    /// `--max-standings`).
    pub player: Option<Entry>,
    /// Entries from rank r-N to r+N that exist, the player's own included; empty when `player`
    /// is null.
    pub around: Vec<Entry>,
}

/// Some players' standings in a view: a friends' board.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendsBoard<'a> {
    pub campaign: &'a CampaignSummary,
    pub window: Window,
    pub total: u64,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The ranked ones among the ids asked for, ordered by rank (global ranks).
    pub entries: Vec<Entry>,
    /// The ids asked for that are not ranked in this view, in the order given.
    pub unranked: Vec<i32>,
}

/// Which answer about a snapshot: the key of its encoded body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Page { offset: Offset, limit: Limit },
    Player { id: PlayerId, around: Around },
}

impl Snapshot {
    pub fn page(&self, offset: Offset, limit: Limit) -> Representation {
        let entries = self.ranking.page(offset.get() as usize, limit.get() as usize);
        Representation::of(&Board {
            campaign: &self.campaign,
            window: self.window,
            total: self.ranking.total(),
            is_final: self.is_final,
            offset: offset.get(),
            entries,
        })
    }

    pub fn player(&self, id: PlayerId, around: Around) -> Representation {
        let found = self.ranking.around(id.0, usize::from(around.get()));
        let (player, around) = found.map_or((None, Vec::new()), |(me, around)| (Some(me), around));
        Representation::of(&PlayerStanding {
            campaign: &self.campaign,
            window: self.window,
            total: self.ranking.total(),
            is_final: self.is_final,
            player,
            around,
        })
    }

    pub fn friends(&self, ids: &PlayerIds) -> Representation {
        let (mut ranked, mut unranked) = (Vec::new(), Vec::new());
        for &id in ids.get() {
            match self.ranking.position(id) {
                Some(at) => ranked.push(at),
                None => unranked.push(id),
            }
        }
        ranked.sort_unstable();
        let entries = ranked.into_iter().flat_map(|at| self.ranking.page(at, 1)).collect();
        Representation::of(&FriendsBoard {
            campaign: &self.campaign,
            window: self.window,
            total: self.ranking.total(),
            is_final: self.is_final,
            entries,
            unranked,
        })
    }
}

/// Encoded bodies of current snapshots, bounded in bytes; a body lives as long as its snapshot
/// is read (an unchanged refresh keeps the snapshot, so its bodies and tags stay too).
pub struct Bodies(moka::sync::Cache<(u64, Shape), Arc<Encoded>>);

/// One answer encoded once: its JSON and tag, and one form derived from them (a stream's
/// frame of it), made on first use and shared by every reader of the same answer.
pub struct Encoded {
    pub representation: Representation,
    derived: OnceLock<Bytes>,
}

impl Encoded {
    /// The answer's derived form, made by `make` the first time (the same `make` every time).
    pub fn derived(&self, make: impl FnOnce(&Representation) -> Bytes) -> Bytes {
        self.derived.get_or_init(|| make(&self.representation)).clone()
    }
}

impl Bodies {
    pub fn new(max_bytes: u64, idle: std::time::Duration) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, body: &Arc<Encoded>| {
                u32::try_from(body.representation.body.len() * 2).unwrap_or(u32::MAX)
            })
            .time_to_idle(idle)
            .build();
        Self(cache)
    }

    /// The answer `shape` of `snapshot`, encoded on first use.
    pub fn get(&self, snapshot: &Arc<Snapshot>, shape: Shape) -> Arc<Encoded> {
        let key = (snapshot.id, shape);
        self.0.get_with(key, || {
            let representation = match shape {
                Shape::Page { offset, limit } => snapshot.page(offset, limit),
                Shape::Player { id, around } => snapshot.player(id, around),
            };
            Arc::new(Encoded { representation, derived: OnceLock::new() })
        })
    }
}
