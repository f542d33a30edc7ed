//! LoRA training steps on the CPU in f32, written out by hand.
//!
//! candle's graph allocates every intermediate and a zero-filled gradient buffer per node, and
//! runs its element-wise ops on one thread; at SmolLM2 size that overhead was more than half of
//! a training step. Here a step is the embedding lookup, each decoder layer's forward over flat
//! buffers (`layer.rs`, keeping what its backward needs, or with checkpointing only its input
//! unless the layer is among the top ones a memory budget keeps: `Keep`), the head's product,
//! the loss and its gradient at the logits by chunks of positions, then each layer's backward
//! from the top. The objective (a cross-entropy) is computed with its gradient in place in the logits
//! buffer. Products are `gemm`'s, the kernels candle's CPU backend uses,
//! called on strided views (`gemm.rs`), except the thin rank-r products of the adapters
//! (`narrow.rs`); element-wise work (`kernels.rs`) runs on all threads.
//!
//! `Llama::loss_and_grads` takes this path for dense f32 models on the CPU training an active
//! adapter, whose layers are Llama's (`Llama::llama_layers_over`). Everything else (CUDA, bf16, quantised bases) takes candle's graph (`autograd.rs`,
//! `backward.rs`), which the tests also use as the reference for this one.

mod attention;
mod gemm;
mod kernels;
mod layer;
mod narrow;

/// The flat-buffer kernels inference passes share (`model::Llama::block`'s CPU fast path).
pub(crate) use {
    attention::{attention as causal_attention, AttnShape},
    kernels::{rope, swiglu},
};

/// The features the training kernels dispatch on, for `simd`'s selection tests.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) use {kernels::AVX512 as KERNELS_AVX512, narrow::ROWS_TIMES_AVX512, narrow::TRANSPOSED_TIMES_AVX512};

use std::ops::Deref;

use anyhow::{bail, ensure, Result};
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Device, Storage, Tensor, Var};

use self::gemm::{matmul, Mat, MatMut, Out, Threads};
use self::layer::{Acts, Dims, LayerW, LoraW, ProjW, StepInputs, Work};
use crate::linear::BaseWeight;
use crate::loss::Objective;
use crate::model::{full_positions, key_mask_rows, Llama};
use crate::rng;

/// Positions whose logits are alive at once (a whole step's would be the step's largest buffer:
/// 1024 x 49152 floats, 192 MiB, at SmolLM2's vocabulary). Few in tests, so their steps take
/// several chunks and a partial one.
const HEAD_ROWS: usize = if cfg!(test) { 5 } else { 128 };

/// A tensor's f32 CPU storage, read-locked for the step.
struct Held<G> {
    guard: G,
    start: usize,
    len: usize,
}

/// `t`'s storage, read-locked, when `t` is contiguous f32 on the CPU.
fn hold(t: &Tensor) -> Option<Held<impl Deref<Target = Storage> + '_>> {
    if t.dtype() != DType::F32 {
        return None;
    }
    let (guard, layout) = t.storage_and_layout();
    let (start, end) = layout.contiguous_offsets()?;
    matches!(&*guard, Storage::Cpu(CpuStorage::F32(_))).then_some(Held { guard, start, len: end - start })
}

impl<G: Deref<Target = Storage>> Held<G> {
    fn slice(&self) -> &[f32] {
        match &*self.guard {
            Storage::Cpu(CpuStorage::F32(v)) => &v[self.start..self.start + self.len],
            _ => unreachable!("hold checked the storage"),
        }
    }
}

/// Where a projection's tensors are in `Plan::tensors`.
struct ProjPlan {
    w: usize,
    out: usize,
    inp: usize,
    bias: Option<usize>,
    lora: Option<LoraPlan>,
}

struct LoraPlan {
    a: usize,
    b: usize,
    r: usize,
    scale: f32,
    dropout: f64,
}

struct LayerPlan {
    input_norm: usize,
    post_norm: usize,
    projs: Vec<ProjPlan>,
}

/// The tensors a step reads, in one list (so they can be locked once), and where each is.
struct Plan<'t> {
    tensors: Vec<&'t Tensor>,
    embed: usize,
    norm: usize,
    head: usize,
    layers: Vec<LayerPlan>,
    /// The adapter's A and B by layer and projection, to file their gradients under.
    vars: Vec<Vec<Option<(&'t Var, &'t Var)>>>,
}

