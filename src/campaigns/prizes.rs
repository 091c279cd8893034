//! A campaign's prize table: what each rank wins, as the promoter wrote it (`ranks = "2-3"`,
//! `prize = "..."`), in rank order, ranges never overlapping.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

/// Ranks `first..=last` win `prize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prize {
    pub first: u32,
    pub last: u32,
    pub prize: Arc<str>,
}

// What a `Prize` is serialized as (and so its schema in the API document).
/// A prize range as the campaigns file writes it and the API serves it.
#[derive(Serialize, ToSchema)]
pub struct PrizeRange<'a> {
    /// One rank (`"1"`) or an inclusive range of them (`"2-3"`), 1-based.
    #[schema(example = "2-3")]
    ranks: String,
    /// The promoter's label, e.g. `€250` or `Free spins x50`.
    #[schema(example = "€250")]
    prize: &'a str,
}

impl Serialize for Prize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PrizeRange { ranks: self.ranks(), prize: &self.prize }.serialize(serializer)
    }
}

impl Prize {
    /// As the campaigns file writes it: `"1"`, `"2-3"`.
    pub fn ranks(&self) -> String {
        if self.first == self.last { self.first.to_string() } else { format!("{}-{}", self.first, self.last) }
    }
}

/// The prize table, sorted by rank; empty when the campaign has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Prizes(Vec<Prize>);

/// Longest prize label, in characters.
const MAX_LABEL: usize = 200;

impl Prizes {
    /// Validates `(ranks, prize)` pairs as written; the error says which one and why.
    pub fn parse<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let mut prizes = Vec::new();
        for (index, (ranks, prize)) in entries.into_iter().enumerate() {
            let which = format!("prize #{} (ranks = \"{ranks}\")", index + 1);
            let (first, last) = parse_ranks(ranks).map_err(|e| format!("{which}: {e}"))?;
            let label = prize.trim();
            if label.is_empty() || label.chars().count() > MAX_LABEL {
                return Err(format!("{which}: `prize` must be 1 to {MAX_LABEL} characters"));
            }
            prizes.push(Prize { first, last, prize: label.into() });
        }
        prizes.sort_by_key(|p| p.first);
        if let Some(pair) = prizes.windows(2).find(|pair| pair[1].first <= pair[0].last) {
            return Err(format!("ranks \"{}\" and \"{}\" overlap", pair[0].ranks(), pair[1].ranks()));
        }
        Ok(Self(prizes))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Prize> {
        self.0.iter()
    }

    /// What 1-based `rank` wins, if anything.
    pub fn at(&self, rank: u32) -> Option<&Arc<str>> {
        let i = self.0.partition_point(|p| p.last < rank);
        self.0.get(i).filter(|p| p.first <= rank).map(|p| &p.prize)
    }

    /// The last rank that wins a prize.
    pub fn last_rank(&self) -> Option<u32> {
        self.0.last().map(|p| p.last)
    }
}

/// `"7"` or `"151-350"`: 1-based, first <= last.
fn parse_ranks(text: &str) -> Result<(u32, u32), String> {
    let rank = |t: &str| match t.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{t}` is not a rank (a whole number from 1)")),
    };
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (rank(a)?, rank(b)?),
        None => (rank(text)?, rank(text)?),
    };
    if first > last {
        return Err(format!("the range must run upwards, like \"{last}-{first}\""));
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, &str)]) -> Result<Prizes, String> {
        Prizes::parse(entries.iter().copied())
    }

    #[test]
    fn ranks_win_their_range_and_nothing_past_the_table() {
        let prizes = table(&[("151-350", "10 free spins"), ("1", "€1,000"), ("2-3", "€250")]).unwrap();
        let at = |rank| prizes.at(rank).map(|p| p.to_string());
        let won: Vec<_> = [1, 2, 3, 4, 150, 151, 350, 351].map(at).into_iter().collect();
        let (first, second, big) = (Some("€1,000".into()), Some("€250".into()), Some("10 free spins".into()));
        assert_eq!(won, [first, second.clone(), second, None, None, big.clone(), big, None]);
        assert_eq!(prizes.last_rank(), Some(350));
        let json = serde_json::to_value(&prizes).unwrap();
        assert_eq!(
            json[1],
            serde_json::json!({"ranks": "2-3", "prize": "€250"}),
            "in rank order, as written"
        );
    }

    #[test]
    fn bad_tables_are_refused_saying_which_prize() {
        for (entries, says) in [
            (vec![("0", "x")], "prize #1"),
            (vec![("1", "x"), ("3-2", "y")], "prize #2"),
            (vec![("1-x", "x")], "not a rank"),
            (vec![("1", " ")], "`prize`"),
            (vec![("1-5", "x"), ("5-9", "y")], "overlap"),
        ] {
            let e = table(&entries).unwrap_err();
            assert!(e.contains(says), "{entries:?}: {e}");
        }
    }
}
