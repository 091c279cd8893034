//! The buckets a view's range is cut into, and how many counted spins each held when last read.
//! Below the seal line (`now - --late-arrival`, on the fine grid) buckets are sealed: listed
//! one by one, whole hours merged once complete, and read again only by a reconcile. Above it,
//! fine buckets are open: watched at every refresh, and listed only while they hold spins.

use std::collections::BTreeMap;

use crate::leaderboard::{BucketCount, Width, Window};

/// A sealed bucket: `[label, end)`, clipped to the view's range at its first bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub end: i64,
    pub width: Width,
    pub spins: u64,
    /// The players' bests in it are known bucket by fine bucket (else for the bucket as a whole).
    pub fine: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub fine: Width,
    pub coarse: Width,
    /// Sealed buckets by label, contiguous over `[low, sealed_to)`.
    sealed: BTreeMap<i64, Bucket>,
    /// Open fine buckets (labels from `sealed_to` on) that held spins when last read.
    open: BTreeMap<i64, u64>,
    /// Where the view's range starts (for a sliding window: the first fine boundary of it).
    pub low: i64,
    pub sealed_to: i64,
}

/// Runs of equal-width buckets, as ranges to read.
pub type Run = (Window, Width);

impl Layout {
    /// `[low, sealed_to)` cut into buckets of unknown content (counts 0): whole coarse buckets
    /// in the middle, fine ones at either edge.
    pub fn skeleton(fine: Width, coarse: Width, low: i64, sealed_to: i64) -> Self {
        let mut layout =
            Self { fine, coarse, sealed: BTreeMap::new(), open: BTreeMap::new(), low, sealed_to: low };
        let (inner_from, inner_to) = (coarse.ceil(low), coarse.floor(sealed_to));
        if inner_from < inner_to {
            layout.extend(inner_from, fine);
            layout.extend(inner_to, coarse);
        }
        layout.extend(sealed_to, fine);
        layout
    }

    /// Appends sealed buckets of `width` up to `to`, counts from the open ones (or 0).
    fn extend(&mut self, to: i64, width: Width) {
        let fine = width == self.fine;
        while self.sealed_to < to {
            let label = width.floor(self.sealed_to);
            let end = (label + width.micros()).min(to);
            let spins = self.open.remove(&label).unwrap_or(0);
            self.sealed.insert(label, Bucket { end, width, spins, fine });
            self.sealed_to = end;
        }
    }

    /// Seals the open buckets before `to`, fine ones, and merges the whole coarse buckets that
    /// are complete into one each.
    pub fn seal(&mut self, to: i64) {
        self.extend(to, self.fine);
        self.compact();
    }

    fn compact(&mut self) {
        let coarse = self.coarse.micros();
        let mut label = self.coarse.ceil(self.low);
        while label + coarse <= self.sealed_to {
            let within: Vec<(i64, Bucket)> =
                self.sealed.range(label..label + coarse).map(|(l, b)| (*l, *b)).collect();
            if within.len() > 1 && within.iter().all(|(_, b)| b.width == self.fine) {
                for (l, _) in &within {
                    self.sealed.remove(l);
                }
                let spins = within.iter().map(|(_, b)| b.spins).sum();
                let fine = within.iter().all(|(_, b)| b.fine);
                self.sealed.insert(label, Bucket { end: label + coarse, width: self.coarse, spins, fine });
            }
            label += coarse;
        }
    }

    /// Moves the start of the range to `low`: buckets before it go, and the sealed bucket that
    /// straddles it, if any (a coarse one: fine ones end on the fine grid as `low` does), is
    /// returned for the caller to read again, finely, from `low` on.
    pub fn trim(&mut self, low: i64) -> Option<(i64, Bucket)> {
        if low <= self.low {
            return None;
        }
        self.low = low;
        let mut straddling = None;
        while let Some((&label, &bucket)) = self.sealed.first_key_value() {
            if label >= low {
                break;
            }
            self.sealed.remove(&label);
            if bucket.end > low {
                straddling = Some((label, bucket));
            }
        }
        self.open.retain(|&label, _| label >= low);
        if self.sealed_to < low {
            self.sealed_to = low;
        }
        straddling
    }

    /// Sealed fine buckets over `[from, to)` with the counts read for them (a straddling bucket
    /// read again finely).
    pub fn refine(&mut self, from: i64, to: i64, counts: &BTreeMap<i64, u64>) {
        let mut at = from;
        while at < to {
            let label = self.fine.floor(at);
            let end = (label + self.fine.micros()).min(to);
            let spins = counts.get(&label).copied().unwrap_or(0);
            self.sealed.insert(label, Bucket { end, width: self.fine, spins, fine: true });
            at = end;
        }
    }

