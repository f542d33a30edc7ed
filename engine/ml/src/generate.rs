//! Batched generation with a KV cache (left padding, per-row positions) and batched
//! log-likelihood scoring of continuations.

use crate::fastmath::exp_nonpositive;
use crate::load::LoadedModel;
use crate::model::KvCache;
use crate::sample::sample_token;
use anyhow::{ensure, Result};
use candle_core::{CpuStorage, DType, Storage, Tensor, D};
use serde::{Deserialize, Serialize};
use syco_data::rng::{fnv1a, SplitMix64};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    pub max_new_tokens: usize,
    /// 0 means greedy decoding.
    pub temperature: f64,
    /// Nucleus sampling mass (1.0 = off). Only used when sampling.
    pub top_p: f64,
    /// HF-style repetition penalty over the prompt and generated tokens (1.0 = off).
    pub repeat_penalty: f64,
    /// Sampling seed; each prompt's stream is derived from it and the prompt text, so a
    /// prompt's output does not depend on the batch it ran in.
    pub seed: u64,
    /// Strings that end a generation; the output is cut before the first one.
    pub stop: Vec<String>,
    /// Prompts per forward pass.
    pub batch_size: usize,
    /// End-of-sequence tokens are suppressed until this many new tokens exist (HF semantics).
    pub min_new_tokens: usize,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            max_new_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            repeat_penalty: 1.0,
            seed: 0,
            stop: Vec::new(),
            batch_size: 16,
            min_new_tokens: 0,
        }
    }
}

/// Generate a continuation for each rendered prompt; returns the new text only.
pub fn generate(m: &LoadedModel, prompts: &[String], cfg: &GenerationConfig) -> Result<Vec<String>> {
    ensure!(cfg.batch_size > 0, "batch_size must be positive");
    ensure!(cfg.temperature >= 0.0 && cfg.top_p > 0.0 && cfg.top_p <= 1.0, "temperature must be >= 0 and top_p in (0, 1]");
    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| m.tokenizer.encode(p)).collect::<Result<_>>()?;
    generate_tokens(m, &ids, cfg)?.iter().map(|toks| Ok(cut_at_stop(m.tokenizer.decode(toks, true)?, &cfg.stop))).collect()
}

/// Generation from token ids; returns the new token ids of each prompt (EOS excluded).
pub fn generate_tokens(m: &LoadedModel, prompts: &[Vec<u32>], cfg: &GenerationConfig) -> Result<Vec<Vec<u32>>> {
    ensure!(cfg.batch_size > 0, "batch_size must be positive");
    let mut out = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(cfg.batch_size) {
        out.extend(generate_batch(m, chunk, cfg)?);
    }
    Ok(out)
}

