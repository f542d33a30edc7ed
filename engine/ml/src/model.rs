//! The Llama-family decoder (Llama-2/3, SmolLM2, Mistral, Qwen2 biases, Qwen3 q/k norms,
//! Gemma 3: `config::Family`) with HF weight names: the weights, their assembly, and the
//! forward pass. Random initialisation is `init.rs`; attaching
//! and managing LoRA adapters is `lora.rs`; the loss and gradients of a training step are
//! `backward.rs` and `cpu_train/`.
//!
//! Two paths through the same weights (engine/ARCHITECTURE.md, "The three forward paths"):
//! - training (`train = true`): candle ops with backward passes, the fused kernels wrapped with
//!   hand-written ones (`autograd.rs`). f32 CPU training steps skip this graph altogether
//!   (`cpu_train/`), and are tested against it.
//! - inference (`train = false`): the fast fused kernels, a KV cache and quantised matmuls.

use crate::autograd::{self, accumulation_dtype};
use crate::bf16mm::Bf16Weight;
use crate::config::{Family, LlamaConfig};
use crate::cpu_train::AttnShape;
use crate::linear::{base_matmul_t, bf16_products_of, blocks_matmul_t, matmul_t, BaseWeight, Grad, Proj};
use crate::lora::LoraConfig;
use crate::qgemv::QBlocks;
use crate::rng;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;
use std::sync::Arc;

/// The seven projections LoRA can target, with their HF module paths inside a layer.
pub const PROJECTIONS: [(&str, &str); 7] = [
    ("q_proj", "self_attn"),
    ("k_proj", "self_attn"),
    ("v_proj", "self_attn"),
    ("o_proj", "self_attn"),
    ("gate_proj", "mlp"),
    ("up_proj", "mlp"),
    ("down_proj", "mlp"),
];

/// Additive attention bias value for masked keys: finite so fully masked rows stay NaN-free.
const MASKED: f32 = -1e30;

/// One decoder layer's frozen weights. Norm weights are what the normalised vector is
/// multiplied by: HF's `w` for Llama-style norms; for Gemma's, `1 + w` in f32 (its norms are
/// computed in f32 whatever the model's dtype).
#[derive(Clone)]
pub(crate) struct Layer {
    pub input_norm: Tensor,
    /// The norm before the MLP: Llama's `post_attention_layernorm`, Gemma's
    /// `pre_feedforward_layernorm`.
    pub post_norm: Tensor,
    /// In `PROJECTIONS` order: q, k, v, o, gate, up, down.
    pub projs: Vec<Proj>,
    /// Per-head norms of queries and keys (Qwen3, Gemma 3), over head_dim.
    pub q_norm: Option<Tensor>,
    pub k_norm: Option<Tensor>,
    /// Gemma 3's norms of the attention's and the MLP's outputs (`post_attention_layernorm`,
    /// `post_feedforward_layernorm`).
    pub attn_out_norm: Option<Tensor>,
    pub mlp_out_norm: Option<Tensor>,
}

impl Layer {
    /// A layer of Llama's form (no q/k norms, no output norms).
    pub(crate) fn llama(input_norm: Tensor, post_norm: Tensor, projs: Vec<Proj>) -> Self {
        Layer { input_norm, post_norm, projs, q_norm: None, k_norm: None, attn_out_norm: None, mlp_out_norm: None }
    }

    /// Whether the hand-written training step (`cpu_train`), which computes Llama's layer,
    /// computes this one.
    pub(crate) fn is_llama(&self) -> bool {
        self.q_norm.is_none() && self.k_norm.is_none() && self.attn_out_norm.is_none() && self.mlp_out_norm.is_none()
    }
}

/// Per-layer keys and values of earlier positions, (B, Hkv, Tk, D) each.
pub struct KvCache {
    layers: Vec<Option<LayerKv>>,
}

/// One layer's keys and values in buffers (B, Hkv, capacity, D) of which the first `len`
/// positions are filled: appending a decoding step writes one position instead of copying the
/// whole cache (`Tensor::cat`), and the buffers grow by doubling.
pub(crate) struct LayerKv {
    k: Tensor,
    v: Tensor,
    len: usize,
}

impl LayerKv {
    fn new(k: &Tensor, v: &Tensor) -> candle_core::Result<Self> {
        let t = k.dim(2)?;
        let cap = t.next_power_of_two().max(64);
        let buffer = |x: &Tensor| -> candle_core::Result<Tensor> {
            let (b, h, _, d) = x.dims4()?;
            let buf = Tensor::zeros((b, h, cap, d), x.dtype(), x.device())?;
            buf.slice_set(&x.contiguous()?, 2, 0)?;
            Ok(buf)
        };
        Ok(LayerKv { k: buffer(k)?, v: buffer(v)?, len: t })
    }

    /// Append new positions (B, Hkv, T, D); returns all keys and values so far (views).
    fn append(&mut self, k: &Tensor, v: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let t = k.dim(2)?;
        let need = self.len + t;
        let cap = self.k.dim(2)?;
        if need > cap {
            let cap = need.next_power_of_two();
            let grow = |old: &Tensor| -> candle_core::Result<Tensor> {
                let (b, h, _, d) = old.dims4()?;
                let buf = Tensor::zeros((b, h, cap, d), old.dtype(), old.device())?;
                buf.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                Ok(buf)
            };
            self.k = grow(&self.k)?;
            self.v = grow(&self.v)?;
        }
        self.k.slice_set(&k.contiguous()?, 2, self.len)?;
        self.v.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len = need;
        Ok((self.k.narrow(2, 0, need)?, self.v.narrow(2, 0, need)?))
    }
}

