//! PEFT LoRA adapter files: `adapter_config.json` + `adapter_model.safetensors`, readable by
//! PEFT, vLLM and mistral.rs; and loading of PEFT adapters made elsewhere.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};

use crate::error::{file_err, Result, TrainError};

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";
const PREFIX: &str = "base_model.model.";

/// The LoRA hyper-parameters an adapter file carries.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    /// Projection names (`q_proj`, ...), sorted. An adapter need not cover them in every layer:
    /// its tensors say which modules it covers, and `save` writes the full module names then.
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
        syco_ml::LoraConfig { r: self.r, alpha, dropout: self.dropout, targets: self.projections() }
    }

    /// The projection names `target_modules` covers (`q_proj` of `model.layers.1.self_attn.q_proj`).
    pub fn projections(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<String> =
            self.target_modules.iter().map(|t| t.rsplit('.').next().unwrap_or(t).to_string()).collect();
        set.into_iter().collect()
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
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e.to_string()))?;
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
        "target_modules": saved_targets(config, tensors),
        "task_type": "CAUSAL_LM",
        "use_dora": false,
        "use_rslora": config.use_rslora,
    });
    let cfg_path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&cfg).expect("json values serialize");
    write_atomic(&cfg_path, text.as_bytes())?;
    write_safetensors(&dir.join(WEIGHTS_FILE), tensors, Some(HashMap::from([("format".to_string(), "pt".to_string())])))
}

/// `target_modules` as `save` writes it, so that PEFT (and `load`) select exactly the modules
/// the tensors cover: the projection names when the tensors cover those projections in every
/// layer from 0 to the last one they name (syco's own adapters), else the full module names
/// (`model.layers.1.self_attn.q_proj`), which PEFT matches exactly.
fn saved_targets(config: &AdapterConfig, tensors: &BTreeMap<String, Tensor>) -> Vec<String> {
    let modules: std::collections::BTreeSet<&str> =
        tensors.keys().filter_map(|k| module_of(k)).map(|m| m.strip_prefix(PREFIX).unwrap_or(m)).collect();
    let layers = modules.iter().filter_map(|m| m.strip_prefix("model.layers.")?.split('.').next()?.parse::<usize>().ok()).max();
    let projections = config.projections();
    let product: std::collections::BTreeSet<String> = (0..layers.map_or(0, |l| l + 1))
        .flat_map(|i| {
            projections
                .iter()
                .filter_map(move |p| syco_ml::PROJECTIONS.iter().find(|(q, _)| q == p).map(|(_, m)| format!("model.layers.{i}.{m}.{p}")))
        })
        .collect();
    if modules.is_empty() || product.iter().map(String::as_str).eq(modules.iter().copied()) {
        config.target_modules.clone()
    } else {
        modules.into_iter().map(str::to_string).collect()
    }
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
    std::fs::write(&tmp, bytes).map_err(|e| file_err(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e.to_string()))
}

/// How an `adapter_config.json` names modules (`target_modules`, `exclude_modules`), read as
/// PEFT reads it (`check_target_module_exists`).
#[derive(Debug, Clone, PartialEq)]
pub enum ModuleNames {
    /// A list: a module is named when its name equals an entry or ends with `.` + the entry.
    List(Vec<String>),
    /// A string: a regular expression the whole module name must match (`re.fullmatch`).
    Regex(String),
    /// `"all-linear"` (any case) as `target_modules`: every linear layer but the output head.
    AllLinear,
}

/// Which modules of the base model an adapter's config selects.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub target: ModuleNames,
    pub exclude: Option<ModuleNames>,
    /// `layers_to_transform` (an integer is a list of one); `None` for null or `[]`.
    pub layers: Option<Vec<usize>>,
    /// `layers_pattern` (a string is a list of one); empty for null, `""` or `[]`.
    pub layers_pattern: Vec<String>,
}

/// What a module of the base model is. PEFT matches the config against every module name,
/// containers and norms included, so the list a config is matched against has them all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModuleKind {
    /// A projection syco applies LoRA to, with its weight's shape (out, in) when known.
    Projection(Option<(usize, usize)>),
    /// The output head: a linear layer that `all-linear` leaves out and syco does not adapt.
    OutputHead,
    /// The token embeddings: PEFT can adapt them, syco does not.
    Embedding,
    /// Containers, norms, activations, rotary tables: PEFT refuses to adapt these.
    Other,
}

