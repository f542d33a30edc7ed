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
///
/// Pairs with the same context (a question's choices) whose sequences end one token after
/// their longest common token prefix (lettered choices) share its pass: the prefix runs once,
/// `batch` contexts per forward, and every choice's token is scored from its last position
/// (`score_shared`). Other pairs run whole. The results are `loglik_unshared`'s up to f32
/// rounding: the passes have other shapes, which can change a matmul's order of summation.
pub fn loglik(m: &LoadedModel, pairs: &[(String, String)], batch: usize) -> Result<Vec<LoglikOut>> {
    ensure!(batch > 0, "batch must be positive");
    let seqs = loglik_sequences(m, pairs)?;
    let mut out = vec![None; seqs.len()];
    let mut groups: Vec<SharedContext> = vec![];
    for members in same_context(pairs) {
        // A lone token has nothing to score, and no prefix to share.
        let (lone, many): (Vec<usize>, Vec<usize>) = members.into_iter().partition(|&i| seqs[i].0.len() < 2);
        for i in lone {
            out[i] = Some(split_at_boundary(&[], seqs[i].1));
        }
        groups.extend(prefix_groups(&many, &seqs));
    }
    // Only groups whose choices are one token after the prefix share it: they are scored from
    // the prefix's pass alone. Longer choices would continue a copied KV cache, whose attention
    // is candle's, slower than the fused kernel of whole fresh passes: measured on HellaSwag
    // (4 endings of ~25 tokens after ~50) at 0.95x the unshared path (bench-results/mc_prefix.md).
    let (single, whole): (Vec<SharedContext>, Vec<SharedContext>) =
        groups.into_iter().partition(|(_, members)| members.iter().all(|(_, suffix)| suffix.len() == 1));
    let mut groups = single;
    let whole: Vec<usize> = whole.into_iter().flat_map(|(_, members)| members.into_iter().map(|(i, _)| i)).collect();
    score_whole(m, &seqs, whole, batch, &mut out)?;
    // Longest prefixes first, so each batch pads little; results go back in input order.
    groups.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
    for chunk in groups.chunks(batch) {
        for (prefix, members) in score_shared(m, chunk, true)? {
            for (i, suffix) in members {
                let picks: Vec<(f32, bool)> = prefix.iter().chain(&suffix).copied().collect();
                out[i] = Some(split_at_boundary(&picks, seqs[i].1));
            }
        }
    }
    Ok(out.into_iter().map(|o| o.expect("every pair scored")).collect())
}

/// `loglik` with every sequence run whole on its own: the reference the shared path is tested
/// against (tests/shared_prefix.rs).
#[doc(hidden)]
pub fn loglik_unshared(m: &LoadedModel, pairs: &[(String, String)], batch: usize) -> Result<Vec<LoglikOut>> {
    ensure!(batch > 0, "batch must be positive");
    let seqs = loglik_sequences(m, pairs)?;
    let mut out = vec![None; seqs.len()];
    score_whole(m, &seqs, (0..seqs.len()).collect(), batch, &mut out)?;
    Ok(out.into_iter().map(|o| o.expect("every pair scored")).collect())
}

/// Scores the sequences `order` names, each run whole, `batch` at a time, into `out`.
fn score_whole(
    m: &LoadedModel,
    seqs: &[(Vec<u32>, usize)],
    mut order: Vec<usize>,
    batch: usize,
    out: &mut [Option<LoglikOut>],
) -> Result<()> {
    // Longest first, so each batch pads little; results go back in input order.
    order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].0.len()));
    for chunk in order.chunks(batch) {
        let rows: Vec<&Vec<u32>> = chunk.iter().map(|&i| &seqs[i].0).collect();
        let scored = token_logprobs_batch(m, &rows)?;
        for (k, &i) in chunk.iter().enumerate() {
            let (lp, greedy) = &scored[k];
            let picks: Vec<(f32, bool)> = lp.iter().copied().zip(greedy.iter().copied()).collect();
            out[i] = Some(split_at_boundary(&picks, seqs[i].1));
        }
    }
    Ok(())
}

/// Each pair's whole tokenisation and its context boundary.
fn loglik_sequences(m: &LoadedModel, pairs: &[(String, String)]) -> Result<Vec<(Vec<u32>, usize)>> {
    let mut seqs = Vec::with_capacity(pairs.len());
    for (ctx, cont) in pairs {
        let whole = m.tokenizer.encode(&format!("{ctx}{cont}"))?;
        let ctx_ids = m.tokenizer.encode(ctx)?;
        let boundary = common_len(&whole, &ctx_ids);
        ensure!(!whole.is_empty(), "empty text to score");
        seqs.push((whole, boundary));
    }
    Ok(seqs)
}