impl KvCache {
    pub fn new(cfg: &LlamaConfig) -> Self {
        KvCache { layers: (0..cfg.num_hidden_layers).map(|_| None).collect() }
    }

    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map(|l| l.len).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cache whose row `i` is this cache's row `rows[i]`: one computed prefix continued by
    /// several sequences (the choices of one question).
    pub fn select_rows(&self, rows: &[usize], device: &Device) -> Result<KvCache> {
        let idx = Tensor::from_vec(rows.iter().map(|&r| r as u32).collect::<Vec<u32>>(), rows.len(), device)?;
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref()
                    .map(|l| {
                        Ok::<_, candle_core::Error>(LayerKv { k: l.k.index_select(&idx, 0)?, v: l.v.index_select(&idx, 0)?, len: l.len })
                    })
                    .transpose()
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(KvCache { layers })
    }
}

/// Frozen base weights plus named LoRA adapters.
#[derive(Clone)]
pub struct Llama {
    pub(crate) cfg: LlamaConfig,
    pub(crate) device: Device,
    pub(crate) dtype: DType,
    pub(crate) embed: Tensor,
    pub(crate) layers: Vec<Layer>,
    pub(crate) norm: Tensor,
    /// `None` when the head is tied to the embeddings.
    pub(crate) lm_head: Option<BaseWeight>,
    /// The head's GGUF blocks (the embedding's when tied), for few-row inference products.
    pub(crate) head_blocks: Option<Arc<QBlocks>>,
    /// The head packed for bf16 products, present while the model is switched to them.
    pub(crate) head_bf16: Option<Arc<Bf16Weight>>,
    pub(crate) inv_freq: Tensor,
    /// Gemma 3's sliding layers' RoPE frequencies; `None` when every layer uses `inv_freq`.
    pub(crate) inv_freq_local: Option<Tensor>,
    /// Gemma 3: embeddings are multiplied by sqrt(hidden_size), rounded to the model's dtype.
    pub(crate) embed_scale: Option<f64>,
    pub(crate) adapters: HashMap<String, LoraConfig>,
    pub(crate) active: Option<String>,
    pub(crate) merged: Vec<String>,
}

/// Looks a weight up by HF name (`model.layers.0.self_attn.q_proj.weight`, ...).
pub(crate) type WeightLookup<'a> = &'a mut dyn FnMut(&str) -> Result<Option<Tensor>>;

