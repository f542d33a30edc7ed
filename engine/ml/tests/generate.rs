//! Generation and scoring on a tiny random model loaded from an HF directory.

mod common;

use candle_core::{DType, Device, Tensor};
use syco_ml::{generate, loglik, ChatMessage, GenerationConfig, LoadedModel};

fn load(seed: u64) -> (tempfile::TempDir, LoadedModel) {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_hf_dir(dir.path(), seed);
    let m = LoadedModel::load(dir.path(), &Device::Cpu, DType::F32).unwrap();
    (dir, m)
}

fn prompts() -> Vec<String> {
    vec!["w5 w9 w13".into(), "w7".into(), "w20 w21 w22 w23 w24 w25 w26".into(), "w40 w41".into()]
}

#[test]
fn loads_tokenizer_and_template_from_the_directory() {
    let (_d, m) = load(1);
    assert!(m.tokenizer.add_bos);
    assert_eq!(m.tokenizer.bos, Some(1));
    assert_eq!(m.tokenizer.eos, vec![2]);
    assert_eq!(m.tokenizer.encode("w5 w9").unwrap(), vec![1, 5, 9]);
    // A text that renders BOS itself gets no second one.
    assert_eq!(m.tokenizer.encode("<s> w5").unwrap(), vec![1, 5]);
    let s = m.chat.render(&[ChatMessage::new("user", " w5 ")], true).unwrap();
    assert_eq!(s, "<s>user: w5\nassistant:");
}

#[test]
fn greedy_generation_with_kv_cache_equals_full_recomputation() {
    let (_d, m) = load(2);
    let cfg = GenerationConfig { max_new_tokens: 6, batch_size: 1, ..Default::default() };
    let text = &generate(&m, &prompts()[..1], &cfg).unwrap()[0];
    // Recompute greedily without a cache: full forward over the growing sequence each step.
    let mut ids = m.tokenizer.encode(&prompts()[0]).unwrap();
    let mut new = Vec::new();
    for _ in 0..6 {
        let t = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = m.model.forward(&t, None, false).unwrap();
        let last = logits.squeeze(0).unwrap().get(ids.len() - 1).unwrap();
        let next = last.argmax(0).unwrap().to_scalar::<u32>().unwrap();
        if m.tokenizer.eos.contains(&next) {
            break;
        }
        ids.push(next);
        new.push(next);
    }
    assert_eq!(text, &m.tokenizer.decode(&new, true).unwrap());
    assert!(!new.is_empty());
}

#[test]
fn batched_generation_equals_unbatched() {
    let (_d, m) = load(3);
    let one = GenerationConfig { max_new_tokens: 8, batch_size: 1, ..Default::default() };
    let many = GenerationConfig { batch_size: 4, ..one.clone() };
    assert_eq!(generate(&m, &prompts(), &one).unwrap(), generate(&m, &prompts(), &many).unwrap());
    // Sampling: each prompt's random stream is independent of its batch.
    let s1 = GenerationConfig { temperature: 0.8, top_p: 0.9, repeat_penalty: 1.3, seed: 7, ..one };
    let s4 = GenerationConfig { batch_size: 4, ..s1.clone() };
    assert_eq!(generate(&m, &prompts(), &s1).unwrap(), generate(&m, &prompts(), &s4).unwrap());
}

#[test]
fn stop_strings_cut_the_output() {
    let (_d, m) = load(4);
    let cfg = GenerationConfig { max_new_tokens: 8, ..Default::default() };
    let full = generate(&m, &prompts()[..1], &cfg).unwrap()[0].clone();
    let words: Vec<&str> = full.split(' ').collect();
    assert!(words.len() >= 3, "{full}");
    let stop = GenerationConfig { stop: vec![words[2].to_string()], ..cfg };
    let cut = &generate(&m, &prompts()[..1], &stop).unwrap()[0];
    assert!(!cut.contains(words[2]) && full.starts_with(cut.as_str()), "{cut:?} vs {full:?}");
}

