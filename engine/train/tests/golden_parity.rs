//! Parity with PyTorch + PEFT (fixture from tests/golden/make_golden.py): the first 20 step
//! losses, learning rates, gradient norms and the final LoRA weights of a tiny Llama.
#![cfg(feature = "llama")]
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use syco_ml::LoadedModel;
use syco_train::llama::{adapter_config, insert_adapter};
use syco_train::{peft, save_adapter, train, LossNorm, LossOn, Schedule, TokenizedExample, TrainConfig, TrainData, TrainIo};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn rel_close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1e-12)
}

fn load_with_adapter(name: &str, adapter_dir: &Path) -> syco_ml::Llama {
    let mut model = LoadedModel::load(&golden().join("tiny"), &Device::Cpu, DType::F32).expect("tiny model loads").model;
    let adapter = peft::load(adapter_dir, &Device::Cpu).expect("adapter loads");
    insert_adapter(&mut model, name, &adapter).expect("adapter attaches");
    model.set_active_adapter(Some(name)).expect("adapter activates");
    model
}

#[test]
fn twenty_steps_match_pytorch_and_peft() {
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden().join("fixture.json")).unwrap()).unwrap();
    let s = &fixture["settings"];
    let examples: Vec<TokenizedExample> = fixture["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seq| TokenizedExample { ids: seq.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect(), prompt_len: 0 })
        .collect();
    let cfg = TrainConfig {
        lr: s["lr"].as_f64().unwrap(),
        weight_decay: s["weight_decay"].as_f64().unwrap(),
        schedule: Schedule::Cosine,
        warmup_steps: Some(s["warmup_steps"].as_u64().unwrap() as usize),
        batch_size: s["batch_size"].as_u64().unwrap() as usize,
        grad_accum: s["grad_accum"].as_u64().unwrap() as usize,
        max_grad_norm: Some(s["max_grad_norm"].as_f64().unwrap()),
        max_len: 64,
        loss: LossOn::All,
        loss_norm: LossNorm::MicroMean,
        shuffle: false,
        max_steps: Some(s["steps"].as_u64().unwrap() as usize),
        eval_steps: None,
        save_steps: None,
        ..TrainConfig::default()
    };
    let model = load_with_adapter("golden", &golden().join("adapter_init"));
    let data = TrainData { examples: &examples, val: Some(&[]), pad_id: s["pad_id"].as_u64().unwrap() as u32 };
    let out = train(&model, "golden", data, &cfg, TrainIo::default()).unwrap();

    let want = fixture["log"].as_array().unwrap();
    assert_eq!(out.log.len(), want.len());
    for (got, want) in out.log.iter().zip(want) {
        let (loss, lr, norm) = (want["loss"].as_f64().unwrap(), want["lr"].as_f64().unwrap(), want["grad_norm"].as_f64().unwrap());
        assert!(rel_close(got.loss, loss, 1e-4), "step {}: loss {} vs torch {loss}", got.step, got.loss);
        assert!(rel_close(got.lr, lr, 1e-9) || (got.lr == 0.0 && lr == 0.0), "step {}: lr {} vs {lr}", got.step, got.lr);
        assert!(rel_close(got.grad_norm, norm, 1e-4), "step {}: grad norm {} vs torch {norm}", got.step, got.grad_norm);
    }

    let final_peft = peft::load(&golden().join("adapter_final"), &Device::Cpu).unwrap();
    let ours = model.lora_vars("golden");
    assert_eq!(ours.len(), final_peft.tensors.len());
    let mut worst = 0f64;
    for (name, var) in &ours {
        let want = &final_peft.tensors[name];
        let diff = (var.as_tensor() - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() as f64;
        let scale = want.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() as f64;
        worst = worst.max(diff / scale);
    }
    assert!(worst <= 1e-4, "final LoRA weights differ from PEFT's by {worst:e} (relative to each tensor's max)");
    eprintln!("worst relative weight difference {worst:e}");

    // PEFT round trip: save, load into a fresh model, identical logits.
    let dir = tempfile::tempdir().unwrap();
    let lcfg = model.lora_config("golden").unwrap().clone();
    save_adapter(dir.path(), &model, "golden", &adapter_config(&lcfg, Some("tiny"))).unwrap();
    let reloaded = load_with_adapter("again", dir.path());
    let ids = Tensor::new(&[[1u32, 5, 9, 33, 2, 60]], &Device::Cpu).unwrap();
    let a = model.forward(&ids, None, false).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = reloaded.forward(&ids, None, false).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a, b, "reloaded adapter gives identical logits");
}
