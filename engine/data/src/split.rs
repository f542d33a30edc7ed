//! Train/test splits and samples, reproducing the study's use of CPython's `random`.
//!
//! `method = "python"`: one `random.seed(seed)` and one stream carried across the datasets in
//! declared order, each taking `shuffle(list(range(len)))[:train]` and the next `test` (SPEC §1.2),
//! or `random.sample(range(len), n)` for samples (SPEC §1.3). `method = "native"`: the same
//! algorithm, but every dataset starts its own stream from `seed`, so one dataset's split does not
//! change when another dataset is added, removed or resized.
//!
//! A manifest's dataset stages each split one dataset, so the carried stream crosses stage
//! boundaries as a [`Stream`]: the draws made so far, replayed by the next dataset.

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::pyrandom::PyRandom;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitMethod {
    #[default]
    Python,
    Native,
}

fn default_seed() -> u64 {
    42
}

/// `split = { train = N, test = M, seed = S, method = "python" | "native" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    pub train: usize,
    #[serde(default)]
    pub test: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub method: SplitMethod,
    /// Datasets naming the same stream draw from one `random.seed(seed)` in declared order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
}

/// One dataset's size and the counts it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSizes {
    pub len: usize,
    pub train: usize,
    pub test: usize,
}

impl From<(usize, usize, usize)> for SplitSizes {
    fn from((len, train, test): (usize, usize, usize)) -> Self {
        SplitSizes { len, train, test }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitIndices {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// One use of a carried stream. CPython's `shuffle(list(range(len)))` and `sample(range(len), n)`
/// consume the stream as a function of these sizes alone, so the list of draws is enough to bring
/// a fresh `random.seed(seed)` to where the previous dataset left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "draw", rename_all = "lowercase")]
pub enum Draw {
    Shuffle { len: usize },
    Sample { len: usize, n: usize },
}

/// `random.seed(seed)` followed by the draws made so far: the study's one RNG stream carried
/// across datasets (SPEC §1.2, §1.3), resumable by a later dataset from the draws alone.
#[derive(Debug, Clone)]
pub struct Stream {
    seed: u64,
    draws: Vec<Draw>,
    rng: PyRandom,
}

impl Stream {
    pub fn new(seed: u64) -> Self {
        Stream { seed, draws: Vec::new(), rng: PyRandom::new(seed) }
    }

    /// The stream after `draws`, replayed from `random.seed(seed)`.
    pub fn resume(seed: u64, draws: &[Draw]) -> Self {
        let mut stream = Stream::new(seed);
        for draw in draws {
            match *draw {
                Draw::Shuffle { len } => {
                    stream.shuffle(len);
                }
                Draw::Sample { len, n } => {
                    stream.sample(len, n).expect("a recorded sample fits its population");
                }
            }
        }
        stream
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn draws(&self) -> &[Draw] {
        &self.draws
    }

    /// `l = list(range(len)); random.shuffle(l)`.
    pub fn shuffle(&mut self, len: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..len).collect();
        self.rng.shuffle(&mut order);
        self.draws.push(Draw::Shuffle { len });
        order
    }

    /// `random.sample(range(len), n)`; `None` when n > len (Python raises).
    pub fn sample(&mut self, len: usize, n: usize) -> Option<Vec<usize>> {
        let picked = self.rng.sample_indices(len, n)?;
        self.draws.push(Draw::Sample { len, n });
        Some(picked)
    }

    /// A shuffle whose first `train` entries are the train split and the next `test` the test split.
    pub fn split(&mut self, d: SplitSizes) -> Result<SplitIndices, DataError> {
        if d.train + d.test > d.len {
            return Err(DataError::Invalid(format!(
                "the split asks for train {} + test {} but the dataset has only {} records",
                d.train, d.test, d.len
            )));
        }
        let order = self.shuffle(d.len);
        Ok(SplitIndices { train: order[..d.train].to_vec(), test: order[d.train..d.train + d.test].to_vec() })
    }
}

/// Index lists for datasets split in declared order (see the module doc for the two methods).
pub fn split_indices(seed: u64, method: SplitMethod, datasets: &[SplitSizes]) -> Result<Vec<SplitIndices>, DataError> {
    let mut carried = Stream::new(seed);
    datasets
        .iter()
        .enumerate()
        .map(|(position, &d)| {
            let mut own;
            let stream = match method {
                SplitMethod::Python => &mut carried,
                SplitMethod::Native => {
                    own = Stream::new(seed);
                    &mut own
                }
            };
            stream.split(d).map_err(|e| DataError::Invalid(format!("dataset #{}: {e}", position + 1)))
        })
        .collect()
}

/// `random.sample(range(len), n)` for each dataset in declared order (same method semantics).
pub fn sample_indices(seed: u64, method: SplitMethod, datasets: &[(usize, usize)]) -> Result<Vec<Vec<usize>>, DataError> {
    let mut carried = Stream::new(seed);
    datasets
        .iter()
        .enumerate()
        .map(|(position, &(len, n))| {
            let mut own;
            let stream = match method {
                SplitMethod::Python => &mut carried,
                SplitMethod::Native => {
                    own = Stream::new(seed);
                    &mut own
                }
            };
            stream.sample(len, n).ok_or_else(|| {
                DataError::Invalid(format!("sample of dataset #{} asks for {n} records but it has only {len}", position + 1))
            })
        })
        .collect()
}

/// Clones the items at `indices`, in that order.
pub fn select<T: Clone>(items: &[T], indices: &[usize]) -> Vec<T> {
    indices.iter().map(|&i| items[i].clone()).collect()
}

/// Splits one dataset with its own fresh stream (both methods agree for a single dataset).
pub fn split<T: Clone>(items: &[T], spec: &SplitSpec) -> Result<(Vec<T>, Vec<T>), DataError> {
    let sizes = SplitSizes { len: items.len(), train: spec.train, test: spec.test };
    let idx = split_indices(spec.seed, spec.method, &[sizes])?.remove(0);
    Ok((select(items, &idx.train), select(items, &idx.test)))
}

/// `random.seed(seed); random.sample(items, n)` for one dataset.
pub fn sample<T: Clone>(items: &[T], n: usize, seed: u64) -> Result<Vec<T>, DataError> {
    let idx = sample_indices(seed, SplitMethod::Python, &[(items.len(), n)])?.remove(0);
    Ok(select(items, &idx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first5(v: &[usize]) -> Vec<usize> {
        v[..5].to_vec()
    }

    /// SPEC §1.2: the benchmark splits, one stream over gsm8k, mmlu, truthfulqa, hellaswag.
    #[test]
    fn study_benchmark_splits_match_spec_vectors() {
        let sizes: Vec<SplitSizes> =
            [(7473, 1000, 500), (14042, 1000, 500), (817, 600, 200), (10042, 1000, 500)].map(SplitSizes::from).to_vec();
        let got = split_indices(42, SplitMethod::Python, &sizes).unwrap();
        let expected = [
            ([1458, 3620, 6312, 4833, 5032], [7394, 523, 1648, 5694, 6545]),
            ([7351, 9589, 7628, 6964, 752], [4022, 11244, 1928, 5437, 4984]),
            ([317, 678, 598, 798, 510], [756, 718, 666, 709, 432]),
            ([3904, 8703, 5533, 251, 8291], [8714, 2924, 1619, 1104, 8085]),
        ];
        for ((g, (train, test)), n) in got.iter().zip(expected).zip([1500, 1500, 800, 1500]) {
            assert_eq!(first5(&g.train), train.to_vec());
            assert_eq!(first5(&g.test), test.to_vec());
            assert_eq!(g.train.len() + g.test.len(), n);
        }
    }

    /// A stream resumed from its draws continues exactly where the uninterrupted one is.
    #[test]
    fn resumed_stream_continues_the_carried_one() {
        let sizes = [(7473, 1000, 500), (14042, 1000, 500), (817, 600, 200)].map(SplitSizes::from);
        let whole = split_indices(42, SplitMethod::Python, &sizes).unwrap();
        let mut first = Stream::new(42);
        first.split(sizes[0]).unwrap();
        first.sample(50, 7).unwrap();
        let mut resumed = Stream::resume(42, first.draws());
        let mut direct = first.clone();
        assert_eq!(resumed.split(sizes[1]).unwrap(), direct.split(sizes[1]).unwrap());
        let mut two = Stream::new(42);
        two.split(sizes[0]).unwrap();
        let mut two = Stream::resume(42, two.draws());
        assert_eq!(two.split(sizes[1]).unwrap(), whole[1]);
        assert_eq!(two.split(sizes[2]).unwrap(), whole[2]);
    }

    /// SPEC §4: the fine-tuning data order, shuffling the 1000/1000/600/1000 train rows.
    #[test]
    fn study_training_order_matches_spec_vectors() {
        let sizes: Vec<SplitSizes> = [1000, 1000, 600, 1000].map(|n| SplitSizes { len: n, train: n, test: 0 }).to_vec();
        let got = split_indices(42, SplitMethod::Python, &sizes).unwrap();
        let expected = [[776, 507, 895, 922, 33], [606, 998, 471, 699, 701], [315, 274, 579, 166, 192], [134, 862, 219, 940, 508]];
        for (g, e) in got.iter().zip(expected) {
            assert_eq!(first5(&g.train), e.to_vec());
        }
    }

    /// SPEC §1.3: `random.seed(42)`, then `random.sample(valid, 300)` for feedback (1500 valid),
    /// are_you_sure (1071) and answer (7268). SPEC gives no vectors; these were printed by CPython 3.11.
    #[test]
    fn study_sycophancy_samples_match_cpython() {
        let got = sample_indices(42, SplitMethod::Python, &[(1500, 300), (1071, 300), (7268, 300)]).unwrap();
        let expected = [([1309, 228, 51, 563, 501], 116), ([1040, 164, 380, 140, 139], 887), ([2967, 5206, 6788, 3766, 5794], 4795)];
        for (g, (head, last)) in got.iter().zip(expected) {
            assert_eq!(first5(g), head.to_vec());
            assert_eq!(*g.last().unwrap(), last);
            let distinct: std::collections::HashSet<_> = g.iter().collect();
            assert_eq!(distinct.len(), 300);
        }
    }

    #[test]
    fn native_method_gives_each_dataset_its_own_stream() {
        let sizes = [SplitSizes { len: 50, train: 10, test: 5 }, SplitSizes { len: 50, train: 10, test: 5 }];
        let native = split_indices(7, SplitMethod::Native, &sizes).unwrap();
        assert_eq!(native[0], native[1]);
        let python = split_indices(7, SplitMethod::Python, &sizes).unwrap();
        assert_eq!(python[0], native[0]);
        assert_ne!(python[1], native[1]);
    }

    #[test]
    fn oversized_split_or_sample_is_an_error() {
        let err = split_indices(1, SplitMethod::Python, &[SplitSizes { len: 10, train: 8, test: 3 }]).unwrap_err();
        assert!(err.to_string().contains("only 10"), "{err}");
        assert!(sample_indices(1, SplitMethod::Python, &[(3, 4)]).is_err());
    }

    #[test]
    fn split_spec_parses_with_defaults_and_rejects_unknown_fields() {
        let spec: SplitSpec = serde_json::from_str(r#"{"train": 3, "test": 2}"#).unwrap();
        assert_eq!(spec, SplitSpec { train: 3, test: 2, seed: 42, method: SplitMethod::Python, stream: None });
        let spec: SplitSpec = serde_json::from_str(r#"{"train": 3, "method": "native", "seed": 1}"#).unwrap();
        assert_eq!(spec.method, SplitMethod::Native);
        assert!(serde_json::from_str::<SplitSpec>(r#"{"train": 3, "tset": 2}"#).is_err());
    }
}