#[test]
fn batched_loglik_equals_unbatched_and_counts_tokens() {
    let (_d, m) = load(5);
    let pairs: Vec<(String, String)> = vec![
        ("w5 w9 w13".into(), " w4".into()),
        ("w7".into(), " w8 w9 w10".into()),
        ("w20 w21 w22 w23 w24".into(), " w25 w26".into()),
        ("".into(), "w3 w4".into()),
    ];
    let one = loglik(&m, &pairs, 1).unwrap();
    let four = loglik(&m, &pairs, 4).unwrap();
    for (a, b) in one.iter().zip(&four) {
        assert!((a.cont_sum - b.cont_sum).abs() < 1e-4 && (a.ctx_sum - b.ctx_sum).abs() < 1e-4, "{a:?} {b:?}");
        assert_eq!((a.cont_count, a.ctx_count), (b.cont_count, b.ctx_count));
    }
    // BOS + 3 context tokens: 3 scored context tokens after the first, 1 continuation token.
    assert_eq!((one[0].ctx_count, one[0].cont_count), (3, 1));
    assert_eq!((one[1].ctx_count, one[1].cont_count), (1, 3));
    // Empty context: only BOS is context, so nothing is scored there.
    assert_eq!((one[3].ctx_count, one[3].cont_count), (0, 2));
    // Direct check of one value: log p(w4 | <s> w5 w9 w13).
    let ids = Tensor::new(&[[1u32, 5, 9, 13]], &Device::Cpu).unwrap();
    let logits = m.model.forward(&ids, None, false).unwrap().squeeze(0).unwrap().get(3).unwrap();
    let lp = candle_nn::ops::log_softmax(&logits, 0).unwrap().get(4).unwrap().to_scalar::<f32>().unwrap();
    assert!((lp as f64 - one[0].cont_sum).abs() < 1e-4);
    assert!(one.iter().all(|o| o.cont_sum < 0.0 && o.mean_all() < 0.0));
}

