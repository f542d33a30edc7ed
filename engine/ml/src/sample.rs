//! Sampled decoding: temperature and top-p (nucleus) warping, one token draw, and `sample_n`,
//! several samples of each prompt from one forward pass of the prompt (best-of-N, issue 22).
//!
//! Warping follows HF transformers' `TemperatureLogitsWarper` then `TopPLogitsWarper`
//! (min_tokens_to_keep = 1): logits divided by the temperature, softmax, and of the tokens
//! sorted by probability (descending, ties by token id: a stable sort) the smallest prefix whose
//! cumulative probability reaches `top_p` is kept (always at least one token); the draw is from
//! the kept tokens renormalised. transformers sorts ascending, so of tokens tied at the
//! boundary it keeps the higher ids where syco keeps the lower ones; the kept mass is the same
//! (tests/golden/sampling/warp.json holds both). This is the one implementation: `generate`'s
//! sampling (`generate.rs`, `pick`) draws through `sample_token` too.

use crate::generate::left_padded;
use crate::load::LoadedModel;
use crate::model::KvCache;
use anyhow::{ensure, Result};
use candle_core::{DType, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use syco_data::rng::SplitMix64;

/// How `sample_n` decodes. The seeds are the caller's, one per (prompt, sample): see `sample_n`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleConfig {
    /// At most this many new tokens per sample (EOS ends a sample earlier and is not returned).
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 means greedy (every sample of a prompt is then the same).
    pub temperature: f64,
    /// Nucleus mass in (0, 1]; 1 keeps every token.
    pub top_p: f64,
    /// Rows per forward pass: prompts per prefill, samples per decoding step.
    pub batch_size: usize,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig { max_new_tokens: 256, temperature: 1.0, top_p: 1.0, batch_size: 64 }
    }
}

/// The index of the largest logit (the first of equal ones).
pub(crate) fn argmax(l: &[f32]) -> u32 {
    l.iter().enumerate().fold((0usize, f32::NEG_INFINITY), |best, (i, &x)| if x > best.1 { (i, x) } else { best }).0 as u32
}

/// Tokens kept by temperature + top-p, most probable first (ties by id), each with its
/// probability under the temperature softmax over the whole vocabulary (not renormalised), and
/// the kept mass. Tokens of probability 0 are never kept.
///
/// With `top_p < 1` only the top of the vocabulary is sorted (a selection, then a sort of what
/// it selected, widened until the mass is reached): the order is a total order, so the prefix
/// is the full sort's, value for value.
fn nucleus(l: &[f32], temperature: f64, top_p: f64) -> (Vec<(u32, f64)>, f64) {
    let max = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f64)> = l.iter().enumerate().map(|(i, &x)| (i as u32, (((x - max) as f64) / temperature).exp())).collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    probs.iter_mut().for_each(|p| p.1 /= total);
    let desc = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let n = probs.len();
    let mut keep = n;
    if top_p < 1.0 {
        let mut k = n.min(256);
        'widen: loop {
            if k < n {
                probs.select_nth_unstable_by(k - 1, desc);
            }
            probs[..k].sort_unstable_by(desc);
            let mut acc = 0.0;
            for (i, p) in probs[..k].iter().enumerate() {
                acc += p.1;
                if acc >= top_p {
                    keep = i + 1;
                    break 'widen;
                }
            }
            if k == n {
                break; // rounding left the total short of top_p: keep everything
            }
            k = (k * 8).min(n);
        }
    } else {
        probs.sort_unstable_by(desc);
    }
    probs.truncate(keep);
    while probs.last().is_some_and(|p| p.1 <= 0.0) {
        probs.pop();
    }
    let mass = probs.iter().map(|p| p.1).sum();
    (probs, mass)
}

/// The distribution sampling draws from: the kept tokens (most probable first, ties by id) with
/// their probabilities renormalised over the kept set. `temperature <= 0` is greedy: the argmax
/// with probability 1.
pub fn warped_distribution(logits: &[f32], temperature: f64, top_p: f64) -> Vec<(u32, f64)> {
    if temperature <= 0.0 {
        return vec![(argmax(logits), 1.0)];
    }
    let (kept, mass) = nucleus(logits, temperature, top_p);
    kept.into_iter().map(|(t, p)| (t, p / mass)).collect()
}

