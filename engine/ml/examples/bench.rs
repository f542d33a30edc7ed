//! SmolLM2 speed on this machine: generation (batch 1 and 16, 32-token prompts + 64 new
//! tokens, greedy) and log-likelihood scoring (16 x 128), for the quantised and dense paths.
//! Prompts are seeded random token ids, like the PyTorch peer script.
//!
//!   cargo run --release -p syco-ml --example bench -- [GGUF|-] [runs] [quantized|dense-f32|dense-bf16|dense-f32-noblocks|dense-bf16-noblocks] [b1|b16|score|mc4]
//!
//! Without a GGUF (or with `-`): `SYCO_SMOLLM2_GGUF`, else the main job's pip source, downloaded
//! once into the target dir.
//!
//! `dense-f32-noblocks` is the dense path without the GGUF blocks kept beside it (every product
//! in f32), as a model read from safetensors has; `dense-bf16-noblocks` the same with bf16
//! products. Both run only when named. `dense-bf16` is the dense path with whole-sequence products
//! (prefill, scoring) in bf16 with f32 sums (`Llama::set_bf16_products`); it also prints how far
//! its scores are from the f32 path's on the scoring input.

use candle_core::{DType, Device};
use std::time::Instant;
use syco_ml::{generate_tokens, token_logprobs, GenerationConfig, LoadedModel, WeightFormat};

#[path = "../tests/support/smollm2.rs"]
mod smollm2;

fn random_ids(n_rows: usize, len: usize, vocab: u32, seed: u64) -> Vec<Vec<u32>> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 33) as u32) % vocab
    };
    (0..n_rows).map(|_| (0..len).map(|_| next()).collect()).collect()
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() -> anyhow::Result<()> {
    syco_ml::allocator::tune_for_tensors(); // as the syco binary does
    let args: Vec<String> = std::env::args().collect();
    let path = match args.get(1).filter(|a| *a != "-") {
        Some(p) => std::path::PathBuf::from(p),
        None => smollm2::gguf().map_err(anyhow::Error::msg)?,
    };
    let runs: usize = args.get(2).map(|r| r.parse()).transpose()?.unwrap_or(5);
    let dev = Device::Cpu;
    let only = args.get(3).cloned();
    let what = args.get(4).cloned();
    let wants = |m: &str| what.as_deref().is_none_or(|w| w == m);
    let paths = [
        ("quantized", WeightFormat::Quantized),
        ("dense-f32", WeightFormat::Dense(DType::F32)),
        ("dense-bf16", WeightFormat::Dense(DType::F32)),
        ("dense-f32-noblocks", WeightFormat::Dense(DType::F32)),
        ("dense-bf16-noblocks", WeightFormat::Dense(DType::F32)),
    ];
    for (label, format) in paths {
        if only.as_deref().is_some_and(|o| o != label) || (only.is_none() && label.ends_with("-noblocks")) {
            continue;
        }
        let t0 = Instant::now();
        let mut m = LoadedModel::load_with(&path, &dev, format)?;
        if label.ends_with("-noblocks") {
            m.model.drop_weight_blocks();
        }
        if label.starts_with("dense-bf16") {
            m.model.set_bf16_products(true)?;
        }
        println!("{{\"path\":\"{label}\",\"measure\":\"load_s\",\"value\":{:.3}}}", t0.elapsed().as_secs_f64());
        let vocab = m.model.config().vocab_size as u32;
        for batch in [1usize, 16] {
            if !wants(&format!("b{batch}")) {
                continue;
            }
            let prompts = random_ids(batch, 32, vocab, 42 + batch as u64);
            let cfg = GenerationConfig { max_new_tokens: 64, min_new_tokens: 64, batch_size: batch, ..Default::default() };
            generate_tokens(&m, &prompts, &cfg)?; // warm-up
            let mut rates = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let out = generate_tokens(&m, &prompts, &cfg)?;
                let n: usize = out.iter().map(Vec::len).sum();
                rates.push(n as f64 / t.elapsed().as_secs_f64());
            }
            let (med, lo, hi) = median(rates);
            println!("{{\"path\":\"{label}\",\"measure\":\"generate_b{batch}_new_tok_s\",\"median\":{med:.1},\"min\":{lo:.1},\"max\":{hi:.1},\"runs\":{runs}}}");
        }
        if wants("mc4") && what.is_some() {
            multiple_choice(&m, label, runs)?;
        }
        if !wants("score") {
            continue;
        }
        let seqs = random_ids(16, 128, vocab, 7);
        token_logprobs(&m, &seqs, 16)?; // warm-up
        let mut rates = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            token_logprobs(&m, &seqs, 16)?;
            rates.push((16 * 128) as f64 / t.elapsed().as_secs_f64());
        }
        let (med, lo, hi) = median(rates);
        println!("{{\"path\":\"{label}\",\"measure\":\"score_16x128_tok_s\",\"median\":{med:.1},\"min\":{lo:.1},\"max\":{hi:.1},\"runs\":{runs}}}");
        if m.model.bf16_products() {
            let fast: Vec<f32> = token_logprobs(&m, &seqs, 16)?.concat();
            m.model.set_bf16_products(false)?;
            let exact: Vec<f32> = token_logprobs(&m, &seqs, 16)?.concat();
            let diffs: Vec<f64> = fast.iter().zip(&exact).map(|(a, b)| (a - b).abs() as f64).collect();
            let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
            let max = diffs.iter().cloned().fold(0.0, f64::max);
            let (sf, se): (f64, f64) = (fast.iter().map(|&v| v as f64).sum(), exact.iter().map(|&v| v as f64).sum());
            println!("{{\"path\":\"{label}\",\"measure\":\"score_logprob_vs_f32\",\"mean_abs\":{mean:.5},\"max_abs\":{max:.5},\"sum_bf16\":{sf:.3},\"sum_f32\":{se:.3}}}");
        }
    }
    Ok(())
}

