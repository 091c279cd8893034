//! Campaigns: the validated catalogue of promotions, loaded from a TOML file (or the demo
//! catalogue), and the status of each campaign at a given instant.

mod demo;
mod id;
mod prizes;
mod watch;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::leaderboard::{Scoring, Span, Stakes, View};

pub use demo::demo_catalogue;
pub use id::{CampaignId, InvalidCampaignId};
use prizes::PrizeRange;
pub use prizes::Prizes;
pub use watch::{CatalogueSource, SharedCatalogue};

/// A validated campaign: `start < end`, games (if any) non-empty, prize ranges that do not
/// overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    #[schema(value_type = String, example = "autumn-spins")]
    pub id: CampaignId,
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Only spins of these GameIDs count; absent means every game.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub games: Option<Vec<i32>>,
    /// The only `last` spans `/window` serves for this campaign; absent means any span.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, example = json!(["15m", "1h", "24h"]))]
    pub windows: Option<Vec<Span>>,
    /// How players score (`score` in the campaigns file; `best-multiplier` when absent).
    pub score: Scoring,
    /// Only each player's first this many qualifying spins of the campaign count (by event
    /// time, then the larger stake, the smaller game, the larger win); absent: every spin.
    #[serde(rename = "max-spins", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub max_spins: Option<NonZeroU32>,
    /// Only spins of these stakes count (`min-stake`, `max-stake`, inclusive; named as in the
    /// campaigns file); absent: every positive stake.
    #[serde(flatten)]
    pub stakes: Stakes,
    /// What the ranks win; absent when the campaign has no prize table.
    #[serde(skip_serializing_if = "Prizes::is_empty")]
    #[schema(value_type = Option<Vec<PrizeRange>>)]
    pub prizes: Prizes,
}

/// A campaign as served, with its status at the time of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CampaignSummary {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub status: CampaignStatus,
}

impl CampaignSummary {
    pub fn at(campaign: &Campaign, now: DateTime<Utc>) -> Self {
        Self { campaign: campaign.clone(), status: campaign.status_at(now) }
    }
}

/// Where a campaign stands relative to an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    Upcoming,
    Live,
    Ended,
}

impl Campaign {
    pub fn status_at(&self, now: DateTime<Utc>) -> CampaignStatus {
        if now < self.start {
            CampaignStatus::Upcoming
        } else if now < self.end {
            CampaignStatus::Live
        } else {
            CampaignStatus::Ended
        }
    }

    /// Whether the campaign has `view`: its whole board always, a window when it declares that
    /// span (or declares none, taking any).
    pub fn declares(&self, view: View) -> bool {
        match (view, &self.windows) {
            (View::Window(span), Some(windows)) => windows.contains(&span),
            _ => true,
        }
    }
}

