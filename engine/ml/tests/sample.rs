//! Sampled decoding (`syco_ml::sample`): temperature + top-p against transformers' warpers, the
//! draw's frequencies, and `sample_n` (shared prompt, KV cache copied to each sample) against
//! sampling each (prompt, seed) alone and from scratch without a cache.

mod common;

use candle_core::{DType, Device, Tensor};
use syco_data::rng::SplitMix64;
use syco_ml::{generate_tokens, sample_n, sample_token, warped_distribution, GenerationConfig, LoadedModel, SampleConfig};

fn load(seed: u64) -> (tempfile::TempDir, LoadedModel) {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_hf_dir(dir.path(), seed);
    let m = LoadedModel::load(dir.path(), &Device::Cpu, DType::F32).unwrap();
    (dir, m)
}

/// (a) The kept tokens and their renormalised probabilities equal what transformers'
/// `TemperatureLogitsWarper` + `TopPLogitsWarper` leave (tests/golden/sampling/make_golden.py),
/// and, for ties at the boundary, the stable-descending rule written by hand there.
#[test]
fn warping_matches_transformers_warpers() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/sampling/warp.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        // JSON has no infinities: the fixture writes a suppressed token's -inf logit as null.
        let logits: Vec<f32> = c["logits"].as_array().unwrap().iter().map(|x| x.as_f64().map_or(f32::NEG_INFINITY, |x| x as f32)).collect();
        let (t, p) = (c["temperature"].as_f64().unwrap(), c["top_p"].as_f64().unwrap());
        let kept: Vec<u32> = c["kept"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let probs: Vec<f64> = c["probs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let got = warped_distribution(&logits, t, p);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), kept, "{name}: kept tokens");
        // `x - max` is rounded to f32 before the f64 exponential (as generate always did), so
        // probabilities agree to f32's precision, not f64's.
        for ((tok, g), w) in got.iter().zip(&probs) {
            assert!((g - w).abs() < 1e-6, "{name}: token {tok}: {g} vs {w}");
        }
        assert!((got.iter().map(|g| g.1).sum::<f64>() - 1.0).abs() < 1e-12, "{name}");
    }
}

#[test]
fn greedy_and_degenerate_warping() {
    let l = [0.5f32, 3.0, 3.0, -1.0];
    assert_eq!(warped_distribution(&l, 0.0, 0.9), vec![(1, 1.0)]);
    let mut rng = SplitMix64::new(1);
    assert_eq!(sample_token(&l, 0.0, 1.0, &mut rng), 1);
    // Greedy draws no uniform.
    assert_eq!(rng.next_u64(), SplitMix64::new(1).next_u64());
    // top_p below the top token's probability keeps exactly that token.
    assert_eq!(warped_distribution(&l, 1.0, 1e-9), vec![(1, 1.0)]);
}

/// The draw `generate` made before it shared `sample_token` (full stable sort of the whole
/// vocabulary, then the cumulative walk): the shared one must give the same token for the same
/// logits and stream, or generation outputs would change.
fn old_pick(l: &[f32], temperature: f64, top_p: f64, rng: &mut SplitMix64) -> u32 {
    let max = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f64)> = l.iter().enumerate().map(|(i, &x)| (i as u32, (((x - max) as f64) / temperature).exp())).collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    probs.iter_mut().for_each(|p| p.1 /= total);
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep = probs.len();
    if top_p < 1.0 {
        let mut acc = 0.0;
        for (i, p) in probs.iter().enumerate() {
            acc += p.1;
            if acc >= top_p {
                keep = i + 1;
                break;
            }
        }
    }
    let kept = &probs[..keep];
    let mass: f64 = kept.iter().map(|p| p.1).sum();
    let mut u = rng.next_f64() * mass;
    for p in kept {
        if u < p.1 {
            return p.0;
        }
        u -= p.1;
    }
    kept.last().unwrap().0
}

