//! LoRA on a half-precision base (bf16, f16): the adapter's A and B are f32 master weights,
//! trained and optimised in f32 and saved as f32 (PEFT's default), and the training losses
//! follow the f32 model's on the same data. An adapter trained in f32 attaches to a bf16 model
//! and changes its outputs as it changes the f32 model's. The model is the random tiny Llama of
//! the golden fixture (2 layers, hidden 32, vocabulary 64).
#![cfg(feature = "llama")]
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use syco_ml::{Llama, LoadedModel, LoraConfig};
use syco_train::llama::{adapter_config, insert_adapter};
use syco_train::rng::SplitMix64;
use syco_train::{peft, save_adapter, train, Schedule, TokenizedExample, TrainConfig, TrainData, TrainIo, TrainOutcome};

const STEPS: usize = 5;

fn tiny(dtype: DType) -> Llama {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tiny");
    LoadedModel::load(&path, &Device::Cpu, dtype).expect("tiny model loads").model
}

fn lora() -> LoraConfig {
    let targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    LoraConfig { r: 8, alpha: 16.0, dropout: 0.05, targets: targets.iter().map(|t| t.to_string()).collect() }
}

/// Random token sequences of 12 to 20 tokens over the tiny vocabulary (1..64; 0 pads).
fn sequences(n: usize, seed: u64) -> Vec<TokenizedExample> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let len = 12 + (rng.next_u64() % 9) as usize;
            TokenizedExample { ids: (0..len).map(|_| 1 + (rng.next_u64() % 63) as u32).collect(), prompt_len: 0 }
        })
        .collect()
}

fn config(checkpoint: bool) -> TrainConfig {
    TrainConfig {
        lr: 1e-2,
        schedule: Schedule::Constant,
        warmup_steps: Some(0),
        batch_size: 4,
        grad_accum: 2,
        eval_batch_size: 4,
        max_len: 32,
        max_steps: Some(STEPS),
        eval_steps: Some(STEPS),
        keep_best: false,
        save_steps: None,
        gradient_checkpointing: checkpoint,
        ..TrainConfig::default()
    }
}

/// The tiny model in `dtype` with a fresh adapter "a" (the same initial weights in every
/// dtype), trained `STEPS` steps on the same data.
fn trained(dtype: DType, checkpoint: bool) -> (Llama, TrainOutcome) {
    let mut model = tiny(dtype);
    model.add_lora("a", &lora(), 7).unwrap();
    let (examples, val) = (sequences(40, 1), sequences(8, 2));
    let data = TrainData { examples: &examples, val: Some(&val), pad_id: 0 };
    let out = train(&model, "a", data, &config(checkpoint), TrainIo::default()).unwrap();
    (model, out)
}

fn assert_f32_masters(model: &Llama, what: &str) {
    let vars = model.lora_vars("a");
    assert_eq!(vars.len(), 2 * 7 * 2, "{what}: A and B of 7 projections in 2 layers");
    for (name, var) in &vars {
        assert_eq!(var.dtype(), DType::F32, "{what}: `{name}` is {:?}, not f32", var.dtype());
    }
}

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().unwrap().max_all().unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// Losses (each step's and the held-out ones) within `tol` of the f32 model's, relatively, and
/// the held-out loss lowered by as much as in f32 within 20 %.
///
/// Tolerance: the base's own rounding moves the untrained loss (step 1, B = 0) by 7e-4 (bf16,
/// 8 significant bits) and 3e-5 (f16, 11 bits) relatively; five AdamW steps then amplify the
/// gradients' rounding (the first updates are about ±lr in every coordinate, whatever the
/// gradient's size), so the measured worst differences over the steps and held-out losses are
/// 2.3e-3 (bf16, checkpointed) and 7.7e-4 (f16). The bounds, 1e-2 and 5e-3, leave 4-6 times
/// that, and stay below what a lost adapter or lost updates would cost: the held-out gain is
/// 0.15 of 5.5 (2.7 %), and checked on its own.
fn losses_follow_f32(dtype: DType, tol: f64) {
    let (f32_model, want) = trained(DType::F32, false);
    assert_f32_masters(&f32_model, "f32");
    for checkpoint in [false, true] {
        let (model, got) = trained(dtype, checkpoint);
        let what = format!("{dtype:?} (checkpointing {checkpoint})");
        assert_eq!(got.log.len(), STEPS);
        assert_f32_masters(&model, &what);
        let mut worst = 0f64; // over the step losses and the held-out ones
        for (g, w) in got.log.iter().zip(&want.log) {
            assert!(g.loss.is_finite() && g.grad_norm.is_finite(), "{what} step {}: loss {} norm {}", g.step, g.loss, g.grad_norm);
            assert!(rel(g.loss, w.loss) <= tol, "{what} step {}: loss {} vs f32 {}", g.step, g.loss, w.loss);
            worst = worst.max(rel(g.loss, w.loss));
        }
        let (g0, w0) = (got.initial_eval_loss.unwrap(), want.initial_eval_loss.unwrap());
        let (g5, w5) = (got.log[STEPS - 1].eval_loss.unwrap(), want.log[STEPS - 1].eval_loss.unwrap());
        assert!(rel(g0, w0) <= tol && rel(g5, w5) <= tol, "{what}: held-out {g0} -> {g5} vs f32 {w0} -> {w5}");
        worst = worst.max(rel(g0, w0)).max(rel(g5, w5));
        // The adapter learned in half precision as in f32: the held-out loss fell by about as much.
        assert!(w0 - w5 > 0.05, "f32 held-out loss {w0} -> {w5}");
        assert!(rel(g0 - g5, w0 - w5) <= 0.2, "{what}: held-out gain {} vs f32 {}", g0 - g5, w0 - w5);
        eprintln!(
            "{what}: worst loss relative difference {worst:.2e}; held-out {g0:.5} -> {g5:.5} (f32 {w0:.5} -> {w5:.5}); \
             step losses {:?} vs f32 {:?}",
            got.log.iter().map(|r| r.loss).collect::<Vec<_>>(),
            want.log.iter().map(|r| r.loss).collect::<Vec<_>>()
        );
        // Saved as f32, as PEFT saves by default, under PEFT's names.
        let dir = tempfile::tempdir().unwrap();
        save_adapter(dir.path(), &model, "a", &adapter_config(&lora(), Some("tiny"))).unwrap();
        let file = candle_core::safetensors::load(dir.path().join("adapter_model.safetensors"), &Device::Cpu).unwrap();
        assert_eq!(file.len(), 28);
        for (name, t) in &file {
            assert_eq!(t.dtype(), DType::F32, "{what}: saved `{name}` is {:?}", t.dtype());
            let var = model.lora_vars("a").into_iter().find(|(n, _)| n == name).unwrap().1;
            assert_eq!(max_abs(&(t - var.as_tensor()).unwrap()), 0.0, "{what}: `{name}` saved as trained");
        }
    }
}

