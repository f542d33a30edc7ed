//! Loading a model, its tokenizer and chat template from a GGUF file or an HF directory.

use crate::chat::ChatTemplate;
use crate::config::{Family, LlamaConfig};
use crate::linear::{BaseWeight, Proj};
use crate::model::{Layer, Llama, PROJECTIONS};
use crate::qgemv::QBlocks;
use crate::tokenizer::Tokenizer;
use anyhow::{bail, ensure, Context, Result};
use candle_core::quantized::{gguf_file, QStorage, QTensor};
use candle_core::{DType, Device, Tensor};
use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct LoadedModel {
    pub model: Llama,
    pub tokenizer: Tokenizer,
    pub chat: ChatTemplate,
}

/// How the base weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// Dense tensors in the given dtype (trainable adapters, merge/unmerge). For f32 on the CPU
    /// from a GGUF with Q4_1/Q8_0 weights, those blocks are also kept (about 1/6 of the f32
    /// size): graph-free products with up to 32 rows (decoding) stream them instead of the f32
    /// weights, with f32 activations, so results differ only by summation order.
    Dense(DType),
    /// GGUF's quantised blocks kept as they are for the projections and output head
    /// (inference only, f32 activations). Q4_1/Q8_0 use the block kernel for up to 32 rows and
    /// are dequantised per call for more; other formats use candle's quantised matmul.
    /// HF dirs load dense f32.
    Quantized,
}

impl LoadedModel {
    /// `path`: a `.gguf` file, or a directory with `config.json` + safetensors (+ tokenizer
    /// files), or a directory holding exactly one `.gguf` file.
    pub fn load(path: &Path, device: &Device, dtype: DType) -> Result<Self> {
        Self::load_with(path, device, WeightFormat::Dense(dtype))
    }

    pub fn load_with(path: &Path, device: &Device, format: WeightFormat) -> Result<Self> {
        if path.is_dir() {
            if path.join("config.json").exists() {
                let dtype = match format {
                    WeightFormat::Dense(d) => d,
                    WeightFormat::Quantized => DType::F32,
                };
                return load_hf_dir(path, device, dtype);
            }
            let ggufs: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
                .collect();
            return match ggufs.as_slice() {
                [one] => load_gguf(one, device, format),
                [] => bail!("{}: neither config.json nor a .gguf file", path.display()),
                _ => bail!("{}: several .gguf files; name one", path.display()),
            };
        }
        if path.extension().is_some_and(|e| e == "gguf") {
            return load_gguf(path, device, format);
        }
        bail!("{}: expected a .gguf file or an HF model directory", path.display())
    }
}

impl Llama {
    /// The model alone (no tokenizer or chat template) from what `LoadedModel::load_with` reads:
    /// a `.gguf` file or an HF directory with `config.json` and safetensors.
    pub fn load(path: &Path, device: &Device, format: WeightFormat) -> Result<Llama> {
        let dtype = match format {
            WeightFormat::Dense(d) => d,
            WeightFormat::Quantized => DType::F32,
        };
        if path.is_dir() {
            return hf_model(path, device, dtype).map(|(m, _)| m);
        }
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let ct = gguf_file::Content::read(&mut file).with_context(|| format!("reading GGUF header of {}", path.display()))?;
        gguf_model(&ct, &mut file, path, device, format)
    }
}

fn load_hf_dir(dir: &Path, device: &Device, dtype: DType) -> Result<LoadedModel> {
    let (model, cfg) = hf_model(dir, device, dtype)?;
    let tok_path = dir.join("tokenizer.json");
    ensure!(tok_path.exists(), "{}: tokenizer.json is missing", dir.display());
    let mut tokenizer = Tokenizer::from_file(&tok_path)?;
    if tokenizer.eos.is_empty() {
        tokenizer.eos = cfg.eos_token_id.as_ref().map(|e| e.to_vec()).unwrap_or_default();
    }
    let template_src = read_hf_chat_template(dir)?;
    let chat = chat_template(template_src, &tokenizer)?;
    Ok(LoadedModel { model, tokenizer, chat })
}

fn hf_model(dir: &Path, device: &Device, dtype: DType) -> Result<(Llama, LlamaConfig)> {
    let cfg = LlamaConfig::from_json_file(&dir.join("config.json"))?;
    // Shards against the index and shapes against the config, each error naming its file
    // (hub downloads are checked on fetch; a local folder is checked here).
    crate::source::check_checkpoint(dir)?;
    let files = safetensor_files(dir)?;
    // SAFETY: the files are memory-mapped read-only; a concurrent writer would corrupt the
    // tensors we read, which is the same contract every mmap-based loader has.
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files)? };
    let mut get = |name: &str| -> Result<Option<Tensor>> {
        match st.get(name) {
            Ok(_) => Ok(Some(st.load(name, device)?)),
            Err(_) => Ok(None),
        }
    };
    let mut cfg = cfg;
    if !cfg.tie_word_embeddings && st.get("lm_head.weight").is_err() {
        // Some exports omit the head of tied models without saying so in config.json.
        cfg.tie_word_embeddings = true;
    }
    let model = Llama::from_weights(&cfg, &mut get, device, dtype).with_context(|| format!("loading weights from {}", dir.display()))?;
    Ok((model, cfg))
}

