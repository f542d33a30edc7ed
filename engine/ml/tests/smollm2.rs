//! Checks against the real SmolLM2-135M-Instruct GGUF (env `SYCO_SMOLLM2_GGUF` or
//! /work/models/SmolLM2-135M-Instruct.Q4_1.gguf); skipped with a notice when absent.

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use std::path::PathBuf;
use syco_ml::{generate, ChatMessage, GenerationConfig, LoadedModel, WeightFormat};

fn gguf() -> Option<PathBuf> {
    let p = std::env::var("SYCO_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    if p.exists() {
        Some(p)
    } else {
        eprintln!("notice: {} not found; SmolLM2 checks skipped", p.display());
        None
    }
}

fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

/// Our module's last-position logits against candle-transformers' `quantized_llama`.
/// The quantised path runs the same kernels, so it must agree closely; the dense f32 path
/// multiplies by dequantised weights instead of quantising activations to Q8, so it agrees
/// within a looser bound and picks the same top token.
#[test]
fn logits_match_candle_quantized_llama() {
    let Some(path) = gguf() else { return };
    let dev = Device::Cpu;
    let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let q = LoadedModel::load_with(&path, &dev, WeightFormat::Quantized).unwrap();
    let ids = q.tokenizer.encode(prompt).unwrap();
    let input = Tensor::new(ids.as_slice(), &dev).unwrap().unsqueeze(0).unwrap();

    let mut f = std::fs::File::open(&path).unwrap();
    let ct = gguf_file::Content::read(&mut f).unwrap();
    let mut reference = candle_transformers::models::quantized_llama::ModelWeights::from_gguf(ct, &mut f, &dev).unwrap();
    let want = reference.forward(&input, 0).unwrap().squeeze(0).unwrap().to_dtype(DType::F32).unwrap();

    let last = |m: &LoadedModel| {
        let l = m.model.forward(&input, None, false).unwrap().squeeze(0).unwrap();
        l.get(ids.len() - 1).unwrap()
    };
    let got_q = last(&q);
    let spread = (want.max(0).unwrap() - want.min(0).unwrap()).unwrap().to_scalar::<f32>().unwrap();
    let dq = max_abs(&got_q, &want);
    eprintln!("quantised path: max |Δlogit| = {dq:.5} (logit range {spread:.2})");
    assert!(dq < 1e-2, "quantised path differs by {dq}");

    let dense = LoadedModel::load(&path, &dev, DType::F32).unwrap();
    let got_d = last(&dense);
    let dd = max_abs(&got_d, &want);
    eprintln!("dense f32 path: max |Δlogit| = {dd:.5}");
    assert!(dd < 0.05 * spread, "dense path differs by {dd} (range {spread})");
    let top = |t: &Tensor| t.argmax(0).unwrap().to_scalar::<u32>().unwrap();
    assert_eq!(top(&got_d), top(&want));
}

#[test]
fn greedy_answer_names_paris() {
    let Some(path) = gguf() else { return };
    let m = LoadedModel::load_with(&path, &Device::Cpu, WeightFormat::Quantized).unwrap();
    assert!(!m.tokenizer.add_bos);
    let prompt = m.chat.render(&[ChatMessage::new("user", "What is the capital of France?")], true).unwrap();
    assert!(prompt.starts_with("<|im_start|>system\n"), "{prompt}");
    let ids = m.tokenizer.encode("<|im_start|>user\n").unwrap();
    assert_eq!(ids.len(), 3, "SmolLM2 pre-tokenizer: {ids:?}");
    let cfg = GenerationConfig { max_new_tokens: 24, ..Default::default() };
    let out = generate(&m, &[prompt], &cfg).unwrap();
    eprintln!("answer: {:?}", out[0]);
    assert!(out[0].contains("Paris"), "{:?}", out[0]);
}
