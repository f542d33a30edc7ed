//! The trainer on every model family: a LoRA adapter on all seven projections of the tiny
//! random Qwen3, Qwen3-with-window, Gemma 3 and Mistral checkpoints of syco-ml's family tests
//! (engine/ml/tests/golden/families, whose logits equal transformers'), trained by `train` as a
//! stage trains it. Every family's layer is computed by candle's graph here (the hand-written
//! CPU step declines them), with and without activation checkpointing.

use candle_core::{DType, Device};
use std::path::Path;
use syco_ml::{Llama, LoraConfig, WeightFormat};
use syco_train::rng::SplitMix64;
use syco_train::{train, Schedule, TokenizedExample, TrainConfig, TrainData, TrainIo};

const FAMILIES: [&str; 5] = ["qwen3", "qwen3_swa", "gemma3", "gemma3_softcap", "mistral"];

fn model(name: &str) -> Llama {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/golden/families").join(name);
    let mut m = Llama::load(&dir, &Device::Cpu, WeightFormat::Dense(DType::F32)).unwrap();
    let targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    let lora = LoraConfig { r: 4, alpha: 8.0, dropout: 0.05, targets: targets.iter().map(|s| s.to_string()).collect() };
    m.add_lora("a", &lora, 3).unwrap();
    m.set_active_adapter(Some("a")).unwrap();
    m
}

/// Sequences of 6..=12 tokens (longer than the fixtures' windows of 4) that follow a rule the
/// adapter can learn: each token is the previous one plus a stride, modulo the vocabulary.
fn examples(n: usize, vocab: u32, seed: u64) -> Vec<TokenizedExample> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let len = 6 + rng.below(7) as u32;
            let start = rng.below(vocab as u64 - 3) as u32 + 3;
            let ids = (0..len).map(|k| 3 + (start + 5 * k) % (vocab - 3)).collect();
            TokenizedExample { ids, prompt_len: 1 }
        })
        .collect()
}

#[test]
fn lora_training_lowers_each_familys_loss() {
    for name in FAMILIES {
        for checkpoint in [false, true] {
            let m = model(name);
            let data = examples(24, m.config().vocab_size as u32, 5);
            let config = TrainConfig {
                lr: 1e-2,
                warmup_steps: Some(0),
                batch_size: 4,
                grad_accum: 1,
                epochs: 4,
                schedule: Schedule::Constant,
                keep_best: false,
                eval_steps: None,
                save_steps: None,
                gradient_checkpointing: checkpoint,
                ..TrainConfig::default()
            };
            let out = train(&m, "a", TrainData { examples: &data, val: None, pad_id: 0 }, &config, TrainIo::default()).unwrap();
            let first = out.log[0].loss;
            let last: f64 = out.log[out.log.len() - 4..].iter().map(|l| l.loss).sum::<f64>() / 4.0;
            eprintln!("{name} (checkpointing {checkpoint}): {} steps, loss {first:.3} -> {last:.3}", out.steps);
            assert!(last < 0.8 * first, "{name} (checkpointing {checkpoint}): loss {first} -> {last}");
        }
    }
}
