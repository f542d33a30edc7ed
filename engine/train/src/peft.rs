//! PEFT LoRA adapter files: `adapter_config.json` + `adapter_model.safetensors`, readable by
//! PEFT, vLLM and mistral.rs; and loading of PEFT adapters made elsewhere.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};

use crate::error::{file_err, io_err, Result};

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";
const PREFIX: &str = "base_model.model.";

/// The LoRA hyper-parameters an adapter file carries.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    /// Module names (`q_proj`, ...), sorted.
    pub target_modules: Vec<String>,
    pub base_model: Option<String>,
    /// rsLoRA scales by alpha / sqrt(r) instead of alpha / r.
    pub use_rslora: bool,
}

impl AdapterConfig {
    /// The factor PEFT multiplies B·A by.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// syco-ml's config for this adapter (the one conversion; `llama::adapter_config` is the
    /// inverse). rsLoRA's alpha/sqrt(r) is folded into alpha, as syco-ml scales by alpha/r.
    pub fn lora_config(&self) -> syco_ml::LoraConfig {
        let alpha = if self.use_rslora { self.alpha * (self.r as f64).sqrt() } else { self.alpha };
        syco_ml::LoraConfig { r: self.r, alpha, dropout: self.dropout, targets: self.target_modules.clone() }
    }
}

/// An adapter in memory: its config and tensors under canonical PEFT names
/// (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`).
#[derive(Debug, Clone)]
pub struct Adapter {
    pub config: AdapterConfig,
    pub tensors: BTreeMap<String, Tensor>,
}

/// Writes the two PEFT files into `dir` (created if missing). Tensors are stored as f32.
pub fn save(dir: &Path, config: &AdapterConfig, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    for name in tensors.keys() {
        if canonical_name(name).as_deref() != Some(name.as_str()) {
            return Err(file_err(dir, format!("tensor `{name}` is not a canonical PEFT LoRA name")));
        }
    }
    let cfg = json!({
        "alpha_pattern": {},
        "auto_mapping": null,
        "base_model_name_or_path": config.base_model,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "layer_replication": null,
        "layers_pattern": null,
        "layers_to_transform": null,
        "loftq_config": {},
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "megatron_config": null,
        "megatron_core": "megatron.core",
        "modules_to_save": null,
        "peft_type": "LORA",
        "r": config.r,
        "rank_pattern": {},
        "revision": null,
        "target_modules": config.target_modules,
        "task_type": "CAUSAL_LM",
        "use_dora": false,
        "use_rslora": config.use_rslora,
    });
    let cfg_path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&cfg).expect("json values serialize");
    write_atomic(&cfg_path, text.as_bytes())?;
    write_safetensors(&dir.join(WEIGHTS_FILE), tensors, Some(HashMap::from([("format".to_string(), "pt".to_string())])))
}

