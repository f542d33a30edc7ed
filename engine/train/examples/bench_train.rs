//! LoRA training throughput and peak RSS on a SmolLM2-135M-shaped model (random f32 weights),
//! r 16 / alpha 32 / dropout 0.1 on the 7 projections, AdamW 2e-4, random token ids: the
//! settings of PEERS.md Part 1. Prints one JSON line per configuration.
//!
//!   cargo run --release -p syco-train --example bench_train -- [BATCHxSEQ ...] [--steps N] [--warmup N]
//!       [--no-checkpointing]
//!
//! Defaults: 8x128 and 2x512, 2 warm-up steps, 12 timed steps. Peak RSS is VmHWM after the
//! reset at the start of the timed phase (like the peer script), so it covers the timed steps.
use std::time::Instant;

use candle_core::{DType, Device};
use syco_ml::{Llama, LlamaConfig, LoraConfig};
use syco_train::rng::SplitMix64;
use syco_train::{train, LossOn, Schedule, TokenizedExample, TrainConfig, TrainData, TrainIo};

const SMOLLM2_135M: &str = r#"{"model_type": "llama", "vocab_size": 49152, "hidden_size": 576,
 "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
 "num_key_value_heads": 3, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
 "max_position_embeddings": 8192, "tie_word_embeddings": true}"#;

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat (clock ticks of
/// 1/100 s, the Linux default). On a machine shared with other jobs, tokens per CPU-second
/// is the comparable figure; wall-clock tokens/s depends on everyone else's load.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Resets VmHWM to the current RSS (Linux: write 5 to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() -> anyhow::Result<()> {
    syco_ml::allocator::tune_for_tensors(); // as the syco binary does
    let mut shapes = vec![];
    let (mut steps, mut warmup) = (12usize, 2usize);
    let mut checkpointing = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--steps" => steps = args.next().unwrap_or_default().parse()?,
            "--warmup" => warmup = args.next().unwrap_or_default().parse()?,
            "--no-checkpointing" => checkpointing = false,
            s => {
                let (b, t) = s.split_once('x').ok_or_else(|| anyhow::anyhow!("shape `{s}` is not BATCHxSEQ"))?;
                shapes.push((b.parse::<usize>()?, t.parse::<usize>()?));
            }
        }
    }
    if shapes.is_empty() {
        shapes = vec![(8, 128), (2, 512)];
    }
    let cfg = LlamaConfig::from_json_str(SMOLLM2_135M)?;
    let dev = Device::Cpu;
    let t0 = Instant::now();
    let mut model = Llama::random(&cfg, 0, &dev, DType::F32)?;
    let targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"].map(String::from).to_vec();
    model.add_lora("bench", &LoraConfig { r: 16, alpha: 32.0, dropout: 0.1, targets }, 1)?;
    let n_lora: usize = model.lora_vars("bench").iter().map(|(_, v)| v.elem_count()).sum();
    eprintln!("model ready in {:.1}s, {n_lora} LoRA parameters, rss {} MiB", t0.elapsed().as_secs_f64(), rss_kib("VmRSS:") / 1024);

    for (batch, seq) in shapes {
        let mut rng = SplitMix64::new(7);
        let examples: Vec<TokenizedExample> = (0..batch * (warmup + steps))
            .map(|_| TokenizedExample { ids: (0..seq).map(|_| rng.below(cfg.vocab_size as u64) as u32).collect(), prompt_len: 0 })
            .collect();
        let train_cfg = TrainConfig {
            lr: 2e-4,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            warmup_steps: Some(0),
            batch_size: batch,
            grad_accum: 1,
            max_grad_norm: None,
            max_len: seq,
            loss: LossOn::All,
            shuffle: false,
            epochs: 1,
            val_fraction: 0.0,
            eval_steps: None,
            save_steps: None,
            gradient_checkpointing: checkpointing,
            ..TrainConfig::default()
        };
        // Warm-up steps run separately so the timed run starts with a reset peak.
        let pad = u32::MAX; // never a real id: every position is a token and a target
        if warmup > 0 {
            let cfg_w = TrainConfig { max_steps: Some(warmup), ..train_cfg.clone() };
            train(
                &model,
                "bench",
                TrainData { examples: &examples[..batch * warmup], val: None, pad_id: pad },
                &cfg_w,
                TrainIo::default(),
            )?;
        }
        reset_peak();
        let cfg_t = TrainConfig { max_steps: Some(steps), ..train_cfg };
        let cpu0 = cpu_seconds();
        let out = train(
            &model,
            "bench",
            TrainData { examples: &examples[batch * warmup..], val: None, pad_id: pad },
            &cfg_t,
            TrainIo::default(),
        )?;
        let cpu = cpu_seconds() - cpu0;
        let mut per_step: Vec<f64> = out.log.iter().map(|r| r.tokens_per_s).collect();
        per_step.sort_by(f64::total_cmp);
        let median = per_step[per_step.len() / 2];
        println!(
            "{}",
            serde_json::json!({
                "impl": "syco", "checkpointing": checkpointing, "batch": batch, "seq": seq, "steps": steps,
                "tokens_per_s_median": median, "tokens_per_s_min": per_step[0], "tokens_per_s_max": per_step[per_step.len() - 1],
                "tokens_per_s_overall": out.tokens as f64 / out.seconds,
                "tokens_per_cpu_s": out.tokens as f64 / cpu, "cpu_s": cpu, "wall_s": out.seconds,
                "peak_rss_mib": rss_kib("VmHWM:") / 1024, "first_loss": out.log[0].loss, "last_loss": out.final_loss,
                "threads": rayon::current_num_threads(),
            })
        );
    }
    Ok(())
}
