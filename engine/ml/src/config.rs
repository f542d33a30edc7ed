//! Model hyper-parameters, read from an HF `config.json` or from GGUF metadata.

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Llama-3 style frequency-dependent RoPE scaling (`rope_scaling.rope_type = "llama3"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    #[serde(alias = "type", default = "default_rope_type")]
    pub rope_type: String,
    #[serde(default = "one")]
    pub factor: f64,
    #[serde(default = "one")]
    pub low_freq_factor: f64,
    #[serde(default = "four")]
    pub high_freq_factor: f64,
    #[serde(default = "default_orig_ctx")]
    pub original_max_position_embeddings: usize,
}

fn default_rope_type() -> String {
    "default".into()
}
fn one() -> f64 {
    1.0
}
fn four() -> f64 {
    4.0
}
fn default_orig_ctx() -> usize {
    8192
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_eps() -> f64 {
    1e-5
}
fn default_ctx() -> usize {
    4096
}

/// `eos_token_id` is an int in Llama-2 configs and a list in Llama-3 ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(t) => vec![*t],
            TokenIds::Many(v) => v.clone(),
        }
    }
}

/// The `model_type`s whose computation this decoder implements. Others (Phi, GPT-2, Gemma 2,
/// ...) differ in ways a Llama forward pass would get silently wrong (other norms, activations,
/// position encodings), so they are refused by name.
pub const SUPPORTED_MODEL_TYPES: [&str; 5] = ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"];

/// The GGUF `general.architecture`s the loader reads (`gemma3` is `gemma3_text`'s name there).
pub const SUPPORTED_GGUF_ARCHS: [&str; 4] = ["llama", "qwen2", "qwen3", "gemma3"];

/// How a family's layer differs from Llama's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Llama, Mistral, Qwen2: RMSNorm `w · x̂`, SwiGLU, 1/sqrt(head_dim) attention scale.
    Llama,
    /// Llama's layer plus RMSNorm on each query and key head before RoPE.
    Qwen3,
    /// Gemma 3: embeddings times sqrt(hidden), RMSNorm `(1 + w) · x̂` in f32, norms after the
    /// attention and the MLP too, q/k norms, GeGLU (tanh GELU), `query_pre_attn_scalar^-1/2`,
    /// sliding and full layers with their own RoPE, optional final logit softcapping.
    Gemma3,
}

/// Hyper-parameters of a decoder of one of `SUPPORTED_MODEL_TYPES` (Llama-2/3, SmolLM2,
/// Mistral-style GQA and sliding windows, Qwen2 biases, Qwen3 q/k norms, Gemma 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base of the (full-attention) layers. Transformers 5 writes it inside
    /// `rope_parameters`, which `from_json_str` reads into this field.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default = "default_ctx")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// q/k/v projections carry biases (Qwen2); `None` means "decide from model_type". For
    /// Llama, Qwen3 and Gemma 3 it also gives `o_proj` a bias, as in transformers.
    #[serde(default)]
    pub attention_bias: Option<bool>,
    #[serde(default)]
    pub bos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Mistral: each token attends to at most this many earlier tokens (itself included). Qwen2/3
    /// configs carry it too, in force only with `use_sliding_window`; Gemma 3's sliding layers use it.
    #[serde(default)]
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub use_sliding_window: Option<bool>,
    /// Qwen2/3: layers from this index on use the window (transformers' default 28).
    #[serde(default)]
    pub max_window_layers: Option<usize>,
    /// `sliding_attention` / `full_attention` per layer (Qwen2/3, Gemma 3).
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    /// Gemma 3's older key: every `n`-th layer is full, the others sliding (default 6).
    #[serde(default)]
    pub sliding_window_pattern: Option<usize>,
    /// Gemma 3: RoPE base of the sliding layers (never scaled).
    #[serde(default)]
    pub rope_local_base_freq: Option<f64>,
    /// Gemma 3: attention scores are scaled by `query_pre_attn_scalar^-1/2`.
    #[serde(default)]
    pub query_pre_attn_scalar: Option<f64>,
    #[serde(default)]
    pub final_logit_softcapping: Option<f64>,
    /// Read but, as in transformers' Gemma 3 (whose attention passes no softcap to its
    /// attention function, unlike Gemma 2's), not applied: the reference computes scores
    /// without it, and released Gemma 3 configs set it to null.
    #[serde(default)]
    pub attn_logit_softcapping: Option<f64>,
    /// Llama-family activation (`silu`).
    #[serde(default)]
    pub hidden_act: Option<String>,
    /// Gemma's activation (`gelu_pytorch_tanh`).
    #[serde(default)]
    pub hidden_activation: Option<String>,
    /// Gemma-3 embedding models attend both ways; refused.
    #[serde(default)]
    pub use_bidirectional_attention: Option<bool>,
}

/// Transformers' default RoPE bases for Gemma 3 (global, local).
const GEMMA3_THETA: (f64, f64) = (1_000_000.0, 10_000.0);

impl LlamaConfig {
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_json_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn from_json_str(text: &str) -> Result<Self> {
        let raw: serde_json::Value = serde_json::from_str(text)?;
        if raw.get("model_type").and_then(|v| v.as_str()) == Some("gemma3") {
            bail!(
                "model_type `gemma3` is the multimodal Gemma 3 checkpoint (vision tower, text settings under `text_config`, \
                 weights under `language_model`), which syco does not load; use a `gemma3_text` checkpoint (Gemma-3-270M/1B) \
                 or a GGUF of the text model"
            );
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let mut cfg: LlamaConfig =
            serde_path_to_error::deserialize(de).map_err(|e| anyhow::anyhow!("field `{}`: {}", e.path(), e.inner()))?;
        cfg.read_rope_parameters(&raw)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Transformers 5 writes RoPE settings as `rope_parameters`: one table (`rope_theta`,
    /// `rope_type`, scaling fields) or, for Gemma 3, one per layer kind. They are read into
    /// `rope_theta`, `rope_scaling` and `rope_local_base_freq`; a config without them gets
    /// the family's defaults.
    fn read_rope_parameters(&mut self, raw: &serde_json::Value) -> Result<()> {
        let gemma = self.family() == Family::Gemma3;
        if gemma && raw.get("rope_theta").is_none() {
            self.rope_theta = GEMMA3_THETA.0;
        }
        let Some(params) = raw.get("rope_parameters").filter(|p| !p.is_null()) else { return Ok(()) };
        let scaling_of = |t: &serde_json::Value| -> Result<Option<RopeScaling>> {
            match t.get("rope_type").and_then(|v| v.as_str()).unwrap_or("default") {
                "default" => Ok(None),
                _ => Ok(Some(serde_json::from_value(t.clone()).context("rope_parameters")?)),
            }
        };
        let theta_of = |t: &serde_json::Value| t.get("rope_theta").and_then(|v| v.as_f64());
        match (gemma, params.get("full_attention"), params.get("sliding_attention")) {
            (true, full, local) => {
                if let Some(full) = full.filter(|f| !f.is_null()) {
                    self.rope_theta = theta_of(full).unwrap_or(self.rope_theta);
                    self.rope_scaling = scaling_of(full)?;
                }
                if let Some(local) = local.filter(|l| !l.is_null()) {
                    ensure!(
                        scaling_of(local)?.is_none(),
                        "rope_parameters.sliding_attention: scaled RoPE on sliding layers is not supported"
                    );
                    self.rope_local_base_freq = theta_of(local).or(self.rope_local_base_freq);
                }
            }
            (false, None, None) => {
                self.rope_theta = theta_of(params).unwrap_or(self.rope_theta);
                self.rope_scaling = scaling_of(params)?;
            }
            (false, ..) => bail!("rope_parameters per layer kind are only read for Gemma 3"),
        }
        Ok(())
    }

    /// A tiny configuration for tests: 2 layers, GQA 4/2 heads, hidden 32.
    pub fn tiny(vocab_size: usize) -> Self {
        LlamaConfig {
            model_type: Some("llama".into()),
            vocab_size,
            hidden_size: 32,
            intermediate_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            head_dim: None,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            rope_scaling: None,
            max_position_embeddings: 256,
            tie_word_embeddings: false,
            attention_bias: None,
            bos_token_id: None,
            eos_token_id: None,
            sliding_window: None,
            use_sliding_window: None,
            max_window_layers: None,
            layer_types: None,
            sliding_window_pattern: None,
            rope_local_base_freq: None,
            query_pre_attn_scalar: None,
            final_logit_softcapping: None,
            attn_logit_softcapping: None,
            hidden_act: None,
            hidden_activation: None,
            use_bidirectional_attention: None,
        }
    }

    pub fn family(&self) -> Family {
        match self.model_type.as_deref() {
            Some("qwen3") => Family::Qwen3,
            Some("gemma3_text") => Family::Gemma3,
            _ => Family::Llama,
        }
    }

    /// Queries and keys are RMS-normalised per head before RoPE (Qwen3, Gemma 3).
    pub fn has_qk_norm(&self) -> bool {
        matches!(self.family(), Family::Qwen3 | Family::Gemma3)
    }

    /// Whether layer `i` is a sliding-window layer: `layer_types` when given; else Mistral's
    /// window is on every layer, Qwen2/3's (with `use_sliding_window`) on the layers from
    /// `max_window_layers`, and Gemma 3's on all but every `sliding_window_pattern`-th.
    pub fn is_sliding_layer(&self, i: usize) -> bool {
        if self.sliding_window.is_none() {
            return false;
        }
        let qwen = matches!(self.model_type.as_deref(), Some("qwen2" | "qwen3"));
        if qwen && self.use_sliding_window != Some(true) {
            return false;
        }
        if let Some(types) = &self.layer_types {
            return types.get(i).is_some_and(|t| t == "sliding_attention");
        }
        match self.model_type.as_deref() {
            Some("mistral") => true,
            Some("qwen2" | "qwen3") => i >= self.max_window_layers.unwrap_or(28),
            Some("gemma3_text") => !(i + 1).is_multiple_of(self.sliding_window_pattern.unwrap_or(6)),
            _ => false,
        }
    }

    /// The attention window of layer `i` (a query at cache index q sees keys j with q - j < w).
    pub fn layer_window(&self, i: usize) -> Option<usize> {
        self.sliding_window.filter(|_| self.is_sliding_layer(i))
    }

    /// The attention window in force on some layer, if any.
    pub fn attention_window(&self) -> Option<usize> {
        (0..self.num_hidden_layers).find_map(|i| self.layer_window(i))
    }

    /// Whether some layer's window is shorter than `tokens` (cached + new), so that a pass over
    /// that many keys differs from full causal attention.
    pub fn window_binds(&self, tokens: usize) -> bool {
        self.attention_window().is_some_and(|w| tokens > w)
    }

    /// Gemma 3's sliding layers rotate with their own RoPE base.
    pub fn has_local_rope(&self) -> bool {
        self.family() == Family::Gemma3 && (0..self.num_hidden_layers).any(|i| self.is_sliding_layer(i))
    }

    /// The factor attention scores are multiplied by before the softmax.
    pub fn attention_scale(&self) -> f64 {
        match (self.family(), self.query_pre_attn_scalar) {
            (Family::Gemma3, Some(s)) => s.powf(-0.5),
            _ => 1.0 / (self.head_dim() as f64).sqrt(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        match self.model_type.as_deref() {
            Some(t) if SUPPORTED_MODEL_TYPES.contains(&t) => {}
            Some(t) => bail!(
                "model_type `{t}` is not supported: syco runs {} models and refuses others rather than compute them as Llama",
                SUPPORTED_MODEL_TYPES.join(", ")
            ),
            None => bail!("config has no `model_type`; syco runs {} models", SUPPORTED_MODEL_TYPES.join(", ")),
        }
        if self.num_attention_heads == 0 || self.hidden_size == 0 || self.num_hidden_layers == 0 {
            bail!("hidden_size, num_attention_heads and num_hidden_layers must be positive");
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            bail!("hidden_size {} is not divisible by num_attention_heads {}", self.hidden_size, self.num_attention_heads);
        }
        if !self.head_dim().is_multiple_of(2) {
            bail!("head_dim {} must be even for rotary embeddings", self.head_dim());
        }
        if !self.num_attention_heads.is_multiple_of(self.num_kv_heads()) {
            bail!("num_attention_heads {} is not a multiple of num_key_value_heads {}", self.num_attention_heads, self.num_kv_heads());
        }
        let ty = self.model_type.as_deref().unwrap_or_default();
        let (act, want) = match self.family() {
            Family::Gemma3 => (self.hidden_activation.as_deref().or(self.hidden_act.as_deref()), "gelu_pytorch_tanh"),
            _ => (self.hidden_act.as_deref(), "silu"),
        };
        if let Some(act) = act.filter(|a| *a != want) {
            bail!("{ty} with activation `{act}` is not supported (syco computes `{want}`)");
        }
        if let Some(s) = &self.rope_scaling {
            if !matches!(s.rope_type.as_str(), "default" | "linear" | "llama3") {
                bail!("rope_scaling type `{}` is not supported (syco computes default, linear and llama3)", s.rope_type);
            }
        }
        if self.use_bidirectional_attention == Some(true) {
            bail!("{ty} with use_bidirectional_attention (an embedding model) is not supported");
        }
        if let Some(types) = &self.layer_types {
            ensure!(types.len() == self.num_hidden_layers, "layer_types has {} entries for {} layers", types.len(), self.num_hidden_layers);
            if let Some(bad) = types.iter().find(|t| !matches!(t.as_str(), "sliding_attention" | "full_attention")) {
                bail!("layer type `{bad}` is not supported (sliding_attention, full_attention)");
            }
        }
        if self.sliding_window == Some(0) {
            bail!("sliding_window must be positive");
        }
        Ok(())
    }

    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    pub fn has_qkv_bias(&self) -> bool {
        self.attention_bias.unwrap_or_else(|| self.model_type.as_deref() == Some("qwen2"))
    }

    /// `o_proj` has a bias: `attention_bias` in transformers' Llama, Qwen3 and Gemma 3 (Qwen2's
    /// biases are q/k/v only, Mistral has none).
    pub fn has_o_bias(&self) -> bool {
        self.attention_bias == Some(true) && matches!(self.model_type.as_deref(), Some("llama" | "qwen3" | "gemma3_text"))
    }

    /// RoPE inverse frequencies of the full-attention layers, with Llama-3 or linear scaling
    /// applied when configured.
    pub fn rope_inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim();
        let base: Vec<f64> = (0..d).step_by(2).map(|i| 1.0 / self.rope_theta.powf(i as f64 / d as f64)).collect();
        match &self.rope_scaling {
            Some(s) if s.rope_type == "llama3" => {
                let low_wavelen = s.original_max_position_embeddings as f64 / s.low_freq_factor;
                let high_wavelen = s.original_max_position_embeddings as f64 / s.high_freq_factor;
                base.into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / s.factor
                        } else {
                            let smooth = (s.original_max_position_embeddings as f64 / wavelen - s.low_freq_factor)
                                / (s.high_freq_factor - s.low_freq_factor);
                            (1.0 - smooth) * f / s.factor + smooth * f
                        }
                    })
                    .collect()
            }
            Some(s) if s.rope_type == "linear" => base.into_iter().map(|f| f / s.factor).collect(),
            _ => base,
        }
    }

    /// RoPE inverse frequencies of Gemma 3's sliding layers: `rope_local_base_freq`, unscaled.
    pub fn rope_local_inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim();
        let theta = self.rope_local_base_freq.unwrap_or(GEMMA3_THETA.1);
        (0..d).step_by(2).map(|i| 1.0 / theta.powf(i as f64 / d as f64)).collect()
    }

    /// Build from GGUF metadata (`{arch}.block_count`, ...). `vocab_size` falls back to the token list.
    ///
    /// What llama.cpp does not write down it fixes per architecture, and so does this: Gemma 3's
    /// sliding layers are all but every 6th, rotate with base 10000 unscaled, and scale attention
    /// by `key_length^-1/2` (the 27B model, 62 layers, by `(hidden/heads)^-1/2`, as its
    /// `query_pre_attn_scalar` says).
    pub fn from_gguf(content: &candle_core::quantized::gguf_file::Content) -> Result<Self> {
        use candle_core::quantized::gguf_file::Value;
        let md = &content.metadata;
        let arch = md
            .get("general.architecture")
            .and_then(|v| v.to_string().ok().cloned())
            .context("GGUF metadata lacks `general.architecture`")?;
        if !SUPPORTED_GGUF_ARCHS.contains(&arch.as_str()) {
            bail!("GGUF architecture `{arch}` is not supported: syco runs {} models", SUPPORTED_GGUF_ARCHS.join(", "));
        }
        let get = |key: &str| -> Result<&Value> {
            md.get(&format!("{arch}.{key}")).with_context(|| format!("GGUF metadata lacks `{arch}.{key}`"))
        };
        let get_usize = |key: &str| -> Result<usize> {
            let v = get(key)?;
            let n = match v {
                Value::U8(x) => *x as u64,
                Value::U16(x) => *x as u64,
                Value::U32(x) => *x as u64,
                Value::U64(x) => *x,
                Value::I32(x) if *x >= 0 => *x as u64,
                Value::I64(x) if *x >= 0 => *x as u64,
                other => bail!("GGUF metadata `{arch}.{key}` is not a non-negative integer: {other:?}"),
            };
            Ok(n as usize)
        };
        let get_f64 = |key: &str| -> Option<f64> {
            md.get(&format!("{arch}.{key}")).and_then(|v| v.to_f32().ok().map(f64::from).or_else(|| v.to_f64().ok()))
        };
        let heads = get_usize("attention.head_count")?;
        let hidden = get_usize("embedding_length")?;
        let layers = get_usize("block_count")?;
        let vocab_size = match get_usize("vocab_size") {
            Ok(v) => v,
            Err(_) => md
                .get("tokenizer.ggml.tokens")
                .and_then(|v| v.to_vec().ok().map(|v| v.len()))
                .context("GGUF metadata has neither vocab_size nor tokenizer.ggml.tokens")?,
        };
        let tied = !content.tensor_infos.contains_key("output.weight");
        let tok_id = |key: &str| md.get(key).and_then(|v| v.to_u32().ok()).map(TokenIds::One);
        let window = md.get(&format!("{arch}.attention.sliding_window")).and_then(|v| v.to_u32().ok()).map(|w| w as usize);
        let head_dim = get_usize("attention.key_length").ok().or_else(|| get_usize("rope.dimension_count").ok());
        let gemma = arch == "gemma3";
        let rope_scaling = match md.get(&format!("{arch}.rope.scaling.type")).and_then(|v| v.to_string().ok().cloned()) {
            Some(t) if t == "linear" => Some(RopeScaling {
                rope_type: t,
                factor: get_f64("rope.scaling.factor").context("GGUF linear RoPE scaling without a factor")?,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: default_orig_ctx(),
            }),
            Some(t) if t == "none" => None,
            Some(t) => bail!("GGUF RoPE scaling `{t}` is not supported"),
            None => None,
        };
        let cfg = LlamaConfig {
            model_type: Some(if gemma { "gemma3_text".into() } else { arch.clone() }),
            vocab_size,
            hidden_size: hidden,
            intermediate_size: get_usize("feed_forward_length")?,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: get_usize("attention.head_count_kv").ok(),
            head_dim: head_dim.filter(|d| *d != hidden / heads),
            rms_norm_eps: get_f64("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_theta: get_f64("rope.freq_base").unwrap_or(if gemma { GEMMA3_THETA.0 } else { 10_000.0 }),
            rope_scaling,
            max_position_embeddings: get_usize("context_length").unwrap_or(4096),
            tie_word_embeddings: tied,
            attention_bias: Some(content.tensor_infos.contains_key("blk.0.attn_q.bias")),
            bos_token_id: tok_id("tokenizer.ggml.bos_token_id"),
            eos_token_id: tok_id("tokenizer.ggml.eos_token_id"),
            sliding_window: window,
            // A window named in the metadata is on every layer (Gemma 3: on its sliding ones).
            use_sliding_window: window.map(|_| true),
            max_window_layers: window.map(|_| 0),
            layer_types: None,
            sliding_window_pattern: gemma.then_some(6),
            rope_local_base_freq: gemma.then_some(GEMMA3_THETA.1),
            query_pre_attn_scalar: gemma.then(|| {
                if layers == 62 {
                    (hidden / heads) as f64
                } else {
                    head_dim.unwrap_or(hidden / heads) as f64
                }
            }),
            final_logit_softcapping: get_f64("final_logit_softcapping"),
            attn_logit_softcapping: get_f64("attn_logit_softcapping"),
            hidden_act: None,
            hidden_activation: None,
            use_bidirectional_attention: None,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_llama3_config_with_scaling_and_eos_list() {
        let cfg = LlamaConfig::from_json_str(
            r#"{"model_type":"llama","vocab_size":128256,"hidden_size":2048,"intermediate_size":8192,
            "num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"rope_theta":500000.0,
            "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
            "original_max_position_embeddings":8192,"rope_type":"llama3"},"tie_word_embeddings":true,
            "eos_token_id":[128001,128008,128009],"bos_token_id":128000}"#,
        )
        .unwrap();
        assert_eq!(cfg.num_kv_heads(), 8);
        assert_eq!(cfg.head_dim(), 64);
        assert_eq!(cfg.eos_token_id.as_ref().unwrap().to_vec(), vec![128001, 128008, 128009]);
        let inv = cfg.rope_inv_freq();
        // Highest frequency is untouched; the lowest is divided by the factor.
        assert!((inv[0] - 1.0).abs() < 1e-12);
        let unscaled_last = 1.0 / 500000f64.powf(62.0 / 64.0);
        assert!((inv[31] - unscaled_last / 32.0).abs() < 1e-15);
    }

    #[test]
    fn missing_field_is_named() {
        let err = LlamaConfig::from_json_str(r#"{"vocab_size":10,"hidden_size":8}"#).unwrap_err();
        assert!(format!("{err:#}").contains("intermediate_size"), "{err:#}");
    }

    #[test]
    fn qwen2_implies_bias() {
        let mut c = LlamaConfig::tiny(10);
        assert!(!c.has_qkv_bias());
        c.model_type = Some("qwen2".into());
        assert!(c.has_qkv_bias());
    }

    fn config_json(model_type: Option<&str>, extra: &str) -> String {
        let ty = model_type.map(|t| format!(r#""model_type":"{t}","#)).unwrap_or_default();
        format!(
            r#"{{{ty}"vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,
            "num_attention_heads":2{extra}}}"#
        )
    }

    #[test]
    fn other_families_are_refused_by_name() {
        for t in ["gemma", "gemma2", "phi3", "gpt2", "qwen2_moe", "mixtral"] {
            let err = LlamaConfig::from_json_str(&config_json(Some(t), "")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(&format!("model_type `{t}` is not supported")), "{msg}");
        }
        // The multimodal Gemma 3 checkpoint is named and pointed to the text model.
        let msg = format!("{:#}", LlamaConfig::from_json_str(&config_json(Some("gemma3"), "")).unwrap_err());
        assert!(msg.contains("model_type `gemma3`") && msg.contains("gemma3_text"), "{msg}");
        let err = LlamaConfig::from_json_str(&config_json(None, "")).unwrap_err();
        assert!(format!("{err:#}").contains("no `model_type`"), "{err:#}");
        for t in SUPPORTED_MODEL_TYPES {
            LlamaConfig::from_json_str(&config_json(Some(t), "")).unwrap();
        }
        // Settings a family's decoder does not compute are refused rather than ignored.
        for (ty, extra, want) in [
            ("llama", r#","hidden_act":"gelu""#, "activation `gelu`"),
            ("gemma3_text", r#","hidden_activation":"gelu""#, "activation `gelu`"),
            ("qwen2", r#","rope_scaling":{"type":"yarn","factor":4.0}"#, "rope_scaling type `yarn`"),
            ("gemma3_text", r#","use_bidirectional_attention":true"#, "use_bidirectional_attention"),
            ("qwen3", r#","layer_types":["chunked_attention"]"#, "layer type `chunked_attention`"),
        ] {
            let msg = format!("{:#}", LlamaConfig::from_json_str(&config_json(Some(ty), extra)).unwrap_err());
            assert!(msg.contains(want), "{ty} {extra}: {msg}");
        }
    }

    #[test]
    fn sliding_windows_by_family_and_layer() {
        let cfg = |ty: &str, extra: &str| {
            let text = format!(
                r#"{{"model_type":"{ty}","vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":6,
                "num_attention_heads":2{extra}}}"#
            );
            LlamaConfig::from_json_str(&text).unwrap()
        };
        let windows = |c: &LlamaConfig| (0..c.num_hidden_layers).map(|i| c.layer_window(i)).collect::<Vec<_>>();
        // Mistral: every layer.
        let mistral = cfg("mistral", r#","sliding_window":4"#);
        assert_eq!(windows(&mistral), vec![Some(4); 6]);
        assert!(!mistral.window_binds(4) && mistral.window_binds(5));
        // Qwen2/3: only with use_sliding_window, from max_window_layers on (default 28).
        assert_eq!(windows(&cfg("qwen2", r#","sliding_window":4,"use_sliding_window":false,"max_window_layers":2"#)), vec![None; 6]);
        let qwen3 = cfg("qwen3", r#","sliding_window":4,"use_sliding_window":true,"max_window_layers":4"#);
        assert_eq!(windows(&qwen3), vec![None, None, None, None, Some(4), Some(4)]);
        assert_eq!(windows(&cfg("qwen2", r#","sliding_window":4,"use_sliding_window":true"#)), vec![None; 6]);
        // Gemma 3: layer_types, else every sliding_window_pattern-th layer is full (default 6).
        let gemma = cfg("gemma3_text", r#","sliding_window":4"#);
        assert_eq!(windows(&gemma), vec![Some(4), Some(4), Some(4), Some(4), Some(4), None]);
        let gemma = cfg("gemma3_text", r#","sliding_window":4,"sliding_window_pattern":2"#);
        assert_eq!(windows(&gemma), vec![Some(4), None, Some(4), None, Some(4), None]);
        let types = r#","sliding_window":4,"layer_types":["full_attention","sliding_attention","full_attention","full_attention","full_attention","sliding_attention"]"#;
        assert_eq!(windows(&cfg("gemma3_text", types)), vec![None, Some(4), None, None, None, Some(4)]);
        // Llama has no window whatever the config says.
        assert_eq!(cfg("llama", r#","sliding_window":4"#).attention_window(), None);
    }

    #[test]
    fn rope_parameters_of_transformers_5() {
        let qwen =
            LlamaConfig::from_json_str(&config_json(Some("qwen3"), r#","rope_parameters":{"rope_theta":5000.0,"rope_type":"default"}"#))
                .unwrap();
        assert_eq!((qwen.rope_theta, qwen.rope_scaling.is_none()), (5000.0, true));
        let llama = LlamaConfig::from_json_str(&config_json(
            Some("llama"),
            r#","rope_parameters":{"rope_theta":500000.0,"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
        ))
        .unwrap();
        assert_eq!(llama.rope_theta, 500000.0);
        assert_eq!(llama.rope_scaling.as_ref().map(|s| (s.rope_type.as_str(), s.factor)), Some(("llama3", 8.0)));
        // Gemma 3: per layer kind, or the older keys, or transformers' defaults (1e6, 1e4).
        let gemma = LlamaConfig::from_json_str(&config_json(
            Some("gemma3_text"),
            r#","rope_parameters":{"full_attention":{"rope_theta":1000000.0,"rope_type":"linear","factor":8.0},
               "sliding_attention":{"rope_theta":10.0,"rope_type":"default"}}"#,
        ))
        .unwrap();
        assert_eq!((gemma.rope_theta, gemma.rope_local_base_freq), (1e6, Some(10.0)));
        assert_eq!(gemma.rope_scaling.as_ref().map(|s| (s.rope_type.as_str(), s.factor)), Some(("linear", 8.0)));
        let older = LlamaConfig::from_json_str(&config_json(
            Some("gemma3_text"),
            r#","rope_theta":20000.0,"rope_local_base_freq":30.0,"rope_scaling":{"rope_type":"linear","factor":2.0}"#,
        ))
        .unwrap();
        assert_eq!((older.rope_theta, older.rope_local_base_freq), (20000.0, Some(30.0)));
        assert_eq!(older.rope_inv_freq()[1], 1.0 / 20000f64.powf(2.0 / 4.0) / 2.0);
        assert_eq!(older.rope_local_inv_freq()[1], 1.0 / 30f64.powf(2.0 / 4.0));
        let defaults = LlamaConfig::from_json_str(&config_json(Some("gemma3_text"), "")).unwrap();
        assert_eq!(defaults.rope_theta, 1e6);
        assert_eq!(defaults.rope_local_inv_freq()[1], 1.0 / 1e4f64.powf(2.0 / 4.0));
        // Gemma's attention scale comes from query_pre_attn_scalar.
        let scaled = LlamaConfig::from_json_str(&config_json(Some("gemma3_text"), r#","query_pre_attn_scalar":16"#)).unwrap();
        assert_eq!(scaled.attention_scale(), 0.25);
        assert_eq!(defaults.attention_scale(), 0.5);
    }

    #[test]
    fn o_proj_bias_follows_transformers() {
        let with = |ty: &str| LlamaConfig::from_json_str(&config_json(Some(ty), r#","attention_bias":true"#)).unwrap();
        assert!(with("llama").has_o_bias() && with("qwen3").has_o_bias() && with("gemma3_text").has_o_bias());
        assert!(!with("qwen2").has_o_bias());
        assert!(!LlamaConfig::from_json_str(&config_json(Some("qwen2"), "")).unwrap().has_o_bias());
        assert!(LlamaConfig::from_json_str(&config_json(Some("qwen2"), "")).unwrap().has_qkv_bias());
    }

    #[test]
    fn a_sliding_window_shorter_than_the_sequence_is_computed() {
        // A Mistral model with a window of 3: over 5 tokens the last query no longer sees the
        // first two keys, so its logits differ from full attention's; the first 3 positions
        // (inside the window) equal them.
        let mut cfg = LlamaConfig::tiny(16);
        cfg.model_type = Some("mistral".into());
        let full = crate::Llama::random(&cfg, 1, &candle_core::Device::Cpu, candle_core::DType::F32).unwrap();
        cfg.sliding_window = Some(3);
        let windowed = crate::Llama::random(&cfg, 1, &candle_core::Device::Cpu, candle_core::DType::F32).unwrap();
        let ids = candle_core::Tensor::new(&[[1u32, 2, 3, 4, 5]], &candle_core::Device::Cpu).unwrap();
        let a = full.forward(&ids, None, false).unwrap();
        let b = windowed.forward(&ids, None, false).unwrap();
        let diff = |t: usize| -> f32 {
            let d = (a.narrow(1, t, 1).unwrap() - b.narrow(1, t, 1).unwrap()).unwrap();
            d.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
        };
        for t in 0..3 {
            assert_eq!(diff(t), 0.0, "position {t} is inside the window");
        }
        assert!(diff(4) > 1e-6, "the window changed nothing at position 4");
    }
}
