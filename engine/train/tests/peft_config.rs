//! PEFT adapters read as PEFT reads them: `adapter_config.json`'s `target_modules` (a list of
//! suffixes, a regex string, `all-linear`), `exclude_modules` and `layers_to_transform` decide
//! what is applied, not the tensor names. Golden files from tests/golden/make_peft_configs.py
//! (real PEFT from PyPI on the tiny Llama of make_golden.py): per case, PEFT's logits for fixed
//! ids and its greedy continuation, which syco must reproduce. Then the inputs PEFT or syco
//! refuse, by their messages.
#![cfg(feature = "llama")]
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use syco_ml::generate::{generate_tokens, GenerationConfig};
use syco_ml::LoadedModel;
use syco_train::llama::{base_modules, insert_adapter, load_into};
use syco_train::peft::{self, CONFIG_FILE, WEIGHTS_FILE};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn cases() -> PathBuf {
    golden().join("peft_configs")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(cases().join("expected.json")).unwrap()).unwrap()
}

fn tiny() -> LoadedModel {
    LoadedModel::load(&golden().join("tiny"), &Device::Cpu, DType::F32).expect("tiny model loads")
}

fn logits(m: &LoadedModel, ids: &[Vec<u32>]) -> Vec<f32> {
    let t = Tensor::new(ids.to_vec(), &Device::Cpu).unwrap();
    m.model.forward(&t, None, false).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn ids(want: &Value) -> Vec<Vec<u32>> {
    want["ids"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()).collect()
}

/// The modules syco applies the adapter to, by transformers name.
fn adapted(m: &LoadedModel, name: &str) -> Vec<String> {
    let mut v: Vec<String> = m
        .model
        .lora_vars(name)
        .into_iter()
        .filter_map(|(n, _)| n.strip_suffix(".lora_A.weight").map(|s| s.trim_start_matches("base_model.model.").to_string()))
        .collect();
    v.sort();
    v
}

/// Loads case `case` as the CLI does (config matched against the model), checks the modules,
/// logits and greedy text against PEFT's; returns the warnings.
fn matches_peft(case: &str) -> Vec<String> {
    let all = expected();
    let want = &all["cases"][case];
    let mut m = tiny();
    let base = logits(&m, &ids(&all));
    let warnings = load_into(&mut m.model, case, &cases().join(case)).unwrap_or_else(|e| panic!("{case}: {e}"));
    m.model.set_active_adapter(Some(case)).unwrap();

    let want_modules: Vec<String> = want["adapted"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(adapted(&m, case), want_modules, "{case}: the modules PEFT adapts");

    let got = logits(&m, &ids(&all));
    let want_logits: Vec<f32> = want["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert_eq!(got.len(), want_logits.len());
    let worst = got.iter().zip(&want_logits).map(|(g, w)| (g - w).abs() / w.abs().max(1.0)).fold(0f32, f32::max);
    assert!(worst < 1e-4, "{case}: logits differ from PEFT's by {worst:e}");
    let moved = got.iter().zip(&base).map(|(g, b)| (g - b).abs()).fold(0f32, f32::max);
    assert!(moved > 1e-2, "{case}: the adapter must change the logits (by {moved})");

    let cfg = GenerationConfig { max_new_tokens: 8, ..GenerationConfig::default() };
    let greedy = generate_tokens(&m, &ids(&all)[..1], &cfg).unwrap();
    let want_greedy: Vec<u32> = want["greedy"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    assert_eq!(greedy[0], want_greedy, "{case}: greedy tokens");
    warnings
}

#[test]
fn only_some_layers_layers_to_transform() {
    let warnings = matches_peft("layers1");
    assert!(warnings.is_empty(), "{warnings:?}");
    // The model-free loader reads the same: layer 0 has no LoRA and computes the base alone.
    let a = peft::load(&cases().join("layers1"), &Device::Cpu).unwrap();
    assert!(a.tensors.keys().all(|k| k.contains(".layers.1.")));
    assert_eq!(a.config.target_modules.len(), 7, "{:?}", a.config.target_modules);
    let mut m = tiny();
    insert_adapter(&mut m.model, "x", &a).unwrap();
    assert_eq!(adapted(&m, "x").len(), 7);
    // Saved again, the config names exactly layer 1's modules, so PEFT selects those again.
    let dir = tempfile::tempdir().unwrap();
    peft::save(dir.path(), &a.config, &a.tensors).unwrap();
    let cfg: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap()).unwrap();
    let saved: Vec<&str> = cfg["target_modules"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(saved, adapted(&m, "x"));
    let back = peft::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(back.config, a.config);
}

#[test]
fn config_names_q_v_and_the_file_has_all_seven() {
    let warnings = matches_peft("qv_extra");
    let want = &expected()["cases"]["qv_extra"];
    let n = want["unexpected_keys"].as_array().unwrap().len();
    assert_eq!(n, 20, "PEFT's load_state_dict reports 20 unexpected keys");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(w.contains(WEIGHTS_FILE), "{w}");
    assert!(
        w.contains(&format!("{n} tensors of 10 modules that adapter_config.json does not select are ignored, as PEFT ignores them")),
        "{w}"
    );
    assert!(w.contains("model.layers.1.mlp.down_proj") && w.contains("model.layers.0.self_attn.k_proj"), "{w}");
    assert!(!w.contains("q_proj") && !w.contains("v_proj"), "{w}");
}

#[test]
fn exclude_modules_leave_modules_out() {
    let warnings = matches_peft("exclude");
    assert_eq!(warnings.len(), 1, "the excluded modules' tensors are ignored, with a warning: {warnings:?}");
    assert!(warnings[0].contains("6 tensors of 3 modules"), "{}", warnings[0]);
}

#[test]
fn regex_target_modules() {
    let warnings = matches_peft("regex");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("model.layers.1.self_attn.k_proj"), "{}", warnings[0]);
}

#[test]
fn all_linear_is_every_projection_but_not_the_head() {
    assert!(matches_peft("all_linear").is_empty());
    let saved: Vec<String> =
        expected()["cases"]["all_linear_saved_targets"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let m = tiny();
    let mut ours: Vec<String> =
        base_modules(&m.model).into_iter().filter(|b| matches!(b.kind, peft::ModuleKind::Projection(_))).map(|b| b.name).collect();
    ours.sort();
    assert_eq!(ours, saved, "PEFT saved all-linear as these module names");
}

/// A copy of golden adapter `case` in a temporary folder, with its config edited by `edit`.
fn edited(case: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(cases().join(case).join(WEIGHTS_FILE), dir.path().join(WEIGHTS_FILE)).unwrap();
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(cases().join(case).join(CONFIG_FILE)).unwrap()).unwrap();
    edit(cfg.as_object_mut().unwrap());
    std::fs::write(dir.path().join(CONFIG_FILE), serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    dir
}

fn load_err(dir: &Path) -> String {
    let mut m = tiny();
    let err = load_into(&mut m.model, "x", dir).expect_err("the adapter is refused").to_string();
    assert!(m.model.adapter_names().is_empty(), "nothing is attached after an error");
    err
}

#[test]
fn modules_not_in_the_model_are_refused_as_peft_refuses_them() {
    let peft_says = expected()["cases"]["c_attn"]["error"].as_str().unwrap().to_string();
    assert!(peft_says.starts_with("Target modules {'c_attn'} not found in the base model"), "{peft_says}");
    let dir = cases().join("c_attn");
    let err = load_err(&dir);
    assert!(err.contains(&dir.join(CONFIG_FILE).display().to_string()), "{err}");
    assert!(err.contains(r#"Target modules ["c_attn"] not found in the base model"#), "{err}");
    // The model-free loader refuses it too.
    let err = peft::load(&dir, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("not found in the base model"), "{err}");

    // Layers the model does not have: nothing is selected, and the layers are named.
    let d = edited("layers1", |c| {
        c.insert("layers_to_transform".into(), serde_json::json!([5]));
    });
    let err = load_err(d.path());
    assert!(err.contains("not found in the base model (layers_to_transform [5])"), "{err}");
}

#[test]
fn a_selected_module_without_tensors_is_an_error_naming_it_and_the_file() {
    // The file holds layer 1 only; a config selecting every layer finds layer 0 without tensors.
    let d = edited("layers1", |c| {
        c.insert("layers_to_transform".into(), Value::Null);
    });
    let err = load_err(d.path());
    let file = d.path().join(WEIGHTS_FILE).display().to_string();
    assert!(
        err.contains(&format!(
            "{file}: module `model.layers.0.self_attn.q_proj` is selected by adapter_config.json but this file has no LoRA tensors for it"
        )),
        "{err}"
    );
}

#[test]
fn what_syco_cannot_adapt_is_refused() {
    for (target, want) in [
        (serde_json::json!(["q_proj", "lm_head"]), "selects `lm_head`: PEFT would adapt it, but syco applies LoRA only to"),
        (serde_json::json!(["embed_tokens"]), "selects `model.embed_tokens`: PEFT would adapt it"),
        (serde_json::json!(".*mlp"), "selects `model.layers.0.mlp`, which is not a linear layer; PEFT refuses it too"),
    ] {
        let d = edited("all_linear", |c| {
            c.insert("target_modules".into(), target.clone());
        });
        let err = load_err(d.path());
        assert!(err.contains(want), "{target}: {err}");
    }
    // PEFT's LoraConfig refuses a regex with layers_to_transform.
    let d = edited("regex", |c| {
        c.insert("layers_to_transform".into(), serde_json::json!(1));
    });
    assert!(load_err(d.path()).contains("`layers_to_transform` cannot be used when `target_modules` is a str"));
}

#[test]
fn int_layers_to_transform_and_layers_pattern() {
    let mut m = tiny();
    load_into(&mut m.model, "list", &cases().join("layers1")).unwrap();
    for (name, layers, pattern) in
        [("int", serde_json::json!(1), Value::Null), ("pattern", serde_json::json!([1]), serde_json::json!("layers"))]
    {
        let d = edited("layers1", |c| {
            c.insert("layers_to_transform".into(), layers);
            c.insert("layers_pattern".into(), pattern);
        });
        assert!(load_into(&mut m.model, name, d.path()).unwrap().is_empty());
        assert_eq!(adapted(&m, name), adapted(&m, "list"), "{name}");
    }
    // A pattern the module names do not have selects nothing, as in PEFT.
    let d = edited("layers1", |c| {
        c.insert("layers_pattern".into(), serde_json::json!("h"));
    });
    assert!(load_err(d.path()).contains("not found in the base model (layers_to_transform [1], layers_pattern [\"h\"])"));
}

#[test]
fn errors_name_the_file_once() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope");
    let err = load_err(&missing);
    assert_eq!(err, format!("{}: no such adapter folder", missing.display()));

    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = load_err(&empty);
    assert!(err.starts_with(&format!("{}: missing", empty.join(CONFIG_FILE).display())), "{err}");
    assert_eq!(err.matches("os error").count(), 0, "{err}");

    let no_weights = edited("layers1", |_| {});
    std::fs::remove_file(no_weights.path().join(WEIGHTS_FILE)).unwrap();
    let err = load_err(no_weights.path());
    assert!(err.starts_with(&format!("{}: missing", no_weights.path().join(WEIGHTS_FILE).display())), "{err}");

    // Through anyhow, as the CLI prints it: the OS error appears once.
    let d = root.path().join("file");
    std::fs::write(&d, "x").unwrap();
    let chain = format!("{:#}", anyhow::Error::from(peft::load(&d.join("sub"), &Device::Cpu).unwrap_err()));
    assert!(chain.matches("(os error").count() <= 1, "{chain}");
}

#[test]
fn shape_mismatch_names_the_file_tensor_and_both_shapes() {
    // Swap in a q_proj A with the right rank but the wrong input width.
    let d = edited("qv_extra", |_| {});
    let path = d.path().join(WEIGHTS_FILE);
    let mut t: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let name = "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight";
    t.insert(name.to_string(), Tensor::zeros((4, 31), DType::F32, &Device::Cpu).unwrap());
    candle_core::safetensors::save(&t, &path).unwrap();
    let err = load_err(d.path());
    assert_eq!(
        err,
        format!(
            "{}: tensor `{name}` has shape (4, 31), expected (4, 32) (module `model.layers.1.self_attn.q_proj` is (32, 32) with r = 4)",
            path.display()
        )
    );
    // A tensor that does not fit r: the same shape format.
    let d = edited("qv_extra", |c| {
        c.insert("r".into(), serde_json::json!(3));
    });
    let err = load_err(d.path());
    assert!(err.starts_with(&format!("{}: tensor `", d.path().join(WEIGHTS_FILE).display())), "{err}");
    // The first tensor in name order: layer 0's down_proj A, (r, intermediate).
    assert!(err.contains("layers.0.mlp.down_proj.lora_A.weight` has shape (4, 64), which does not fit r = 3"), "{err}");
}

#[test]
fn saved_partial_adapters_read_back_the_same() {
    let m = tiny();
    let a = peft::read(&cases().join("exclude"), &Device::Cpu).unwrap().select(&base_modules(&m.model)).unwrap().adapter;
    let dir = tempfile::tempdir().unwrap();
    peft::save(dir.path(), &a.config, &a.tensors).unwrap();
    let cfg: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap()).unwrap();
    assert_eq!(cfg["layers_to_transform"], Value::Null);
    let back = peft::read(dir.path(), &Device::Cpu).unwrap().select(&base_modules(&m.model)).unwrap();
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    assert_eq!(back.adapter.config, a.config);
    assert_eq!(back.adapter.tensors.keys().collect::<Vec<_>>(), a.tensors.keys().collect::<Vec<_>>());
}