/// One batch: left padding, per-row positions, one KV cache.
fn generate_batch(m: &LoadedModel, prompts: &[Vec<u32>], cfg: &GenerationConfig) -> Result<Vec<Vec<u32>>> {
    let model = &m.model;
    let dev = model.device();
    let b = prompts.len();
    ensure!(prompts.iter().all(|p| !p.is_empty()), "a prompt tokenised to nothing");
    let pad = m.tokenizer.eos.first().copied().unwrap_or(0);
    let (flat, positions, mut key_mask, t) = left_padded(&prompts.iter().map(Vec::as_slice).collect::<Vec<_>>(), pad);
    let ids = Tensor::from_vec(flat, (b, t), dev)?;
    let mut cache = KvCache::new(model.config());
    let h = model.hidden(&ids, &positions, &key_mask, Some(&mut cache), None)?;
    let mut logits = model.inference_logits(&h.narrow(1, t - 1, 1)?)?.squeeze(1)?;

    let mut rngs: Vec<SplitMix64> =
        prompts.iter().map(|p| SplitMix64::new(cfg.seed ^ fnv1a(p.iter().flat_map(|t| t.to_le_bytes())))).collect();
    let mut history: Vec<Vec<u32>> = prompts.to_vec();
    let mut new_tokens: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut done = vec![false; b];
    let mut next_pos: Vec<u32> = prompts.iter().map(|p| p.len() as u32).collect();
    for step in 0..cfg.max_new_tokens {
        let rows = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let mut step_ids = Vec::with_capacity(b);
        for r in 0..b {
            if done[r] {
                step_ids.push(pad);
                continue;
            }
            let mut row = rows[r].clone();
            if new_tokens[r].len() < cfg.min_new_tokens {
                for &e in &m.tokenizer.eos {
                    if let Some(x) = row.get_mut(e as usize) {
                        *x = f32::NEG_INFINITY;
                    }
                }
            }
            let tok = pick(row, &history[r], cfg, &mut rngs[r]);
            if m.tokenizer.eos.contains(&tok) {
                done[r] = true;
                step_ids.push(pad);
                continue;
            }
            history[r].push(tok);
            new_tokens[r].push(tok);
            if !cfg.stop.is_empty() {
                let text = m.tokenizer.decode(&new_tokens[r], true)?;
                if cfg.stop.iter().any(|s| text.contains(s.as_str())) {
                    done[r] = true;
                }
            }
            step_ids.push(tok);
        }
        if done.iter().all(|d| *d) || step + 1 == cfg.max_new_tokens {
            break;
        }
        let ids = Tensor::from_vec(step_ids, (b, 1), dev)?;
        let pos: Vec<Vec<u32>> = next_pos.iter().map(|p| vec![*p]).collect();
        for (r, row) in key_mask.iter_mut().enumerate() {
            row.push(1);
            next_pos[r] += 1;
        }
        let h = model.hidden(&ids, &pos, &key_mask, Some(&mut cache), None)?;
        logits = model.inference_logits(&h)?.squeeze(1)?;
    }
    Ok(new_tokens)
}

/// A left-padded batch: ids (row-major, B x t), each row's rotary positions and key mask, t.
pub(crate) type LeftPadded = (Vec<u32>, Vec<Vec<u32>>, Vec<Vec<u8>>, usize);

/// Sequences left-padded with `pad` to the longest, `t`: the ids (row-major, B x t), each row's
/// rotary positions (0 under the padding, then 0..len) and key mask (0 under the padding), and
/// `t`. Every sequence's last token is at column t - 1.
pub(crate) fn left_padded(seqs: &[&[u32]], pad: u32) -> LeftPadded {
    let t = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(seqs.len() * t);
    let mut positions = Vec::with_capacity(seqs.len());
    let mut key_mask = Vec::with_capacity(seqs.len());
    for p in seqs {
        let npad = t - p.len();
        flat.extend(std::iter::repeat_n(pad, npad).chain(p.iter().copied()));
        positions.push(std::iter::repeat_n(0, npad).chain(0..p.len() as u32).collect::<Vec<u32>>());
        key_mask.push(std::iter::repeat_n(0u8, npad).chain(std::iter::repeat_n(1u8, p.len())).collect::<Vec<u8>>());
    }
    (flat, positions, key_mask, t)
}

/// Greedy (or configured) generation from token ids, decoded and cut before the first stop
/// string: lm-eval's `generate_until` when the prompts were encoded without special tokens.
pub fn generate_until(m: &LoadedModel, prompts: &[Vec<u32>], cfg: &GenerationConfig) -> Result<Vec<String>> {
    generate_tokens(m, prompts, cfg)?.iter().map(|toks| Ok(cut_at_stop(m.tokenizer.decode(toks, true)?, &cfg.stop))).collect()
}

fn cut_at_stop(mut text: String, stop: &[String]) -> String {
    if let Some(i) = stop.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min() {
        text.truncate(i);
    }
    text
}

