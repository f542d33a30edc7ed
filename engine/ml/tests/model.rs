//! Tiny random Llama: gradients, LoRA merge/swap, dtype and KV-cache consistency.

use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use syco_ml::{KvCache, Llama, LlamaConfig, LoraConfig, Objective};

fn tiny() -> LlamaConfig {
    LlamaConfig::tiny(64)
}

fn all_targets() -> LoraConfig {
    LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"].iter().map(|s| s.to_string()).collect(),
    }
}

fn ids(dev: &Device) -> Tensor {
    Tensor::new(&[[1u32, 5, 9, 13, 2, 7], [3, 4, 60, 8, 0, 0]], dev).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

/// Give every B a non-zero value so that gradients reach A too (B=0 zeroes dL/dA).
fn perturb_b(model: &Llama, name: &str) {
    for (n, v) in model.lora_vars(name) {
        if n.contains("lora_B") {
            let t = (v.as_tensor().ones_like().unwrap() * 0.01).unwrap();
            v.set(&t).unwrap();
        }
    }
}

#[test]
fn gradients_reach_every_lora_tensor_and_no_frozen_one() {
    let dev = Device::Cpu;
    let mut model = Llama::random(&tiny(), 1, &dev, DType::F32).unwrap();
    model.add_lora("a", &all_targets(), 2).unwrap();
    perturb_b(&model, "a");
    let vars = model.lora_vars("a");
    assert_eq!(vars.len(), 2 * 7 * 2);
    let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], &dev).unwrap();
    let logits = model.forward(&ids(&dev), Some(&mask), true).unwrap();
    let loss = logits.sqr().unwrap().mean_all().unwrap();
    let grads = loss.backward().unwrap();
    for (name, var) in &vars {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0, "zero gradient for {name}");
    }
    // Frozen base tensors are plain tensors, not Vars: backprop must not produce their grads.
    for t in model.base_tensors() {
        assert!(grads.get(&t).is_none(), "a frozen base tensor received a gradient");
    }
}

#[test]
fn checkpointed_gradients_equal_one_pass_gradients_with_seeded_dropout() {
    let dev = Device::Cpu;
    let mut model = Llama::random(&tiny(), 1, &dev, DType::F32).unwrap();
    model.add_lora("a", &LoraConfig { dropout: 0.2, ..all_targets() }, 2).unwrap();
    perturb_b(&model, "a");
    let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], &dev).unwrap();
    let objective = Objective::CrossEntropy { targets: &[5, 9, 13, 2, 7, -100, 4, 60, 8, -100, -100, -100], weight: 0.25 };
    // Reference: candle's own graph over the same seeded masks.
    let reference = objective.graph_loss(&model.forward_train(&ids(&dev), Some(&mask), 7).unwrap()).unwrap();
    let g0 = reference.backward().unwrap();
    let l0 = reference.to_scalar::<f32>().unwrap();
    let (l1, g1) = model.loss_and_grads(&ids(&dev), &mask, 7, false, objective).unwrap();
    let (l2, g2) = model.loss_and_grads(&ids(&dev), &mask, 7, true, objective).unwrap();
    let (l1, l2) = (l1.to_scalar::<f32>().unwrap(), l2.to_scalar::<f32>().unwrap());
    assert!((l0 - l1).abs() <= 1e-6 * l0.abs() && (l0 - l2).abs() <= 1e-6 * l0.abs(), "loss {l0} vs {l1} vs {l2}");
    for (name, var) in model.lora_vars("a") {
        let r = g0.get(var.as_tensor()).unwrap_or_else(|| panic!("graph: no gradient for {name}"));
        let scale = r.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(scale > 0.0, "zero gradient for {name}");
        for (how, store) in [("one pass", &g1), ("checkpointed", &g2)] {
            let g = store.get(var.as_tensor()).unwrap_or_else(|| panic!("{how}: no gradient for {name}"));
            let diff = max_abs_diff(r, g);
            assert!(diff <= 1e-5 * scale, "{how}, {name}: gradients differ by {diff} (scale {scale})");
        }
    }
    // The masks come from the seed: the same seed gives the same loss, another seed another.
    let again = model.loss_and_grads(&ids(&dev), &mask, 7, false, objective).unwrap().0.to_scalar::<f32>().unwrap();
    let other = model.loss_and_grads(&ids(&dev), &mask, 8, false, objective).unwrap().0.to_scalar::<f32>().unwrap();
    assert_eq!(again, l1);
    assert_ne!(other, l1);
}

#[test]
fn lora_merge_equals_unmerged_forward_and_unmerge_restores_base() {
    let dev = Device::Cpu;
    let mut model = Llama::random(&tiny(), 3, &dev, DType::F32).unwrap();
    let base = model.forward(&ids(&dev), None, false).unwrap();
    model.add_lora("a", &all_targets(), 4).unwrap();
    perturb_b(&model, "a");
    let with_lora = model.forward(&ids(&dev), None, false).unwrap();
    assert!(max_abs_diff(&base, &with_lora) > 1e-4, "adapter has no effect");
    model.merge_adapter("a").unwrap();
    let merged = model.forward(&ids(&dev), None, false).unwrap();
    assert!(max_abs_diff(&with_lora, &merged) < 1e-4, "merged differs: {}", max_abs_diff(&with_lora, &merged));
    model.unmerge_adapter("a").unwrap();
    model.set_active_adapter(None).unwrap();
    let back = model.forward(&ids(&dev), None, false).unwrap();
    assert!(max_abs_diff(&base, &back) < 1e-4);
}

