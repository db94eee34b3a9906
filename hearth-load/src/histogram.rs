//! A small HDR-style latency histogram in microseconds: exact below 256 µs, then 128 buckets
//! per power of two, so a reported value is at most 1/128 (< 0.8%) above the true one. Fixed
//! size (about 26 KiB) whatever the number of requests; one per worker, merged at the end.

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values below this get a bucket each.
const EXACT: u64 = 2 * SUB;
/// Larger values are recorded as this (about 71 minutes).
const CAP: u64 = u32::MAX as u64;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; index(CAP) + 1], total: 0, max: 0, sum: 0 }
    }
}

/// The bucket of a value (at most `CAP`).
fn index(value: u64) -> usize {
    if value < EXACT {
        return value as usize;
    }
    let msb = 63 - value.leading_zeros();
    let shift = msb - SUB_BITS;
    let mantissa = (value >> shift) - SUB;
    (EXACT + u64::from(shift - 1) * SUB + mantissa) as usize
}

/// The largest value that falls into bucket `i`.
fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let k = i - EXACT;
    let shift = k / SUB + 1;
    let mantissa = k % SUB + SUB;
    ((mantissa + 1) << shift) - 1
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        let value = micros.min(CAP);
        self.counts[index(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
        self.sum += value;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum as f64 / self.total as f64)
    }

    /// The value at `per_10k` / 10 000 (nearest rank: the smallest recorded value with at
    /// least that share of samples at or below it), e.g. `9_900` for p99. Integer math, so
    /// p99 of 100 samples is the 99th, not the 100th through a rounding error.
    pub fn percentile(&self, per_10k: u32) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let per_10k = u128::from(per_10k.min(10_000));
        let rank = ((u128::from(self.total) * per_10k).div_ceil(10_000) as u64).max(1);
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(upper_bound(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: impl IntoIterator<Item = u64>) -> Histogram {
        let mut h = Histogram::default();
        for v in values {
            h.record(v);
        }
        h
    }

    #[test]
    fn buckets_cover_every_value_tightly() {
        let probes = (0..100_000u64).chain((0..=32).map(|b| 1u64 << b)).chain((1..=32).map(|b| (1u64 << b) - 1));
        for v in probes.chain([CAP - 1, CAP]) {
            let i = index(v);
            let ub = upper_bound(i);
            assert!(ub >= v, "{v} -> bucket {i} ends at {ub}");
            assert!(ub - v <= v / SUB, "{v} -> {ub} too coarse");
            if i > 0 {
                assert!(upper_bound(i - 1) < v, "{v} belongs to an earlier bucket");
            }
        }
        for v in 1..100_000u64 {
            assert!(index(v) >= index(v - 1), "index not monotonic at {v}");
        }
        assert_eq!(index(CAP) + 1, Histogram::default().counts.len());
    }

    #[test]
    fn small_values_are_exact() {
        for v in 0..EXACT {
            assert_eq!(upper_bound(index(v)), v);
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let h = of(1..=100);
        assert_eq!(h.percentile(5_000), Some(50));
        assert_eq!(h.percentile(9_000), Some(90));
        assert_eq!(h.percentile(9_900), Some(99));
        assert_eq!(h.percentile(10_000), Some(100));
        assert_eq!(h.percentile(0), Some(1));
        assert_eq!(h.max(), Some(100));
        assert_eq!(h.count(), 100);
        assert_eq!(h.mean(), Some(50.5));

        // Order of recording does not matter.
        let h = of((1..=100).rev());
        assert_eq!(h.percentile(9_900), Some(99));

        let h = of([7]);
        assert_eq!(h.percentile(5_000), Some(7));
        assert_eq!(h.percentile(9_900), Some(7));

        // 1000 samples: p99 is the 990th, p99.9 the 999th.
        let h = of(1..=1000);
        let p99 = h.percentile(9_900).unwrap();
        assert!((990..=990 + 990 / SUB).contains(&p99), "{p99}");
        let p999 = h.percentile(9_990).unwrap();
        assert!((999..=1000).contains(&p999), "{p999}");
    }

    #[test]
    fn large_values_within_one_percent_and_never_above_max() {
        let h = of((1..=10_000).map(|v| v * 100));
        for (q, expected) in [(5_000, 500_000u64), (9_000, 900_000), (9_900, 990_000)] {
            let got = h.percentile(q).unwrap();
            assert!(got >= expected && got - expected <= expected / 100, "p{q}: {got} vs {expected}");
        }
        let h = of([1000; 10]);
        assert_eq!(h.percentile(5_000), Some(1000), "bucket bound clamped to the max");
        assert_eq!(h.percentile(10_000), Some(1000));
    }

    #[test]
    fn skewed_distribution() {
        // 98 fast, 2 slow: p90 is fast, p99 slow.
        let h = of(std::iter::repeat_n(2_000, 98).chain([80_000, 90_000]));
        let p90 = h.percentile(9_000).unwrap();
        assert!((2_000..=2_000 + 2_000 / SUB).contains(&p90), "{p90}");
        let p99 = h.percentile(9_900).unwrap();
        assert!((80_000..=80_000 + 80_000 / SUB).contains(&p99), "{p99}");
        assert_eq!(h.max(), Some(90_000));
    }

    #[test]
    fn empty_histogram_has_no_percentiles() {
        let h = Histogram::default();
        assert_eq!(h.percentile(5_000), None);
        assert_eq!(h.max(), None);
        assert_eq!(h.mean(), None);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut a = of((0..500).map(|v| v * 37));
        let b = of((0..700).map(|v| v * 91 + 5));
        let both = of((0..500).map(|v| v * 37).chain((0..700).map(|v| v * 91 + 5)));
        a.merge(&b);
        assert_eq!(a.count(), both.count());
        assert_eq!(a.max(), both.max());
        assert_eq!(a.mean(), both.mean());
        for q in [0, 1_000, 5_000, 9_000, 9_900, 9_990, 10_000] {
            assert_eq!(a.percentile(q), both.percentile(q));
        }
    }

    #[test]
    fn huge_values_are_capped() {
        let h = of([u64::MAX, 5]);
        assert_eq!(h.max(), Some(CAP));
        assert_eq!(h.percentile(10_000), Some(CAP));
        assert_eq!(h.percentile(5_000), Some(5));
    }
}