impl<'t> Plan<'t> {
    /// `None` when a base weight is quantised.
    fn of(model: &'t Llama, active: &str) -> Option<Self> {
        let mut tensors: Vec<&'t Tensor> = Vec::new();
        let mut add = |t: &'t Tensor| {
            tensors.push(t);
            tensors.len() - 1
        };
        let embed = add(&model.embed);
        let norm = add(&model.norm);
        let head = match &model.lm_head {
            None => embed,
            Some(BaseWeight::Dense(w)) => add(w),
            Some(BaseWeight::Quant(..)) => return None,
        };
        let mut layers = Vec::with_capacity(model.layers.len());
        let mut vars = Vec::with_capacity(model.layers.len());
        for l in &model.layers {
            let (input_norm, post_norm) = (add(&l.input_norm), add(&l.post_norm));
            let mut projs = Vec::with_capacity(l.projs.len());
            let mut layer_vars = Vec::with_capacity(l.projs.len());
            for p in &l.projs {
                let BaseWeight::Dense(w) = &p.base else { return None };
                let (out, inp) = w.dims2().ok()?;
                let bias = p.bias.as_ref().map(&mut add);
                let pair = p.loras.get(active);
                let lora = pair.map(|pair| LoraPlan {
                    a: add(pair.a.as_tensor()),
                    b: add(pair.b.as_tensor()),
                    r: pair.a.dims()[0],
                    scale: pair.scale as f32,
                    dropout: pair.dropout,
                });
                projs.push(ProjPlan { w: add(w), out, inp, bias, lora });
                layer_vars.push(pair.map(|pair| (&pair.a, &pair.b)));
            }
            layers.push(LayerPlan { input_norm, post_norm, projs });
            vars.push(layer_vars);
        }
        Some(Plan { tensors, embed, norm, head, layers, vars })
    }

    fn layer_weights<'a>(&self, s: &[&'a [f32]]) -> Vec<LayerW<'a>> {
        let proj = |p: &ProjPlan| ProjW {
            w: s[p.w],
            out: p.out,
            inp: p.inp,
            bias: p.bias.map(|i| s[i]),
            lora: p.lora.as_ref().map(|l| LoraW { a: s[l.a], b: s[l.b], r: l.r, scale: l.scale, dropout: l.dropout }),
        };
        self.layers
            .iter()
            .map(|l| LayerW { input_norm: s[l.input_norm], post_norm: s[l.post_norm], projs: l.projs.iter().map(proj).collect() })
            .collect()
    }
}

/// Which layers keep their activations from the forward to the backward; the others keep only
/// their input and run their forward again in the backward. What is kept or recomputed is the
/// same numbers either way: the choice moves time and memory, never results.
#[derive(Clone, Copy, Debug)]
enum Keep {
    /// No checkpointing.
    All,
    /// Checkpointing: the top layers within `KEPT_ACTIVATIONS_PER_WEIGHT_BYTE`.
    WithinBudget,
    /// The top `n` layers (tests: part kept, part recomputed, whatever the budget says).
    #[cfg_attr(not(test), allow(dead_code))]
    Top(usize),
}

/// With checkpointing, the activations kept whole may take up to this much memory per byte of
/// the weights (adapters included). Recomputing a layer's forward (without its down projection,
/// `layer::recompute`) costs about as much as its backward, which computes no base-weight
/// gradients, so each layer kept saves about a third of its share of the step. At 0.72,
/// SmolLM2-135M at 1024 tokens a step keeps 18 of its 30 layers (22 MB each, beside 558 MB of
/// f32 weights): the step peaks at 1.08 GiB, against 0.72 GiB keeping none and 1.3 GiB keeping
/// all (the issue-25 ceiling is 1.2 GB). Longer batches keep fewer layers.
const KEPT_ACTIVATIONS_PER_WEIGHT_BYTE: f64 = 0.72;

impl Keep {
    /// How many of `layers` layers (the top ones) keep their activations of `acts_bytes` each.
    fn layers(self, layers: usize, acts_bytes: usize, weight_bytes: usize) -> usize {
        match self {
            Keep::All => layers,
            Keep::WithinBudget => {
                let budget = KEPT_ACTIVATIONS_PER_WEIGHT_BYTE * weight_bytes as f64;
                ((budget / acts_bytes.max(1) as f64) as usize).min(layers)
            }
            Keep::Top(n) => n.min(layers),
        }
    }
}