#[test]
fn adapters_swap_without_reloading() {
    let dev = Device::Cpu;
    let mut model = Llama::random(&tiny(), 5, &dev, DType::F32).unwrap();
    let base = model.forward(&ids(&dev), None, false).unwrap();
    let mut cfg = all_targets();
    model.add_lora("a", &cfg, 6).unwrap();
    cfg.targets = vec!["q_proj".into(), "v_proj".into()];
    model.add_lora("b", &cfg, 7).unwrap();
    perturb_b(&model, "a");
    perturb_b(&model, "b");
    model.set_active_adapter(Some("a")).unwrap();
    let ya = model.forward(&ids(&dev), None, false).unwrap();
    model.set_active_adapter(Some("b")).unwrap();
    let yb = model.forward(&ids(&dev), None, false).unwrap();
    model.set_active_adapter(Some("a")).unwrap();
    let ya2 = model.forward(&ids(&dev), None, false).unwrap();
    model.set_active_adapter(None).unwrap();
    let y0 = model.forward(&ids(&dev), None, false).unwrap();
    assert!(max_abs_diff(&ya, &yb) > 1e-4);
    assert!(max_abs_diff(&ya, &ya2) == 0.0);
    assert!(max_abs_diff(&y0, &base) == 0.0);
    assert!(model.set_active_adapter(Some("missing")).is_err());
}

#[test]
fn insert_lora_round_trips_peft_names() {
    let dev = Device::Cpu;
    let mut model = Llama::random(&tiny(), 8, &dev, DType::F32).unwrap();
    model.add_lora("a", &all_targets(), 9).unwrap();
    perturb_b(&model, "a");
    let tensors: HashMap<String, Tensor> = model.lora_vars("a").into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
    assert!(tensors.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
    model.insert_lora("copy", &all_targets(), tensors).unwrap();
    model.set_active_adapter(Some("a")).unwrap();
    let ya = model.forward(&ids(&dev), None, false).unwrap();
    model.set_active_adapter(Some("copy")).unwrap();
    let yc = model.forward(&ids(&dev), None, false).unwrap();
    assert_eq!(max_abs_diff(&ya, &yc), 0.0);
    let mut bad = HashMap::new();
    bad.insert("nonsense.weight".to_string(), Tensor::zeros((1, 1), DType::F32, &dev).unwrap());
    assert!(model.insert_lora("bad", &all_targets(), bad).is_err());
}

#[test]
fn training_and_inference_paths_agree() {
    let dev = Device::Cpu;
    let model = Llama::random(&tiny(), 10, &dev, DType::F32).unwrap();
    let a = model.forward(&ids(&dev), None, true).unwrap();
    let b = model.forward(&ids(&dev), None, false).unwrap();
    assert!(max_abs_diff(&a, &b) < 1e-4, "{}", max_abs_diff(&a, &b));
}

#[test]
fn bf16_is_close_to_f32() {
    let dev = Device::Cpu;
    let f = Llama::random(&tiny(), 11, &dev, DType::F32).unwrap();
    let h = Llama::random(&tiny(), 11, &dev, DType::BF16).unwrap();
    let a = f.forward(&ids(&dev), None, false).unwrap();
    let b = h.forward(&ids(&dev), None, false).unwrap();
    let scale = a.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    let diff = max_abs_diff(&a, &b);
    assert!(diff < 0.05 * scale.max(1e-3), "bf16 diff {diff} vs scale {scale}");
    // The training path works in bf16 as well.
    let t = h.forward(&ids(&dev), None, true).unwrap();
    assert!(max_abs_diff(&t, &b) < 0.05 * scale.max(1e-3));
}

#[test]
fn kv_cache_decoding_equals_full_recomputation() {
    let dev = Device::Cpu;
    let mut cfg = tiny();
    cfg.tie_word_embeddings = true;
    let model = Llama::random(&cfg, 12, &dev, DType::F32).unwrap();
    let seq: Vec<u32> = vec![4, 8, 15, 16, 23, 42, 7, 1];
    let full_ids = Tensor::new(seq.as_slice(), &dev).unwrap().unsqueeze(0).unwrap();
    let full = model.forward(&full_ids, None, false).unwrap().squeeze(0).unwrap();
    let mut cache = KvCache::new(&cfg);
    // Prefill 5 tokens, then decode one at a time.
    let pre = Tensor::new(&seq[..5], &dev).unwrap().unsqueeze(0).unwrap();
    let h = model.hidden(&pre, &[(0..5).collect()], &[vec![1; 5]], Some(&mut cache), None).unwrap();
    let l = model.logits(&h).unwrap().squeeze(0).unwrap();
    assert!(max_abs_diff(&l, &full.narrow(0, 0, 5).unwrap()) < 1e-4);
    for (t, &token) in seq.iter().enumerate().skip(5) {
        let one = Tensor::new(&[[token]], &dev).unwrap();
        let h = model.hidden(&one, &[vec![t as u32]], &[vec![1; t + 1]], Some(&mut cache), None).unwrap();
        let l = model.logits(&h).unwrap().squeeze(0).unwrap();
        let d = max_abs_diff(&l, &full.narrow(0, t, 1).unwrap());
        assert!(d < 1e-4, "step {t}: {d}");
    }
}

#[test]
fn right_padding_does_not_change_valid_positions() {
    let dev = Device::Cpu;
    let model = Llama::random(&tiny(), 13, &dev, DType::F32).unwrap();
    let short = Tensor::new(&[[3u32, 4, 60, 8]], &dev).unwrap();
    let alone = model.forward(&short, None, true).unwrap().squeeze(0).unwrap();
    let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], &dev).unwrap();
    let batched = model.forward(&ids(&dev), Some(&mask), true).unwrap();
    let row = batched.get(1).unwrap().narrow(0, 0, 4).unwrap();
    assert!(max_abs_diff(&alone, &row) < 1e-4);
}

