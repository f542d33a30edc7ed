//! From examples to padded micro-batches with HF causal-LM labels, and the order in which
//! micro-batches feed optimizer steps.
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::LossOn;
use crate::error::{Result, TrainError};
use crate::rng::{self, PURPOSE_EPOCH_ORDER};

/// Label value that marks a position as "not a target" (HF / torch `ignore_index`).
pub const IGNORE: i64 = -100;

/// One training text: the loss covers `prompt + response` or only `response` (`LossOn`).
/// The caller formats the text (separators, chat template); the two parts are concatenated as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainExample {
    pub prompt: String,
    pub response: String,
}

/// A tokenized example: `ids` of the whole text, of which the first `prompt_len` are the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizedExample {
    pub ids: Vec<u32>,
    pub prompt_len: usize,
}

/// Tokenizes with the model's tokenizer (`encode` must add the same special tokens, e.g. BOS,
/// as the study's tokenizer call). The prompt length is the longest common prefix of the
/// prompt's ids and the full text's ids, so a token spanning the boundary counts as response.
pub fn tokenize<E, F>(examples: &[TrainExample], mut encode: F) -> Result<Vec<TokenizedExample>, E>
where
    F: FnMut(&str) -> Result<Vec<u32>, E>,
{
    examples
        .iter()
        .map(|ex| {
            let full = encode(&format!("{}{}", ex.prompt, ex.response))?;
            let prompt = encode(&ex.prompt)?;
            let prompt_len = full.iter().zip(&prompt).take_while(|(a, b)| a == b).count();
            Ok(TokenizedExample { ids: full, prompt_len })
        })
        .collect()
}

/// A padded micro-batch on a device.
#[derive(Debug)]
pub struct Batch {
    /// (B, T) u32 token ids, right-padded with the pad id.
    pub ids: Tensor,
    /// (B, T) u32, 1 for real tokens and 0 for padding.
    pub mask: Tensor,
    /// (B*T) next-token targets, already shifted: `targets[b*T + t]` is the label of
    /// position t+1, or `IGNORE`. The last position of each row is always `IGNORE`.
    pub targets: Vec<i64>,
    /// Number of targets that are not `IGNORE`.
    pub n_targets: usize,
    /// Real (non-pad) input tokens, for throughput.
    pub n_tokens: usize,
    pub rows: usize,
}

/// Pads `examples` to the longest (after truncation to `max_len`) and builds the labels as
/// DataCollatorForLanguageModeling(mlm=False) does: labels = ids, with every position whose
/// id equals `pad_id` set to IGNORE (the study pads with EOS, so EOS is never a target), and
/// in `LossOn::Response` mode the prompt positions too.
pub fn collate(examples: &[&TokenizedExample], pad_id: u32, max_len: usize, loss: LossOn, device: &Device) -> Result<Batch> {
    if examples.is_empty() {
        return Err(TrainError::Data("empty micro-batch".into()));
    }
    let len = examples.iter().map(|e| e.ids.len().min(max_len)).max().unwrap_or(0);
    if len == 0 {
        return Err(TrainError::Data("every example in a micro-batch is empty".into()));
    }
    let rows = examples.len();
    let mut ids = vec![pad_id; rows * len];
    let mut mask = vec![0u32; rows * len];
    let mut labels = vec![IGNORE; rows * len];
    let mut n_tokens = 0;
    for (b, ex) in examples.iter().enumerate() {
        let n = ex.ids.len().min(max_len);
        n_tokens += n;
        for t in 0..n {
            let id = ex.ids[t];
            ids[b * len + t] = id;
            mask[b * len + t] = 1;
            let is_target = id != pad_id && (loss == LossOn::All || t >= ex.prompt_len);
            if is_target {
                labels[b * len + t] = id as i64;
            }
        }
    }
    // Shift: position t predicts label t+1.
    let mut targets = vec![IGNORE; rows * len];
    for b in 0..rows {
        targets[b * len..b * len + len - 1].copy_from_slice(&labels[b * len + 1..(b + 1) * len]);
    }
    let n_targets = targets.iter().filter(|&&t| t != IGNORE).count();
    Ok(Batch {
        ids: Tensor::from_vec(ids, (rows, len), device)?,
        mask: Tensor::from_vec(mask, (rows, len), device)?,
        targets,
        n_targets,
        n_tokens,
        rows,
    })
}

/// Which examples go into which micro-batch, and which micro-batches into which optimizer step.
///
/// As in transformers 4.43 (the study): each epoch is a fresh permutation cut into micro-batches
/// of `batch_size` (the last one may be short); micro-batches form one stream across epochs and
/// every `grad_accum` consecutive ones make an optimizer step, so a group may span an epoch
/// boundary. Steps per epoch = floor(micro-batches / grad_accum) (the study's 56 = 450 // 8),
/// total = epochs x that, or `max_steps`. When an epoch has no more micro-batches than
/// `grad_accum`, each epoch is one step.
#[derive(Debug, Clone)]
pub struct StepPlan {
    n_examples: usize,
    batch_size: usize,
    grad_accum: usize,
    shuffle: bool,
    seed: u64,
    pub micro_per_epoch: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
}

impl StepPlan {
    pub fn new(
        n_examples: usize,
        batch_size: usize,
        grad_accum: usize,
        epochs: usize,
        max_steps: Option<usize>,
        shuffle: bool,
        seed: u64,
    ) -> Result<Self> {
        if n_examples == 0 {
            return Err(TrainError::Data("no training examples".into()));
        }
        let micro_per_epoch = n_examples.div_ceil(batch_size);
        let steps_per_epoch = (micro_per_epoch / grad_accum).max(1);
        let total_steps = max_steps.unwrap_or(epochs * steps_per_epoch);
        Ok(Self { n_examples, batch_size, grad_accum, shuffle, seed, micro_per_epoch, steps_per_epoch, total_steps })
    }

    fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.n_examples).collect();
        if self.shuffle {
            rng::derive(self.seed, PURPOSE_EPOCH_ORDER, epoch as u64).shuffle(&mut order);
        }
        order
    }

    /// The example indices of each micro-batch of optimizer step `step` (0-based).
    pub fn step_micro_batches(&self, step: usize) -> Vec<Vec<usize>> {
        let positions: Vec<(usize, usize)> = if self.micro_per_epoch <= self.grad_accum {
            (0..self.micro_per_epoch).map(|i| (step, i)).collect()
        } else {
            (step * self.grad_accum..(step + 1) * self.grad_accum).map(|p| (p / self.micro_per_epoch, p % self.micro_per_epoch)).collect()
        };
        let mut cached: Option<(usize, Vec<usize>)> = None;
        positions
            .into_iter()
            .map(|(epoch, i)| {
                if cached.as_ref().map(|c| c.0) != Some(epoch) {
                    cached = Some((epoch, self.epoch_order(epoch)));
                }
                let order = &cached.as_ref().expect("just set").1;
                let end = ((i + 1) * self.batch_size).min(self.n_examples);
                order[i * self.batch_size..end].to_vec()
            })
            .collect()
    }

    /// Epoch (fractional, as HF logs it) reached after `steps_done` steps.
    pub fn epoch_at(&self, steps_done: usize) -> f64 {
        let micro = if self.micro_per_epoch <= self.grad_accum { steps_done * self.micro_per_epoch } else { steps_done * self.grad_accum };
        micro as f64 / self.micro_per_epoch as f64
    }
}

/// Splits by position as the study does: the first floor((1 - val_fraction) n) examples train.
pub fn split_by_fraction<T>(examples: &[T], val_fraction: f64) -> (&[T], &[T]) {
    let n_train = ((1.0 - val_fraction) * examples.len() as f64).floor() as usize;
    examples.split_at(n_train.min(examples.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(ids: &[u32], prompt_len: usize) -> TokenizedExample {
        TokenizedExample { ids: ids.to_vec(), prompt_len }
    }

    #[test]
    fn collate_pads_shifts_and_masks_pad_ids() -> Result<()> {
        let a = ex(&[5, 6, 7, 8], 2);
        let b = ex(&[9, 2, 4], 1); // 2 = pad/EOS inside the text is masked too (HF collator)
        let batch = collate(&[&a, &b], 2, 512, LossOn::All, &Device::Cpu)?;
        assert_eq!(batch.ids.to_vec2::<u32>()?, vec![vec![5, 6, 7, 8], vec![9, 2, 4, 2]]);
        assert_eq!(batch.mask.to_vec2::<u32>()?, vec![vec![1, 1, 1, 1], vec![1, 1, 1, 0]]);
        assert_eq!(batch.targets, vec![6, 7, 8, IGNORE, IGNORE, 4, IGNORE, IGNORE]);
        assert_eq!(batch.n_targets, 4);
        assert_eq!(batch.n_tokens, 7);
        let resp = collate(&[&a, &b], 2, 3, LossOn::Response, &Device::Cpu)?;
        // Truncated to 3; prompt positions (< prompt_len) are not targets.
        assert_eq!(resp.targets, vec![IGNORE, 7, IGNORE, IGNORE, 4, IGNORE]);
        Ok(())
    }

    #[test]
    fn tokenize_finds_prompt_length() {
        let examples = [TrainExample { prompt: "ab".into(), response: "cd".into() }];
        let out = tokenize(&examples, |s: &str| Ok::<_, ()>(s.bytes().map(u32::from).collect())).unwrap();
        assert_eq!(out[0].ids, vec![97, 98, 99, 100]);
        assert_eq!(out[0].prompt_len, 2);
    }

    #[test]
    fn plan_matches_the_studys_step_counts() -> Result<()> {
        // 900 rows, 2 x 8: 450 micro-batches, 56 steps per epoch, 168 in 3 epochs (SPEC §4).
        assert_eq!(StepPlan::new(900, 2, 8, 3, None, true, 42)?.total_steps, 168);
        assert_eq!(StepPlan::new(540, 2, 8, 3, None, true, 42)?.total_steps, 99);
        assert_eq!(StepPlan::new(3240, 2, 8, 3, None, true, 42)?.total_steps, 606);
        Ok(())
    }

    #[test]
    fn plan_groups_span_epochs_and_cover_each_epoch_once() -> Result<()> {
        // 10 examples, batch 3 -> 4 micro-batches per epoch (last has 1); accum 3.
        let plan = StepPlan::new(10, 3, 3, 3, None, true, 1)?;
        assert_eq!(plan.total_steps, 3);
        let mut stream = vec![];
        for s in 0..4 {
            stream.extend(plan.step_micro_batches(s));
        }
        let epoch0: Vec<usize> = stream[..4].concat();
        let mut sorted = epoch0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(stream[3].len(), 1);
        // Step 1 = last micro-batch of epoch 0 + first two of epoch 1.
        assert_eq!(plan.step_micro_batches(1)[0], stream[3]);
        assert_ne!(stream[..4].concat(), stream[4..8].concat(), "each epoch reshuffles");
        Ok(())
    }

    #[test]
    fn split_by_position() {
        let v: Vec<u32> = (0..1000).collect();
        let (t, val) = split_by_fraction(&v, 0.1);
        assert_eq!((t.len(), val.len()), (900, 100));
        assert_eq!(val[0], 900);
        let w: Vec<u32> = (0..600).collect();
        assert_eq!(split_by_fraction(&w, 0.1).0.len(), 540);
    }
}