/// One module of the base model, named as in the transformers model (`model.layers.0.mlp`).
#[derive(Debug, Clone, PartialEq)]
pub struct BaseModule {
    pub name: String,
    pub kind: ModuleKind,
}

/// The modules of a Llama-layout causal LM (Llama, Mistral, Qwen2) with `layers` decoder layers,
/// as transformers names them; `shape(layer, projection)` gives a projection's (out, in).
pub fn llama_modules(layers: usize, mut shape: impl FnMut(usize, &str) -> Option<(usize, usize)>) -> Vec<BaseModule> {
    let other = |name: String| BaseModule { name, kind: ModuleKind::Other };
    let mut v = vec![
        other("model".into()),
        BaseModule { name: "model.embed_tokens".into(), kind: ModuleKind::Embedding },
        other("model.layers".into()),
    ];
    for i in 0..layers {
        let p = format!("model.layers.{i}");
        v.push(other(p.clone()));
        v.push(other(format!("{p}.self_attn")));
        for (proj, module) in syco_ml::PROJECTIONS {
            if module == "mlp" && proj == "gate_proj" {
                v.push(other(format!("{p}.mlp")));
            }
            v.push(BaseModule { name: format!("{p}.{module}.{proj}"), kind: ModuleKind::Projection(shape(i, proj)) });
        }
        v.push(other(format!("{p}.mlp.act_fn")));
        v.push(other(format!("{p}.input_layernorm")));
        v.push(other(format!("{p}.post_attention_layernorm")));
    }
    v.push(other("model.norm".into()));
    v.push(other("model.rotary_emb".into()));
    v.push(BaseModule { name: "lm_head".into(), kind: ModuleKind::OutputHead });
    v
}

/// A PEFT adapter folder as read, before its config is matched against a model's modules.
#[derive(Debug, Clone)]
pub struct AdapterFiles {
    pub dir: PathBuf,
    /// The hyper-parameters; `target_modules` lists the projections the tensors name.
    pub config: AdapterConfig,
    pub selection: Selection,
    /// Every A/B tensor of the file, under canonical names.
    pub tensors: BTreeMap<String, Tensor>,
}

/// An adapter whose config has been applied to a model's modules, and what PEFT would leave
/// unsaid or only warn about (tensors of modules the config does not adapt, an unused
/// `exclude_modules`).
#[derive(Debug, Clone)]
pub struct Selected {
    pub adapter: Adapter,
    pub warnings: Vec<String>,
}

/// Reads a PEFT LoRA adapter from `dir` and applies its config (`target_modules`,
/// `exclude_modules`, `layers_to_transform`) to the modules its tensors name: a Llama-layout
/// model with as many layers as the highest layer index in the file. Use
/// [`AdapterFiles::select`] with the real model's modules (`llama::load_into`) to check it
/// against a model. Warnings go to stderr.
pub fn load(dir: &Path, device: &Device) -> Result<Adapter> {
    let files = read(dir, device)?;
    let base = files.implied_modules();
    let selected = files.select(&base)?;
    for w in &selected.warnings {
        eprintln!("warning: {w}");
    }
    Ok(selected.adapter)
}

fn missing_file(path: &Path) -> TrainError {
    file_err(path, "missing (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)")
}

