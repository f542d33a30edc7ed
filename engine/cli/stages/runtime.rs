//! Loading models for stages, and the one resident base model that every evaluation in a run
//! shares (adapters are attached to it and swapped, never reloaded).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use syco_core::stage::StageCtx;
use syco_data::prompts::Templates;
use syco_data::{Message, Role};
use syco_ml::{ChatMessage, ChatTemplate, DType, LoadedModel};

use super::model::resolve_model;

/// How a stage loads and talks to a model (the `model` table of train and respond params).
/// Evaluation's `matmul` is beside it in the respond params: training never depends on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRuntime {
    /// "auto" (the model's own), a built-in template's name, or a Jinja template string.
    pub chat_template: String,
    pub dtype: Dtype,
    pub device: String,
    pub prompt_format: PromptFormat,
}

impl ModelRuntime {
    pub fn raw(&self) -> bool {
        self.prompt_format == PromptFormat::Raw
    }
}

/// The dtype weights are loaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    #[default]
    F32,
    Bf16,
    F16,
}

impl From<Dtype> for DType {
    fn from(d: Dtype) -> DType {
        match d {
            Dtype::F32 => DType::F32,
            Dtype::Bf16 => DType::BF16,
            Dtype::F16 => DType::F16,
        }
    }
}

/// Operands of evaluation's products (scoring, prompt prefill, decoding): f32, or bf16 with f32
/// sums (`Llama::set_bf16_products`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Matmul {
    #[default]
    F32,
    Bf16,
}

/// "chat": prompts are conversations rendered by the chat template; "raw": the study's literal
/// prompt strings (Llama-2 `[INST]` markup written by hand, `<s>` included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptFormat {
    #[default]
    Chat,
    Raw,
}

/// One of the enums above from its manifest name (command-line options), with serde's message.
pub fn parse_name<T: DeserializeOwned>(name: &str) -> Result<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name)).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A loaded model, the chat template the manifest chose for it, and the name it goes by in
/// adapter files.
pub struct Loaded {
    pub lm: LoadedModel,
    pub chat: ChatTemplate,
    pub name: String,
}

impl Loaded {
    pub fn generate(&self, prompts: &[String], cfg: &syco_ml::GenerationConfig) -> Result<Vec<String>> {
        syco_ml::generate(&self.lm, prompts, cfg)
    }
    pub fn loglik(&self, pairs: &[(String, String)], batch: usize) -> Result<Vec<syco_ml::LoglikOut>> {
        syco_ml::loglik(&self.lm, pairs, batch)
    }
    /// Padding id for training batches: EOS, as the study (and HF's default for Llama).
    pub fn pad_id(&self) -> u32 {
        self.lm.tokenizer.eos.first().copied().unwrap_or(0)
    }
    /// Prompt tokens that leave room for `max_new` generated ones: the last (context length -
    /// max_new) tokens, as lm-eval keeps them.
    pub fn fit_prompt(&self, mut ids: Vec<u32>, max_new: usize) -> Vec<u32> {
        let room = self.lm.model.config().max_position_embeddings.saturating_sub(max_new).max(1);
        if ids.len() > room {
            ids.drain(..ids.len() - room);
        }
        ids
    }
    pub fn eos_text(&self) -> String {
        self.lm.tokenizer.eos.first().and_then(|&id| self.lm.tokenizer.id_to_token(id)).unwrap_or_default()
    }
}

/// Key components of every model-backed stage: the engine's version, the decoder's revision
/// and the Cargo.lock versions of the crates that compute its numbers and text (listed in
/// engine/cli/build.rs).
pub fn engine_extras() -> BTreeMap<String, String> {
    let mut e = locked_crates(env!("SYCO_LOCKED_ML"));
    e.insert("engine".into(), env!("CARGO_PKG_VERSION").into());
    e.insert("decoder".into(), syco_ml::DECODER_REVISION.to_string());
    e
}

/// Key components of a stage that runs a model: the engine's (`engine_extras`) and the device;
/// with `matmul = "bf16"`, also the instructions that multiply (AMX and AVX-512 BF16 sum in
/// other orders, and a CPU with neither multiplies in f32: `load_path`).
pub fn device_extras(def: &syco_core::stage::StageDef) -> BTreeMap<String, String> {
    let mut e = engine_extras();
    e.insert("device".into(), def.resources.device.clone());
    if def.params.get("matmul").and_then(|m| m.as_str()) == Some("bf16") && def.resources.device == "cpu" {
        e.insert("bf16 products".into(), syco_ml::bf16_instructions().unwrap_or("none: f32 products").into());
    }
    e
}

/// `a=1.0;b=2.0` (from engine/cli/build.rs) -> `crate a: 1.0`, `crate b: 2.0`.
pub fn locked_crates(list: &str) -> BTreeMap<String, String> {
    list.split(';').filter_map(|p| p.split_once('=')).map(|(n, v)| (format!("crate {n}"), v.to_string())).collect()
}

fn chat_template(rt: &ModelRuntime, lm: &LoadedModel) -> Result<ChatTemplate> {
    match rt.chat_template.as_str() {
        "auto" => Ok(lm.chat.clone()),
        name => match ChatTemplate::builtin(name) {
            Some(t) => Ok(t),
            // Anything else is a Jinja template string written in the manifest.
            None => {
                let tok = &lm.tokenizer;
                let text = |id: Option<u32>| id.and_then(|i| tok.id_to_token(i)).unwrap_or_default();
                ChatTemplate::jinja(name, &text(tok.bos), &text(tok.eos.first().copied()))
            }
        },
    }
}