fn safetensor_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index)?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", index.display()))?;
        let map = v.get("weight_map").and_then(|m| m.as_object()).with_context(|| format!("{}: no weight_map", index.display()))?;
        let mut files: Vec<String> = map.values().filter_map(|f| f.as_str().map(str::to_string)).collect();
        files.sort();
        files.dedup();
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join("model.safetensors");
    ensure!(single.exists(), "{}: neither model.safetensors nor model.safetensors.index.json", dir.display());
    Ok(vec![single])
}

/// `chat_template` from tokenizer_config.json (a string, or HF's list of named templates),
/// or from a `chat_template.jinja` file.
fn read_hf_chat_template(dir: &Path) -> Result<Option<String>> {
    let jinja = dir.join("chat_template.jinja");
    if jinja.exists() {
        return Ok(Some(std::fs::read_to_string(jinja)?));
    }
    let p = dir.join("tokenizer_config.json");
    if !p.exists() {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p)?).with_context(|| format!("parsing {}", p.display()))?;
    Ok(match v.get("chat_template") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .or_else(|| list.first())
            .and_then(|t| t.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_string),
        _ => None,
    })
}

/// The model's template when it has one; otherwise ChatML if the vocabulary has its markers,
/// else Llama-2's format.
fn chat_template(source: Option<String>, tok: &Tokenizer) -> Result<ChatTemplate> {
    let text = |id: Option<u32>| id.and_then(|i| tok.id_to_token(i)).unwrap_or_default();
    match source {
        Some(src) => ChatTemplate::jinja(&src, &text(tok.bos), &text(tok.eos.first().copied())),
        None if tok.token_to_id("<|im_start|>").is_some() => Ok(ChatTemplate::ChatMl),
        None => Ok(ChatTemplate::Llama2),
    }
}

/// GGUF name of an HF projection.
fn gguf_proj(name: &str) -> &'static str {
    match name {
        "q_proj" => "attn_q",
        "k_proj" => "attn_k",
        "v_proj" => "attn_v",
        "o_proj" => "attn_output",
        "gate_proj" => "ffn_gate",
        "up_proj" => "ffn_up",
        _ => "ffn_down",
    }
}

fn load_gguf(path: &Path, device: &Device, format: WeightFormat) -> Result<LoadedModel> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let ct = gguf_file::Content::read(&mut file).with_context(|| format!("reading GGUF header of {}", path.display()))?;
    let model = gguf_model(&ct, &mut file, path, device, format)?;
    let tokenizer = Tokenizer::from_gguf(&ct).with_context(|| path.display().to_string())?;
    let src = ct.metadata.get("tokenizer.chat_template").and_then(|v| v.to_string().ok().cloned());
    let chat = chat_template(src, &tokenizer)?;
    Ok(LoadedModel { model, tokenizer, chat })
}