/// Reads `dir`'s two PEFT files onto `device` as f32. Accepts tensor names with the
/// adapter-name infix (`lora_A.default.weight`) and without the `base_model.model.` prefix;
/// keeps canonical names. Adapter features syco cannot apply (DoRA, biases, rank or alpha
/// patterns, extra saved modules) are errors naming the field, and so are the configs PEFT
/// itself refuses.
pub fn read(dir: &Path, device: &Device) -> Result<AdapterFiles> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(file_err(dir, "no such adapter folder")),
        Err(e) => return Err(file_err(dir, e.to_string())),
        Ok(m) if !m.is_dir() => return Err(file_err(dir, "not a folder (a PEFT adapter is a folder with adapter_config.json)")),
        Ok(_) => {}
    }
    let cfg_path = dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&cfg_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing_file(&cfg_path)),
        Err(e) => return Err(file_err(&cfg_path, e.to_string())),
        Ok(t) => t,
    };
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
        ("target_parameters", field("target_parameters").and_then(Value::as_array).is_some_and(|m| !m.is_empty())),
        ("layer_replication", field("layer_replication").and_then(Value::as_array).is_some_and(|m| !m.is_empty())),
    ] {
        if unsupported {
            return Err(file_err(&cfg_path, format!("field `{k}`: this adapter feature is not supported")));
        }
    }
    let use_rslora = field("use_rslora").and_then(Value::as_bool).unwrap_or(false);
    let base_model = field("base_model_name_or_path").and_then(Value::as_str).map(str::to_string);
    let selection = read_selection(&cfg_path, &cfg)?;

    let weights_path = dir.join(WEIGHTS_FILE);
    if !weights_path.exists() {
        return Err(missing_file(&weights_path));
    }
    let raw = candle_core::safetensors::load(&weights_path, device).map_err(|e| file_err(&weights_path, e.to_string()))?;
    // In name order, so that the first error found is the same on every run.
    let raw: BTreeMap<String, Tensor> = raw.into_iter().collect();
    let mut tensors = BTreeMap::new();
    let mut targets = std::collections::BTreeSet::new();
    for (name, t) in raw {
        let canon = canonical_name(&name).ok_or_else(|| file_err(&weights_path, format!("tensor `{name}` is not a LoRA A/B weight")))?;
        let module = module_of(&canon).expect("canonical names have a module");
        targets.insert(module.rsplit('.').next().unwrap_or(module).to_string());
        let (rows, cols) =
            t.dims2().map_err(|_| file_err(&weights_path, format!("tensor `{name}` has shape {}, not 2-D", shape(t.dims()))))?;
        let rank_side = if canon.contains(".lora_A.") { rows } else { cols };
        if rank_side != r {
            return Err(file_err(&weights_path, format!("tensor `{name}` has shape {}, which does not fit r = {r}", shape(&[rows, cols]))));
        }
        if tensors.insert(canon.clone(), t.to_dtype(DType::F32)?).is_some() {
            return Err(file_err(&weights_path, format!("tensor `{canon}` appears twice")));
        }
    }
    for name in tensors.keys() {
        let other = partner(name);
        if !tensors.contains_key(&other) {
            return Err(file_err(&weights_path, format!("tensor `{name}` has no partner `{other}`")));
        }
    }
    let config = AdapterConfig { r, alpha, dropout, target_modules: targets.into_iter().collect(), base_model, use_rslora };
    Ok(AdapterFiles { dir: dir.to_path_buf(), config, selection, tensors })
}

fn partner(name: &str) -> String {
    if name.contains(".lora_A.") {
        name.replace(".lora_A.", ".lora_B.")
    } else {
        name.replace(".lora_B.", ".lora_A.")
    }
}

/// A shape as this loader's messages write it: `(4, 32)`.
fn shape(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}

/// Python's `re.fullmatch(pattern, key)`.
fn full_regex(pattern: &str) -> std::result::Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

/// The index a layer-selecting config reads from a module name, as PEFT does: the first
/// numbered segment after `layers_pattern` (any segment but the first when there is none).
fn layer_regexes(patterns: &[String]) -> std::result::Result<Vec<regex::Regex>, regex::Error> {
    if patterns.is_empty() {
        return Ok(vec![regex::Regex::new(r"^.*?\.[^.]*\.(?P<idx>\d+)\.")?]);
    }
    patterns.iter().map(|p| regex::Regex::new(&format!(r"^(?:.*?\.)?(?:{p})\.(?P<idx>\d+)\."))).collect()
}