    /// The open buckets' counts from `from` on, as the next query's knowledge.
    pub fn open_known(&self, from: i64) -> impl Iterator<Item = BucketCount> + '_ {
        self.open.range(from..).map(|(&bucket, &spins)| BucketCount { bucket, spins })
    }

    /// What the open buckets from `from` on hold now.
    pub fn set_open(&mut self, from: i64, counts: &BTreeMap<i64, u64>) {
        self.open.retain(|&label, _| label < from);
        self.open.extend(counts.range(from..).map(|(l, s)| (*l, *s)));
    }

    /// The sealed buckets that end after `from`, in runs of equal width (clipped to `from`).
    pub fn runs(&self, from: i64) -> Vec<Run> {
        let at = |us| chrono::DateTime::from_timestamp_micros(us).expect("a valid instant");
        let mut runs: Vec<Run> = Vec::new();
        for (label, bucket) in self.after(from) {
            let start = at(label.max(from).max(self.low));
            match runs.last_mut() {
                Some((range, width)) if *width == bucket.width && range.to == start => {
                    range.to = at(bucket.end)
                }
                _ => runs.push((Window { from: start, to: at(bucket.end) }, bucket.width)),
            }
        }
        runs
    }

    /// The counts of the sealed buckets that end after `from` and hold spins.
    pub fn sealed_known(&self, from: i64) -> impl Iterator<Item = BucketCount> + '_ {
        self.after(from)
            .filter(|(_, b)| b.spins > 0)
            .map(|(bucket, b)| BucketCount { bucket, spins: b.spins })
    }

    fn after(&self, from: i64) -> impl Iterator<Item = (i64, &Bucket)> {
        self.sealed.iter().filter(move |(_, b)| b.end > from).map(|(l, b)| (*l, b))
    }

    /// The sealed bucket that starts before `low` and ends after it, if any, once `low` moved
    /// past the range's start (the first bucket, clipped to the start, straddles nothing).
    pub fn straddling(&self, low: i64) -> Option<(i64, Bucket)> {
        if low <= self.low {
            return None;
        }
        let (&label, &bucket) = self.sealed.range(..low).next_back()?;
        (bucket.end > low).then_some((label, bucket))
    }

    /// The sealed bucket labelled `label`.
    pub fn sealed_bucket(&self, label: i64) -> Option<&Bucket> {
        self.sealed.get(&label)
    }

    /// The sealed bucket labelled `label`, to update.
    pub fn sealed_mut(&mut self, label: i64) -> Option<&mut Bucket> {
        self.sealed.get_mut(&label)
    }

    /// Every sealed bucket, by label.
    pub fn sealed(&self) -> impl Iterator<Item = (i64, &Bucket)> {
        self.sealed.iter().map(|(l, b)| (*l, b))
    }

    pub fn bytes(&self) -> usize {
        (self.sealed.len() + self.open.len()) * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn widths() -> (Width, Width) {
        (Width::seconds(10).unwrap(), Width::seconds(60).unwrap())
    }

    fn labels(layout: &Layout) -> Vec<(i64, i64, u32)> {
        layout.sealed().map(|(l, b)| (l / S, b.end / S, b.width.as_secs())).collect()
    }

    #[test]
    fn a_skeleton_has_whole_coarse_buckets_between_fine_edges() {
        let (fine, coarse) = widths();
        let layout = Layout::skeleton(fine, coarse, 45 * S, 200 * S);
        assert_eq!(
            labels(&layout),
            [(40, 50, 10), (50, 60, 10), (60, 120, 60), (120, 180, 60), (180, 190, 10), (190, 200, 10)]
        );
        assert_eq!(layout.runs(0).len(), 3);
        let short = Layout::skeleton(fine, coarse, 45 * S, 75 * S);
        assert_eq!(labels(&short), [(40, 50, 10), (50, 60, 10), (60, 70, 10), (70, 75, 10)]);
    }

    #[test]
    fn sealing_takes_open_counts_and_merges_whole_coarse_buckets() {
        let (fine, coarse) = widths();
        let mut layout = Layout::skeleton(fine, coarse, 0, 50 * S);
        layout.set_open(50 * S, &BTreeMap::from([(50 * S, 3), (70 * S, 2)]));
        layout.seal(60 * S);
        assert_eq!(labels(&layout), [(0, 60, 60)], "six fine buckets became one coarse");
        assert_eq!(layout.sealed().next().unwrap().1.spins, 3);
        layout.seal(80 * S);
        assert_eq!(labels(&layout), [(0, 60, 60), (60, 70, 10), (70, 80, 10)]);
        assert_eq!(layout.sealed_known(0).map(|k| k.spins).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(layout.open_known(0).count(), 0);
    }

    #[test]
    fn trimming_returns_the_straddling_coarse_bucket() {
        let (fine, coarse) = widths();
        let mut layout = Layout::skeleton(fine, coarse, 0, 180 * S);
        assert_eq!(layout.trim(30 * S).map(|(l, b)| (l, b.end)), Some((0, 60 * S)));
        layout.refine(30 * S, 60 * S, &BTreeMap::from([(40 * S, 4)]));
        assert_eq!(labels(&layout)[..3], [(30, 40, 10), (40, 50, 10), (50, 60, 10)]);
        assert!(layout.trim(40 * S).is_none(), "fine buckets end on the grid");
        assert_eq!(labels(&layout)[0], (40, 50, 10));
    }
}