impl Llama {
    /// Assemble from named HF-layout tensors (already on `device`; converted to `dtype`).
    pub(crate) fn from_weights(cfg: &LlamaConfig, get: WeightLookup, device: &Device, dtype: DType) -> Result<Self> {
        let gemma = cfg.family() == Family::Gemma3;
        // Weights in the model's dtype; Gemma's norm weights `w` as their multiplier 1 + w in f32.
        let mut fetch = |name: &str, norm: bool| -> Result<Tensor> {
            let w = (*get)(name)?.with_context(|| format!("weight `{name}` is missing"))?.to_device(device)?;
            Ok(match (norm, gemma) {
                (true, true) => (w.to_dtype(DType::F32)? + 1.0)?,
                _ => w.to_dtype(dtype)?,
            })
        };
        let embed = fetch("model.embed_tokens.weight", false)?;
        ensure!(
            embed.dims() == [cfg.vocab_size, cfg.hidden_size],
            "model.embed_tokens.weight has shape {:?}, config says ({}, {})",
            embed.dims(),
            cfg.vocab_size,
            cfg.hidden_size
        );
        let hd = cfg.head_dim();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let mut projs = Vec::with_capacity(7);
            for (name, module) in PROJECTIONS {
                let w = fetch(&format!("{p}.{module}.{name}.weight"), false)?;
                let (out, inp) = proj_shape(cfg, name);
                ensure!(w.dims() == [out, inp], "{p}.{module}.{name}.weight has shape {:?}, expected ({out}, {inp})", w.dims());
                let bias = match name {
                    "q_proj" | "k_proj" | "v_proj" if cfg.has_qkv_bias() => Some(fetch(&format!("{p}.{module}.{name}.bias"), false)?),
                    "o_proj" if cfg.has_o_bias() => Some(fetch(&format!("{p}.{module}.{name}.bias"), false)?),
                    _ => None,
                };
                projs.push(Proj::dense(w, bias));
            }
            let mut norm = |name: &str, len: usize| -> Result<Tensor> {
                let full = format!("{p}.{name}.weight");
                let w = fetch(&full, true)?;
                ensure!(w.dims() == [len], "{full} has shape {:?}, expected ({len})", w.dims());
                Ok(w)
            };
            let h = cfg.hidden_size;
            let mut layer = Layer::llama(
                norm("input_layernorm", h)?,
                norm(if gemma { "pre_feedforward_layernorm" } else { "post_attention_layernorm" }, h)?,
                projs,
            );
            if cfg.has_qk_norm() {
                layer.q_norm = Some(norm("self_attn.q_norm", hd)?);
                layer.k_norm = Some(norm("self_attn.k_norm", hd)?);
            }
            if gemma {
                layer.attn_out_norm = Some(norm("post_attention_layernorm", h)?);
                layer.mlp_out_norm = Some(norm("post_feedforward_layernorm", h)?);
            }
            layers.push(layer);
        }
        let norm = fetch("model.norm.weight", true)?;
        let lm_head = if cfg.tie_word_embeddings { None } else { Some(BaseWeight::Dense(fetch("lm_head.weight", false)?)) };
        Self::assemble(cfg.clone(), device.clone(), dtype, embed, layers, norm, lm_head)
    }

    pub(crate) fn assemble(
        cfg: LlamaConfig,
        device: Device,
        dtype: DType,
        embed: Tensor,
        layers: Vec<Layer>,
        norm: Tensor,
        lm_head: Option<BaseWeight>,
    ) -> Result<Self> {
        let inv: Vec<f32> = cfg.rope_inv_freq().into_iter().map(|f| f as f32).collect();
        let n = inv.len();
        let inv_freq = Tensor::from_vec(inv, (1, 1, n), &device)?;
        let inv_freq_local = match cfg.has_local_rope() {
            true => {
                Some(Tensor::from_vec(cfg.rope_local_inv_freq().into_iter().map(|f| f as f32).collect::<Vec<_>>(), (1, 1, n), &device)?)
            }
            false => None,
        };
        // transformers casts sqrt(hidden) to the embeddings' dtype before multiplying.
        let embed_scale = (cfg.family() == Family::Gemma3).then(|| {
            let s = (cfg.hidden_size as f64).sqrt() as f32;
            f64::from(match dtype {
                DType::BF16 => half::bf16::from_f32(s).to_f32(),
                DType::F16 => half::f16::from_f32(s).to_f32(),
                _ => s,
            })
        });
        Ok(Llama {
            cfg,
            device,
            dtype,
            embed,
            layers,
            norm,
            lm_head,
            head_blocks: None,
            head_bf16: None,
            inv_freq,
            inv_freq_local,
            embed_scale,
            adapters: HashMap::new(),
            active: None,
            merged: Vec::new(),
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Forget the GGUF blocks kept beside dense weights, so that every product uses the dense
    /// f32 weights (to compare the two paths).
    pub fn drop_weight_blocks(&mut self) {
        self.head_blocks = None;
        for l in &mut self.layers {
            for p in &mut l.projs {
                if matches!(p.base, BaseWeight::Dense(_)) {
                    p.blocks = None;
                }
            }
        }
    }

    /// Switches inference (scoring, prompt prefill, decoding) to bf16 products with f32 sums
    /// (`bf16mm`: AMX tiles on CPUs that have them; a few decoding rows read the GGUF blocks,
    /// rounded alike), or back to f32. Training is unaffected. Packs every dense base weight
    /// once (half the size of its f32).
    pub fn set_bf16_products(&mut self, on: bool) -> Result<()> {
        let pack = |w: &Tensor| -> Result<Option<Arc<Bf16Weight>>> {
            Ok(match on && w.device().is_cpu() && w.dtype() == DType::F32 {
                true => Bf16Weight::pack_for_cpu(w)?.map(Arc::new),
                false => None,
            })
        };
        for l in &mut self.layers {
            for p in &mut l.projs {
                p.bf16 = match &p.base {
                    BaseWeight::Dense(w) => pack(w)?,
                    BaseWeight::Quant(..) => None,
                };
            }
        }
        self.head_bf16 = match &self.lm_head {
            None => pack(&self.embed)?,
            Some(BaseWeight::Dense(w)) => pack(w)?,
            Some(BaseWeight::Quant(..)) => None,
        };
        Ok(())
    }

    /// Whether whole-sequence inference uses bf16 products (`set_bf16_products`).
    pub fn bf16_products(&self) -> bool {
        self.head_bf16.is_some() || self.layers.iter().any(|l| l.projs.iter().any(|p| p.bf16.is_some()))
    }

    /// True when some base weights are kept in GGUF quantised blocks (inference only).
    pub fn is_quantized(&self) -> bool {
        self.layers.iter().any(|l| l.projs.iter().any(|p| p.base.is_quantized()))
    }

    /// Full-sequence forward. `ids` (B,T) u32, `mask` (B,T) of 1/0 with right padding; returns
    /// f32 logits (B,T,V). `train` takes the differentiable path with LoRA dropout drawn from
    /// seed 0 (see `forward_train`); otherwise gradients do not flow.
    pub fn forward(&self, ids: &Tensor, mask: Option<&Tensor>, train: bool) -> Result<Tensor> {
        self.forward_pass(ids, mask, train.then_some(0))
    }

    /// The training forward: differentiable, LoRA dropout masks drawn from `dropout_seed` only.
    pub fn forward_train(&self, ids: &Tensor, mask: Option<&Tensor>, dropout_seed: u64) -> Result<Tensor> {
        self.forward_pass(ids, mask, Some(dropout_seed))
    }

    fn forward_pass(&self, ids: &Tensor, mask: Option<&Tensor>, train: Option<u64>) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let key_mask = key_mask_rows(mask, b, t)?;
        let positions = full_positions(b, t);
        let hidden = self.hidden(ids, &positions, &key_mask, None, train)?;
        match train {
            Some(_) => self.logits_train(&hidden),
            None => self.inference_logits(&hidden),
        }
    }

    /// Logits (f32) of hidden states (..., H).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        if let Some(b) = &self.head_blocks {
            if let Some(y) = blocks_matmul_t(hidden, b)? {
                return self.softcap_logits(y);
            }
        }
        let y = match &self.lm_head {
            None => matmul_t(hidden, &self.embed)?,
            Some(base) => base_matmul_t(hidden, base, self.head_blocks.as_deref())?,
        };
        self.softcap_logits(y.to_dtype(DType::F32)?)
    }

    /// `c · tanh(logits / c)` with Gemma's `final_logit_softcapping` c; the logits otherwise.
    /// Differentiable (candle's ops), for the training path too.
    fn softcap_logits(&self, y: Tensor) -> Result<Tensor> {
        Ok(match self.cfg.final_logit_softcapping {
            Some(c) => ((y / c)?.tanh()? * c)?,
            None => y,
        })
    }

    /// Logits of an inference pass's hidden states: bf16 products when the model is switched
    /// to them (computed alike whatever the number of rows, so a sequence scores and decodes
    /// the same alone or batched); else as `logits`.
    pub fn inference_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        if let Some(w) = &self.head_bf16 {
            let blocks = self.head_blocks.as_deref().map(|b| [b]);
            if let Some(mut ys) = bf16_products_of(hidden, &[w], blocks.as_ref().map(|b| &b[..]))? {
                return self.softcap_logits(ys.remove(0));
            }
        }
        self.logits(hidden)
    }

    /// Logits on the training path: the head is frozen explicitly, so the backward computes no
    /// (vocab x hidden) gradient for it.
    pub(crate) fn logits_train(&self, hidden: &Tensor) -> Result<Tensor> {
        let y = match &self.lm_head {
            None => autograd::frozen_linear(hidden, &self.embed)?,
            Some(BaseWeight::Dense(w)) => autograd::frozen_linear(hidden, w)?,
            Some(BaseWeight::Quant(..)) => return self.logits(hidden),
        };
        self.softcap_logits(y.to_dtype(DType::F32)?)
    }

    /// Final-norm hidden states (B,T,H) for new tokens `ids` (B,T).
    ///
    /// `positions[b][t]` is each new token's rotary position; `key_mask[b]` covers cached plus
    /// new keys (1 = attend). A query attends to key j when key_mask allows it and j is not in
    /// its future (cache length + t). With a cache, new keys and values are appended to it.
    /// `train` is the dropout seed of a differentiable pass (`None`: inference kernels).
    pub fn hidden(
        &self,
        ids: &Tensor,
        positions: &[Vec<u32>],
        key_mask: &[Vec<u8>],
        cache: Option<&mut KvCache>,
        train: Option<u64>,
    ) -> Result<Tensor> {
        let grad = match train {
            Some(_) => Grad::Graph,
            None if self.bf16_products() => Grad::NoneBf16,
            None => Grad::None,
        };
        self.hidden_pass(ids, positions, key_mask, cache, Pass { dropout: train, grad })
    }

    /// `hidden` for any kind of pass.
    pub(crate) fn hidden_pass(
        &self,
        ids: &Tensor,
        positions: &[Vec<u32>],
        key_mask: &[Vec<u8>],
        mut cache: Option<&mut KvCache>,
        pass: Pass,
    ) -> Result<Tensor> {
        let past = cache.as_ref().map(|c| c.len()).unwrap_or(0);
        let inputs = self.pass_inputs(ids, positions, key_mask, past)?;
        let mut x = self.embed_ids(ids)?;
        if let Grad::Sink(_) = pass.grad {
            // Explicit projection nodes only exist downstream of a tracked tensor.
            x = Var::from_tensor(&x)?.as_tensor().clone();
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = self.block(i, layer, &x, &inputs, slot, pass)?;
        }
        self.rms_norm(&x, &self.norm, pass.grad.records())
    }

    /// Embeddings (B,T,H) of `ids` (B,T).
    pub(crate) fn embed_ids(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let x = self.embed.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, self.cfg.hidden_size))?;
        Ok(match self.embed_scale {
            Some(s) => (x * s)?,
            None => x,
        })
    }

    /// Rotary angles and the additive attention biases for new tokens after `past` cached ones:
    /// those of full-attention layers, and, when they differ, those of sliding-window layers
    /// (a window shorter than the keys, or Gemma's local RoPE).
    pub(crate) fn pass_inputs(&self, ids: &Tensor, positions: &[Vec<u32>], key_mask: &[Vec<u8>], past: usize) -> Result<PassInputs> {
        let (b, t) = ids.dims2()?;
        let tk = past + t;
        ensure!(positions.len() == b && key_mask.len() == b, "positions/key_mask must have one row per batch row");
        let mut pos = Vec::with_capacity(b * t);
        for r in 0..b {
            ensure!(positions[r].len() == t, "positions row {r} has {} entries, expected {t}", positions[r].len());
            ensure!(key_mask[r].len() == tk, "key_mask row {r} has {} entries, expected {tk}", key_mask[r].len());
            pos.extend(positions[r].iter().map(|&p| p as f32));
        }
        let pos = Tensor::from_vec(pos, (b, t, 1), &self.device)?;
        // A query at cache index i = past + q sees key j when the mask allows it, j <= i, and,
        // in a window w, i - j < w (transformers' sliding mask, by cache index).
        let bias = |window: Option<usize>| -> Result<Tensor> {
            let mut bias = Vec::with_capacity(b * t * tk);
            for mask in key_mask {
                for q in 0..t {
                    let i = past + q;
                    let first = window.map_or(0, |w| (i + 1).saturating_sub(w));
                    bias.extend(mask.iter().enumerate().map(|(j, &m)| if m != 0 && j <= i && j >= first { 0.0 } else { MASKED }));
                }
            }
            Ok(Tensor::from_vec(bias, (b, 1, t, tk), &self.device)?)
        };
        let angles = |inv_freq: &Tensor| -> Result<(Tensor, Tensor, Tensor)> {
            let freqs = pos.broadcast_mul(inv_freq)?; // (B,T,D/2)
            let cos = freqs.cos()?.to_dtype(self.dtype)?;
            let sin = freqs.sin()?.to_dtype(self.dtype)?;
            let neg_sin = sin.neg()?;
            Ok((cos, sin, neg_sin))
        };
        let (cos, sin, neg_sin) = angles(&self.inv_freq)?;
        let window = self.cfg.attention_window().filter(|&w| tk > w);
        let local = match (window, &self.inv_freq_local) {
            (None, None) => None,
            (window, inv) => {
                let (cos, sin, neg_sin) = match inv {
                    Some(inv) => angles(inv)?,
                    None => (cos.clone(), sin.clone(), neg_sin.clone()),
                };
                Some(Box::new(PassInputs { bias: bias(window)?, cos, sin, neg_sin, local: None, flat: Default::default() }))
            }
        };
        Ok(PassInputs { bias: bias(None)?, cos, sin, neg_sin, local, flat: Default::default() })
    }

    /// Whether the hand-written f32 training step computes this model's layers over `tokens`
    /// keys: Llama's layer (no q/k or output norms, no scaled embeddings, no logit softcapping,
    /// the usual attention scale) with no sliding window shorter than the sequence.
    pub(crate) fn llama_layers_over(&self, tokens: usize) -> bool {
        self.cfg.family() != Family::Gemma3
            && self.embed_scale.is_none()
            && self.inv_freq_local.is_none()
            && self.cfg.final_logit_softcapping.is_none()
            && !self.cfg.window_binds(tokens)
            && self.layers.iter().all(Layer::is_llama)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn block(
        &self,
        index: usize,
        layer: &Layer,
        x: &Tensor,
        inputs: &PassInputs,
        slot: Option<&mut Option<LayerKv>>,
        pass: Pass,
    ) -> Result<Tensor> {
        let grad = pass.grad.records();
        let active = self.active_unmerged();
        let (b, t, _) = x.dims3()?;
        let (h, hkv, d) = (self.cfg.num_attention_heads, self.cfg.num_kv_heads(), self.cfg.head_dim());
        let p = &layer.projs;
        let inputs = match &inputs.local {
            Some(local) if self.cfg.is_sliding_layer(index) => local,
            _ => inputs,
        };
        let PassInputs { bias, cos, sin, neg_sin, .. } = inputs;
        let rope = |x: &Tensor| -> Result<Tensor> {
            Ok(match grad {
                true => autograd::rope(x, cos, sin, neg_sin)?,
                false => candle_nn::rotary_emb::rope(x, cos, sin)?,
            })
        };

        let xn = self.rms_norm(x, &layer.input_norm, grad)?;
        let [q, k, v]: [Tensor; 3] = Proj::forward_many(&[&p[0], &p[1], &p[2]], &xn, active, |j| pass.dropout_seed(index, j), pass.grad)?
            .try_into()
            .expect("three projections");
        let (q, k, v, slot) = match self.fresh_attention_cpu(layer, q, k, v, inputs, slot, pass)? {
            Fresh::Done(attn) => return self.block_rest(index, layer, x, &attn, pass),
            Fresh::Declined(q, k, v, slot) => (q, k, v, slot),
        };
        let q = q.reshape((b, t, h, d))?.transpose(1, 2)?.contiguous()?;
        let k = k.reshape((b, t, hkv, d))?.transpose(1, 2)?.contiguous()?;
        let v = v.reshape((b, t, hkv, d))?.transpose(1, 2)?.contiguous()?;
        let (q, k) = match (&layer.q_norm, &layer.k_norm) {
            (Some(qn), Some(kn)) => (self.rms_norm(&q, qn, grad)?, self.rms_norm(&k, kn, grad)?),
            _ => (q, k),
        };
        let q = rope(&q)?;
        let mut k = rope(&k)?;
        let mut v = v;
        if let Some(slot) = slot {
            ensure!(!k.track_op() && !v.track_op(), "the KV cache is for inference passes only");
            match slot {
                Some(kv) => (k, v) = kv.append(&k, &v)?,
                None => *slot = Some(LayerKv::new(&k, &v)?),
            }
        }
        let tk = k.dim(2)?;
        // Grouped-query attention without copying K/V: the n_rep query heads that share one KV
        // head are stacked along the sequence axis.
        let n_rep = h / hkv;
        let qg = q.reshape((b, hkv, n_rep * t, d))?;
        let scale = self.cfg.attention_scale();
        let scores = qg.matmul(&k.t()?)?.reshape((b, h, t, tk))?;
        let probs = match grad {
            true => autograd::masked_softmax(&scores, scale, bias)?,
            false => {
                let acc = accumulation_dtype(self.dtype);
                let z = (scores * scale)?.to_dtype(acc)?.broadcast_add(&bias.to_dtype(acc)?)?;
                candle_nn::ops::softmax_last_dim(&z)?.to_dtype(self.dtype)?
            }
        };
        let probs = probs.reshape((b, hkv, n_rep * t, tk))?;
        let attn = probs.matmul(&v)?.reshape((b, h, t, d))?.transpose(1, 2)?.reshape((b, t, h * d))?;
        self.block_rest(index, layer, x, &attn, pass)
    }

    /// The attention of new queries that see only their own pass's keys (scoring, a prompt's
    /// first pass) in an f32 CPU inference pass: one fused causal kernel over the projections'
    /// token-major buffers (`cpu_train::causal_attention`: per query block, the scores up to
    /// its last query, softmax and the product with V), instead of (B, H, T, T) scores that are
    /// scaled, biased and softmaxed as separate tensors over every key. The keys and values
    /// still go into the cache when there is one. Anything else is declined and handed back.
    #[allow(clippy::too_many_arguments)]
    fn fresh_attention_cpu<'s>(
        &self,
        layer: &Layer,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        inputs: &PassInputs,
        slot: Option<&'s mut Option<LayerKv>>,
        pass: Pass,
    ) -> Result<Fresh<'s>> {
        let (b, t, _) = q.dims3()?;
        let fresh = slot.as_ref().is_none_or(|s| s.is_none());
        let bias_dims = inputs.bias.dims();
        if pass.grad.records() || !fresh || !q.device().is_cpu() || q.dtype() != DType::F32 || bias_dims != [b, 1, t, t] {
            return Ok(Fresh::Declined(q, k, v, slot));
        }
        let (h, hkv, d) = (self.cfg.num_attention_heads, self.cfg.num_kv_heads(), self.cfg.head_dim());
        let (q, k) = match (&layer.q_norm, &layer.k_norm) {
            (Some(qn), Some(kn)) => {
                (self.rms_norm(&q.reshape((b, t, h, d))?, qn, false)?, self.rms_norm(&k.reshape((b, t, hkv, d))?, kn, false)?)
            }
            _ => (q, k),
        };
        let flat = |x: &Tensor| x.flatten_all()?.to_vec1::<f32>();
        let (mut qv, mut kv, vv) = (flat(&q)?, flat(&k)?, flat(&v)?);
        let FlatInputs { cos, sin, bias } = inputs.flat()?;
        crate::cpu_train::rope(&mut qv, cos, sin, h, d, false);
        crate::cpu_train::rope(&mut kv, cos, sin, hkv, d, false);
        let shape = AttnShape { batch: b, seq: t, heads: h, kv_heads: hkv, dim: d, scale: self.cfg.attention_scale() as f32 };
        let mut out = vec![0f32; b * t * h * d];
        let mut stats = vec![0f32; shape.stats_len()];
        crate::cpu_train::causal_attention(&shape, &qv, &kv, &vv, bias, &mut out, &mut stats);
        if let Some(slot) = slot {
            let heads_first = |x: Vec<f32>| Tensor::from_vec(x, (b, t, hkv, d), q.device())?.transpose(1, 2)?.contiguous();
            *slot = Some(LayerKv::new(&heads_first(kv)?, &heads_first(vv)?)?);
        }
        Ok(Fresh::Done(Tensor::from_vec(out, (b, t, h * d), q.device())?))
    }

    /// A block after its attention `attn` (B, T, H·D): the output projection, the residual and
    /// the MLP.
    fn block_rest(&self, index: usize, layer: &Layer, x: &Tensor, attn: &Tensor, pass: Pass) -> Result<Tensor> {
        let grad = pass.grad.records();
        let active = self.active_unmerged();
        let p = &layer.projs;
        let proj = |j: usize, x: &Tensor| p[j].forward(x, active, pass.dropout_seed(index, j), pass.grad);
        let out = proj(3, attn)?;
        let out = match &layer.attn_out_norm {
            Some(w) => self.rms_norm(&out, w, grad)?,
            None => out,
        };
        let x = (x + out)?;

        let xn = self.rms_norm(&x, &layer.post_norm, grad)?;
        let [gate, up]: [Tensor; 2] = Proj::forward_many(&[&p[4], &p[5]], &xn, active, |j| pass.dropout_seed(index, 4 + j), pass.grad)?
            .try_into()
            .expect("two projections");
        let gemma = self.cfg.family() == Family::Gemma3;
        let act = match (gemma, grad) {
            (false, true) => autograd::swiglu(&gate, &up)?,
            (false, false) => swiglu_inference(&gate, &up)?,
            (true, true) => autograd::geglu(&gate, &up)?,
            // candle's `gelu` is the tanh approximation (`gelu_pytorch_tanh`).
            (true, false) => (gate.gelu()? * up)?,
        };
        let mlp = proj(6, &act)?;
        let mlp = match &layer.mlp_out_norm {
            Some(w) => self.rms_norm(&mlp, w, grad)?,
            None => mlp,
        };
        Ok((x + mlp)?)
    }

    /// RMSNorm over the last dim times `w`. A weight in another dtype than `x` is Gemma's f32
    /// `1 + w`: `x` is normalised in f32 and the result rounded back to its dtype.
    pub(crate) fn rms_norm(&self, x: &Tensor, w: &Tensor, train: bool) -> Result<Tensor> {
        let eps = self.cfg.rms_norm_eps;
        if x.dtype() != w.dtype() {
            let y = match train {
                true => autograd::rms_norm(&x.to_dtype(w.dtype())?, w, eps)?,
                false => candle_nn::ops::rms_norm(&x.to_dtype(w.dtype())?.contiguous()?, w, eps as f32)?,
            };
            return Ok(y.to_dtype(x.dtype())?);
        }
        Ok(match train {
            true => autograd::rms_norm(x, w, eps)?,
            false => candle_nn::ops::rms_norm(&x.contiguous()?, w, eps as f32)?,
        })
    }

    /// The adapter the forward pass applies: the active one unless merged into the base.
    pub(crate) fn active_unmerged(&self) -> Option<&str> {
        self.active.as_deref().filter(|a| !self.merged.iter().any(|m| m == a))
    }

    /// The dense base weights by HF name (for writing `model.safetensors`). Quantised weights
    /// are an error: they have no dense HF form without dequantising.
    pub fn named_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let gemma = self.cfg.family() == Family::Gemma3;
        // Gemma's norms are kept as 1 + w in f32; HF stores w in the model's dtype.
        let hf_norm = |w: &Tensor| -> Result<Tensor> {
            Ok(match gemma {
                true => (w - 1.0)?.to_dtype(self.dtype)?,
                false => w.clone(),
            })
        };
        let mut v =
            vec![("model.embed_tokens.weight".to_string(), self.embed.clone()), ("model.norm.weight".to_string(), hf_norm(&self.norm)?)];
        match &self.lm_head {
            Some(BaseWeight::Dense(w)) => v.push(("lm_head.weight".into(), w.clone())),
            Some(BaseWeight::Quant(..)) => bail!("the output head is quantised"),
            None => {}
        }
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            v.push((format!("{p}.input_layernorm.weight"), hf_norm(&l.input_norm)?));
            let pre_mlp = if gemma { "pre_feedforward_layernorm" } else { "post_attention_layernorm" };
            v.push((format!("{p}.{pre_mlp}.weight"), hf_norm(&l.post_norm)?));
            let extra = [
                ("self_attn.q_norm", &l.q_norm),
                ("self_attn.k_norm", &l.k_norm),
                ("post_attention_layernorm", &l.attn_out_norm),
                ("post_feedforward_layernorm", &l.mlp_out_norm),
            ];
            for (name, w) in extra {
                if let Some(w) = w {
                    v.push((format!("{p}.{name}.weight"), hf_norm(w)?));
                }
            }
            for ((name, module), proj) in PROJECTIONS.iter().zip(&l.projs) {
                let BaseWeight::Dense(w) = &proj.base else { bail!("{p}.{module}.{name} is quantised") };
                v.push((format!("{p}.{module}.{name}.weight"), w.clone()));
                if let Some(b) = &proj.bias {
                    v.push((format!("{p}.{module}.{name}.bias"), b.clone()));
                }
            }
        }
        Ok(v)
    }

    /// Every frozen dense base tensor (embeddings, norms, weights, biases), e.g. to check that
    /// training leaves them untouched.
    pub fn base_tensors(&self) -> Vec<Tensor> {
        let mut v = vec![self.embed.clone(), self.norm.clone()];
        if let Some(BaseWeight::Dense(w)) = &self.lm_head {
            v.push(w.clone());
        }
        for l in &self.layers {
            v.push(l.input_norm.clone());
            v.push(l.post_norm.clone());
            v.extend([&l.q_norm, &l.k_norm, &l.attn_out_norm, &l.mlp_out_norm].into_iter().flatten().cloned());
            for p in &l.projs {
                if let BaseWeight::Dense(w) = &p.base {
                    v.push(w.clone());
                }
                v.extend(p.bias.clone());
            }
        }
        v
    }
}