#[test]
fn bf16_base_trains_f32_lora_with_losses_close_to_f32() {
    losses_follow_f32(DType::BF16, 1e-2);
}

#[test]
fn f16_base_trains_f32_lora_with_losses_close_to_f32() {
    losses_follow_f32(DType::F16, 5e-3);
}

/// Logits (f32) of `model` on a fixed batch of two rows, the second right-padded.
fn logits(model: &Llama) -> Tensor {
    let ids = Tensor::new(&[[1u32, 5, 9, 33, 2, 60, 17, 40], [3, 8, 21, 44, 50, 0, 0, 0]], &Device::Cpu).unwrap();
    let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]], &Device::Cpu).unwrap();
    model.forward(&ids, Some(&mask), false).unwrap()
}

fn attach(dtype: DType, adapter_dir: &Path) -> Llama {
    let mut model = tiny(dtype);
    let adapter = peft::load(adapter_dir, &Device::Cpu).unwrap();
    insert_adapter(&mut model, "a", &adapter).unwrap();
    model.set_active_adapter(Some("a")).unwrap();
    model
}

#[test]
fn f32_trained_adapter_attaches_to_a_bf16_model() {
    let (f32_model, _) = trained(DType::F32, false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adapter");
    save_adapter(&path, &f32_model, "a", &adapter_config(&lora(), Some("tiny"))).unwrap();

    let f32_with = attach(DType::F32, &path);
    let mut bf16_with = attach(DType::BF16, &path);
    assert_f32_masters(&bf16_with, "bf16 with a loaded adapter");
    let (want, got) = (logits(&f32_with), logits(&bf16_with));
    assert_eq!(got.dtype(), DType::F32);
    // ml/tests/model.rs `bf16_is_close_to_f32`: 5 % of the largest logit for the bf16 base alone.
    let scale = max_abs(&want);
    let diff = max_abs(&(&got - &want).unwrap());
    assert!(diff <= 0.05 * scale, "bf16 + adapter vs f32 + adapter: max difference {diff} (largest logit {scale})");

    // The adapter's own effect survives the bf16 base: with minus without, against f32's.
    bf16_with.set_active_adapter(None).unwrap();
    let mut f32_without = f32_with.clone();
    f32_without.set_active_adapter(None).unwrap();
    let want_effect = (&want - logits(&f32_without)).unwrap();
    let got_effect = (&got - logits(&bf16_with)).unwrap();
    let effect = max_abs(&want_effect);
    let effect_diff = max_abs(&(&got_effect - &want_effect).unwrap());
    assert!(effect > 0.05, "the trained adapter changes the f32 logits (by {effect})");
    assert!(effect_diff <= 0.25 * effect, "the adapter's effect in bf16 differs from f32's by {effect_diff} (of {effect})");
    eprintln!("bf16 + f32 adapter vs f32: logits {diff:.3e} of {scale:.3}; adapter effect {effect_diff:.3e} of {effect:.3e}");

    // Merging the f32 adapter into the bf16 weights gives the unmerged outputs up to bf16 rounding.
    bf16_with.set_active_adapter(Some("a")).unwrap();
    bf16_with.merge_adapter("a").unwrap();
    let merged = logits(&bf16_with);
    let merged_diff = max_abs(&(&merged - &want).unwrap());
    assert!(merged_diff <= 0.05 * scale, "merged bf16 vs f32 + adapter: {merged_diff} (largest logit {scale})");
}