#[test]
fn qwen2_style_biases_and_llama3_scaling_run() {
    let dev = Device::Cpu;
    let mut cfg = tiny();
    cfg.model_type = Some("qwen2".into());
    cfg.rope_scaling = Some(syco_ml::RopeScaling {
        rope_type: "llama3".into(),
        factor: 8.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 64,
    });
    let model = Llama::random(&cfg, 14, &dev, DType::F32).unwrap();
    let y = model.forward(&ids(&dev), None, false).unwrap();
    assert_eq!(y.dims(), &[2, 6, 64]);
}

/// The composed training ops give the right gradient, not just a non-zero one: compare one
/// LoRA A and one B entry with central finite differences. The loss is on the final hidden
/// states, which stay f64 (logits are returned as f32, too coarse for this check).
#[test]
fn lora_gradient_matches_finite_differences() {
    let dev = Device::Cpu;
    let mut model = Llama::random(&tiny(), 15, &dev, DType::F64).unwrap();
    model.add_lora("a", &all_targets(), 16).unwrap();
    for (n, v) in model.lora_vars("a") {
        if n.contains("lora_B") {
            v.set(&(v.as_tensor().ones_like().unwrap() * 0.05).unwrap()).unwrap();
        }
    }
    let positions: Vec<Vec<u32>> = vec![(0..6).collect(); 2];
    let mask = vec![vec![1u8; 6]; 2];
    let loss = |m: &Llama| {
        let h = m.hidden(&ids(&dev), &positions, &mask, None, Some(0)).unwrap();
        h.sqr().unwrap().mean_all().unwrap()
    };
    let grads = loss(&model).backward().unwrap();
    let vars = model.lora_vars("a");
    for name in ["layers.0.self_attn.q_proj.lora_A", "layers.1.mlp.down_proj.lora_B"] {
        let (_, var) = vars.iter().find(|(n, _)| n.contains(name)).unwrap();
        let g = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
        let orig = var.as_tensor().copy().unwrap();
        let flat = orig.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let eps = 1e-6;
        let at = |delta: f64| {
            let mut v = flat.clone();
            v[0] += delta;
            var.set(&Tensor::from_vec(v, orig.shape(), &dev).unwrap()).unwrap();
            loss(&model).to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
        };
        let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
        var.set(&orig).unwrap();
        let rel = (numeric - g[0]).abs() / numeric.abs().max(1e-12);
        assert!(rel < 1e-3, "{name}: analytic {} numeric {numeric}", g[0]);
    }
}

/// Decoding past the KV cache's first buffer (64 positions) into a grown one, two rows at a
/// time: every step's logits equal the full recomputation's.
#[test]
fn kv_cache_growth_keeps_decoding_exact() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let model = Llama::random(&cfg, 13, &dev, DType::F32).unwrap();
    let n = 90;
    let rows: Vec<Vec<u32>> = (0..2u32).map(|r| (0..n as u32).map(|i| (i * 7 + r * 3 + 1) % 64).collect()).collect();
    let full_ids = Tensor::new(rows.clone(), &dev).unwrap();
    let full = model.forward(&full_ids, None, false).unwrap();
    let mut cache = KvCache::new(&cfg);
    let pre = full_ids.narrow(1, 0, 40).unwrap();
    model.hidden(&pre, &[(0..40).collect(), (0..40).collect()], &[vec![1; 40], vec![1; 40]], Some(&mut cache), None).unwrap();
    for t in 40..n {
        let one = full_ids.narrow(1, t, 1).unwrap();
        let pos = vec![vec![t as u32]; 2];
        let h = model.hidden(&one, &pos, &[vec![1; t + 1], vec![1; t + 1]], Some(&mut cache), None).unwrap();
        let l = model.logits(&h).unwrap();
        let d = max_abs_diff(&l, &full.narrow(1, t, 1).unwrap());
        assert!(d < 1e-4, "step {t}: {d}");
    }
    assert_eq!(cache.len(), n);
}