/// (out, in) of a projection.
pub(crate) fn proj_shape(cfg: &LlamaConfig, name: &str) -> (usize, usize) {
    let (h, hd, kv, ff) = (cfg.hidden_size, cfg.head_dim(), cfg.num_kv_heads(), cfg.intermediate_size);
    let q = cfg.num_attention_heads * hd;
    match name {
        "q_proj" => (q, h),
        "k_proj" | "v_proj" => (kv * hd, h),
        "o_proj" => (h, q),
        "gate_proj" | "up_proj" => (ff, h),
        "down_proj" => (h, ff),
        _ => unreachable!("unknown projection {name}"),
    }
}

/// How a forward pass runs: which LoRA dropout masks it draws, and whether it records the
/// graph a backward needs (the differentiable ops) or runs the inference kernels graph-free.
#[derive(Clone, Copy)]
pub(crate) struct Pass<'a> {
    /// Seed of this pass's dropout masks; `None`: no dropout.
    pub dropout: Option<u64>,
    pub grad: Grad<'a>,
}

impl Pass<'_> {
    /// The dropout seed of projection `j` of layer `layer`: each projection's LoRA dropout has
    /// its own stream, (step seed, layer, projection).
    fn dropout_seed(&self, layer: usize, j: usize) -> Option<u64> {
        self.dropout.map(|s| rng::derive(s, layer as u64, j as u64))
    }
}