#[test]
fn sharded_safetensors_load_like_a_single_file() {
    let (dir, single) = load(6);
    let sharded = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(dir.path().join(f), sharded.path().join(f)).unwrap();
    }
    let all = candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    let mut names: Vec<&String> = all.keys().collect();
    names.sort();
    let mut weight_map = serde_json::Map::new();
    let mut shards = [std::collections::HashMap::new(), std::collections::HashMap::new()];
    for (i, n) in names.iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i % 2 + 1);
        weight_map.insert(n.to_string(), file.into());
        shards[i % 2].insert(n.to_string(), all[*n].clone());
    }
    for (i, s) in shards.iter().enumerate() {
        candle_core::safetensors::save(s, sharded.path().join(format!("model-0000{}-of-00002.safetensors", i + 1))).unwrap();
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(sharded.path().join("model.safetensors.index.json"), index.to_string()).unwrap();
    let m = LoadedModel::load(sharded.path(), &Device::Cpu, DType::F32).unwrap();
    let ids = Tensor::new(&[[1u32, 5, 9]], &Device::Cpu).unwrap();
    let a = single.model.forward(&ids, None, false).unwrap();
    let b = m.model.forward(&ids, None, false).unwrap();
    assert_eq!((a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap(), 0.0);
}

/// With bf16 products, scoring is close to f32 (operands rounded to 8 significant bits), a
/// sequence scores the same alone or batched (every output element is computed the same way
/// whatever the rows), generation too, and switching back restores f32 exactly.
#[test]
fn bf16_products_score_close_to_f32_and_batching_does_not_change_them() {
    let (_d, mut m) = load(5);
    let pairs: Vec<(String, String)> = vec![
        ("w5 w9 w13".into(), " w4".into()),
        ("w7".into(), " w8 w9 w10".into()),
        ("w20 w21 w22 w23 w24".into(), " w25 w26".into()),
        ("w40 w41".into(), " w42".into()),
    ];
    let exact = loglik(&m, &pairs, 4).unwrap();
    m.model.set_bf16_products(true).unwrap();
    assert!(m.model.bf16_products());
    let one = loglik(&m, &pairs, 1).unwrap();
    let four = loglik(&m, &pairs, 4).unwrap();
    for ((a, b), e) in one.iter().zip(&four).zip(&exact) {
        assert!((a.cont_sum - b.cont_sum).abs() < 1e-5 && (a.ctx_sum - b.ctx_sum).abs() < 1e-5, "{a:?} {b:?}");
        let rel = (a.cont_sum - e.cont_sum).abs() / e.cont_sum.abs();
        assert!(rel < 2e-2, "bf16 {a:?} vs f32 {e:?}");
        assert!(a.cont_sum != e.cont_sum, "bf16 products should round something");
    }
    let cfg = GenerationConfig { max_new_tokens: 6, batch_size: 4, ..Default::default() };
    let batched = generate(&m, &prompts(), &cfg).unwrap();
    let alone: Vec<String> =
        prompts().into_iter().flat_map(|p| generate(&m, &[p], &GenerationConfig { batch_size: 1, ..cfg.clone() }).unwrap()).collect();
    assert_eq!(batched, alone);
    m.model.set_bf16_products(false).unwrap();
    assert!(!m.model.bf16_products());
    let back = loglik(&m, &pairs, 4).unwrap();
    for (a, e) in back.iter().zip(&exact) {
        assert_eq!(a.cont_sum, e.cont_sum);
    }
}

/// Choices that share a context are scored from one pass over it (its KV cache copied to each
/// continuation): the sums, greedy flags and token counts equal scoring each whole sequence on
/// its own with a full forward pass, whatever the batch.
#[test]
fn shared_context_scoring_equals_scoring_each_sequence_alone() {
    let (_d, m) = load(6);
    let ctx_a: Vec<u32> = vec![1, 5, 9, 13, 17];
    let ctx_b: Vec<u32> = vec![1, 40, 41];
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = vec![
        (ctx_a.clone(), vec![20]),
        (ctx_a.clone(), vec![21, 22, 23]),
        (ctx_b.clone(), vec![30, 31]),
        (ctx_a.clone(), vec![24, 25]),
        (ctx_b.clone(), vec![32]),
        (vec![7], vec![8, 9, 10, 11]),
    ];
    let reference: Vec<(f64, usize)> = pairs
        .iter()
        .map(|(ctx, cont)| {
            let whole: Vec<u32> = ctx.iter().chain(cont).copied().collect();
            let lp = &syco_ml::token_logprobs(&m, std::slice::from_ref(&whole), 1).unwrap()[0];
            (lp[ctx.len() - 1..].iter().map(|&x| x as f64).sum(), cont.len())
        })
        .collect();
    for batch in [1, 2, 8] {
        let got = syco_ml::continuation_logliks(&m, &pairs, batch).unwrap();
        for (k, (g, (want, n))) in got.iter().zip(&reference).enumerate() {
            assert_eq!(g.tokens, *n, "pair {k}");
            assert!((g.sum - want).abs() < 1e-4, "pair {k}, batch {batch}: shared {} vs alone {want}", g.sum);
        }
    }
    // The greedy flag: a continuation made of the model's own argmax tokens is greedy.
    let mut greedy_cont = vec![];
    let mut seq = ctx_a.clone();
    for _ in 0..3 {
        let t = Tensor::new(seq.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = m.model.forward(&t, None, false).unwrap();
        let next = logits.squeeze(0).unwrap().get(seq.len() - 1).unwrap().argmax(0).unwrap().to_scalar::<u32>().unwrap();
        seq.push(next);
        greedy_cont.push(next);
    }
    let got = syco_ml::continuation_logliks(&m, &[(ctx_a.clone(), greedy_cont), (ctx_a, vec![20, 21, 22])], 2).unwrap();
    assert!(got[0].greedy, "the argmax continuation is greedy");
}