/// All campaigns, in file order, with unique ids, found by id in constant time (every request
/// about a campaign looks it up, however many campaigns the catalogue keeps).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    campaigns: Vec<Arc<Campaign>>,
    /// Looked up on every request: hashed fast (the ids are the operator's, and few).
    by_id: HashMap<CampaignId, usize, foldhash::fast::RandomState>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read campaigns file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("campaigns file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("campaigns file {path}, campaign #{index} ({id}), field `{field}`: {problem}")]
    Invalid { path: PathBuf, index: usize, id: String, field: &'static str, problem: String },
    #[error("campaigns file {path} has no campaign (`[[campaigns]]`)")]
    Empty { path: PathBuf },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    campaigns: Vec<CampaignEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignEntry {
    id: String,
    name: Option<String>,
    start: When,
    end: When,
    games: Option<Vec<i64>>,
    windows: Option<Vec<String>>,
    score: Option<String>,
    #[serde(rename = "max-spins")]
    max_spins: Option<i64>,
    #[serde(rename = "min-stake")]
    min_stake: Option<i64>,
    #[serde(rename = "max-stake")]
    max_stake: Option<i64>,
    prizes: Option<Vec<PrizeEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrizeEntry {
    ranks: String,
    prize: String,
}

impl Catalogue {
    /// `campaigns` in their order; of two with one id (which a file never has), the first is
    /// the one found.
    pub fn new(campaigns: Vec<Campaign>) -> Self {
        let mut by_id = HashMap::with_capacity_and_hasher(campaigns.len(), Default::default());
        for (i, campaign) in campaigns.iter().enumerate() {
            by_id.entry(campaign.id.clone()).or_insert(i);
        }
        Self { campaigns: campaigns.into_iter().map(Arc::new).collect(), by_id }
    }

    pub fn load(path: &Path) -> Result<Self, CatalogueError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| CatalogueError::Read { path: path.to_owned(), source })?;
        Self::parse(path, &text)
    }

    /// Parses and validates a campaigns file; `path` only names the file in errors. A file with
    /// no campaign is refused: it is what an editor's save leaves for a moment (truncated, then
    /// written), and taken as the catalogue it would end every board and stream.
    pub fn parse(path: &Path, text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile = toml::from_str(text)
            .map_err(|e| CatalogueError::Syntax { path: path.to_owned(), message: e.to_string() })?;
        if file.campaigns.is_empty() {
            return Err(CatalogueError::Empty { path: path.to_owned() });
        }
        let mut seen = HashSet::new();
        let mut campaigns = Vec::with_capacity(file.campaigns.len());
        for (index, entry) in file.campaigns.into_iter().enumerate() {
            let invalid = |id: &str, field, problem: String| CatalogueError::Invalid {
                path: path.to_owned(),
                index: index + 1,
                id: id.to_owned(),
                field,
                problem,
            };
            let campaign = entry.validate().map_err(|(f, p)| invalid(&entry.id, f, p))?;
            if !seen.insert(campaign.id.clone()) {
                return Err(invalid(campaign.id.as_str(), "id", "duplicate campaign id".into()));
            }
            campaigns.push(campaign);
        }
        Ok(Self::new(campaigns))
    }

    /// The campaign with id `id` (the text of a [`CampaignId`]: any other text finds none).
    pub fn get(&self, id: &str) -> Option<&Arc<Campaign>> {
        self.by_id.get(id).map(|&i| &self.campaigns[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Campaign>> {
        self.campaigns.iter()
    }
}

/// A campaign instant as written: a quoted RFC 3339 string (as in the docs) or a bare TOML
/// datetime.
#[derive(Deserialize)]
#[serde(untagged)]
enum When {
    Text(String),
    Toml(toml::value::Datetime),
}

type FieldProblem = (&'static str, String);

impl CampaignEntry {
    fn validate(&self) -> Result<Campaign, FieldProblem> {
        let id = CampaignId::parse(&self.id).map_err(|e| ("id", e.to_string()))?;
        let start = instant(&self.start).map_err(|p| ("start", p))?;
        let end = instant(&self.end).map_err(|p| ("end", p))?;
        if start >= end {
            return Err(("end", format!("must be after start ({start})")));
        }
        let games = self.games.as_deref().map(game_ids).transpose().map_err(|p| ("games", p))?;
        let windows = self.windows.as_deref().map(spans).transpose().map_err(|p| ("windows", p))?;
        let name = match &self.name {
            Some(n) if n.trim().is_empty() => return Err(("name", "must not be blank".into())),
            Some(n) => n.clone(),
            None => id.as_str().to_owned(),
        };
        let score = self.score.as_deref().map(Scoring::parse).transpose().map_err(|p| ("score", p))?;
        let max_spins = self
            .max_spins
            .map(|n| u32::try_from(n).ok().and_then(NonZeroU32::new).ok_or(n))
            .transpose()
            .map_err(|n| ("max-spins", format!("{n} must be a whole number from 1 to {}", u32::MAX)))?;
        let stakes = self.stakes()?;
        let prizes = self.prizes.iter().flatten().map(|p| (p.ranks.as_str(), p.prize.as_str()));
        let prizes = Prizes::parse(prizes).map_err(|p| ("prizes", p))?;
        Ok(Campaign {
            id,
            name,
            start,
            end,
            games,
            windows,
            score: score.unwrap_or_default(),
            max_spins,
            stakes,
            prizes,
        })
    }

    fn stakes(&self) -> Result<Stakes, FieldProblem> {
        let bound = |field, value: Option<i64>| {
            value
                .map(|v| i32::try_from(v).map_err(|_| (field, format!("{v} is not an Int32 stake"))))
                .transpose()
        };
        Stakes::new(bound("min-stake", self.min_stake)?, bound("max-stake", self.max_stake)?)
    }
}

/// Campaign instants are kept to whole microseconds, the finest precision every backend stores.
fn instant(value: &When) -> Result<DateTime<Utc>, String> {
    let text = match value {
        When::Text(t) => t.clone(),
        When::Toml(t) => t.to_string(),
    };
    DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc).trunc_subsecs(6)).map_err(|_| {
        format!("`{text}` must be an RFC 3339 date-time with an offset, e.g. 2026-11-01T00:00:00Z")
    })
}

fn game_ids(games: &[i64]) -> Result<Vec<i32>, String> {
    if games.is_empty() {
        return Err("must list at least one game id (omit the field to count every game)".into());
    }
    let mut ids: Vec<i32> = games
        .iter()
        .map(|&g| i32::try_from(g).map_err(|_| format!("game id {g} is outside the Int32 range")))
        .collect::<Result<_, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Declared windows: valid spans, each once, in the order given.
fn spans(texts: &[String]) -> Result<Vec<Span>, String> {
    if texts.is_empty() {
        return Err("must list at least one span (omit the field to allow any span)".into());
    }
    let mut spans: Vec<Span> = Vec::with_capacity(texts.len());
    for text in texts {
        let span = Span::parse(text).map_err(|e| format!("`{text}`: {e}"))?;
        if !spans.contains(&span) {
            spans.push(span);
        }
    }
    Ok(spans)
}

#[cfg(test)]
mod tests;