/// Draw one token from `logits` under temperature + top-p with one uniform of `rng` (none when
/// greedy): the kept tokens in order, the first whose cumulative mass exceeds the uniform
/// scaled to the kept mass.
pub fn sample_token(logits: &[f32], temperature: f64, top_p: f64, rng: &mut SplitMix64) -> u32 {
    if temperature <= 0.0 {
        return argmax(logits);
    }
    let (kept, mass) = nucleus(logits, temperature, top_p);
    let mut u = rng.next_f64() * mass;
    for p in &kept {
        if u < p.1 {
            return p.0;
        }
        u -= p.1;
    }
    kept.last().map(|p| p.0).unwrap_or_else(|| argmax(logits))
}

/// Sample `seeds[i].len()` continuations of each prompt `prompts[i]` (token ids, BOS included
/// if wanted); returns, per prompt, its samples' new tokens in seed order, EOS excluded.
///
/// Sample j of prompt i draws from its own stream, `SplitMix64::new(seeds[i][j])`, one uniform
/// per token, so its tokens depend only on (prompt, seed): not on the other prompts, the other
/// samples, or `batch_size`.
///
/// Each prompt's forward pass runs once: prompts are prefilled together (longest first, left
/// padded, up to `batch_size` samples' worth of prompts per pass), every sample's first token
/// is drawn from its prompt's last logits, and the prompt's KV cache is copied to each of its
/// samples, which then decode together with the other prompts' samples, `batch_size` rows per
/// step. Finished rows leave the batch once half of it has finished.
pub fn sample_n(m: &LoadedModel, prompts: &[Vec<u32>], seeds: &[Vec<u64>], cfg: &SampleConfig) -> Result<Vec<Vec<Vec<u32>>>> {
    ensure!(prompts.len() == seeds.len(), "{} prompts but seeds for {}", prompts.len(), seeds.len());
    ensure!(cfg.batch_size > 0, "batch_size must be positive");
    ensure!(cfg.temperature >= 0.0 && cfg.top_p > 0.0 && cfg.top_p <= 1.0, "temperature must be >= 0 and top_p in (0, 1]");
    ensure!(prompts.iter().all(|p| !p.is_empty()), "a prompt has no tokens");
    let mut out: Vec<Vec<Vec<u32>>> = seeds.iter().map(|s| vec![Vec::new(); s.len()]).collect();
    if cfg.max_new_tokens == 0 {
        return Ok(out);
    }
    let mut order: Vec<usize> = (0..prompts.len()).filter(|&i| !seeds[i].is_empty()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(prompts[i].len()));
    // Prompts whose samples fill one batch share a prefill; a prompt with more samples than a
    // batch is prefilled alone and its samples decode in several batches.
    let mut groups: Vec<Vec<usize>> = vec![];
    let mut rows = 0;
    for i in order {
        if groups.is_empty() || rows + seeds[i].len() > cfg.batch_size {
            groups.push(vec![]);
            rows = 0;
        }
        groups.last_mut().expect("a group").push(i);
        rows += seeds[i].len();
    }
    for group in &groups {
        let prefill = Prefill::run(m, &group.iter().map(|&i| prompts[i].as_slice()).collect::<Vec<_>>())?;
        let rows: Vec<Row> = group
            .iter()
            .enumerate()
            .flat_map(|(k, &i)| {
                seeds[i].iter().enumerate().map(move |(j, &s)| Row { prompt: i, sample: j, k, rng: SplitMix64::new(s), tokens: vec![] })
            })
            .collect();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Row> = rows.by_ref().take(cfg.batch_size).collect();
            for row in decode(m, &prefill, chunk, cfg)? {
                out[row.prompt][row.sample] = row.tokens;
            }
        }
    }
    Ok(out)
}

/// One sample being decoded: where its result goes, its prompt's row `k` in the prefill, its
/// stream and its tokens so far.
struct Row {
    prompt: usize,
    sample: usize,
    k: usize,
    rng: SplitMix64,
    tokens: Vec<u32>,
}

/// Prompts run together once: their KV cache, key masks (left padding), lengths, and the logits
/// of each one's last position.
struct Prefill {
    cache: KvCache,
    key_mask: Vec<Vec<u8>>,
    lens: Vec<u32>,
    last: Vec<f32>,
    vocab: usize,
}