#[test]
fn sample_token_draws_what_generate_drew_before() {
    let mut g = SplitMix64::new(99);
    for case in 0..400 {
        // Vocabularies below and above the partial sort's first width (256), with ties.
        let vocab = [5, 64, 300, 3000][case % 4];
        let scale = [0.5, 2.0, 6.0][case % 3];
        let l: Vec<f32> = (0..vocab).map(|_| ((g.next_f64() * 2.0 - 1.0) * scale * 4.0).round() as f32 / 4.0).collect();
        let t = [0.3, 0.7, 1.0, 1.5][case % 4 / 2 + case % 2];
        let p = [1.0, 0.95, 0.9, 0.5, 0.1, 0.999][case % 6];
        let seed = g.next_u64();
        let (mut a, mut b) = (SplitMix64::new(seed), SplitMix64::new(seed));
        for _ in 0..5 {
            assert_eq!(sample_token(&l, t, p, &mut a), old_pick(&l, t, p, &mut b), "case {case}: vocab {vocab} T {t} top_p {p}");
        }
    }
}

/// (d) Frequencies of many draws on a fixed 5-token distribution equal the warped distribution
/// within 4.5 standard errors per token, and that tolerance rejects the distributions of
/// plausible wrong samplers (no temperature, no top-p, top-p keeping one token too many or too
/// few, no renormalisation of the kept mass).
#[test]
fn draw_frequencies_match_the_warped_distribution() {
    let l = [2.0f32, 1.0, 0.5, 0.0, -1.0];
    let (t, p) = (0.8, 0.9);
    let want = warped_distribution(&l, t, p);
    let mut expect = [0f64; 5];
    for (tok, q) in &want {
        expect[*tok as usize] = *q;
    }
    let n = 200_000;
    let mut counts = [0usize; 5];
    let mut rng = SplitMix64::new(2023);
    for _ in 0..n {
        counts[sample_token(&l, t, p, &mut rng) as usize] += 1;
    }
    let freq: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
    let tol = |q: f64| 4.5 * (q * (1.0 - q) / n as f64).sqrt();
    for i in 0..5 {
        assert!((freq[i] - expect[i]).abs() <= tol(expect[i]), "token {i}: frequency {} vs {}", freq[i], expect[i]);
    }
    // What wrong samplers would converge to; each is outside the tolerance somewhere.
    let softmax = |t: f64, keep: usize| -> [f64; 5] {
        let e: Vec<f64> = l.iter().map(|&x| (x as f64 / t).exp()).collect();
        let z: f64 = e[..keep].iter().sum();
        let mut out = [0.0; 5];
        (0..keep).for_each(|i| out[i] = e[i] / z);
        out
    };
    let full = softmax(t, 5);
    let unnormalised = {
        // Kept probabilities not renormalised, the rest of the mass on the last kept token.
        let mut q = [0.0; 5];
        let kept: f64 = full[..3].iter().sum();
        q[..3].copy_from_slice(&full[..3]);
        q[2] += 1.0 - kept;
        q
    };
    let wrong = [
        ("no temperature", {
            let w = warped_distribution(&l, 1.0, p);
            let mut q = [0.0; 5];
            w.iter().for_each(|(tok, x)| q[*tok as usize] = *x);
            q
        }),
        ("no top-p", full),
        ("one token too many", softmax(t, 4)),
        ("one token too few", softmax(t, 2)),
        ("not renormalised", unnormalised),
    ];
    assert_eq!(want.len(), 3, "the case keeps three tokens");
    for (name, q) in wrong {
        let off = (0..5).map(|i| (q[i] - expect[i]).abs() / tol(expect[i].max(q[i]))).fold(0.0, f64::max);
        assert!(off > 3.0, "{name}: within {off} tolerances of the right distribution");
    }
}

fn prompts(m: &LoadedModel) -> Vec<Vec<u32>> {
    ["w5 w9 w13", "w7", "w20 w21 w22 w23 w24 w25 w26", "w40 w41"].iter().map(|p| m.tokenizer.encode(p).unwrap()).collect()
}

/// Seeds per (prompt, sample): prompt 1 has more samples than the small batches hold.
fn seeds() -> Vec<Vec<u64>> {
    vec![vec![11, 12, 13], vec![21, 22, 23, 24, 25, 26, 27], vec![31], vec![41, 42, 43, 44]]
}