fn read_selection(cfg_path: &Path, cfg: &Value) -> Result<Selection> {
    let field = |k: &str| cfg.get(k).filter(|v| !v.is_null());
    let names = |k: &str, allow_all_linear: bool| -> Result<Option<ModuleNames>> {
        match field(k) {
            None => Ok(None),
            Some(Value::String(s)) if allow_all_linear && s.eq_ignore_ascii_case("all-linear") => Ok(Some(ModuleNames::AllLinear)),
            Some(Value::String(s)) => {
                full_regex(s).map_err(|e| file_err(cfg_path, format!("field `{k}`: `{s}` is not a regular expression syco reads: {e}")))?;
                Ok(Some(ModuleNames::Regex(s.clone())))
            }
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(|v| Some(ModuleNames::List(v)))
                .ok_or_else(|| file_err(cfg_path, format!("field `{k}`: a list of module names must hold strings only"))),
            Some(other) => Err(file_err(cfg_path, format!("field `{k}`: expected a list of module names or a string, found {other}"))),
        }
    };
    // PEFT's default for the families syco loads (Llama, Mistral, Qwen2/3, Gemma 3).
    let target = names("target_modules", true)?.unwrap_or_else(|| ModuleNames::List(vec!["q_proj".into(), "v_proj".into()]));
    let exclude = names("exclude_modules", false)?.filter(|e| !matches!(e, ModuleNames::List(v) if v.is_empty()));
    let layers_given = field("layers_to_transform").is_some();
    let layers = match field("layers_to_transform") {
        None => None,
        Some(v) if v.is_u64() => Some(vec![v.as_u64().expect("checked") as usize]),
        Some(Value::Array(a)) => {
            let v = a.iter().map(|x| x.as_u64().map(|n| n as usize)).collect::<Option<Vec<_>>>().ok_or_else(|| {
                file_err(cfg_path, "field `layers_to_transform`: a list of layer indices must hold non-negative integers only")
            })?;
            Some(v).filter(|v| !v.is_empty())
        }
        Some(other) => {
            return Err(file_err(cfg_path, format!("field `layers_to_transform`: expected a layer index or a list of them, found {other}")))
        }
    };
    let pattern_given = field("layers_pattern").is_some();
    let layers_pattern = match field("layers_pattern") {
        None => vec![],
        Some(Value::String(s)) if s.is_empty() => vec![],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| file_err(cfg_path, "field `layers_pattern`: a list of patterns must hold strings only"))?,
        Some(other) => return Err(file_err(cfg_path, format!("field `layers_pattern`: expected a string or a list, found {other}"))),
    };
    layer_regexes(&layers_pattern).map_err(|e| file_err(cfg_path, format!("field `layers_pattern`: {e}")))?;
    // The combinations PEFT's LoraConfig refuses.
    if matches!(target, ModuleNames::Regex(_) | ModuleNames::AllLinear) {
        if layers_given {
            return Err(file_err(
                cfg_path,
                "`layers_to_transform` cannot be used when `target_modules` is a str (PEFT refuses this config)",
            ));
        }
        if pattern_given {
            return Err(file_err(cfg_path, "`layers_pattern` cannot be used when `target_modules` is a str (PEFT refuses this config)"));
        }
    }
    if !layers_pattern.is_empty() && !layers_given {
        return Err(file_err(
            cfg_path,
            "when `layers_pattern` is specified, `layers_to_transform` must also be specified (PEFT refuses this config)",
        ));
    }
    Ok(Selection { target, exclude, layers, layers_pattern })
}

/// PEFT's verdict on one module name.
#[derive(PartialEq)]
enum Verdict {
    Target,
    Excluded,
    Unmatched,
}

struct Matcher<'a> {
    sel: &'a Selection,
    target: Option<regex::Regex>,
    exclude: Option<regex::Regex>,
    layer: Vec<regex::Regex>,
    /// `all-linear` made concrete: the model's linear layers but the output head.
    all_linear: Vec<String>,
}

impl<'a> Matcher<'a> {
    fn new(sel: &'a Selection, base: &[BaseModule]) -> Self {
        let re = |n: &ModuleNames| match n {
            ModuleNames::Regex(s) => Some(full_regex(s).expect("checked when read")),
            _ => None,
        };
        Matcher {
            sel,
            target: re(&sel.target),
            exclude: sel.exclude.as_ref().and_then(re),
            layer: layer_regexes(&sel.layers_pattern).expect("checked when read"),
            all_linear: base.iter().filter(|m| matches!(m.kind, ModuleKind::Projection(_))).map(|m| m.name.clone()).collect(),
        }
    }

