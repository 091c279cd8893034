//! How a campaign scores its players: the best single spin (`win / stake`), or a sum over
//! their counted spins, in exact integers. Every backend and the oracle compute by the rules
//! stated here; the KQL and SQL spell the same per-spin points.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A player's score in a campaign.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    /// The best single-spin `win / stake` (real division); ties: the ratio reached first.
    #[default]
    BestMultiplier,
    /// The sum of each counted spin's `win / stake`, each in millionths (truncated), so the
    /// sum is exact.
    TotalMultiplier,
    /// The sum of counted spins' wins.
    TotalWin,
    /// The sum of counted spins' stakes (turnover).
    TotalStake,
    /// The number of counted spins.
    Spins,
}

/// Millionths in one multiplier unit: a total multiplier is summed in these.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

impl Scoring {
    pub const ALL: [Scoring; 5] =
        [Self::BestMultiplier, Self::TotalMultiplier, Self::TotalWin, Self::TotalStake, Self::Spins];

    /// As the campaigns file and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BestMultiplier => "best-multiplier",
            Self::TotalMultiplier => "total-multiplier",
            Self::TotalWin => "total-win",
            Self::TotalStake => "total-stake",
            Self::Spins => "spins",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
            format!("`{text}` is not a score: use one of {}", names.join(", "))
        })
    }

    /// Whether the score is a sum over counted spins (every format but the best multiplier).
    pub fn is_total(self) -> bool {
        self != Self::BestMultiplier
    }

    /// What one counted spin adds to a total: a losing spin (`win <= 0`) adds nothing to the
    /// sums of wins and multipliers, but counts for turnover and spins. `stake` is positive.
    /// The best multiplier adds nothing (it is not a sum).
    pub fn points(self, win: i64, stake: i32) -> i64 {
        let won = win.max(0);
        match self {
            Self::BestMultiplier => 0,
            Self::TotalMultiplier => {
                let stake = i64::from(stake);
                (won / stake)
                    .saturating_mul(MICROS_PER_UNIT)
                    .saturating_add(won % stake * MICROS_PER_UNIT / stake)
            }
            Self::TotalWin => won,
            Self::TotalStake => i64::from(stake),
            Self::Spins => 1,
        }
    }

    /// A total as served: a total multiplier in units (its millionths exact to six decimals),
    /// the others as counted.
    pub fn shown(self, points: i64) -> f64 {
        match self {
            Self::TotalMultiplier => points as f64 / MICROS_PER_UNIT as f64,
            _ => points as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_spelled_as_the_file_spells_them() {
        for scoring in Scoring::ALL {
            assert_eq!(Scoring::parse(scoring.as_str()), Ok(scoring));
            let json = serde_json::to_string(&scoring).unwrap();
            assert_eq!(json, format!("\"{}\"", scoring.as_str()));
        }
        let e = Scoring::parse("best").unwrap_err();
        assert!(e.contains("best-multiplier") && e.contains("spins"), "{e}");
        assert_eq!(Scoring::default(), Scoring::BestMultiplier);
    }

    #[test]
    fn a_spin_adds_exact_points_and_a_losing_one_adds_nothing_won() {
        use Scoring::*;
        assert_eq!(TotalMultiplier.points(10, 3), 3_333_333, "millionths, truncated");
        assert_eq!(TotalMultiplier.points(1, 3), 333_333);
        assert_eq!(TotalMultiplier.points(7, 7), 1_000_000);
        assert_eq!(TotalMultiplier.points(1, i32::MAX), 0, "below a millionth adds nothing");
        assert_eq!(TotalMultiplier.points(i64::MAX, 1), i64::MAX, "saturates, never wraps");
        assert_eq!(TotalMultiplier.points(i64::MAX, 2), i64::MAX, "the remainder too");
        for win in [0, -5] {
            assert_eq!((TotalMultiplier.points(win, 4), TotalWin.points(win, 4)), (0, 0));
            assert_eq!((TotalStake.points(win, 4), Spins.points(win, 4)), (4, 1), "a losing spin counts");
        }
        assert_eq!(TotalWin.points(250, 4), 250);
        assert_eq!(TotalMultiplier.shown(2_500_000), 2.5);
        assert_eq!(TotalWin.shown(250), 250.0);
    }
}