/// (b) A sample's tokens depend only on (prompt, seed): alone, or batched with other prompts and
/// samples at any batch size (prompts split across prefills, samples across decoding batches,
/// finished rows dropped from the batch), they are the same.
#[test]
fn a_sample_alone_equals_it_in_any_batch() {
    let (_d, m) = load(11);
    let ps = prompts(&m);
    let cfg = SampleConfig { max_new_tokens: 14, temperature: 1.3, top_p: 0.95, batch_size: 1 };
    let alone: Vec<Vec<Vec<u32>>> = ps
        .iter()
        .zip(seeds())
        .map(|(p, ss)| ss.iter().map(|&s| sample_n(&m, std::slice::from_ref(p), &[vec![s]], &cfg).unwrap().remove(0).remove(0)).collect())
        .collect();
    for batch_size in [1, 3, 5, 64] {
        let got = sample_n(&m, &ps, &seeds(), &SampleConfig { batch_size, ..cfg.clone() }).unwrap();
        assert_eq!(got, alone, "batch_size {batch_size}");
    }
    // The outputs exercise what they should: samples differ, some end at EOS before the limit.
    let all: Vec<&Vec<u32>> = alone.iter().flatten().collect();
    assert!(all.iter().any(|s| s.len() < cfg.max_new_tokens) && all.iter().any(|s| s.len() == cfg.max_new_tokens), "{all:?}");
    assert!(alone[1].windows(2).any(|w| w[0] != w[1]));
    assert!(all.iter().all(|s| !s.contains(&2)), "EOS is not returned");
    // Same seed, same sample; zero samples, nothing.
    let twice = sample_n(&m, &ps[..1], &[vec![5, 5]], &cfg).unwrap();
    assert_eq!(twice[0][0], twice[0][1]);
    assert_eq!(sample_n(&m, &ps[..2], &[vec![], vec![21]], &cfg).unwrap(), vec![vec![], vec![alone[1][0].clone()]]);
}

/// (c) Sharing a prompt's forward pass and KV cache changes nothing: every sample equals a
/// decoding from scratch (a full forward over the whole sequence at each step, no cache) that
/// draws from the same stream.
#[test]
fn shared_prompt_sampling_equals_sampling_from_scratch() {
    let (_d, m) = load(12);
    let ps = prompts(&m);
    let cfg = SampleConfig { max_new_tokens: 10, temperature: 1.1, top_p: 0.9, batch_size: 6 };
    let got = sample_n(&m, &ps, &seeds(), &cfg).unwrap();
    for (i, (p, ss)) in ps.iter().zip(seeds()).enumerate() {
        for (j, s) in ss.into_iter().enumerate() {
            let mut rng = SplitMix64::new(s);
            let mut ids = p.clone();
            let mut new = vec![];
            for _ in 0..cfg.max_new_tokens {
                let t = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
                let logits = m.model.forward(&t, None, false).unwrap().squeeze(0).unwrap().get(ids.len() - 1).unwrap();
                let tok = sample_token(&logits.to_vec1::<f32>().unwrap(), cfg.temperature, cfg.top_p, &mut rng);
                if m.tokenizer.eos.contains(&tok) {
                    break;
                }
                ids.push(tok);
                new.push(tok);
            }
            assert_eq!(got[i][j], new, "prompt {i} sample {j}");
        }
    }
}

/// Temperature 0 is greedy: every sample is `generate`'s greedy output.
#[test]
fn greedy_samples_equal_greedy_generation() {
    let (_d, m) = load(13);
    let ps = prompts(&m);
    let cfg = SampleConfig { max_new_tokens: 8, temperature: 0.0, top_p: 1.0, batch_size: 4 };
    let got = sample_n(&m, &ps, &seeds(), &cfg).unwrap();
    let greedy = generate_tokens(&m, &ps, &GenerationConfig { max_new_tokens: 8, batch_size: 4, ..Default::default() }).unwrap();
    for (i, samples) in got.iter().enumerate() {
        assert!(samples.iter().all(|s| s == &greedy[i]), "prompt {i}: {samples:?} vs {:?}", greedy[i]);
    }
}

#[test]
fn bad_arguments_are_errors() {
    let (_d, m) = load(14);
    let ps = prompts(&m);
    let cfg = SampleConfig { max_new_tokens: 4, ..Default::default() };
    assert!(sample_n(&m, &ps, &seeds()[..2], &cfg).is_err());
    assert!(sample_n(&m, &ps, &seeds(), &SampleConfig { batch_size: 0, ..cfg.clone() }).is_err());
    assert!(sample_n(&m, &ps, &seeds(), &SampleConfig { top_p: 0.0, ..cfg.clone() }).is_err());
    assert!(sample_n(&m, &[vec![]], &[vec![1]], &cfg).is_err());
    assert_eq!(sample_n(&m, &ps, &seeds(), &SampleConfig { max_new_tokens: 0, ..cfg }).unwrap()[1].len(), 7);
}