/// The model in a GGUF file. llama.cpp's names: `attn_norm` is the input norm, `ffn_norm` the
/// norm before the MLP (Gemma's `pre_feedforward_layernorm`); Gemma's `post_attention_norm`
/// and `post_ffw_norm` norm the attention's and the MLP's outputs. llama.cpp's converter stores
/// Gemma's norm weights as `1 + w` (its RMSNorm multiplies by the weight as stored), which is
/// the f32 multiplier this model keeps for them, so they are read as they are.
fn gguf_model(ct: &gguf_file::Content, file: &mut File, path: &Path, device: &Device, format: WeightFormat) -> Result<Llama> {
    let cfg = LlamaConfig::from_gguf(ct).with_context(|| path.display().to_string())?;
    // llama.cpp stores q/k rows of `llama` models permuted for its interleaved RoPE; we use
    // HF's half-split layout, so those rows are put back.
    let permuted_qk = cfg.model_type.as_deref() == Some("llama");
    let dtype = match format {
        WeightFormat::Dense(d) => d,
        WeightFormat::Quantized => DType::F32,
    };
    let mut qt = |name: &str| -> Result<QTensor> {
        // Read on the CPU: rows are rearranged there before moving to the device.
        ct.tensor(file, name, &Device::Cpu).with_context(|| format!("{}: tensor `{name}`", path.display()))
    };
    let dense = |q: &QTensor| -> Result<Tensor> { Ok(q.dequantize(&Device::Cpu)?.to_device(device)?.to_dtype(dtype)?) };
    let quant = |q: QTensor| -> Result<BaseWeight> {
        if device.is_cpu() {
            return BaseWeight::quant(q);
        }
        let storage = QStorage::from_data(q.data()?, device, q.dtype())?;
        BaseWeight::quant(QTensor::new(storage, q.shape().clone())?)
    };
    // The GGUF blocks beside f32 weights (or as the quantised format's few-row path).
    let keep_blocks = device.is_cpu() && matches!(format, WeightFormat::Quantized | WeightFormat::Dense(DType::F32));
    let blocks = |q: &QTensor| -> Result<Option<Arc<QBlocks>>> {
        Ok(match keep_blocks {
            true => QBlocks::from_qtensor(q)?.map(Arc::new),
            false => None,
        })
    };
    let embed_q = qt("token_embd.weight")?;
    let embed = dense(&embed_q)?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let mut projs = Vec::with_capacity(7);
        for (name, _) in PROJECTIONS {
            let mut w = qt(&format!("blk.{i}.{}.weight", gguf_proj(name)))?;
            let heads = match name {
                "q_proj" => cfg.num_attention_heads,
                "k_proj" => cfg.num_kv_heads(),
                _ => 0,
            };
            if permuted_qk && heads > 0 {
                w = unpermute_rows(&w, heads)?;
            }
            let bias_name = format!("blk.{i}.{}.bias", gguf_proj(name));
            let bias = if ct.tensor_infos.contains_key(&bias_name) { Some(dense(&qt(&bias_name)?)?) } else { None };
            let blocks = blocks(&w)?;
            let base = match format {
                WeightFormat::Quantized => quant(w)?,
                WeightFormat::Dense(_) => BaseWeight::Dense(dense(&w)?),
            };
            projs.push(Proj { base, bias, loras: Default::default(), blocks, bf16: None });
        }
        let gemma = cfg.family() == Family::Gemma3;
        let mut norm = |name: &str| -> Result<Tensor> {
            let q = qt(&format!("blk.{i}.{name}.weight"))?;
            Ok(match gemma {
                true => q.dequantize(&Device::Cpu)?.to_device(device)?.to_dtype(DType::F32)?,
                false => dense(&q)?,
            })
        };
        let mut layer = Layer::llama(norm("attn_norm")?, norm("ffn_norm")?, projs);
        if cfg.has_qk_norm() {
            layer.q_norm = Some(norm("attn_q_norm")?);
            layer.k_norm = Some(norm("attn_k_norm")?);
        }
        if gemma {
            layer.attn_out_norm = Some(norm("post_attention_norm")?);
            layer.mlp_out_norm = Some(norm("post_ffw_norm")?);
        }
        layers.push(layer);
    }
    let norm = match cfg.family() == Family::Gemma3 {
        true => qt("output_norm.weight")?.dequantize(&Device::Cpu)?.to_device(device)?.to_dtype(DType::F32)?,
        false => dense(&qt("output_norm.weight")?)?,
    };
    let head_blocks = match ct.tensor_infos.contains_key("output.weight") {
        true => blocks(&qt("output.weight")?)?,
        false => blocks(&embed_q)?,
    };
    let lm_head = match (ct.tensor_infos.contains_key("output.weight"), format) {
        (true, WeightFormat::Quantized) => Some(quant(qt("output.weight")?)?),
        (true, WeightFormat::Dense(_)) => Some(BaseWeight::Dense(dense(&qt("output.weight")?)?)),
        // Tied head: for the quantised path keep the quantised embedding as the head's matmul.
        (false, WeightFormat::Quantized) => Some(quant(embed_q)?),
        (false, WeightFormat::Dense(_)) => None,
    };
    let mut model = Llama::assemble(cfg, device.clone(), dtype, embed, layers, norm, lm_head)?;
    model.head_blocks = head_blocks;
    Ok(model)
}

/// Undo llama.cpp's q/k row permutation: within each head, GGUF row `2i + j` is HF row
/// `j·(d/2) + i`. Rows are whole quantisation blocks, so this moves bytes, not values.
fn unpermute_rows(w: &QTensor, heads: usize) -> Result<QTensor> {
    let (rows, cols) = w.shape().dims2()?;
    ensure!(rows.is_multiple_of(heads) && (rows / heads).is_multiple_of(2), "cannot unpermute {rows} rows over {heads} heads");
    let data = w.data()?;
    ensure!(data.len().is_multiple_of(rows), "quantised rows are not byte-aligned");
    let row_bytes = data.len() / rows;
    let (hd, half) = (rows / heads, rows / heads / 2);
    let mut out = vec![0u8; data.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = h * hd + 2 * i + j;
                let dst = h * hd + j * half + i;
                out[dst * row_bytes..(dst + 1) * row_bytes].copy_from_slice(&data[src * row_bytes..(src + 1) * row_bytes]);
            }
        }
    }
    let storage = QStorage::from_data(Cow::Owned(out), &Device::Cpu, w.dtype())?;
    Ok(QTensor::new(storage, (rows, cols))?)
}