/// Choose the next token: repetition penalty, then greedy or temperature + top-p sampling
/// (`sample::sample_token`, the one warping and draw).
fn pick(mut l: Vec<f32>, history: &[u32], cfg: &GenerationConfig, rng: &mut SplitMix64) -> u32 {
    if cfg.repeat_penalty != 1.0 {
        let p = cfg.repeat_penalty as f32;
        let mut seen = history.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for &t in &seen {
            if let Some(x) = l.get_mut(t as usize) {
                *x = if *x > 0.0 { *x / p } else { *x * p };
            }
        }
    }
    sample_token(&l, cfg.temperature, cfg.top_p, rng)
}

/// Log-likelihood of one (context, continuation) pair, split at the context boundary.
/// Sums are natural-log probabilities of each token given all tokens before it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoglikOut {
    /// Continuation tokens (all of them, unless the sequence is the first token itself).
    pub cont_sum: f64,
    pub cont_count: usize,
    /// Context tokens after the first one (the first has no prefix to condition on).
    pub ctx_sum: f64,
    pub ctx_count: usize,
    /// Every continuation token was the argmax of its distribution.
    pub cont_greedy: bool,
}

impl LoglikOut {
    /// Mean over all scored tokens 1..T-1 of the concatenation (the study's HellaSwag rule).
    pub fn mean_all(&self) -> f64 {
        (self.ctx_sum + self.cont_sum) / (self.ctx_count + self.cont_count).max(1) as f64
    }
}

/// Score continuations given contexts. The text `context + continuation` is tokenised as a
/// whole (BOS per the tokenizer's `add_bos`); the context's own tokenisation sets the boundary
/// (the longest common prefix, so a merge across the boundary counts as continuation).
pub fn loglik(m: &LoadedModel, pairs: &[(String, String)], batch: usize) -> Result<Vec<LoglikOut>> {
    ensure!(batch > 0, "batch must be positive");
    let mut seqs = Vec::with_capacity(pairs.len());
    for (ctx, cont) in pairs {
        let whole = m.tokenizer.encode(&format!("{ctx}{cont}"))?;
        let ctx_ids = m.tokenizer.encode(ctx)?;
        let boundary = whole.iter().zip(&ctx_ids).take_while(|(a, b)| a == b).count();
        ensure!(!whole.is_empty(), "empty text to score");
        seqs.push((whole, boundary));
    }
    // Longest first, so each batch pads little; results go back in input order.
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].0.len()));
    let mut out = vec![None; seqs.len()];
    for chunk in order.chunks(batch) {
        let rows: Vec<&Vec<u32>> = chunk.iter().map(|&i| &seqs[i].0).collect();
        let scored = token_logprobs_batch(m, &rows)?;
        for (k, &i) in chunk.iter().enumerate() {
            let (ref ids, boundary) = seqs[i];
            let (lp, greedy) = &scored[k];
            let mut o = LoglikOut { cont_sum: 0.0, cont_count: 0, ctx_sum: 0.0, ctx_count: 0, cont_greedy: true };
            for t in 1..ids.len() {
                if t < boundary {
                    o.ctx_sum += lp[t - 1] as f64;
                    o.ctx_count += 1;
                } else {
                    o.cont_sum += lp[t - 1] as f64;
                    o.cont_count += 1;
                    o.cont_greedy &= greedy[t - 1];
                }
            }
            out[i] = Some(o);
        }
    }
    Ok(out.into_iter().map(|o| o.expect("every pair scored")).collect())
}

/// The log-likelihood of a continuation's tokens after a context's, both already tokenised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContinuationLoglik {
    pub sum: f64,
    /// Every continuation token was the argmax of its distribution (lm-eval's `is_greedy`).
    pub greedy: bool,
    pub tokens: usize,
}