/// Writes tensors (as contiguous f32) to a safetensors file through a temporary + rename.
pub(crate) fn write_safetensors(path: &Path, tensors: &BTreeMap<String, Tensor>, metadata: Option<HashMap<String, String>>) -> Result<()> {
    let f32s = tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(f32s.iter().map(|(k, t)| (k.as_str(), t)), metadata)
        .map_err(|e| file_err(path, format!("cannot serialize safetensors: {e}")))?;
    write_atomic(path, &bytes)
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Reads a PEFT LoRA adapter from `dir`, onto `device` as f32. Accepts names with the
/// adapter-name infix (`lora_A.default.weight`) and without the `base_model.model.` prefix;
/// returns canonical names. Adapter features syco cannot apply (DoRA, biases, rank or alpha
/// patterns, extra saved modules) are errors naming the field.
pub fn load(dir: &Path, device: &Device) -> Result<Adapter> {
    let cfg_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg_path).map_err(io_err(&cfg_path))?;
    let cfg: Value = serde_json::from_str(&text).map_err(|e| file_err(&cfg_path, format!("line {}: {e}", e.line())))?;
    let field = |k: &str| cfg.get(k).filter(|v| !v.is_null());
    if let Some(t) = field("peft_type").and_then(Value::as_str) {
        if t != "LORA" {
            return Err(file_err(&cfg_path, format!("peft_type `{t}` is not LORA")));
        }
    }
    let r = field("r")
        .and_then(Value::as_u64)
        .filter(|&r| r > 0)
        .ok_or_else(|| file_err(&cfg_path, "field `r` missing or not a positive integer"))? as usize;
    let alpha =
        field("lora_alpha").and_then(Value::as_f64).ok_or_else(|| file_err(&cfg_path, "field `lora_alpha` missing or not a number"))?;
    let dropout = field("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0);
    for (k, unsupported) in [
        ("use_dora", field("use_dora").and_then(Value::as_bool) == Some(true)),
        ("bias", field("bias").and_then(Value::as_str).is_some_and(|b| b != "none")),
        ("lora_bias", field("lora_bias").and_then(Value::as_bool) == Some(true)),
        ("fan_in_fan_out", field("fan_in_fan_out").and_then(Value::as_bool) == Some(true)),
        ("rank_pattern", field("rank_pattern").and_then(Value::as_object).is_some_and(|m| !m.is_empty())),
        ("alpha_pattern", field("alpha_pattern").and_then(Value::as_object).is_some_and(|m| !m.is_empty())),
        ("modules_to_save", field("modules_to_save").and_then(Value::as_array).is_some_and(|m| !m.is_empty())),
    ] {
        if unsupported {
            return Err(file_err(&cfg_path, format!("field `{k}`: this adapter feature is not supported")));
        }
    }
    let use_rslora = field("use_rslora").and_then(Value::as_bool).unwrap_or(false);
    let base_model = field("base_model_name_or_path").and_then(Value::as_str).map(str::to_string);

    let weights_path = dir.join(WEIGHTS_FILE);
    let raw = candle_core::safetensors::load(&weights_path, device).map_err(|e| file_err(&weights_path, e.to_string()))?;
    let mut tensors = BTreeMap::new();
    let mut targets = std::collections::BTreeSet::new();
    for (name, t) in raw {
        let canon = canonical_name(&name).ok_or_else(|| file_err(&weights_path, format!("tensor `{name}` is not a LoRA A/B weight")))?;
        let module = module_of(&canon).expect("canonical names have a module");
        targets.insert(module.rsplit('.').next().unwrap_or(module).to_string());
        let (rows, cols) = t.dims2().map_err(|_| file_err(&weights_path, format!("tensor `{name}` is not 2-D")))?;
        let rank_side = if canon.contains(".lora_A.") { rows } else { cols };
        if rank_side != r {
            return Err(file_err(&weights_path, format!("tensor `{name}` has shape {rows}x{cols}, which does not fit r = {r}")));
        }
        if tensors.insert(canon.clone(), t.to_dtype(DType::F32)?).is_some() {
            return Err(file_err(&weights_path, format!("tensor `{canon}` appears twice")));
        }
    }
    for name in tensors.keys() {
        let other = if name.contains(".lora_A.") { name.replace(".lora_A.", ".lora_B.") } else { name.replace(".lora_B.", ".lora_A.") };
        if !tensors.contains_key(&other) {
            return Err(file_err(&weights_path, format!("tensor `{name}` has no partner `{other}`")));
        }
    }
    let config = AdapterConfig { r, alpha, dropout, target_modules: targets.into_iter().collect(), base_model, use_rslora };
    Ok(Adapter { config, tensors })
}

/// `…q_proj.lora_A[.<adapter>].weight` with or without `base_model.model.` -> canonical name.
pub fn canonical_name(name: &str) -> Option<String> {
    let body = name.strip_prefix(PREFIX).unwrap_or(name);
    let parts: Vec<&str> = body.split('.').collect();
    let ab = parts.iter().position(|p| *p == "lora_A" || *p == "lora_B")?;
    let tail = &parts[ab + 1..];
    let ok_tail = tail == ["weight"] || (tail.len() == 2 && tail[1] == "weight");
    if ab == 0 || !ok_tail {
        return None;
    }
    Some(format!("{PREFIX}{}.{}.weight", parts[..ab].join("."), parts[ab]))
}

/// The module path of a canonical name: `base_model.model.model.layers.0.self_attn.q_proj`.
pub fn module_of(canonical: &str) -> Option<&str> {
    canonical.strip_suffix(".lora_A.weight").or_else(|| canonical.strip_suffix(".lora_B.weight"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonicalised() {
        let want = "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight";
        assert_eq!(canonical_name(want).as_deref(), Some(want));
        assert_eq!(canonical_name("base_model.model.model.layers.3.self_attn.q_proj.lora_A.default.weight").as_deref(), Some(want));
        assert_eq!(canonical_name("model.layers.3.self_attn.q_proj.lora_A.weight").as_deref(), Some(want));
        assert_eq!(canonical_name("model.layers.3.self_attn.q_proj.weight"), None);
        assert_eq!(canonical_name("lora_A.weight"), None);
    }

    #[test]
    fn save_then_load_round_trips() -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let dev = Device::Cpu;
        let a = "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight".to_string();
        let b = "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight".to_string();
        let ta = Tensor::arange(0f32, 12.0, &dev)?.reshape((2, 6))?;
        let tb = Tensor::arange(0f32, 8.0, &dev)?.reshape((4, 2))?;
        let cfg = AdapterConfig {
            r: 2,
            alpha: 4.0,
            dropout: 0.1,
            target_modules: vec!["down_proj".into()],
            base_model: Some("m".into()),
            use_rslora: false,
        };
        save(dir.path(), &cfg, &BTreeMap::from([(a.clone(), ta.clone()), (b.clone(), tb.clone())]))?;
        let back = load(dir.path(), &dev)?;
        assert_eq!(back.config, cfg);
        assert_eq!(back.tensors[&a].to_vec2::<f32>()?, ta.to_vec2::<f32>()?);
        assert_eq!(back.tensors[&b].to_vec2::<f32>()?, tb.to_vec2::<f32>()?);
        Ok(())
    }

    #[test]
    fn loads_foreign_names_and_rejects_bad_shapes() -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let dev = Device::Cpu;
        std::fs::write(dir.path().join(CONFIG_FILE), r#"{"r": 2, "lora_alpha": 16, "peft_type": "LORA", "target_modules": "q_proj"}"#)
            .unwrap();
        let t = HashMap::from([
            ("model.layers.0.self_attn.q_proj.lora_A.default.weight".to_string(), Tensor::zeros((2, 3), DType::F32, &dev)?),
            ("model.layers.0.self_attn.q_proj.lora_B.default.weight".to_string(), Tensor::zeros((3, 2), DType::F32, &dev)?),
        ]);
        candle_core::safetensors::save(&t, dir.path().join(WEIGHTS_FILE))?;
        let a = load(dir.path(), &dev)?;
        assert_eq!(a.config.target_modules, vec!["q_proj".to_string()]);
        assert!(a.tensors.contains_key("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"));
        std::fs::write(dir.path().join(CONFIG_FILE), r#"{"r": 3, "lora_alpha": 16}"#).unwrap();
        let err = load(dir.path(), &dev).unwrap_err().to_string();
        assert!(err.contains("does not fit r = 3"), "{err}");
        std::fs::write(dir.path().join(CONFIG_FILE), r#"{"r": 2, "lora_alpha": 16, "use_dora": true}"#).unwrap();
        assert!(load(dir.path(), &dev).unwrap_err().to_string().contains("use_dora"));
        Ok(())
    }
}