fn common_len(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The pairs' indices grouped by context string, groups in order of first appearance.
fn same_context(pairs: &[(String, String)]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = vec![];
    let mut group_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, (ctx, _)) in pairs.iter().enumerate() {
        let g = *group_of.entry(ctx).or_insert_with(|| {
            groups.push(vec![]);
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

/// Sequences (each of 2 tokens or more) as groups sharing a prefix: their longest common one,
/// cut to leave every sequence a token after it (that token's log-prob comes from the
/// prefix's last position). Sequences that share no first token go alone, each its own prefix.
fn prefix_groups(members: &[usize], seqs: &[(Vec<u32>, usize)]) -> Vec<SharedContext> {
    let Some(&first) = members.first() else { return vec![] };
    let p = members.iter().map(|&i| common_len(&seqs[first].0, &seqs[i].0).min(seqs[i].0.len() - 1)).min().unwrap_or(0);
    if p == 0 {
        return members.iter().flat_map(|&i| prefix_groups(&[i], seqs)).collect();
    }
    vec![(seqs[first].0[..p].to_vec(), members.iter().map(|&i| (i, seqs[i].0[p..].to_vec())).collect())]
}

/// One sequence's picks (log p(ids[t] | ids[..t]) and argmax flag, t = 1..len) summed on either
/// side of its context boundary, in token order.
fn split_at_boundary(picks: &[(f32, bool)], boundary: usize) -> LoglikOut {
    let mut o = LoglikOut { cont_sum: 0.0, cont_count: 0, ctx_sum: 0.0, ctx_count: 0, cont_greedy: true };
    for (t, &(lp, greedy)) in (1..).zip(picks) {
        if t < boundary {
            o.ctx_sum += lp as f64;
            o.ctx_count += 1;
        } else {
            o.cont_sum += lp as f64;
            o.cont_count += 1;
            o.cont_greedy &= greedy;
        }
    }
    o
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
        for (_, conts) in score_shared(m, chunk, false)? {
            for (i, p) in conts {
                // The first token's log-prob plus the sum of the rest's, as ever (bit for bit).
                let sum = p[0].0 as f64 + p[1..].iter().map(|(lp, _)| *lp as f64).sum::<f64>();
                out[i] = Some(ContinuationLoglik { sum, greedy: p.iter().all(|(_, g)| *g), tokens: p.len() });
            }
        }
    }
    Ok(out.into_iter().map(|o| o.expect("every pair scored")).collect())
}

/// A context's (or shared prefix's) tokens and its continuations, each with its pair's index.
type SharedContext = (Vec<u32>, Vec<(usize, Vec<u32>)>);

/// Log-probs of consecutive tokens, each with whether it was the argmax of its distribution.
type Picks = Vec<(f32, bool)>;

/// A context's own picks, and each continuation's pair index and picks.
type SharedPicks = (Picks, Vec<(usize, Picks)>);

/// One batch of contexts and all their continuations. Per context: the picks of its own tokens
/// after the first when `own` (`loglik` counts them; else none are computed), and per
/// continuation its pair index and the picks of all its tokens.
fn score_shared(m: &LoadedModel, groups: &[SharedContext], own: bool) -> Result<Vec<SharedPicks>> {
    let model = &m.model;
    let dev = model.device();
    let g = groups.len();
    // Contexts left-padded, so every context's last token is at position c - 1 of the batch.
    let (flat, positions, ctx_mask, c) = left_padded(&groups.iter().map(|(ctx, _)| ctx.as_slice()).collect::<Vec<_>>(), 0);
    let mut cache = KvCache::new(model.config());
    let h = model.hidden(&Tensor::from_vec(flat, (g, c), dev)?, &positions, &ctx_mask, Some(&mut cache), None)?;
    let contexts = if own { context_picks(m, &h, groups)? } else { vec![vec![]; g] };
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
    let mut picks: Vec<Picks> = firsts.into_iter().map(|f| vec![f]).collect();
    if rows.iter().any(|(_, _, cont)| cont.len() > 1) {
        let cache = cache.select_rows(&rows.iter().map(|(k, _, _)| *k).collect::<Vec<_>>(), dev)?;
        for (p, rest) in picks.iter_mut().zip(continuation_picks(m, cache, groups, &ctx_mask, &rows)?) {
            p.extend(rest);
        }
    }
    let mut out: Vec<SharedPicks> = contexts.into_iter().map(|p| (p, vec![])).collect();
    for ((k, i, _), p) in rows.iter().zip(picks) {
        out[*k].1.push((*i, p));
    }
    Ok(out)
}

/// The picks of each context's tokens after its first, from the context pass's hidden states
/// `h` (g, c, hidden): only the rows under real tokens go through the head, not the padding.
fn context_picks(m: &LoadedModel, h: &Tensor, groups: &[SharedContext]) -> Result<Vec<Picks>> {
    let (g, c, hidden) = h.dims3()?;
    let (mut index, mut targets) = (vec![], vec![]);
    for (k, (ctx, _)) in groups.iter().enumerate() {
        // Token j of a context of n sits at column c - n + j and predicts token j + 1.
        index.extend((c - ctx.len()..c - 1).map(|col| (k * c + col) as u32));
        targets.extend_from_slice(&ctx[1..]);
    }
    let mut picked = if index.is_empty() {
        vec![]
    } else {
        let rows = h.reshape((g * c, hidden))?.index_select(&Tensor::from_vec(index, targets.len(), h.device())?, 0)?;
        pick_from_hidden(m, &rows, &targets)?
    }
    .into_iter();
    Ok(groups.iter().map(|(ctx, _)| picked.by_ref().take(ctx.len() - 1).collect()).collect())
}

/// The picks of each row's continuation tokens after its first: the continuations (right-
/// padded to the longest) run as one pass on `cache`, whose row r holds the context of
/// `rows[r]` (group, pair index, continuation).
fn continuation_picks(
    m: &LoadedModel,
    mut cache: KvCache,
    groups: &[SharedContext],
    ctx_mask: &[Vec<u8>],
    rows: &[(usize, usize, &Vec<u32>)],
) -> Result<Vec<Picks>> {
    let l = rows.iter().map(|(_, _, cont)| cont.len()).max().unwrap_or(1);
    let r = rows.len();
    let mut flat = Vec::with_capacity(r * l);
    let mut positions = Vec::with_capacity(r);
    let mut key_mask = Vec::with_capacity(r);
    let mut targets = Vec::with_capacity(r * (l - 1));
    for (k, _, cont) in rows {
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
    let model = &m.model;
    let h = model.hidden(&Tensor::from_vec(flat, (r, l), model.device())?, &positions, &key_mask, Some(&mut cache), None)?;
    let rest = pick_from_hidden(m, &h.narrow(1, 0, l - 1)?, &targets)?;
    Ok(rows.iter().enumerate().map(|(row, (_, _, cont))| rest[row * (l - 1)..row * (l - 1) + cont.len() - 1].to_vec()).collect())
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
    let picked = pick_from_hidden(m, &h.narrow(1, 0, t - 1)?, &targets)?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let row = &picked[k * (t - 1)..k * (t - 1) + r.len() - 1];
            (row.iter().map(|p| p.0).collect(), row.iter().map(|p| p.1).collect())
        })
        .collect())
}

/// Logits of this many bytes at most are alive at once while picking: a scoring batch's whole
/// (rows, vocab) block is 400 MB at 16 x 128 tokens of a 49k vocabulary, which glibc serves by
/// a fresh `mmap` whose pages are faulted in and zeroed on every call (13 % of scoring time);
/// slices under the allocator's mmap threshold (`allocator`) reuse the same heap block.
const PICK_LOGIT_BYTES: usize = 16 << 20;

/// For hidden states `h` (..., hidden) and one target per row, log-softmax at the target and
/// whether it is the argmax, computing the logits a slice of rows at a time (each row's logits
/// are computed the same way whatever the slice: `Llama::inference_logits`).
fn pick_from_hidden(m: &LoadedModel, h: &Tensor, targets: &[u32]) -> Result<Vec<(f32, bool)>> {
    let hidden = h.dim(D::Minus1)?;
    let rows = h.elem_count() / hidden.max(1);
    ensure!(rows == targets.len(), "{} targets for {rows} hidden rows", targets.len());
    let h = h.reshape((rows, hidden))?;
    let vocab = m.model.config().vocab_size.max(1);
    let step = (PICK_LOGIT_BYTES / (4 * vocab)).max(1);
    let mut picked = Vec::with_capacity(rows);
    for start in (0..rows).step_by(step) {
        let n = step.min(rows - start);
        let logits = m.model.inference_logits(&h.narrow(0, start, n)?)?.to_dtype(DType::F32)?;
        let vocab = logits.dim(D::Minus1)?;
        let targets = &targets[start..start + n];
        // Read in place on the CPU rather than copied out.
        let (storage, layout) = logits.storage_and_layout();
        match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) => picked.extend(pick_logprobs(&v[a..b], vocab, targets)),
            _ => picked.extend(pick_logprobs(&logits.flatten_all()?.to_vec1::<f32>()?, vocab, targets)),
        }
    }
    Ok(picked)
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