    fn verdict(&self, key: &str) -> Verdict {
        let in_list = |list: &[String]| list.iter().any(|e| key == e || key.strip_suffix(e.as_str()).is_some_and(|p| p.ends_with('.')));
        let excluded = match &self.sel.exclude {
            Some(ModuleNames::List(v)) => in_list(v),
            Some(_) => self.exclude.as_ref().is_some_and(|r| r.is_match(key)),
            None => false,
        };
        if excluded {
            return Verdict::Excluded;
        }
        let found = match &self.sel.target {
            ModuleNames::Regex(_) => self.target.as_ref().is_some_and(|r| r.is_match(key)),
            // PEFT replaces `all-linear` by the full names, which a list matches exactly.
            ModuleNames::AllLinear => self.all_linear.iter().any(|n| n == key),
            // A list entry equal to the whole name matches whatever the layer.
            ModuleNames::List(v) if v.iter().any(|e| e == key) => true,
            ModuleNames::List(v) => in_list(v) && self.in_layers(key),
        };
        if found {
            Verdict::Target
        } else {
            Verdict::Unmatched
        }
    }

    fn in_layers(&self, key: &str) -> bool {
        let Some(layers) = &self.sel.layers else { return true };
        let idx = self.layer.iter().find_map(|r| r.captures(key)).and_then(|c| c["idx"].parse::<usize>().ok());
        idx.is_some_and(|i| layers.contains(&i))
    }
}

impl AdapterFiles {
    /// The modules of a Llama-layout model with as many layers as the file's tensors reach.
    pub fn implied_modules(&self) -> Vec<BaseModule> {
        let layers = self
            .tensors
            .keys()
            .filter_map(|k| k.strip_prefix(PREFIX)?.strip_prefix("model.layers.")?.split('.').next()?.parse::<usize>().ok())
            .max()
            .map_or(0, |m| m + 1);
        llama_modules(layers, |_, _| None)
    }

    /// Applies the config to `base`'s modules as PEFT does: the modules it selects get LoRA
    /// from the file's tensors; a config selecting nothing, or a module syco cannot adapt, is
    /// refused; a selected module without both tensors (or with tensors of the wrong shape) is
    /// an error naming the module and the file; tensors of modules the config does not select
    /// are left out (PEFT leaves them out too) with a warning.
    pub fn select(self, base: &[BaseModule]) -> Result<Selected> {
        let cfg_path = self.dir.join(CONFIG_FILE);
        let weights_path = self.dir.join(WEIGHTS_FILE);
        let sel = &self.selection;
        let m = Matcher::new(sel, base);
        let (mut targeted, mut excluded, mut unmatched) = (vec![], 0usize, 0usize);
        for module in base {
            match m.verdict(&module.name) {
                Verdict::Target => targeted.push(module),
                Verdict::Excluded => excluded += 1,
                Verdict::Unmatched => unmatched += 1,
            }
        }
        let mut warnings = vec![];
        if targeted.is_empty() {
            let mut msg = match (excluded > 0, unmatched > 0) {
                (true, false) => "all modules were excluded (`exclude_modules`)".to_string(),
                (false, _) => format!("Target modules {} not found in the base model", describe(&sel.target)),
                (true, true) => "no modules were targeted for adaptation: every module `target_modules` names is excluded by `exclude_modules`, or none is in the base model".to_string(),
            };
            if let Some(l) = &sel.layers {
                msg += &format!(" (layers_to_transform {l:?}");
                if !sel.layers_pattern.is_empty() {
                    msg += &format!(", layers_pattern {:?}", sel.layers_pattern);
                }
                msg += ")";
            }
            return Err(file_err(&cfg_path, format!("{msg}; PEFT refuses this adapter for this model too")));
        }
        if let (Some(e), 0) = (&sel.exclude, excluded) {
            warnings.push(format!("{}: exclude_modules {} excludes no module of this model", cfg_path.display(), describe(e)));
        }
        let mut tensors = self.tensors;
        let mut applied = BTreeMap::new();
        let mut projections = std::collections::BTreeSet::new();
        for module in &targeted {
            let dims = match module.kind {
                ModuleKind::Projection(dims) => dims,
                ModuleKind::OutputHead | ModuleKind::Embedding => {
                    return Err(file_err(
                        &cfg_path,
                        format!(
                            "`target_modules` selects `{}`: PEFT would adapt it, but syco applies LoRA only to the attention and MLP projections ({})",
                            module.name,
                            syco_ml::PROJECTIONS.map(|p| p.0).join(", ")
                        ),
                    ))
                }
                ModuleKind::Other => {
                    return Err(file_err(
                        &cfg_path,
                        format!("`target_modules` selects `{}`, which is not a linear layer; PEFT refuses it too", module.name),
                    ))
                }
            };
            let a_name = format!("{PREFIX}{}.lora_A.weight", module.name);
            let b_name = format!("{PREFIX}{}.lora_B.weight", module.name);
            let (a, b) = match (tensors.remove(&a_name), tensors.remove(&b_name)) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(file_err(
                        &weights_path,
                        format!("module `{}` is selected by adapter_config.json but this file has no LoRA tensors for it", module.name),
                    ))
                }
            };
            if let Some((out, inp)) = dims {
                let r = self.config.r;
                for (name, t, want) in [(&a_name, &a, [r, inp]), (&b_name, &b, [out, r])] {
                    if t.dims() != want {
                        return Err(file_err(
                            &weights_path,
                            format!(
                                "tensor `{name}` has shape {}, expected {} (module `{}` is {} with r = {r})",
                                shape(t.dims()),
                                shape(&want),
                                module.name,
                                shape(&[out, inp])
                            ),
                        ));
                    }
                }
            }
            projections.insert(module.name.rsplit('.').next().unwrap_or(&module.name).to_string());
            applied.insert(a_name, a);
            applied.insert(b_name, b);
        }
        if !tensors.is_empty() {
            let modules: std::collections::BTreeSet<&str> = tensors.keys().filter_map(|k| module_of(k)).collect();
            let list: Vec<&str> = modules.iter().map(|m| m.strip_prefix(PREFIX).unwrap_or(m)).collect();
            warnings.push(format!(
                "{}: {} tensors of {} modules that adapter_config.json does not select are ignored, as PEFT ignores them: {}",
                weights_path.display(),
                tensors.len(),
                list.len(),
                list.join(", ")
            ));
        }
        let target_modules = projections.into_iter().collect();
        let config = AdapterConfig { target_modules, ..self.config };
        Ok(Selected { adapter: Adapter { config, tensors: applied }, warnings })
    }
}

