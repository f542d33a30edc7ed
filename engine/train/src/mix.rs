//! Mixing several example lists into one training list.
use crate::error::{Result, TrainError};
use crate::rng::{self, PURPOSE_MIX};

#[derive(Debug, Clone, PartialEq)]
pub enum Mix {
    /// Lists one after another, in the given order (the study's `concatenate_datasets`).
    Concat,
    /// Each next item comes from list i with probability proportional to `weights[i]` among
    /// the lists not yet exhausted; every item is used exactly once.
    Interleave { weights: Vec<f64>, seed: u64 },
}

pub fn mix<T: Clone>(lists: &[Vec<T>], how: &Mix) -> Result<Vec<T>> {
    match how {
        Mix::Concat => Ok(lists.concat()),
        Mix::Interleave { weights, seed } => {
            if weights.len() != lists.len() {
                return Err(TrainError::Data(format!("mix: {} weights for {} lists", weights.len(), lists.len())));
            }
            if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
                return Err(TrainError::Data(format!("mix: weights must be finite and > 0, got {w}")));
            }
            let mut rng = rng::derive(*seed, PURPOSE_MIX, 0);
            let mut next = vec![0usize; lists.len()];
            let total: usize = lists.iter().map(Vec::len).sum();
            let mut out = Vec::with_capacity(total);
            while out.len() < total {
                let live: Vec<usize> = (0..lists.len()).filter(|&i| next[i] < lists[i].len()).collect();
                let mass: f64 = live.iter().map(|&i| weights[i]).sum();
                let mut u = rng.next_f64() * mass;
                let mut pick = *live.last().expect("items remain, so a list is live");
                for &i in &live {
                    if u < weights[i] {
                        pick = i;
                        break;
                    }
                    u -= weights[i];
                }
                out.push(lists[pick][next[pick]].clone());
                next[pick] += 1;
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_keeps_order() {
        assert_eq!(mix(&[vec![1, 2], vec![3]], &Mix::Concat).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn interleave_uses_everything_once_and_follows_weights() {
        let a: Vec<u32> = (0..1000).collect();
        let b: Vec<u32> = (1000..2000).collect();
        let how = Mix::Interleave { weights: vec![3.0, 1.0], seed: 5 };
        let out = mix(&[a.clone(), b.clone()], &how).unwrap();
        assert_eq!(out.len(), 2000);
        // Order within each list is kept.
        assert_eq!(out.iter().filter(|&&x| x < 1000).copied().collect::<Vec<_>>(), a);
        // In the first 400 draws about 3/4 come from list a.
        let from_a = out[..400].iter().filter(|&&x| x < 1000).count();
        assert!((260..340).contains(&from_a), "{from_a}");
        assert_eq!(out, mix(&[a, b], &how).unwrap(), "deterministic");
        assert!(mix(&[vec![1]], &Mix::Interleave { weights: vec![0.0], seed: 0 }).is_err());
    }
}
