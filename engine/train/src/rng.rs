//! A small, seedable, platform-independent RNG for data order and dropout seeds.
//!
//! Every random stream is derived from (seed, purpose, index) instead of being advanced
//! statefully, so a resumed run recomputes exactly the stream an uninterrupted run used
//! without storing generator state.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush for this use.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator for sub-stream `index` of `purpose` under `seed`.
    pub fn derive(seed: u64, purpose: u64, index: u64) -> Self {
        let mut g = Self(seed ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let a = g.next_u64();
        Self(a ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)).warm()
    }

    fn warm(mut self) -> Self {
        self.next_u64();
        self
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) without modulo bias (Lemire's method with rejection).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Fisher-Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Purposes of derived streams (arbitrary distinct constants).
pub(crate) const PURPOSE_EPOCH_ORDER: u64 = 1;
pub(crate) const PURPOSE_DROPOUT: u64 = 2;
pub(crate) const PURPOSE_MIX: u64 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        SplitMix64::derive(42, PURPOSE_EPOCH_ORDER, 0).shuffle(&mut a);
        SplitMix64::derive(42, PURPOSE_EPOCH_ORDER, 0).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        let mut c: Vec<u32> = (0..100).collect();
        SplitMix64::derive(42, PURPOSE_EPOCH_ORDER, 1).shuffle(&mut c);
        assert_ne!(a, c, "different epochs get different orders");
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut g = SplitMix64::new(7);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[g.below(5) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }
}
