//! Qualifying stakes: a campaign may count only spins whose stake lies within inclusive bounds
//! (`min-stake`, so that tiny stakes cannot buy huge ratios; `max-stake`). A spin with a stake
//! of 0 or less never counts, whatever the bounds. Every backend and the oracle filter by these.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, ToSchema)]
pub struct Stakes {
    /// The smallest stake that counts (inclusive); absent: any positive stake.
    #[serde(rename = "min-stake", skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    /// The largest stake that counts (inclusive); absent: no upper bound.
    #[serde(rename = "max-stake", skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
}

impl Stakes {
    /// Bounds that can hold: each at least 1, `min <= max`. The error names the field.
    pub fn new(min: Option<i32>, max: Option<i32>) -> Result<Self, (&'static str, String)> {
        for (field, bound) in [("min-stake", min), ("max-stake", max)] {
            if bound.is_some_and(|b| b < 1) {
                return Err((field, "must be at least 1 (a spin with no stake never counts)".into()));
            }
        }
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(("max-stake", format!("must be at least min-stake ({min})")));
        }
        Ok(Self { min, max })
    }

    /// Whether a spin of `stake` counts (the win and the game aside).
    pub fn qualifies(self, stake: i32) -> bool {
        stake > 0 && self.min.is_none_or(|min| stake >= min) && self.max.is_none_or(|max| stake <= max)
    }

    /// Whether any positive stake counts.
    pub fn is_any(self) -> bool {
        self.min.is_none() && self.max.is_none()
    }

    /// The bounds as an inclusive range of positive stakes.
    pub fn range(self) -> (i32, i32) {
        (self.min.unwrap_or(1), self.max.unwrap_or(i32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stakes_count_within_inclusive_bounds_and_never_at_zero() {
        let bounded = Stakes::new(Some(20), Some(100)).unwrap();
        assert!(bounded.qualifies(20) && bounded.qualifies(100) && bounded.qualifies(50));
        assert!(!bounded.qualifies(19) && !bounded.qualifies(101));
        let any = Stakes::default();
        assert!(any.is_any() && any.qualifies(1) && any.qualifies(i32::MAX));
        assert!(!any.qualifies(0) && !any.qualifies(-5));
        assert_eq!((bounded.range(), any.range()), ((20, 100), (1, i32::MAX)));
    }

    #[test]
    fn bounds_that_cannot_hold_are_refused_by_field() {
        assert_eq!(Stakes::new(Some(0), None).unwrap_err().0, "min-stake");
        assert_eq!(Stakes::new(None, Some(-1)).unwrap_err().0, "max-stake");
        assert_eq!(Stakes::new(Some(5), Some(4)).unwrap_err().0, "max-stake");
        assert!(Stakes::new(Some(5), Some(5)).is_ok());
        let json = serde_json::to_value(Stakes::new(Some(20), None).unwrap()).unwrap();
        assert_eq!(json, serde_json::json!({"min-stake": 20}), "named as in the campaigns file");
    }
}
