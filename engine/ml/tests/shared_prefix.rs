//! `loglik` runs the token prefix that a question's choices share once and continues its KV
//! cache for each choice; `loglik_unshared` runs every sequence whole. Their results must agree.

mod common;

use candle_core::{DType, Device};
use syco_ml::generate::loglik_unshared;
use syco_ml::{loglik, LoadedModel, LoglikOut};

fn load(seed: u64) -> (tempfile::TempDir, LoadedModel) {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_hf_dir(dir.path(), seed);
    let m = LoadedModel::load(dir.path(), &Device::Cpu, DType::F32).unwrap();
    (dir, m)
}

/// Items of choices (the tiny tokenizer: word `wN` is token N, BOS 1, other words `<unk>` 0).
fn items() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        // Four choices of different lengths, one a single token.
        ("w5 w9 w13", vec![" w4", " w8 w9 w10", " w20 w21", " w30 w31 w32 w33"]),
        // Every choice's first token merges with the context's last word ("w1" + "3" = w13):
        // the shared prefix <s> w5 w13 reaches past the context boundary (<s> w5).
        ("w5 w1", vec!["3 w7", "3 w8", "3 w9 w10", "3 w11"]),
        // Some choices merge across the boundary, some do not.
        ("w5 w", vec!["9 w10", " w11", "12", " w13 w14"]),
        // A group of one.
        ("w40 w41", vec![" w42"]),
        // An empty choice: its sequence is all context, and the prefix stops a token short.
        ("w7 w8", vec!["", " w9", " w9 w10", " w11"]),
        // Empty contexts: with BOS the sequences share it, without they share nothing.
        ("", vec!["w3 w4", "w5", "w6 w7 w8", "w3 w9"]),
        // A long context, to pad the others in a batch.
        ("w20 w21 w22 w23 w24 w25 w26 w27 w28 w29 w30", vec![" w31", " w32 w33", " w34", " w35 w36 w37"]),
    ]
}

/// The items' pairs, the choices of different items interleaved (a context's pairs need not
/// be adjacent), with each pair's item.
fn pairs(items: &[(&str, Vec<&str>)]) -> (Vec<(String, String)>, Vec<usize>) {
    let mut out = vec![];
    let most = items.iter().map(|(_, c)| c.len()).max().unwrap();
    for j in 0..most {
        for (k, (ctx, choices)) in items.iter().enumerate() {
            if let Some(c) = choices.get(j) {
                out.push(((ctx.to_string(), c.to_string()), k));
            }
        }
    }
    out.into_iter().unzip()
}

/// The choice of item `k` with the highest score.
fn chosen(out: &[LoglikOut], item_of: &[usize], k: usize, score: fn(&LoglikOut) -> f64) -> usize {
    let scores = out.iter().zip(item_of).filter(|(_, &i)| i == k).map(|(o, _)| score(o));
    scores.enumerate().fold((0, f64::NEG_INFINITY), |best, (i, x)| if x > best.1 { (i, x) } else { best }).0
}

/// Counts and greedy flags equal, sums within f32 noise.
fn compare(shared: &[LoglikOut], alone: &[LoglikOut], what: &str) {
    assert_eq!(shared.len(), alone.len());
    for (k, (s, a)) in shared.iter().zip(alone).enumerate() {
        assert_eq!(
            (s.cont_count, s.ctx_count, s.cont_greedy),
            (a.cont_count, a.ctx_count, a.cont_greedy),
            "{what}, pair {k}: {s:?} vs {a:?}"
        );
        let d = (s.cont_sum - a.cont_sum).abs().max((s.ctx_sum - a.ctx_sum).abs());
        assert!(d < 1e-4, "{what}, pair {k}: {s:?} vs {a:?}");
    }
}

/// Shared and unshared scoring agree in every field: token counts and greedy flags exactly, sums
/// within 1e-4, and so each item's chosen answer. The sums are not bit-identical: they differ by
/// up to 1e-6 here (a few f32 roundings of the hidden states), as much as the unshared path
/// differs from itself between batch sizes 1 and 8, since a matmul's summation can depend on
/// the shape of the batch (the shared path's passes have other shapes). At batch 1 with BOS
/// they happen to be equal bit for bit.
#[test]
fn shared_prefix_scoring_equals_scoring_each_sequence_whole() {
    let (_d, mut m) = load(11);
    let items = items();
    let (pairs, item_of) = pairs(&items);
    // A sequence of BOS alone: nothing to score.
    let mut with_lone = pairs.clone();
    with_lone.push((String::new(), String::new()));
    let reference = loglik_unshared(&m, &with_lone, 4).unwrap();
    assert_eq!(reference.last().unwrap(), &LoglikOut { cont_sum: 0.0, cont_count: 0, ctx_sum: 0.0, ctx_count: 0, cont_greedy: true });
    for batch in [1, 3, 8] {
        let alone = loglik_unshared(&m, &with_lone, batch).unwrap();
        let shared = loglik(&m, &with_lone, batch).unwrap();
        compare(&shared, &alone, &format!("batch {batch}"));
        // Each item's chosen answer, by the continuation's sum and by the mean over all tokens.
        let cont_sum: fn(&LoglikOut) -> f64 = |o| o.cont_sum;
        for (k, score) in (0..items.len()).flat_map(|k| [(k, cont_sum), (k, LoglikOut::mean_all)]) {
            assert_eq!(chosen(&shared, &item_of, k, score), chosen(&alone, &item_of, k, score), "item {k}, batch {batch}");
        }
    }
    // The boundary cases, as the unshared path counts them: a merge moves the token to the
    // continuation, an empty choice has none.
    let counts = |ctx: &str, cont: &str| {
        let o = reference[pairs.iter().position(|(c, x)| c == ctx && x == cont).unwrap()];
        (o.ctx_count, o.cont_count)
    };
    assert_eq!(counts("w5 w1", "3 w7"), (1, 2));
    assert_eq!(counts("w5 w", " w11"), (2, 1));
    assert_eq!(counts("w7 w8", ""), (2, 0));

    // Without BOS the empty context's sequences share no first token: each runs alone.
    m.tokenizer.add_bos = false;
    for batch in [1, 3, 8] {
        let shared = loglik(&m, &pairs, batch).unwrap();
        let alone = loglik_unshared(&m, &pairs, batch).unwrap();
        compare(&shared, &alone, &format!("no BOS, batch {batch}"));
    }
}