impl Llama {
    /// `loss_and_grads` on the hand-written path, or `None` when it does not apply (see the
    /// module comment).
    pub(crate) fn cpu_loss_and_grads(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout_seed: u64,
        checkpoint: bool,
        objective: Objective,
    ) -> Result<Option<(Tensor, GradStore)>> {
        let keep = if checkpoint { Keep::WithinBudget } else { Keep::All };
        self.cpu_loss_and_grads_keeping(ids, mask, dropout_seed, keep, objective)
    }

    fn cpu_loss_and_grads_keeping(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout_seed: u64,
        keep: Keep,
        objective: Objective,
    ) -> Result<Option<(Tensor, GradStore)>> {
        let Some(active) = self.active_unmerged() else { return Ok(None) };
        if !self.device.is_cpu() || self.dtype != DType::F32 {
            return Ok(None);
        }
        // Only Llama's layer is written out here (Qwen3's q/k norms, Gemma's norms, GeGLU and
        // scaled embeddings, a sliding window shorter than the sequence: candle's graph).
        if !self.llama_layers_over(ids.dim(1)?) {
            return Ok(None);
        }
        let Some(plan) = Plan::of(self, active) else { return Ok(None) };
        let Some(held) = plan.tensors.iter().map(|t| hold(t)).collect::<Option<Vec<_>>>() else { return Ok(None) };
        let slices: Vec<&[f32]> = held.iter().map(|h| h.slice()).collect();
        let layers = plan.layer_weights(&slices);
        let (embed, final_norm, head) = (slices[plan.embed], slices[plan.norm], slices[plan.head]);

        let cfg = &self.cfg;
        let (b, t) = ids.dims2()?;
        let d = Dims {
            rows: b * t,
            hidden: cfg.hidden_size,
            inter: cfg.intermediate_size,
            eps: cfg.rms_norm_eps as f32,
            attn: AttnShape {
                batch: b,
                seq: t,
                heads: cfg.num_attention_heads,
                kv_heads: cfg.num_kv_heads(),
                dim: cfg.head_dim(),
                scale: 1.0 / (cfg.head_dim() as f32).sqrt(),
            },
        };
        let (n, hidden, vocab) = (d.rows, d.hidden, cfg.vocab_size);
        let ids: Vec<u32> = ids.to_dtype(DType::U32)?.flatten_all()?.to_vec1()?;
        // Rotary angles and the attention bias as every pass makes them (the ids only give shape).
        let pass = self.pass_inputs(
            &Tensor::zeros((b, t), DType::U32, &Device::Cpu)?,
            &full_positions(b, t),
            &key_mask_rows(Some(mask), b, t)?,
            0,
        )?;
        let flat = |x: &Tensor| -> Result<Vec<f32>> { Ok(x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?) };
        let inputs = StepInputs { cos: flat(&pass.cos)?, sin: flat(&pass.sin)?, bias: flat(&pass.bias)? };

        let mut x = vec![0f32; n * hidden];
        for (row, &id) in x.chunks_mut(hidden).zip(&ids) {
            ensure!((id as usize) < vocab, "token id {id} is outside the vocabulary ({vocab})");
            row.copy_from_slice(&embed[id as usize * hidden..][..hidden]);
        }

        // Forward: every layer's input is kept, the top `kept` layers' other activations too.
        let seeds_of = |i: usize| move |j: usize| Some(rng::derive(dropout_seed, i as u64, j as u64));
        let weight_bytes = slices.iter().map(|s| s.len() * 4).sum();
        let kept = keep.layers(layers.len(), Acts::bytes(&d, &layers), weight_bytes);
        let first_kept = layers.len() - kept;
        let mut work = Work::new(&d);
        // A kept layer's activations, or (None) the buffer the recomputed layers share.
        let mut acts: Vec<Option<Acts>> = (0..layers.len()).map(|_| None).collect();
        let mut shared: Option<Acts> = None;
        let mut layer_inputs = Vec::with_capacity(layers.len());
        for (i, w) in layers.iter().enumerate() {
            let a = if i >= first_kept { acts[i].insert(Acts::new(&d)) } else { shared.get_or_insert_with(|| Acts::new(&d)) };
            let out = layer::forward(w, &d, &inputs, &x, a, &mut work, &seeds_of(i));
            layer_inputs.push(std::mem::replace(&mut x, out));
        }
        drop(shared.take());

        // The scratch is rebuilt for the backward: not holding it while the logits and their
        // gradient (the step's peak) are alive keeps ~40 MB off the peak at SmolLM2 size.
        drop(work);

        // Head: final norm, then by row chunks the logits, the loss with its gradient in their
        // place, and the gradient at the final norm (written over the chunk's normed rows).
        let (mut hn, mut rinv) = (vec![0f32; n * hidden], vec![0f32; n]);
        kernels::rms_norm(&x, final_norm, d.eps, &mut hn, &mut rinv);
        let (l, mut store) = match objective {
            Objective::CrossEntropy { targets, weight } => {
                ensure!(targets.len() == n, "{} targets for {n} positions", targets.len());
                if let Some(bad) = targets.iter().find(|&&t| t >= vocab as i64) {
                    bail!("target {bad} is outside the vocabulary ({vocab})");
                }
                let mut loss = 0f64;
                let mut logits = vec![0f32; HEAD_ROWS.min(n) * vocab];
                for (r0, hn) in (0..n).step_by(HEAD_ROWS).zip(hn.chunks_mut(HEAD_ROWS * hidden)) {
                    let rows = hn.len() / hidden;
                    let logits = &mut logits[..rows * vocab];
                    matmul(
                        MatMut::new(logits, rows, vocab),
                        Mat::new(hn, rows, hidden),
                        Mat::new(head, vocab, hidden).t(),
                        1.0,
                        Out::Overwrite,
                        Threads::All,
                    );
                    loss += kernels::cross_entropy_in_place(logits, vocab, &targets[r0..r0 + rows], weight as f32);
                    matmul(
                        MatMut::new(hn, rows, hidden),
                        Mat::new(logits, rows, vocab),
                        Mat::new(head, vocab, hidden),
                        1.0,
                        Out::Overwrite,
                        Threads::All,
                    );
                }
                let l = Tensor::new(loss as f32, &Device::Cpu)?;
                // A store holding nothing else, to file the adapter's gradients in.
                let mut store = l.backward()?;
                store.remove(&l);
                (l, store)
            }
        };
        let mut g = vec![0f32; n * hidden];
        kernels::rms_norm_backward(&x, final_norm, &rinv, &hn, &mut g);

        // Backward, from the top layer down; a layer that kept nothing runs its forward first.
        let mut work = Work::new(&d);
        for (i, w) in layers.iter().enumerate().rev() {
            let a = match &mut acts[i] {
                Some(a) => a,
                None => {
                    let a = shared.get_or_insert_with(|| Acts::new(&d));
                    layer::recompute(w, &d, &inputs, &layer_inputs[i], a, &mut work, &seeds_of(i));
                    a
                }
            };
            let grads = layer::backward(w, &d, &inputs, &layer_inputs[i], a, &mut work, &seeds_of(i), &mut g, i > 0);
            for ((grad, vars), p) in grads.into_iter().zip(&plan.vars[i]).zip(&plan.layers[i].projs) {
                if let (Some(grad), Some((va, vb)), Some(l)) = (grad, vars, &p.lora) {
                    store.insert(va.as_tensor(), Tensor::from_vec(grad.a, (l.r, p.inp), &Device::Cpu)?);
                    store.insert(vb.as_tensor(), Tensor::from_vec(grad.b, (p.out, l.r), &Device::Cpu)?);
                }
            }
            acts[i] = None; // this layer's activations are done with
        }
        Ok(Some((l, store)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LlamaConfig;
    use crate::lora::LoraConfig;

    fn lora(targets: &[&str], dropout: f64) -> LoraConfig {
        // r 8 takes the narrow kernels; `head_dim_apart_from_hidden_over_heads` uses 4 (gemm).
        LoraConfig { r: 8, alpha: 16.0, dropout, targets: targets.iter().map(|t| t.to_string()).collect() }
    }

    const ALL: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    fn model(cfg: &LlamaConfig, adapter: &LoraConfig) -> Llama {
        let mut model = Llama::random(cfg, 3, &Device::Cpu, DType::F32).unwrap();
        model.add_lora("a", adapter, 4).unwrap();
        // B starts at zero, which would leave A's gradient zero: move it.
        for (name, v) in model.lora_vars("a") {
            if name.contains("lora_B") {
                let n = v.elem_count();
                let vals: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 0.05).collect();
                v.set(&Tensor::from_vec(vals, v.shape(), &Device::Cpu).unwrap()).unwrap();
            }
        }
        model
    }

    fn ids(cfg: &LlamaConfig, b: usize, t: usize) -> Tensor {
        let ids: Vec<u32> = (0..b * t).map(|i| ((i * 7 + 3) % cfg.vocab_size) as u32).collect();
        Tensor::from_vec(ids, (b, t), &Device::Cpu).unwrap()
    }

    /// Largest |a - b| over the largest |a| (at least 1e-12).
    fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
        let diff = (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        let scale = a.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        diff / scale.max(1e-12)
    }

    /// Targets for every real position but a few, as the trainer's batches have them.
    fn targets(cfg: &LlamaConfig, mask: &[&[u32]]) -> Vec<i64> {
        let flat = mask.concat();
        (0..flat.len()).map(|i| if flat[i] == 0 || i % 5 == 2 { -100 } else { ((i * 13 + 5) % cfg.vocab_size) as i64 }).collect()
    }

    /// The loss and every adapter gradient of this path equal candle graph's, with and without
    /// checkpointing (the cross-entropy's gradient moves every logit).
    fn agrees_with_the_graph(cfg: &LlamaConfig, adapter: &LoraConfig, mask: &[&[u32]]) {
        let model = model(cfg, adapter);
        let targets = targets(cfg, mask);
        let (b, t) = (mask.len(), mask[0].len());
        let mask = Tensor::from_vec(mask.concat(), (b, t), &Device::Cpu).unwrap();
        let ids = ids(cfg, b, t);
        let objective = Objective::CrossEntropy { targets: &targets, weight: 0.3 };
        for checkpoint in [false, true] {
            let (l0, g0) = model.graph_loss_and_grads(&ids, &mask, 11, checkpoint, objective).unwrap();
            let (l1, g1) =
                model.cpu_loss_and_grads(&ids, &mask, 11, checkpoint, objective).unwrap().expect("the hand-written path applies");
            let (l0, l1) = (l0.to_scalar::<f32>().unwrap(), l1.to_scalar::<f32>().unwrap());
            assert!((l0 - l1).abs() <= 1e-5 * l0.abs(), "checkpoint {checkpoint}: loss {l1} vs the graph's {l0}");
            let vars = model.lora_vars("a");
            assert!(!vars.is_empty());
            for (name, var) in vars {
                let want = g0.get(var.as_tensor()).unwrap_or_else(|| panic!("graph: no gradient for {name}"));
                let got = g1.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
                let d = rel_diff(want, got);
                assert!(d <= 1e-4, "checkpoint {checkpoint}, {name}: gradients differ by {d} of their largest entry");
            }
        }
    }

    /// Keeping every layer, none, or some (checkpointing's choice) gives the same loss and
    /// gradients to the bit: the recomputed forward is the forward.
    #[test]
    fn what_is_kept_or_recomputed_never_changes_a_number() {
        let cfg = LlamaConfig { num_hidden_layers: 3, ..LlamaConfig::tiny(64) };
        let model = model(&cfg, &lora(&ALL, 0.2));
        let mask: &[&[u32]] = &[&[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], &[0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]];
        let targets = targets(&cfg, mask);
        let ids = ids(&cfg, 2, 11);
        let mask = Tensor::from_vec(mask.concat(), (2, 11), &Device::Cpu).unwrap();
        let objective = Objective::CrossEntropy { targets: &targets, weight: 0.7 };
        let run = |keep: Keep| {
            let (l, g) = model.cpu_loss_and_grads_keeping(&ids, &mask, 5, keep, objective).unwrap().unwrap();
            let grads: Vec<Vec<f32>> =
                model.lora_vars("a").iter().map(|(_, v)| g.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap()).collect();
            (l.to_scalar::<f32>().unwrap(), grads)
        };
        let all = run(Keep::All);
        assert!(all.1.iter().flatten().any(|&g| g != 0.0));
        for keep in [Keep::Top(0), Keep::Top(1), Keep::Top(2), Keep::WithinBudget] {
            let got = run(keep);
            assert_eq!(got.0.to_bits(), all.0.to_bits(), "{keep:?}: loss");
            for (a, b) in got.1.iter().zip(&all.1) {
                assert!(a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()), "{keep:?}: gradients differ");
            }
        }
    }

    /// The budget keeps the top layers that fit, none when a layer's activations outweigh it.
    #[test]
    fn checkpointing_keeps_the_layers_its_budget_holds() {
        let per_weight = KEPT_ACTIVATIONS_PER_WEIGHT_BYTE;
        let weights = 1_000_000;
        let layer = (per_weight * weights as f64 / 4.5) as usize; // 4.5 layers fit
        assert_eq!(Keep::WithinBudget.layers(30, layer, weights), 4);
        assert_eq!(Keep::WithinBudget.layers(3, layer, weights), 3);
        assert_eq!(Keep::WithinBudget.layers(30, weights, weights), 0);
        assert_eq!(Keep::All.layers(30, weights, 1), 30);
        assert_eq!(Keep::Top(40).layers(30, 1, 1), 30);
    }

    #[test]
    fn grouped_query_attention_with_dropout_and_padding_on_either_side() {
        let cfg = LlamaConfig::tiny(64);
        agrees_with_the_graph(&cfg, &lora(&ALL, 0.2), &[&[1, 1, 1, 1, 1, 1, 1], &[1, 1, 1, 1, 1, 0, 0], &[0, 0, 1, 1, 1, 1, 1]]);
    }

    #[test]
    fn sequences_longer_than_a_query_block_with_left_padding_past_the_first_block() {
        let cfg = LlamaConfig::tiny(64);
        let full = vec![1u32; 150];
        let left: Vec<u32> = (0..150).map(|i| u32::from(i >= 70)).collect();
        let right: Vec<u32> = (0..150).map(|i| u32::from(i < 100)).collect();
        agrees_with_the_graph(&cfg, &lora(&ALL, 0.1), &[&full, &left, &right]);
    }

    #[test]
    fn qkv_biases_tied_head_some_targets_no_dropout() {
        let cfg =
            LlamaConfig { attention_bias: Some(true), tie_word_embeddings: true, num_key_value_heads: Some(4), ..LlamaConfig::tiny(80) };
        agrees_with_the_graph(&cfg, &lora(&["q_proj", "v_proj", "down_proj"], 0.0), &[&[1, 1, 1, 1, 1], &[1, 1, 1, 0, 0]]);
    }

    #[test]
    fn head_dim_apart_from_hidden_over_heads() {
        let cfg = LlamaConfig { head_dim: Some(12), num_key_value_heads: Some(1), ..LlamaConfig::tiny(50) };
        let adapter = LoraConfig { r: 4, alpha: 8.0, ..lora(&["q_proj", "k_proj", "o_proj", "gate_proj"], 0.1) };
        agrees_with_the_graph(&cfg, &adapter, &[&[1, 1, 1, 1, 1, 1, 1, 1, 1]]);
    }

    #[test]
    fn a_target_outside_the_vocabulary_is_an_error() {
        let cfg = LlamaConfig::tiny(64);
        let model = model(&cfg, &lora(&ALL, 0.1));
        let (ids, mask) = (ids(&cfg, 2, 6), Tensor::ones((2, 6), DType::U32, &Device::Cpu).unwrap());
        let bad = [64i64; 12];
        let objective = Objective::CrossEntropy { targets: &bad, weight: 0.3 };
        let err = model.cpu_loss_and_grads(&ids, &mask, 3, false, objective).unwrap_err();
        assert!(format!("{err}").contains("outside the vocabulary"), "{err}");
    }

    #[test]
    fn applies_only_to_f32_cpu_models_training_an_adapter() {
        let cfg = LlamaConfig::tiny(64);
        let mut m = model(&cfg, &lora(&ALL, 0.0));
        let (ids, mask) = (ids(&cfg, 1, 4), Tensor::ones((1, 4), DType::U32, &Device::Cpu).unwrap());
        let objective = Objective::CrossEntropy { targets: &[1, 2, 3, -100], weight: 1.0 };
        assert!(m.cpu_loss_and_grads(&ids, &mask, 0, false, objective).unwrap().is_some());
        m.set_active_adapter(None).unwrap();
        assert!(m.cpu_loss_and_grads(&ids, &mask, 0, false, objective).unwrap().is_none());
        let bf16 = Llama::random(&cfg, 3, &Device::Cpu, DType::BF16).unwrap();
        assert!(bf16.cpu_loss_and_grads(&ids, &mask, 0, false, objective).unwrap().is_none());
    }

    #[test]
    fn a_token_outside_the_vocabulary_is_an_error() {
        let cfg = LlamaConfig::tiny(64);
        let m = model(&cfg, &lora(&ALL, 0.0));
        let ids = Tensor::new(&[[1u32, 64]], &Device::Cpu).unwrap();
        let mask = Tensor::ones((1, 2), DType::U32, &Device::Cpu).unwrap();
        let objective = Objective::CrossEntropy { targets: &[1, -100], weight: 1.0 };
        let err = m.cpu_loss_and_grads(&ids, &mask, 0, false, objective).unwrap_err();
        assert!(format!("{err}").contains("token id 64"), "{err}");
    }
}
