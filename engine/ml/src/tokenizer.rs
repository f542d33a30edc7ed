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
    /// SentencePiece vocabularies (`tokenizer.ggml.model = llama`) are read for Gemma 3 only
    /// (`gemma_spm`, as transformers reads that GGUF); others (Llama-2's) are refused by name:
    /// guessing their merges would give other ids than the model's.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self> {
        let md = &content.metadata;
        let kind = md.get("tokenizer.ggml.model").and_then(|v| v.to_string().ok().cloned()).unwrap_or_default();
        let arch = md.get("general.architecture").and_then(|v| v.to_string().ok().cloned()).unwrap_or_default();
        let id = |k: &str| md.get(k).and_then(|v| v.to_u32().ok());
        let bos = id("tokenizer.ggml.bos_token_id");
        if kind == "llama" && arch == "gemma3" {
            let inner = gemma_spm(content)?;
            // llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise.
            let add_bos = md.get("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(true);
            let mut eos: Vec<u32> = id("tokenizer.ggml.eos_token_id").into_iter().collect();
            eos.extend(id("tokenizer.ggml.eot_token_id").filter(|t| !eos.contains(t)));
            return Ok(Tokenizer { inner, add_bos: add_bos && bos.is_some(), bos, eos });
        }
        if kind != "gpt2" {
            bail!(
                "the GGUF's tokenizer model `{kind}` ({arch}) is not supported: syco reads GGUF vocabularies of the `gpt2` (BPE) \
                 kind, and Gemma 3's SentencePiece one; use the model's HF folder with its tokenizer.json instead"
            );
        }
        let mut inner = tokenizers::Tokenizer::from_gguf(content).map_err(|e| anyhow!("building the tokenizer from GGUF metadata: {e}"))?;
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

/// Gemma 3's SentencePiece vocabulary from GGUF metadata, built as transformers builds it for
/// that GGUF (its `GemmaTokenizer`): a BPE over the whole text with spaces written `▁`, byte
/// fallback, and merges recovered from the vocabulary, since the file lists none. Every split
/// of a token into two vocabulary tokens is a merge; merges rank by the merged token's place in
/// the file (earlier first: Gemma's scores do not follow its merge order), then by longer left
/// and right pieces, ties kept in vocabulary order. Whitespace tokens the file spells with
/// spaces are respelled with `▁`. Control tokens (type 3) are special added tokens, user-defined
/// ones (type 4) plain added tokens, both matched whole.
fn gemma_spm(content: &gguf_file::Content) -> Result<tokenizers::Tokenizer> {
    use std::collections::HashMap;
    use tokenizers::decoders::byte_fallback::ByteFallback;
    use tokenizers::decoders::fuse::Fuse;
    use tokenizers::decoders::sequence::Sequence as DecoderSequence;
    use tokenizers::normalizers::replace::Replace;
    use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper};

    let md = &content.metadata;
    let list = |k: &str| md.get(k).and_then(|v| v.to_vec().ok()).with_context(|| format!("GGUF metadata lacks `{k}`"));
    let tokens: Vec<String> = list("tokenizer.ggml.tokens")?
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| anyhow!("tokenizer.ggml.tokens: {e}")))
        .collect::<Result<_>>()?;
    let types: Vec<i64> = match md.get("tokenizer.ggml.token_type").and_then(|v| v.to_vec().ok()) {
        Some(v) => v.iter().map(|t| t.to_i32().map(i64::from).unwrap_or(1)).collect(),
        None => vec![1; tokens.len()],
    };
    let tokens: Vec<String> =
        tokens.into_iter().map(|t| if t.contains(' ') && t.trim().is_empty() { "\u{2581}".repeat(t.chars().count()) } else { t }).collect();
    // A token listed twice keeps its last id, as a dict built in order does.
    let mut vocab: HashMap<String, u32> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        vocab.insert(t.clone(), i as u32);
    }
    // Each distinct token once, in order of first appearance; its rank is minus its last id.
    let mut seen = std::collections::HashSet::with_capacity(tokens.len());
    let mut merges: Vec<(&str, &str, i64)> = Vec::new();
    for t in &tokens {
        if !seen.insert(t.as_str()) {
            continue;
        }
        let score = -(vocab[t] as i64);
        let mut local: Vec<(&str, &str, i64)> = t
            .char_indices()
            .skip(1)
            .map(|(i, _)| (&t[..i], &t[i..]))
            .filter(|(l, r)| vocab.contains_key(*l) && vocab.contains_key(*r))
            .map(|(l, r)| (l, r, score))
            .collect();
        local.sort_by_key(|(l, r, _)| (vocab[*l], vocab[*r]));
        merges.extend(local);
    }
    // Stable, descending by (score, left length, right length) in characters.
    merges.sort_by(|a, b| {
        let key = |m: &(&str, &str, i64)| (m.2, m.0.chars().count(), m.1.chars().count());
        key(b).cmp(&key(a))
    });
    let merges: Vec<(String, String)> = merges.into_iter().map(|(l, r, _)| (l.to_string(), r.to_string())).collect();
    let unk = tokens.get(3).filter(|t| t.as_str() == "<unk>").cloned().unwrap_or_else(|| "<unk>".into());
    let bpe = tokenizers::models::bpe::BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<tokenizers::models::bpe::Vocab>(), merges)
        .unk_token(unk)
        .fuse_unk(true)
        .byte_fallback(true)
        .build()
        .map_err(|e| anyhow!("building Gemma's BPE: {e}"))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_normalizer(Some(NormalizerWrapper::Replace(Replace::new(" ", "\u{2581}").map_err(|e| anyhow!("{e}"))?)))
        .map_err(|e| anyhow!("{e}"))?;
    tok.with_decoder(Some(DecoderWrapper::Sequence(DecoderSequence::new(vec![
        DecoderWrapper::Replace(Replace::new("\u{2581}", " ").map_err(|e| anyhow!("{e}"))?),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ]))));
    let added = |ty: i64, special: bool| -> Vec<AddedToken> {
        tokens.iter().zip(&types).filter(|(_, &t)| t == ty).map(|(s, _)| AddedToken::from(s.clone(), special).normalized(false)).collect()
    };
    tok.add_special_tokens(added(3, true)).map_err(|e| anyhow!("adding Gemma's control tokens: {e}"))?;
    tok.add_tokens(added(4, false)).map_err(|e| anyhow!("adding Gemma's user-defined tokens: {e}"))?;
    Ok(tok)
}