/// Score `(context, continuation)` token pairs as lm-eval's `_loglikelihood_tokens` does: the
/// sequence is `context + continuation`, cut from the left to the model's context length plus
/// one, and only the continuation's tokens are summed. An empty context must be given as one
/// prefix token (BOS or EOS) by the caller.
///
/// Pairs with the same context (the choices of one question) share its forward pass: the
/// context runs once, `batch` contexts at a time, and its KV cache is copied to each of its
/// continuations, which run together after it. Single-token continuations (lettered choices)
/// are scored from the context pass alone.
pub fn continuation_logliks(m: &LoadedModel, pairs: &[(Vec<u32>, Vec<u32>)], batch: usize) -> Result<Vec<ContinuationLoglik>> {
    ensure!(batch > 0, "batch must be positive");
    let limit = m.model.config().max_position_embeddings + 1;
    let mut groups: Vec<SharedContext> = vec![];
    let mut group_of: std::collections::HashMap<Vec<u32>, usize> = std::collections::HashMap::new();
    for (i, (ctx, cont)) in pairs.iter().enumerate() {
        ensure!(!ctx.is_empty() && !cont.is_empty(), "a scored pair needs context and continuation tokens");
        ensure!(cont.len() < limit, "a continuation of {} tokens does not fit the model's context of {}", cont.len(), limit - 1);
        // The last token of the sequence is never fed; the model sees `limit - 1` tokens.
        let keep = (limit - cont.len()).min(ctx.len());
        let ctx = ctx[ctx.len() - keep..].to_vec();
        let g = *group_of.entry(ctx.clone()).or_insert_with(|| {
            groups.push((ctx, vec![]));
            groups.len() - 1
        });
        groups[g].1.push((i, cont.clone()));
    }
    // Longest contexts first, so each batch pads little.
    groups.sort_by_key(|(ctx, _)| std::cmp::Reverse(ctx.len()));
    let mut out = vec![None; pairs.len()];
    for chunk in groups.chunks(batch) {
        for (i, l) in score_shared(m, chunk)? {
            out[i] = Some(l);
        }
    }
    Ok(out.into_iter().map(|o| o.expect("every pair scored")).collect())
}

/// A context's tokens and its continuations, each with its pair's index.
type SharedContext = (Vec<u32>, Vec<(usize, Vec<u32>)>);

/// One batch of contexts and all their continuations: (pair index, result).
fn score_shared(m: &LoadedModel, groups: &[SharedContext]) -> Result<Vec<(usize, ContinuationLoglik)>> {
    let model = &m.model;
    let dev = model.device();
    let g = groups.len();
    // Contexts left-padded, so every context's last token is at position c - 1 of the batch.
    let (flat, positions, ctx_mask, c) = left_padded(&groups.iter().map(|(ctx, _)| ctx.as_slice()).collect::<Vec<_>>(), 0);
    let mut cache = KvCache::new(model.config());
    let h = model.hidden(&Tensor::from_vec(flat, (g, c), dev)?, &positions, &ctx_mask, Some(&mut cache), None)?;
    let last = model.inference_logits(&h.narrow(1, c - 1, 1)?)?.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let vocab = last.len() / g;

    // Every continuation's first token, from its context's last position.
    let rows: Vec<(usize, usize, &Vec<u32>)> =
        groups.iter().enumerate().flat_map(|(k, (_, conts))| conts.iter().map(move |(i, cont)| (k, *i, cont))).collect();
    let mut first_logits = Vec::with_capacity(rows.len() * vocab);
    for (k, _, _) in &rows {
        first_logits.extend_from_slice(&last[k * vocab..(k + 1) * vocab]);
    }
    let firsts = pick_logprobs(&first_logits, vocab, &rows.iter().map(|(_, _, cont)| cont[0]).collect::<Vec<u32>>());
    let mut results: Vec<(usize, ContinuationLoglik)> = rows
        .iter()
        .zip(&firsts)
        .map(|((_, i, cont), (lp, greedy))| (*i, ContinuationLoglik { sum: *lp as f64, greedy: *greedy, tokens: cont.len() }))
        .collect();

    // The rest of each continuation, every row continuing its context's cache.
    let l = rows.iter().map(|(_, _, cont)| cont.len()).max().unwrap_or(1);
    if l < 2 {
        return Ok(results);
    }
    let r = rows.len();
    let mut cache = cache.select_rows(&rows.iter().map(|(k, _, _)| *k).collect::<Vec<_>>(), dev)?;
    let mut flat = Vec::with_capacity(r * l);
    let mut positions = Vec::with_capacity(r);
    let mut key_mask = Vec::with_capacity(r);
    let mut targets = Vec::with_capacity(r * (l - 1));
    for (k, _, cont) in &rows {
        let start = groups[*k].0.len() as u32;
        flat.extend(cont.iter().copied().chain(std::iter::repeat_n(0, l - cont.len())));
        positions.push((start..start + l as u32).collect::<Vec<u32>>());
        key_mask.push(
            ctx_mask[*k]
                .iter()
                .copied()
                .chain(std::iter::repeat_n(1u8, cont.len()))
                .chain(std::iter::repeat_n(0u8, l - cont.len()))
                .collect(),
        );
        targets.extend(cont[1..].iter().copied().chain(std::iter::repeat_n(0, l - cont.len())));
    }
    let h = model.hidden(&Tensor::from_vec(flat, (r, l), dev)?, &positions, &key_mask, Some(&mut cache), None)?;
    let logits = model.inference_logits(&h.narrow(1, 0, l - 1)?)?;
    let logits = logits.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let rest = pick_logprobs(&logits, vocab, &targets);
    for (row, (_, _, cont)) in rows.iter().enumerate() {
        let scored = &rest[row * (l - 1)..row * (l - 1) + cont.len() - 1];
        results[row].1.sum += scored.iter().map(|(lp, _)| *lp as f64).sum::<f64>();
        results[row].1.greedy &= scored.iter().all(|(_, g)| *g);
    }
    Ok(results)
}

