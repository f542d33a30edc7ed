//! A tiny random Llama written as an HF directory (config.json, model.safetensors, a
//! word-level tokenizer.json), so loading, generation and scoring run in milliseconds.

use candle_core::{DType, Device};
use std::collections::HashMap;
use std::path::Path;
use syco_ml::{Llama, LlamaConfig};

pub const VOCAB: usize = 64;

pub fn write_tiny_hf_dir(dir: &Path, seed: u64) {
    let mut cfg = LlamaConfig::tiny(VOCAB);
    cfg.bos_token_id = Some(syco_ml::config::TokenIds::One(1));
    cfg.eos_token_id = Some(syco_ml::config::TokenIds::One(2));
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let model = Llama::random(&cfg, seed, &Device::Cpu, DType::F32).unwrap();
    let tensors: HashMap<String, candle_core::Tensor> = model.named_tensors().unwrap().into_iter().collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();

    let mut vocab = serde_json::Map::new();
    for (i, w) in ["<unk>", "<s>", "</s>"].iter().enumerate() {
        vocab.insert(w.to_string(), i.into());
    }
    for i in 3..VOCAB {
        vocab.insert(format!("w{i}"), i.into());
    }
    let special = |id: u32, s: &str| {
        serde_json::json!({"id": id, "content": s, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    let tc = serde_json::json!({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true,
        "chat_template": "{% for m in messages %}{{ bos_token }}{{ m['role'] }}: {{ m['content'].strip() }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"});
    std::fs::write(dir.join("tokenizer_config.json"), tc.to_string()).unwrap();
}