impl Prefill {
    fn run(m: &LoadedModel, prompts: &[&[u32]]) -> Result<Prefill> {
        let model = &m.model;
        let (flat, positions, key_mask, t) = left_padded(prompts, 0);
        let mut cache = KvCache::new(model.config());
        let ids = Tensor::from_vec(flat, (prompts.len(), t), model.device())?;
        let h = model.hidden(&ids, &positions, &key_mask, Some(&mut cache), None)?;
        let last = model.inference_logits(&h.narrow(1, t - 1, 1)?)?.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let vocab = last.len() / prompts.len();
        Ok(Prefill { cache, key_mask, lens: prompts.iter().map(|p| p.len() as u32).collect(), last, vocab })
    }
}

/// Decode `rows` (at most a batch) to the end: first tokens from their prompts' last logits,
/// then one forward per step over the unfinished rows, each continuing a copy of its prompt's
/// cache.
fn decode(m: &LoadedModel, prefill: &Prefill, mut rows: Vec<Row>, cfg: &SampleConfig) -> Result<Vec<Row>> {
    let model = &m.model;
    let dev = model.device();
    let eos = &m.tokenizer.eos;
    let vocab = prefill.vocab;
    // Draws a token for every row that has a slot, from that slot's logits (rows in parallel:
    // each has its own stream); a row that ends (EOS or the token limit) loses its slot.
    let draw = |rows: &mut [Row], slot_of: &mut [Option<usize>], logits: &[f32]| {
        let ended: Vec<usize> = rows
            .par_iter_mut()
            .zip(slot_of.par_iter())
            .enumerate()
            .filter_map(|(r, (row, slot))| {
                let s = (*slot)?;
                let tok = sample_token(&logits[s * vocab..(s + 1) * vocab], cfg.temperature, cfg.top_p, &mut row.rng);
                let end = eos.contains(&tok);
                if !end {
                    row.tokens.push(tok);
                }
                (end || row.tokens.len() >= cfg.max_new_tokens).then_some(r)
            })
            .collect();
        for r in ended {
            slot_of[r] = None;
        }
    };
    // First tokens: row r reads its prompt's logits, slot k of the prefill.
    let mut slot_of: Vec<Option<usize>> = rows.iter().map(|row| Some(row.k)).collect();
    draw(&mut rows, &mut slot_of, &prefill.last);
    // The batch: slot -> row, built from the live rows, each with a copy of its prompt's cache.
    let mut slots: Vec<Option<usize>> = (0..rows.len()).filter(|&r| slot_of[r].is_some()).map(Some).collect();
    if slots.is_empty() {
        return Ok(rows);
    }
    let mut cache = prefill.cache.select_rows(&slots.iter().map(|r| rows[r.expect("live")].k).collect::<Vec<_>>(), dev)?;
    let mut key_mask: Vec<Vec<u8>> = slots.iter().map(|r| prefill.key_mask[rows[r.expect("live")].k].clone()).collect();
    loop {
        for (s, r) in slots.iter().enumerate() {
            if let Some(r) = r {
                slot_of[*r] = Some(s);
            }
        }
        // A finished slot is fed token 0 at position 0 until the batch is compacted; its
        // outputs are never read.
        let ids: Vec<u32> = slots.iter().map(|r| r.map_or(0, |r| *rows[r].tokens.last().expect("a token"))).collect();
        let positions: Vec<Vec<u32>> =
            slots.iter().map(|r| vec![r.map_or(0, |r| prefill.lens[rows[r].k] + rows[r].tokens.len() as u32 - 1)]).collect();
        key_mask.iter_mut().for_each(|k| k.push(1));
        let h = model.hidden(&Tensor::from_vec(ids, (slots.len(), 1), dev)?, &positions, &key_mask, Some(&mut cache), None)?;
        let logits = model.inference_logits(&h)?.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        draw(&mut rows, &mut slot_of, &logits);
        for r in slots.iter_mut() {
            if r.is_some_and(|r| slot_of[r].is_none()) {
                *r = None;
            }
        }
        let live: Vec<usize> = (0..slots.len()).filter(|&s| slots[s].is_some()).collect();
        if live.is_empty() {
            return Ok(rows);
        }
        // Drop finished rows from the batch once they are half of it (a copy of the cache).
        if live.len() * 2 <= slots.len() {
            cache = cache.select_rows(&live, dev)?;
            key_mask = live.iter().map(|&s| std::mem::take(&mut key_mask[s])).collect();
            slots = live.iter().map(|&s| slots[s]).collect();
        }
    }
}
