//! Sampled tokens per second of `sample_n` (benches/sampling/bench.sh): N samples of each of a
//! file's prompts, one shared prefill per prompt, decoding batched across samples and prompts.
//!
//!   cargo run --release -p syco-ml --example sample_bench -- MODEL PROMPTS.json N MAX_NEW TEMPERATURE TOP_P BATCH
//!
//! MODEL: a GGUF file (quantised path) or an HF folder (dense f32). PROMPTS.json: a list of
//! token-id lists (the peer script writes it with the HF tokenizer, so both tools get the same
//! ids). Sample j of prompt i has seed 1000·i + j. Prints one line of JSON: load and sampling
//! seconds, samples, new tokens (EOS excluded), tokens/s.

use candle_core::{DType, Device};
use std::time::Instant;
use syco_ml::{sample_n, LoadedModel, SampleConfig, WeightFormat};

fn main() -> anyhow::Result<()> {
    syco_ml::allocator::tune_for_tensors(); // as the syco binary does
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 8, "usage: sample_bench MODEL PROMPTS.json N MAX_NEW TEMPERATURE TOP_P BATCH");
    let path = std::path::PathBuf::from(&args[1]);
    let prompts: Vec<Vec<u32>> = serde_json::from_str(&std::fs::read_to_string(&args[2])?)?;
    let n: usize = args[3].parse()?;
    let cfg = SampleConfig {
        max_new_tokens: args[4].parse()?,
        temperature: args[5].parse()?,
        top_p: args[6].parse()?,
        batch_size: args[7].parse()?,
    };
    let t0 = Instant::now();
    let format = if path.is_dir() { WeightFormat::Dense(DType::F32) } else { WeightFormat::Quantized };
    let m = LoadedModel::load_with(&path, &Device::Cpu, format)?;
    let load_s = t0.elapsed().as_secs_f64();
    let seeds: Vec<Vec<u64>> = (0..prompts.len()).map(|i| (0..n).map(|j| (1000 * i + j) as u64).collect()).collect();
    let t1 = Instant::now();
    let out = sample_n(&m, &prompts, &seeds, &cfg)?;
    let secs = t1.elapsed().as_secs_f64();
    let tokens: usize = out.iter().flatten().map(Vec::len).sum();
    println!(
        "{{\"tool\":\"syco\",\"weights\":\"{}\",\"load_s\":{load_s:.3},\"sample_s\":{secs:.3},\"samples\":{},\"new_tokens\":{tokens},\"tok_s\":{:.1}}}",
        if path.is_dir() { "hf-f32" } else { "gguf" },
        out.iter().map(Vec::len).sum::<usize>(),
        tokens as f64 / secs
    );
    Ok(())
}
