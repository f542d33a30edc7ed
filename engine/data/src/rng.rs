//! The engine's one seeded generator (SplitMix64) and one stable hash (FNV-1a).
//!
//! They live in the lowest crate so that every layer draws from the same definition: the
//! model's random initialisation and dropout masks (syco-ml), epoch order and mixing
//! (syco-train), bootstrap resamples (syco-eval), per-prompt sampling seeds and per-test
//! bootstrap seeds (syco-ml, syco-analysis). Their streams are part of every cached output:
//! changing either changes results, which the pinned values in the tests below guard.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, platform-independent, and counter-based
/// (draw k of a state is `mix(state + k·GAMMA)`), so a block of draws can be computed without
/// walking the stream.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The state increment of one draw.
    pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    #[inline]
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Draw `k` (1-based) of `SplitMix64::new(state)`, without the draws before it.
    #[inline(always)]
    pub fn draw_at(state: u64, k: u64) -> u64 {
        mix(state.wrapping_add(k.wrapping_mul(Self::GAMMA)))
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        mix(self.0)
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) without modulo bias (Lemire's multiply-shift with rejection).
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

/// SplitMix64's output function of a state.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, 64-bit: a hash of bytes that is stable across platforms and releases (std's hasher
/// is not), for deriving seeds from names and token ids.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_stream() {
        // The first outputs of the reference implementation (Vigna's splitmix64.c) from seed 0.
        let mut r = SplitMix64::new(0);
        assert_eq!([r.next_u64(), r.next_u64(), r.next_u64()], [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]);
        let mut r = SplitMix64::new(1234);
        for k in 1..=5 {
            assert_eq!(r.next_u64(), SplitMix64::draw_at(1234, k));
        }
    }

    #[test]
    fn derived_draws_are_pinned() {
        // Values every consumer's stream starts from; a change here changes cached results.
        let mut r = SplitMix64::new(42);
        assert_eq!(r.next_f64().to_bits(), 0x3FE7_BAE6_44C5_FD6D);
        assert_eq!(r.below(1000), 159);
        let mut v: Vec<u32> = (0..10).collect();
        r.shuffle(&mut v);
        assert_eq!(v, [9, 7, 8, 5, 4, 1, 6, 0, 3, 2]);
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(*b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xAF63_DC4C_8601_EC8C);
        assert_eq!(fnv1a(*b"foobar"), 0x8594_4171_F739_67E8);
    }
}