/// Load the model behind the stage's `model` input, fresh (training mutates it).
pub fn load_model(ctx: &StageCtx, rt: &ModelRuntime, matmul: Matmul) -> Result<Loaded> {
    let dir = ctx.inputs.get("model").context("stage has no `model` input")?;
    load_path(&resolve_model(dir)?, rt, matmul)
}

/// Load a model file or folder with the given runtime settings.
pub fn load_path(path: &Path, rt: &ModelRuntime, matmul: Matmul) -> Result<Loaded> {
    let device = syco_ml::device_from_str(&rt.device)?;
    let mut lm = LoadedModel::load(path, &device, rt.dtype.into()).with_context(|| format!("loading {}", path.display()))?;
    if matmul == Matmul::Bf16 {
        match syco_ml::bf16_instructions() {
            Some(_) => lm.model.set_bf16_products(true)?,
            // Rounding into the f32 product would only be slower (and `device_extras` keys
            // the stage by what ran).
            None => eprintln!("warning: matmul = \"bf16\": this CPU has neither AMX nor AVX-512 BF16, where bf16 products are slower than f32 ones; using f32 products"),
        }
    }
    let chat = chat_template(rt, &lm)?;
    Ok(Loaded { lm, chat, name: model_name(path) })
}

/// Attach the PEFT adapter in `dir` (once; it is named by its path) and make it the active one.
/// Its `adapter_config.json` decides what is applied, as in PEFT (`llama::load_into`); what
/// PEFT would ignore (tensors of modules the config does not select) is a warning on stderr.
pub fn attach_adapter(m: &mut Loaded, dir: &Path) -> Result<()> {
    let name = dir.display().to_string();
    if !m.lm.model.adapter_names().contains(&name) {
        for warning in syco_train::llama::load_into(&mut m.lm.model, &name, dir)? {
            eprintln!("warning: {warning}");
        }
    }
    m.lm.model.set_active_adapter(Some(&name))?;
    Ok(())
}

fn model_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// The one resident base model of this process, keyed by its output dir and runtime settings.
static RESIDENT: Mutex<Option<(String, Loaded)>> = Mutex::new(None);

/// Runs `f` with the resident model for the stage's `model` input and the adapter of its
/// `adapter` input (if any) active. Loads the base only when it differs from the resident one;
/// adapters are attached once and then switched.
pub fn with_resident<T>(ctx: &StageCtx, rt: &ModelRuntime, matmul: Matmul, f: impl FnOnce(&mut Loaded) -> Result<T>) -> Result<T> {
    let dir = ctx.inputs.get("model").context("stage has no `model` input")?;
    let key = format!("{}|{:?}|{:?}", dir.display(), rt, matmul);
    let mut slot = RESIDENT.lock().unwrap_or_else(|e| e.into_inner());
    if slot.as_ref().map(|(k, _)| k != &key).unwrap_or(true) {
        *slot = None; // free the old model before loading the next
        ctx.progress.set_message("loading model".into());
        *slot = Some((key, load_model(ctx, rt, matmul)?));
    }
    let loaded = &mut slot.as_mut().expect("loaded above").1;
    match ctx.inputs.get("adapter") {
        // Adapters are named by their content-addressed output dir: same dir, same weights.
        Some(adapter_dir) => attach_adapter(loaded, adapter_dir)?,
        None => loaded.lm.model.set_active_adapter(None)?,
    }
    f(loaded)
}

/// The prompt templates a dataset stage recorded (its manifest `templates` table).
pub fn dataset_templates(dir: &Path) -> Result<Templates> {
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("dataset.json"))?)?;
    match meta.get("templates") {
        None | Some(serde_json::Value::Null) => Ok(Templates::default()),
        Some(t) => serde_json::from_value(t.clone()).context("dataset templates"),
    }
}

pub fn to_chat(messages: &[Message]) -> Vec<ChatMessage> {
    messages
        .iter()
        .map(|m| ChatMessage {
            role: match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            }
            .to_string(),
            content: m.content.clone(),
        })
        .collect()
}

/// A training example as the model sees it. Raw format: the study's plain text. Chat format:
/// the conversation rendered by the model's chat template, the response as the assistant turn
/// (with the template's end-of-turn marker, so the model learns to stop).
pub fn format_example(m: &Loaded, rt: &ModelRuntime, ex: &syco_data::prompts::TrainExample) -> Result<syco_train::TrainExample> {
    if rt.raw() {
        return Ok(syco_train::TrainExample { prompt: ex.prompt.clone(), response: ex.response.clone() });
    }
    chat_example(m, &ex.messages, &ex.response)
}

/// `messages` rendered by the model's chat template, `response` as the assistant's turn (the
/// loss is taken on it).
pub fn chat_example(m: &Loaded, messages: &[Message], response: &str) -> Result<syco_train::TrainExample> {
    let mut conversation = to_chat(messages);
    let prompt = m.chat.render(&conversation, true)?;
    conversation.push(ChatMessage { role: "assistant".into(), content: response.trim_start().to_string() });
    let full = m.chat.render(&conversation, false)?;
    match full.strip_prefix(&prompt) {
        Some(response) => Ok(syco_train::TrainExample { prompt, response: response.to_string() }),
        // Templates that rewrite earlier turns once an answer follows: fall back to the plain split.
        None => Ok(syco_train::TrainExample { prompt, response: format!("{}{}", response.trim_start(), m.eos_text()) }),
    }
}
