//! Model hyper-parameters, read from an HF `config.json` or from GGUF metadata.

use anyhow::{bail, Context, Result};
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

/// The `model_type`s whose computation this decoder implements. Others (Gemma, Qwen3, Phi, ...)
/// differ in ways a Llama forward pass would get silently wrong (q/k norms, scaled embeddings,
/// other activations), so they are refused by name.
pub const SUPPORTED_MODEL_TYPES: [&str; 3] = ["llama", "mistral", "qwen2"];

/// Hyper-parameters of a Llama-family decoder (Llama-2/3, SmolLM2, Mistral-style GQA, Qwen2 biases).
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
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default = "default_ctx")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// q/k/v projections carry biases (Qwen2); `None` means "decide from model_type".
    #[serde(default)]
    pub attention_bias: Option<bool>,
    #[serde(default)]
    pub bos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Mistral: each token attends to at most this many earlier tokens. Qwen2 configs carry it
    /// too, in force only with `use_sliding_window`.
    #[serde(default)]
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub use_sliding_window: Option<bool>,
}

impl LlamaConfig {
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_json_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn from_json_str(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let cfg: LlamaConfig = serde_path_to_error::deserialize(de).map_err(|e| anyhow::anyhow!("field `{}`: {}", e.path(), e.inner()))?;
        cfg.validate()?;
        Ok(cfg)
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
        }
    }

    /// The attention window in force, if any (see `sliding_window`).
    pub fn attention_window(&self) -> Option<usize> {
        match self.model_type.as_deref() {
            Some("mistral") => self.sliding_window,
            Some("qwen2") if self.use_sliding_window == Some(true) => self.sliding_window,
            _ => None,
        }
    }

    /// Refuses sequences longer than the attention window: this decoder attends to every earlier
    /// token, which equals windowed attention only while a sequence fits in the window.
    pub fn check_length(&self, tokens: usize) -> Result<()> {
        match self.attention_window() {
            Some(w) if tokens > w => bail!(
                "a sequence of {tokens} tokens is longer than this {} model's sliding attention window ({w} tokens), \
                 which syco does not implement; keep sequences (prompt + generation, or max_len) within it",
                self.model_type.as_deref().unwrap_or("?")
            ),
            _ => Ok(()),
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

    /// RoPE inverse frequencies, with Llama-3 scaling applied when configured.
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

    /// Build from GGUF metadata (`{arch}.block_count`, ...). `vocab_size` falls back to the token list.
    pub fn from_gguf(content: &candle_core::quantized::gguf_file::Content) -> Result<Self> {
        use candle_core::quantized::gguf_file::Value;
        let md = &content.metadata;
        let arch = md
            .get("general.architecture")
            .and_then(|v| v.to_string().ok().cloned())
            .context("GGUF metadata lacks `general.architecture`")?;
        if !SUPPORTED_MODEL_TYPES.contains(&arch.as_str()) {
            bail!("GGUF architecture `{arch}` is not supported: syco runs {} models", SUPPORTED_MODEL_TYPES.join(", "));
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
        let rope_dim = get_usize("rope.dimension_count").ok();
        let cfg = LlamaConfig {
            model_type: Some(arch.clone()),
            vocab_size,
            hidden_size: hidden,
            intermediate_size: get_usize("feed_forward_length")?,
            num_hidden_layers: get_usize("block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: get_usize("attention.head_count_kv").ok(),
            head_dim: rope_dim.filter(|d| *d != hidden / heads),
            rms_norm_eps: get_f64("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_theta: get_f64("rope.freq_base").unwrap_or(10_000.0),
            rope_scaling: None,
            max_position_embeddings: get_usize("context_length").unwrap_or(4096),
            tie_word_embeddings: tied,
            attention_bias: Some(content.tensor_infos.contains_key("blk.0.attn_q.bias")),
            bos_token_id: tok_id("tokenizer.ggml.bos_token_id"),
            eos_token_id: tok_id("tokenizer.ggml.eos_token_id"),
            sliding_window: window,
            use_sliding_window: window.map(|_| true),
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
        for t in ["gemma3", "qwen3", "phi3", "gpt2"] {
            let err = LlamaConfig::from_json_str(&config_json(Some(t), "")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(&format!("model_type `{t}` is not supported")), "{msg}");
        }
        let err = LlamaConfig::from_json_str(&config_json(None, "")).unwrap_err();
        assert!(format!("{err:#}").contains("no `model_type`"), "{err:#}");
        for t in SUPPORTED_MODEL_TYPES {
            LlamaConfig::from_json_str(&config_json(Some(t), "")).unwrap();
        }
    }

    #[test]
    fn a_sliding_window_refuses_longer_sequences() {
        let mistral = LlamaConfig::from_json_str(&config_json(Some("mistral"), r#","sliding_window":4"#)).unwrap();
        assert_eq!(mistral.attention_window(), Some(4));
        mistral.check_length(4).unwrap();
        let msg = format!("{:#}", mistral.check_length(5).unwrap_err());
        assert!(msg.contains("sliding attention window (4 tokens)"), "{msg}");
        // Qwen2 configs name a window that is off unless use_sliding_window says otherwise.
        let qwen = LlamaConfig::from_json_str(&config_json(Some("qwen2"), r#","sliding_window":4,"use_sliding_window":false"#)).unwrap();
        assert_eq!(qwen.attention_window(), None);
        qwen.check_length(100).unwrap();
        let qwen_on = LlamaConfig { use_sliding_window: Some(true), ..qwen };
        assert!(qwen_on.check_length(5).is_err());
        // The model refuses such a pass instead of computing full attention.
        let mut cfg = LlamaConfig::tiny(16);
        cfg.model_type = Some("mistral".into());
        cfg.sliding_window = Some(3);
        let model = crate::Llama::random(&cfg, 1, &candle_core::Device::Cpu, candle_core::DType::F32).unwrap();
        let ids = candle_core::Tensor::new(&[[1u32, 2, 3, 4]], &candle_core::Device::Cpu).unwrap();
        assert!(model.forward(&ids, None, false).is_err());
        let ids = candle_core::Tensor::new(&[[1u32, 2, 3]], &candle_core::Device::Cpu).unwrap();
        model.forward(&ids, None, false).unwrap();
    }
}