/// What `Llama::fresh_attention_cpu` did: the attention output, or its inputs handed back.
enum Fresh<'s> {
    Done(Tensor),
    Declined(Tensor, Tensor, Tensor, Option<&'s mut Option<LayerKv>>),
}

/// `silu(gate) ∘ up` without a graph: on the CPU in f32 one vectorised pass
/// (`cpu_train::swiglu`) instead of candle's scalar `expf` per element and three tensors.
fn swiglu_inference(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if gate.device().is_cpu() && gate.dtype() == DType::F32 && up.dtype() == DType::F32 {
        let (g, u) = (gate.flatten_all()?.to_vec1::<f32>()?, up.flatten_all()?.to_vec1::<f32>()?);
        let mut act = vec![0f32; g.len()];
        crate::cpu_train::swiglu(&g, &u, &mut act);
        return Ok(Tensor::from_vec(act, gate.shape(), gate.device())?);
    }
    Ok((gate.silu()? * up)?)
}

/// Rotary angles and attention bias shared by every (full-attention) layer of one pass.
pub(crate) struct PassInputs {
    /// (B, 1, T, Tk) f32: 0 where a query may attend, a large negative number elsewhere.
    pub bias: Tensor,
    /// (B, T, D/2) each.
    pub cos: Tensor,
    pub sin: Tensor,
    pub neg_sin: Tensor,
    /// The sliding-window layers' own, when they differ from these (`pass_inputs`).
    pub local: Option<Box<PassInputs>>,
    /// `cos`, `sin` and `bias` as flat f32 buffers, made once per pass when a layer first asks
    /// (`Llama::fresh_attention_cpu`), not once per layer.
    pub flat: std::cell::OnceCell<FlatInputs>,
}