/// For each token sequence, log p(ids[t] | ids[..t]) for t = 1..len, `batch` rows at a time.
pub fn token_logprobs(m: &LoadedModel, seqs: &[Vec<u32>], batch: usize) -> Result<Vec<Vec<f32>>> {
    ensure!(batch > 0, "batch must be positive");
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(batch) {
        let rows: Vec<&Vec<u32>> = chunk.iter().collect();
        out.extend(token_logprobs_batch(m, &rows)?.into_iter().map(|(lp, _)| lp));
    }
    Ok(out)
}

/// For each row, log p(ids[t] | ids[..t]) for t = 1..len and whether ids[t] was the argmax.
fn token_logprobs_batch(m: &LoadedModel, rows: &[&Vec<u32>]) -> Result<Vec<(Vec<f32>, Vec<bool>)>> {
    let model = &m.model;
    let dev = model.device();
    let b = rows.len();
    let t = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    if t < 2 {
        return Ok(rows.iter().map(|_| (Vec::new(), Vec::new())).collect());
    }
    let mut flat = Vec::with_capacity(b * t);
    let mut targets = Vec::with_capacity(b * (t - 1));
    let mut key_mask = Vec::with_capacity(b);
    for r in rows {
        flat.extend(r.iter().copied().chain(std::iter::repeat_n(0, t - r.len())));
        targets.extend(r[1..].iter().copied().chain(std::iter::repeat_n(0, t - r.len())));
        key_mask.push(std::iter::repeat_n(1u8, r.len()).chain(std::iter::repeat_n(0, t - r.len())).collect::<Vec<u8>>());
    }
    let ids = Tensor::from_vec(flat, (b, t), dev)?;
    let positions: Vec<Vec<u32>> = (0..b).map(|_| (0..t as u32).collect()).collect();
    let h = model.hidden(&ids, &positions, &key_mask, None, None)?;
    let logits = model.inference_logits(&h.narrow(1, 0, t - 1)?)?; // (B, T-1, V) f32
    let vocab = logits.dim(D::Minus1)?;
    // Read in place on the CPU: a copy would be another (B, T-1, V) buffer (400 MB at 16 x 128).
    let picked = {
        let (storage, layout) = logits.storage_and_layout();
        match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) => pick_logprobs(&v[a..b], vocab, &targets),
            _ => pick_logprobs(&logits.flatten_all()?.to_vec1::<f32>()?, vocab, &targets),
        }
    };
    Ok(rows
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let row = &picked[k * (t - 1)..k * (t - 1) + r.len() - 1];
            (row.iter().map(|p| p.0).collect(), row.iter().map(|p| p.1).collect())
        })
        .collect())
}

