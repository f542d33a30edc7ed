use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use syco_train::peft::{self, Adapter, AdapterConfig};
use syco_train::rng::SplitMix64;
use syco_train::{combine, CombineMethod};

const MODULES: [&str; 2] = ["base_model.model.model.layers.0.self_attn.q_proj", "base_model.model.model.layers.1.mlp.down_proj"];

fn rand(rng: &mut SplitMix64, rows: usize, cols: usize) -> Tensor {
    let v: Vec<f32> = (0..rows * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
    Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
}

fn adapter(r: usize, alpha: f64, seed: u64) -> Adapter {
    let mut rng = SplitMix64::new(seed);
    let mut tensors = BTreeMap::new();
    for (i, m) in MODULES.iter().enumerate() {
        let (inp, out) = if i == 0 { (12, 12) } else { (20, 12) };
        tensors.insert(format!("{m}.lora_A.weight"), rand(&mut rng, r, inp));
        tensors.insert(format!("{m}.lora_B.weight"), rand(&mut rng, out, r));
    }
    let config = AdapterConfig {
        r,
        alpha,
        dropout: 0.0,
        target_modules: vec!["down_proj".into(), "q_proj".into()],
        base_model: Some("tiny".into()),
        use_rslora: false,
    };
    Adapter { config, tensors }
}

/// scale * B A of one module.
fn delta(a: &Adapter, module: &str) -> Tensor {
    let b = &a.tensors[&format!("{module}.lora_B.weight")];
    let aa = &a.tensors[&format!("{module}.lora_A.weight")];
    (b.matmul(aa).unwrap() * a.config.scale()).unwrap()
}

fn weighted_sum(parts: &[(f64, Adapter)], module: &str) -> Tensor {
    parts.iter().map(|(w, a)| (delta(a, module) * *w).unwrap()).reduce(|x, y| (x + y).unwrap()).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

fn frob(t: &Tensor) -> f64 {
    t.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() as f64
}

#[test]
fn cat_is_exact_with_different_ranks_and_alphas() {
    let parts = vec![(0.7, adapter(4, 8.0, 1)), (1.5, adapter(2, 32.0, 2)), (-0.3, adapter(3, 3.0, 3))];
    let out = combine(&parts, CombineMethod::Cat).unwrap();
    assert!(out.exact);
    assert_eq!(out.adapter.config.r, 9);
    for m in MODULES {
        let d = max_abs_diff(&delta(&out.adapter, m), &weighted_sum(&parts, m));
        assert!(d < 1e-5, "{m}: {d}");
    }
}

#[test]
fn svd_respects_the_rank_cap_and_is_exact_iff_cap_covers_rank() {
    let parts = vec![(1.0, adapter(3, 6.0, 4)), (0.5, adapter(2, 2.0, 5))];
    let exact = combine(&parts, CombineMethod::Svd { rank: 8 }).unwrap();
    assert!(exact.exact);
    assert_eq!(exact.adapter.config.r, 5, "cap above the summed rank is lowered to it");
    for m in MODULES {
        assert!(max_abs_diff(&delta(&exact.adapter, m), &weighted_sum(&parts, m)) < 1e-5);
    }
    let capped = combine(&parts, CombineMethod::Svd { rank: 2 }).unwrap();
    assert!(!capped.exact);
    assert_eq!(capped.adapter.config.r, 2);
    assert_eq!(capped.adapter.tensors[&format!("{}.lora_A.weight", MODULES[0])].dims(), &[2, 12]);
    // Eckart-Young: the squared residual of the rank-2 truncation is the sum of the dropped
    // squared singular values. In the exact result B = U sqrt(S), so s_k = |B[:, k]|^2.
    for m in MODULES {
        let b = &exact.adapter.tensors[&format!("{m}.lora_B.weight")];
        let s: Vec<f32> = b.sqr().unwrap().sum(0).unwrap().to_vec1().unwrap();
        assert!(s.windows(2).all(|w| w[0] >= w[1] * 0.9999), "{s:?}");
        let tail: f64 = s[2..].iter().map(|x| (*x as f64).powi(2)).sum();
        let resid = frob(&(&weighted_sum(&parts, m) - delta(&capped.adapter, m)).unwrap());
        assert!((resid - tail).abs() < 1e-4 * tail.max(1e-6), "{m}: residual {resid} vs dropped {tail}");
    }
}

#[test]
fn linear_needs_equal_ranks_and_is_exact_for_one_adapter() {
    let parts = vec![(1.0, adapter(3, 6.0, 6)), (1.0, adapter(2, 2.0, 7))];
    assert!(combine(&parts, CombineMethod::Linear).is_err());
    let one = vec![(0.5, adapter(3, 6.0, 6))];
    let out = combine(&one, CombineMethod::Linear).unwrap();
    assert!(out.exact);
    assert!(max_abs_diff(&delta(&out.adapter, MODULES[1]), &weighted_sum(&one, MODULES[1])) < 1e-5);
    let two = vec![(0.5, adapter(3, 6.0, 6)), (0.5, adapter(3, 6.0, 8))];
    let out = combine(&two, CombineMethod::Linear).unwrap();
    assert!(!out.exact);
}

#[test]
fn saved_adapters_pass_the_peft_format_check() {
    let Some(check) = syco_testkit::shared("checks/peft_format.py") else { return };
    let dir = tempfile::tempdir().unwrap();
    let parts = vec![(1.0, adapter(4, 8.0, 1)), (1.0, adapter(2, 4.0, 2))];
    let combined = combine(&parts, CombineMethod::Cat).unwrap().adapter;
    peft::save(&dir.path().join("combined"), &combined.config, &combined.tensors).unwrap();
    let back = peft::load(&dir.path().join("combined"), &Device::Cpu).unwrap();
    assert_eq!(back.config, combined.config);
    match std::process::Command::new("python3").arg(&check).arg(dir.path()).output() {
        Ok(out) => assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        Err(e) => syco_testkit::skip(&format!("needs python3 to run {} ({e})", check.display())),
    }
}
