//! Tokenizer wrapper: HF `tokenizer.json` or the GGUF's embedded vocabulary, with BOS/EOS
//! handling made explicit (`add_bos`) so scoring and generation agree on the first token.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use std::path::Path;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::SplitDelimiterBehavior;

/// llama.cpp's Llama-3 (`llama-bpe`) pre-tokenizer regex.
const REGEX_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Prepend `bos` when encoding a text that does not already start with it.
    pub add_bos: bool,
    pub bos: Option<u32>,
    /// Token ids that end a generation.
    pub eos: Vec<u32>,
}

impl Tokenizer {
    /// From an HF `tokenizer.json`; BOS/EOS from the sibling `tokenizer_config.json` when present.
    pub fn from_file(path: &Path) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| anyhow!("loading tokenizer {}: {e}", path.display()))?;
        let cfg: Option<serde_json::Value> = path
            .parent()
            .map(|d| d.join("tokenizer_config.json"))
            .filter(|p| p.exists())
            .map(|p| -> Result<serde_json::Value> {
                let text = std::fs::read_to_string(&p)?;
                serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
            })
            .transpose()?;
        Self::from_hf(inner, cfg.as_ref())
    }

    /// `tokenizer_config` supplies `bos_token`/`eos_token`/`add_bos_token` as HF writes them.
    pub fn from_hf(inner: tokenizers::Tokenizer, tokenizer_config: Option<&serde_json::Value>) -> Result<Self> {
        let token_of = |key: &str| -> Option<u32> {
            let v = tokenizer_config?.get(key)?;
            let s = v.as_str().or_else(|| v.get("content").and_then(|c| c.as_str()))?;
            inner.token_to_id(s)
        };
        let bos = token_of("bos_token");
        let eos: Vec<u32> = token_of("eos_token").into_iter().collect();
        // The tokenizer's own post-processor is the ground truth for "adds BOS": compare the
        // encodings with and without special tokens.
        let with = inner.encode("a", true).map_err(|e| anyhow!("{e}"))?;
        let without = inner.encode("a", false).map_err(|e| anyhow!("{e}"))?;
        let post_bos = (with.get_ids().len() > without.get_ids().len() && with.get_ids().first() != without.get_ids().first())
            .then(|| with.get_ids()[0]);
        let add_bos = tokenizer_config.and_then(|c| c.get("add_bos_token")).and_then(|v| v.as_bool()).unwrap_or(post_bos.is_some());
        let bos = bos.or(post_bos);
        Ok(Tokenizer { inner, add_bos: add_bos && bos.is_some(), bos, eos })
    }

    /// From GGUF metadata (gpt2-style BPE vocabularies), with llama.cpp's pre-tokenizers for the
    /// `pre` names candle maps to plain GPT-2 (smollm, refact, gpt-2, llama-bpe).
    ///
    /// SentencePiece vocabularies (`tokenizer.ggml.model = llama`: Llama-2's and Gemma's GGUFs)
    /// are refused by name: rebuilding their merges from tokens and scores as transformers does
    /// is not implemented, and guessing them would give other ids than the model's.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self> {
        let kind = content.metadata.get("tokenizer.ggml.model").and_then(|v| v.to_string().ok().cloned()).unwrap_or_default();
        if kind != "gpt2" {
            let arch = content.metadata.get("general.architecture").and_then(|v| v.to_string().ok().cloned()).unwrap_or_default();
            bail!(
                "the GGUF's tokenizer model `{kind}` ({arch}) is not supported: syco reads GGUF vocabularies of the `gpt2` (BPE) \
                 kind only; use the model's HF folder with its tokenizer.json instead"
            );
        }
        let mut inner = tokenizers::Tokenizer::from_gguf(content).map_err(|e| anyhow!("building the tokenizer from GGUF metadata: {e}"))?;
        let md = &content.metadata;
        let pre = md.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok().cloned()).unwrap_or_default();
        if let Some(p) = pre_tokenizer_for(&pre)? {
            inner.with_pre_tokenizer(Some(p));
        }
        // llama.cpp looks a whole pre-token up in the vocabulary before merging for Llama-3
        // (HF's `ignore_merges`); the vocab GGUF does not record the flag.
        if pre == "llama-bpe" || pre == "llama3" {
            if let tokenizers::models::ModelWrapper::BPE(bpe) = inner.get_model() {
                let mut bpe = bpe.clone();
                bpe.ignore_merges = true;
                inner.with_model(bpe);
            }
        }
        // candle's post-processor would add BOS itself; we add it explicitly instead.
        inner.with_post_processor(None::<tokenizers::processors::PostProcessorWrapper>);
        let id = |k: &str| md.get(k).and_then(|v| v.to_u32().ok());
        let bos = id("tokenizer.ggml.bos_token_id");
        let add_bos = md.get("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(false);
        let mut eos: Vec<u32> = id("tokenizer.ggml.eos_token_id").into_iter().collect();
        eos.extend(id("tokenizer.ggml.eot_token_id").filter(|t| !eos.contains(t)));
        Ok(Tokenizer { inner, add_bos: add_bos && bos.is_some(), bos, eos })
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Token ids of `text`, special-token strings recognised, BOS prepended when `add_bos` and
    /// the text does not already start with it (chat templates often render it).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode_plain(text)?;
        if let (true, Some(b)) = (self.add_bos, self.bos) {
            if ids.first() != Some(&b) {
                ids.insert(0, b);
            }
        }
        Ok(ids)
    }

    /// Token ids of `text` without BOS/EOS.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.inner.encode(text, false).map_err(|e| anyhow!("tokenizing: {e}"))?.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner.decode(ids, skip_special).map_err(|e| anyhow!("decoding: {e}"))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` name, where candle's differs.
fn pre_tokenizer_for(pre: &str) -> Result<Option<PreTokenizerWrapper>> {
    Ok(match pre {
        // llama.cpp: `\p{N}` then the GPT-2 regex; no prefix space.
        "smollm" | "refact" => Some(PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
        ]))),
        "gpt-2" | "gpt2" => Some(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true))),
        "llama-bpe" => {
            let split = Split::new(SplitPattern::Regex(REGEX_LLAMA3.into()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| anyhow!("llama-bpe regex: {e}"))?;
            Some(PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Split(split),
                PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false)),
            ])))
        }
        _ => None,
    })
}