/// For each row of `logits` (rows of `vocab`), log-softmax at its target and whether the target
/// is the argmax. One pass per row for the max and one for the sum of exponentials, rows in
/// parallel: the (rows, vocab) intermediates of a tensor expression (x - max, exp) would be
/// 400 MB each for 16 x 128 tokens of a 49k vocabulary.
fn pick_logprobs(logits: &[f32], vocab: usize, targets: &[u32]) -> Vec<(f32, bool)> {
    use rayon::prelude::*;
    logits.par_chunks(vocab).zip(targets).map(|(row, &target)| log_softmax_at(row, target as usize)).collect()
}

/// Log-softmax of `row` at `target`, and whether `target` holds the maximum.
fn log_softmax_at(row: &[f32], target: usize) -> (f32, bool) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::choose(crate::simd::features(), &[(LOG_SOFTMAX_AT_AVX512, true)], false) {
        // SAFETY: `choose` said the CPU has the features of `log_softmax_at_avx512`.
        return unsafe { log_softmax_at_avx512(row, target) };
    }
    log_softmax_at_portable(row, target)
}

#[cfg(target_arch = "x86_64")]
crate::simd::target_fn! {
    pub(crate) const LOG_SOFTMAX_AT_AVX512 = ["avx512f"];
    fn log_softmax_at_avx512(row: &[f32], target: usize) -> (f32, bool) {
        log_softmax_at_portable(row, target)
    }
}

/// Lanes of the max and sum loops: plain arithmetic over fixed arrays, which LLVM turns into
/// vector code (16 lanes under AVX-512) where a libm `exp` call per element would not.
const LANES: usize = 16;

#[inline(always)]
fn log_softmax_at_portable(row: &[f32], target: usize) -> (f32, bool) {
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    let mut lane_max = [f32::NEG_INFINITY; LANES];
    for c in chunks.clone() {
        for j in 0..LANES {
            lane_max[j] = if c[j] > lane_max[j] { c[j] } else { lane_max[j] };
        }
    }
    let max = lane_max.iter().chain(tail).copied().fold(f32::NEG_INFINITY, f32::max);
    // Summed in f64: 49k terms in f32 can lose the last few digits.
    let mut lane_sum = [0f64; LANES];
    for c in chunks {
        for j in 0..LANES {
            lane_sum[j] += exp_nonpositive(c[j] - max) as f64;
        }
    }
    let sum: f64 = lane_sum.iter().sum::<f64>() + tail.iter().map(|&x| exp_nonpositive(x - max) as f64).sum::<f64>();
    let picked = row[target];
    (picked - (sum.ln() as f32 + max), picked >= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_logprobs_equal_log_softmax_and_flag_the_argmax() -> candle_core::Result<()> {
        let dev = candle_core::Device::Cpu;
        let (rows, vocab) = (5, 3000);
        let logits = (Tensor::randn(0f32, 1.0, (rows, vocab), &dev)? * 8.0)?;
        let want = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
        let flat = logits.flatten_all()?.to_vec1::<f32>()?;
        let argmax = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        // Row 0 picks its argmax; the others a fixed token.
        let targets: Vec<u32> = (0..rows).map(|r| if r == 0 { argmax[0] } else { 17 * r as u32 }).collect();
        for (r, (lp, greedy)) in pick_logprobs(&flat, vocab, &targets).into_iter().enumerate() {
            let expect = want[r][targets[r] as usize];
            assert!((lp - expect).abs() < 1e-4, "row {r}: {lp} vs {expect}");
            assert_eq!(greedy, targets[r] == argmax[r], "row {r}");
        }
        Ok(())
    }
}