/// A config's module names as PEFT prints them.
fn describe(n: &ModuleNames) -> String {
    match n {
        ModuleNames::List(v) => format!("{v:?}"),
        ModuleNames::Regex(s) => format!("`{s}`"),
        ModuleNames::AllLinear => "all-linear".into(),
    }
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

    fn selected(target: ModuleNames, exclude: Option<ModuleNames>, layers: Option<Vec<usize>>) -> Vec<String> {
        let sel = Selection { target, exclude, layers, layers_pattern: vec![] };
        let base = llama_modules(3, |_, _| None);
        let m = Matcher::new(&sel, &base);
        base.iter().filter(|b| m.verdict(&b.name) == Verdict::Target).map(|b| b.name.clone()).collect()
    }

    #[test]
    fn module_names_match_as_in_peft() {
        let list = |v: &[&str]| ModuleNames::List(v.iter().map(|s| s.to_string()).collect());
        // A list entry is a whole name or a suffix after a dot, never part of a segment.
        assert_eq!(selected(list(&["proj"]), None, None), Vec::<String>::new());
        assert_eq!(selected(list(&["layers.2.mlp.up_proj"]), None, None), vec!["model.layers.2.mlp.up_proj"]);
        // layers_to_transform filters suffix matches, but an entry equal to the whole name
        // matches in any layer (PEFT tests `key in target_modules` first).
        assert_eq!(
            selected(list(&["q_proj", "model.layers.0.mlp.down_proj"]), None, Some(vec![2])),
            vec!["model.layers.0.mlp.down_proj", "model.layers.2.self_attn.q_proj"]
        );
        // A regex must match the whole name; exclusion comes first.
        assert_eq!(
            selected(ModuleNames::Regex(r".*\.(0|1)\.self_attn\.v_proj".into()), Some(list(&["layers.0.self_attn.v_proj"])), None),
            vec!["model.layers.1.self_attn.v_proj"]
        );
        assert_eq!(selected(ModuleNames::Regex("v_proj".into()), None, None), Vec::<String>::new());
        // all-linear: the 7 projections of every layer, not lm_head; exclude still applies.
        let all = selected(ModuleNames::AllLinear, Some(ModuleNames::Regex(".*mlp.*".into())), None);
        assert_eq!(all.len(), 12);
        assert!(all.iter().all(|n| n.contains(".self_attn.")));
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
        std::fs::write(dir.path().join(CONFIG_FILE), r#"{"r": 2, "lora_alpha": 16, "peft_type": "LORA", "target_modules": ["q_proj"]}"#)
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