/// `PassInputs`' rotary angles and attention bias, flattened.
pub(crate) struct FlatInputs {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub bias: Vec<f32>,
}

impl PassInputs {
    fn flat(&self) -> Result<&FlatInputs> {
        if let Some(f) = self.flat.get() {
            return Ok(f);
        }
        let flat = |x: &Tensor| x.flatten_all()?.to_vec1::<f32>();
        let made = FlatInputs { cos: flat(&self.cos)?, sin: flat(&self.sin)?, bias: flat(&self.bias)? };
        Ok(self.flat.get_or_init(|| made))
    }
}

/// Per-row key masks (1 = attend) from a (B,T) 1/0 mask; all ones without one.
pub(crate) fn key_mask_rows(mask: Option<&Tensor>, b: usize, t: usize) -> Result<Vec<Vec<u8>>> {
    Ok(match mask {
        Some(m) => {
            ensure!(m.dims() == [b, t], "mask shape {:?} differs from ids shape ({b}, {t})", m.dims());
            let m = m.to_dtype(DType::U32)?.to_vec2::<u32>()?;
            m.into_iter().map(|r| r.into_iter().map(|x| (x != 0) as u8).collect()).collect()
        }
        None => vec![vec![1u8; t]; b],
    })
}

/// Positions 0..T for every row.
pub(crate) fn full_positions(b: usize, t: usize) -> Vec<Vec<u32>> {
    (0..b).map(|_| (0..t as u32).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::Objective;

    /// The hand-written f32 step computes Llama's layer only: it declines Qwen3, Gemma 3 and a
    /// window shorter than the sequence (candle's graph computes those), and still runs a
    /// Mistral model whose window covers the sequence.
    #[test]
    fn the_hand_written_step_declines_other_layers() {
        let step = |cfg: &LlamaConfig, t: usize| -> bool {
            let mut m = Llama::random(cfg, 1, &Device::Cpu, DType::F32).unwrap();
            let lora = LoraConfig { r: 2, alpha: 4.0, dropout: 0.0, targets: vec!["q_proj".into()] };
            m.add_lora("a", &lora, 1).unwrap();
            let ids = Tensor::from_vec((0..t as u32).collect::<Vec<_>>(), (1, t), &Device::Cpu).unwrap();
            let mask = Tensor::ones((1, t), DType::U32, &Device::Cpu).unwrap();
            let targets: Vec<i64> = (0..t as i64).map(|i| (i + 1) % 16).collect();
            let objective = Objective::CrossEntropy { targets: &targets, weight: 1.0 };
            m.cpu_loss_and_grads(&ids, &mask, 0, false, objective).unwrap().is_some()
        };
        let tiny = LlamaConfig::tiny(16);
        assert!(step(&tiny, 6));
        let qwen3 = LlamaConfig { model_type: Some("qwen3".into()), ..tiny.clone() };
        assert!(!step(&qwen3, 6));
        let gemma = LlamaConfig { model_type: Some("gemma3_text".into()), sliding_window: Some(512), ..tiny.clone() };
        assert!(!step(&gemma, 6));
        let mistral = LlamaConfig { model_type: Some("mistral".into()), sliding_window: Some(4), ..tiny };
        assert!(step(&mistral, 4));
        assert!(!step(&mistral, 5));
    }
}
