//! CPython's `random` module, bit for bit: MT19937 seeded as `random.seed(int)` does
//! (`init_by_array` over the integer's 32-bit words), `getrandbits`, `_randbelow` by rejection
//! on `getrandbits(n.bit_length())`, `shuffle`, `sample` and `random()`.
//! The study's splits and samples depend on this exact stream (SPEC §1.2, §1.3, §4).

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

#[derive(Clone)]
pub struct PyRandom {
    mt: [u32; N],
    index: usize,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRandom").field("index", &self.index).finish_non_exhaustive()
    }
}

impl PyRandom {
    /// `random.seed(seed)` for a non-negative integer seed.
    pub fn new(seed: u64) -> Self {
        let mut key = vec![seed as u32];
        if seed >> 32 != 0 {
            key.push((seed >> 32) as u32);
        }
        Self::from_key(&key)
    }

    /// `random.seed(n)` for any Python int: CPython seeds from `abs(n)`.
    pub fn from_i64(seed: i64) -> Self {
        Self::new(seed.unsigned_abs())
    }

    /// `init_by_array(key)`: the key is the seed's 32-bit words, least significant first.
    pub fn from_key(key: &[u32]) -> Self {
        let key: &[u32] = if key.is_empty() { &[0] } else { key };
        let mut rng = PyRandom { mt: [0; N], index: N };
        rng.init_genrand(19_650_218);
        let mt = &mut rng.mt;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_664_525)).wrapping_add(key[j]).wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000; // MSB is 1, assuring a non-zero initial array
        rng
    }

    fn init_genrand(&mut self, seed: u32) {
        self.mt[0] = seed;
        for i in 1..N {
            let prev = self.mt[i - 1] ^ (self.mt[i - 1] >> 30);
            self.mt[i] = 1_812_433_253u32.wrapping_mul(prev).wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn twist(&mut self) {
        let mag01 = |y: u32| if y & 1 == 0 { 0 } else { MATRIX_A };
        for kk in 0..N {
            let y = (self.mt[kk] & UPPER_MASK) | (self.mt[(kk + 1) % N] & LOWER_MASK);
            self.mt[kk] = self.mt[(kk + M) % N] ^ (y >> 1) ^ mag01(y);
        }
        self.index = 0;
    }

    /// One 32-bit output (`genrand_uint32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `random.getrandbits(k)` for k <= 64: 32-bit words, least significant first, the last
    /// one shifted down to the bits still needed.
    pub fn getrandbits(&mut self, k: u32) -> u64 {
        assert!(k <= 64, "getrandbits supports at most 64 bits here");
        if k == 0 {
            return 0;
        }
        if k <= 32 {
            return u64::from(self.next_u32() >> (32 - k));
        }
        let low = u64::from(self.next_u32());
        let high = u64::from(self.next_u32() >> (64 - k));
        low | (high << 32)
    }

    /// `random._randbelow(n)`: uniform in `0..n` by rejection sampling. `n` must be positive.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0; // CPython returns 0 for n == 0 as well
        }
        let k = 64 - n.leading_zeros(); // n.bit_length()
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.random()`: a float in [0, 1) with 53 random bits.
    pub fn random(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.randrange(n)` for positive n.
    pub fn randrange(&mut self, n: usize) -> usize {
        self.randbelow(n as u64) as usize
    }

    /// `random.shuffle(items)` (Fisher-Yates from the end, as CPython does).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// `random.sample(range(n), k)`: k distinct indices in selection order. Follows CPython's
    /// two strategies (pool for small populations, rejection with a set for large ones), since
    /// they consume the stream differently. Returns `None` when k > n (Python raises).
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Option<Vec<usize>> {
        if k > n {
            return None;
        }
        let mut setsize = 21usize;
        if k > 5 {
            // CPython: setsize += 4 ** _ceil(_log(k * 3, 4))
            let exponent = ((k as f64 * 3.0).ln() / 4f64.ln()).ceil() as u32;
            setsize += 4usize.pow(exponent);
        }
        let mut result = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = self.randbelow((n - i) as u64) as usize;
                result.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow(n as u64) as usize;
                while selected.contains(&j) {
                    j = self.randbelow(n as u64) as usize;
                }
                selected.insert(j);
                result.push(j);
            }
        }
        Some(result)
    }

    /// `random.sample(items, k)` on a slice, cloning the chosen items in selection order.
    pub fn sample<T: Clone>(&mut self, items: &[T], k: usize) -> Option<Vec<T>> {
        Some(self.sample_indices(items.len(), k)?.into_iter().map(|i| items[i].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by CPython 3 (`random.seed(s); ...`).
    #[test]
    fn first_outputs_match_cpython() {
        let mut r = PyRandom::new(42);
        assert_eq!(r.getrandbits(32), 2_746_317_213);
        let mut r = PyRandom::new(42);
        assert_eq!(r.random(), 0.6394267984578837);
    }

    #[test]
    fn wide_seed_and_wide_bits_match_cpython() {
        let mut r = PyRandom::new((1u64 << 40) + 7);
        assert_eq!(r.getrandbits(64), 13_785_699_202_830_676_186);
        assert_eq!(r.getrandbits(33), 7_795_006_133);
        assert_eq!(r.getrandbits(1), 1);
        let mut r = PyRandom::new(42);
        let got: Vec<usize> = (0..3).map(|_| r.randbelow(1_000_000_000_000) as usize).collect();
        assert_eq!(got, vec![123_005_401_501, 811_856_239_313, 267_469_214_295]);
    }

    #[test]
    fn sample_uses_both_cpython_strategies() {
        let mut r = PyRandom::new(0);
        assert_eq!(r.sample_indices(10, 4).unwrap(), vec![6, 9, 0, 2]); // pool strategy
        assert_eq!(r.sample_indices(5000, 7).unwrap(), vec![4188, 3980, 3317, 2484, 3904, 2933, 4779]); // set strategy
        assert!(r.sample_indices(3, 4).is_none());
    }

    #[test]
    fn shuffle_matches_cpython() {
        let mut r = PyRandom::new(123);
        let mut x: Vec<usize> = (0..20).collect();
        r.shuffle(&mut x);
        assert_eq!(x, vec![7, 17, 3, 4, 14, 12, 11, 9, 5, 10, 15, 6, 0, 16, 19, 18, 13, 2, 8, 1]);
    }
}