/// Lettered 4-choice items/s, `loglik` (one pass over the prompt, the letters scored from it)
/// against `loglik_unshared` (each prompt + letter run whole), alternating, on the first 64 of
/// the study's MMLU questions as MMLU is posed (question, lettered options, "Answer:"; choices
/// " A".." D"); the two must agree as tests/shared_prefix.rs has them agree. Only when named (`mc4`); the questions are
/// read from `SYCO_MMLU` (default: the shared seed data beside the repository).
fn multiple_choice(m: &LoadedModel, label: &str, runs: usize) -> anyhow::Result<()> {
    let path = std::env::var("SYCO_MMLU")
        .unwrap_or_else(|_| "../shared/seed/data/02_general_benchmarks_splits/test_splits/mmlu_test.jsonl".into());
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let mut pairs = Vec::new();
    for line in text.lines().take(64) {
        let item: serde_json::Value = serde_json::from_str(line)?;
        let question = item["question"].as_str().unwrap_or_default();
        let choices: Vec<&str> = item["choices"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
        let mut prompt = format!("{question}\n");
        for (letter, choice) in ["A", "B", "C", "D"].iter().zip(&choices) {
            prompt.push_str(&format!("{letter}. {choice}\n"));
        }
        prompt.push_str("Answer:");
        for letter in ["A", "B", "C", "D"] {
            pairs.push((prompt.clone(), format!(" {letter}")));
        }
    }
    let items = pairs.len() / 4;
    let shared = syco_ml::loglik(m, &pairs, 16)?; // warm-up, and the results compared below
    let unshared = syco_ml::generate::loglik_unshared(m, &pairs, 16)?;
    // As tests/shared_prefix.rs checks: counts equal, sums within f32 noise (the passes have
    // other shapes, so a product's summation order can differ), the same answer per item.
    let max_diff = shared.iter().zip(&unshared).map(|(a, b)| (a.cont_sum - b.cont_sum).abs()).fold(0.0, f64::max);
    let answer = |out: &[syco_ml::LoglikOut], k: usize| (0..4).max_by(|&i, &j| out[4 * k + i].cont_sum.total_cmp(&out[4 * k + j].cont_sum));
    let same_answers = (0..items).filter(|&k| answer(&shared, k) == answer(&unshared, k)).count();
    anyhow::ensure!(
        shared.iter().zip(&unshared).all(|(a, b)| a.cont_count == b.cont_count && a.ctx_count == b.ctx_count) && max_diff < 1e-4,
        "the shared prompt pass moved a log-likelihood by {max_diff}"
    );
    println!("{{\"path\":\"{label}\",\"measure\":\"mc4_shared_vs_unshared\",\"max_abs_diff\":{max_diff:e},\"same_answer\":{same_answers},\"items\":{items}}}");
    let (mut after, mut before) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        syco_ml::generate::loglik_unshared(m, &pairs, 16)?;
        before.push(items as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        syco_ml::loglik(m, &pairs, 16)?;
        after.push(items as f64 / t.elapsed().as_secs_f64());
    }
    for (name, rates) in [("unshared", before), ("shared", after)] {
        let (med, lo, hi) = median(rates);
        println!("{{\"path\":\"{label}\",\"measure\":\"mc4_{name}_items_s\",\"median\":{med:.2},\"min\":{lo:.2},\"max\":{hi:.2},\"runs\":{runs},\"items\":{items}}}");
    }
    Ok(())
}
