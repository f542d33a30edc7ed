mod common;

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::rc::Rc;

use common::{examples, ToyLm};
use syco_train::{train, LossNorm, LossOn, Schedule, TrainConfig, TrainData, TrainError, TrainIo};

fn cfg() -> TrainConfig {
    TrainConfig {
        lr: 2e-2,
        warmup_steps: Some(2),
        batch_size: 3,
        grad_accum: 2,
        eval_batch_size: 4,
        epochs: 3,
        eval_steps: Some(3),
        save_steps: Some(4),
        save_total_limit: 2,
        ..TrainConfig::default()
    }
}

fn weights(m: &ToyLm) -> (Vec<f32>, Vec<f32>) {
    (m.lora_a.as_tensor().flatten_all().unwrap().to_vec1().unwrap(), m.lora_b.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
}

#[test]
fn training_lowers_the_loss_and_logs_every_step() {
    let model = ToyLm::new(16, 8, 4, 1);
    let data = examples(40, 16, 2);
    let log = Rc::new(RefCell::new(Vec::<u8>::new()));
    struct Sink(Rc<RefCell<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let config = TrainConfig { lr: 5e-2, epochs: 6, keep_best: false, schedule: Schedule::Constant, ..cfg() };
    let io = TrainIo { log: Some(Box::new(Sink(log.clone()))), ..Default::default() };
    let out = train(&model, "a", TrainData { examples: &data, val: None, pad_id: 0 }, &config, io).unwrap();
    // 36 train rows / 3 = 12 micro-batches, 6 steps per epoch.
    assert_eq!((out.train_examples, out.val_examples, out.total_steps), (36, 4, 36));
    let first = out.log[0].loss;
    assert!(out.final_loss < 0.7 * first, "loss {first} -> {}", out.final_loss);
    let lines: Vec<serde_json::Value> =
        std::str::from_utf8(&log.borrow()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 36);
    assert_eq!(lines[2]["step"], 3);
    assert!(lines[2]["eval_loss"].as_f64().is_some());
    assert!(lines[1].get("eval_loss").is_none());
    assert_eq!(lines[0]["lr"], 0.0, "first step uses the schedule's factor(0)");
    // The held-out loss before training is the untrained model's, and training lowered it.
    let untrained = ToyLm::new(16, 8, 4, 1);
    let before = syco_train::trainer::eval_loss(&untrained, &data[36..], 0, &config, &candle_core::Device::Cpu).unwrap();
    assert_eq!(out.initial_eval_loss, Some(before));
    let last_eval = out.log.iter().rev().find_map(|r| r.eval_loss).unwrap();
    assert!(last_eval < before, "held-out loss {before} -> {last_eval}");
}

#[test]
fn resume_after_interrupt_equals_uninterrupted_run() {
    let data = examples(30, 16, 3);
    let config = TrainConfig { loss: LossOn::Response, ..cfg() };
    let mut full_model = ToyLm::new(16, 8, 4, 9);
    full_model.dropout = 0.2;
    let full = train(&full_model, "a", TrainData { examples: &data, val: None, pad_id: 0 }, &config, TrainIo::default()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut model = ToyLm::new(16, 8, 4, 9);
    model.dropout = 0.2;
    // Stop after step 6; the newest checkpoint is step 4, so steps 5-6 are redone on resume.
    let io = TrainIo {
        checkpoint_dir: Some(dir.path().into()),
        progress: Some(Box::new(|p| if p.step == 6 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })),
        ..Default::default()
    };
    let err = train(&model, "a", TrainData { examples: &data, val: None, pad_id: 0 }, &config, io).unwrap_err();
    assert!(matches!(err, TrainError::Interrupted { step: 6 }), "{err}");
    // A fresh process: new model object with the same initial weights.
    let mut model = ToyLm::new(16, 8, 4, 9);
    model.dropout = 0.2;
    let io = TrainIo { checkpoint_dir: Some(dir.path().into()), ..Default::default() };
    let resumed = train(&model, "a", TrainData { examples: &data, val: None, pad_id: 0 }, &config, io).unwrap();
    assert_eq!(resumed.resumed_from, Some(4));
    assert_eq!(weights(&model), weights(&full_model), "bitwise equal adapters");
    // Replayed log records come back through JSON, which may move a float by one ulp.
    assert_eq!(resumed.log.len(), full.log.len());
    for (a, b) in resumed.log.iter().zip(&full.log) {
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1e-12);
        assert!(a.step == b.step && close(a.loss, b.loss) && close(a.lr, b.lr) && close(a.grad_norm, b.grad_norm), "{a:?} vs {b:?}");
        assert_eq!(a.eval_loss.is_some(), b.eval_loss.is_some());
    }
    assert_eq!(resumed.best_step, full.best_step);
    assert!(full.initial_eval_loss.is_some());
    assert_eq!(resumed.initial_eval_loss, full.initial_eval_loss, "kept in the checkpoint across the resume");
    assert!(full.restored_best);
    // 27 rows / 3 = 9 micro-batches, 4 steps per epoch, 12 steps; checkpoints at 4, 8, 12; keep 2.
    assert_eq!(full.total_steps, 12);
    let kept: Vec<usize> = syco_train::checkpoint::list(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(kept, vec![8, 12]);
}

#[test]
fn keep_best_restores_best_evaluated_weights() {
    let data = examples(30, 16, 4);
    // A huge learning rate late in training makes later evals worse than the first.
    let config = TrainConfig { lr: 3.0, schedule: Schedule::Constant, warmup_steps: Some(0), max_grad_norm: None, ..cfg() };
    let model = ToyLm::new(16, 8, 4, 5);
    let out = train(&model, "a", TrainData { examples: &data, val: None, pad_id: 0 }, &config, TrainIo::default()).unwrap();
    let evals: Vec<(usize, f64)> = out.log.iter().filter_map(|r| r.eval_loss.map(|e| (r.step, e))).collect();
    let (best_step, best) = evals.iter().cloned().fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
    assert_eq!(out.best_step, Some(best_step));
    assert_eq!(out.best_eval_loss, Some(best));
    let now = syco_train::trainer::eval_loss(&model, &data[27..], 0, &config, &candle_core::Device::Cpu).unwrap();
    assert!((now - best).abs() < 1e-9, "restored weights give the best eval loss: {now} vs {best}");
}

#[test]
fn nan_loss_fails_with_the_step_number() {
    let data = examples(24, 16, 5);
    let mut model = ToyLm::new(16, 8, 4, 6);
    // 2 micro-batches per step: the 7th forward call belongs to step 4.
    model.nan_after = Some(6);
    let config = TrainConfig { eval_steps: None, ..cfg() };
    let err = train(&model, "a", TrainData { examples: &data, val: None, pad_id: 0 }, &config, TrainIo::default()).unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { step: 4, .. }), "{err}");
}

#[test]
fn detached_adapter_is_reported() {
    let data = examples(12, 16, 6);
    let mut model = ToyLm::new(16, 8, 4, 7);
    model.detach_a = true;
    let err = train(&model, "a", TrainData { examples: &data, val: None, pad_id: 0 }, &cfg(), TrainIo::default()).unwrap_err();
    assert!(matches!(&err, TrainError::NoGradient(n) if n.ends_with("lora_A.weight")), "{err}");
}

#[test]
fn step_token_norm_differs_from_micro_mean_only_with_unequal_batches() {
    let data = examples(12, 16, 8);
    let base = TrainConfig { eval_steps: None, max_steps: Some(1), shuffle: false, ..cfg() };
    let run = |norm| {
        let model = ToyLm::new(16, 8, 4, 3);
        train(
            &model,
            "a",
            TrainData { examples: &data, val: Some(&[]), pad_id: 0 },
            &TrainConfig { loss_norm: norm, ..base.clone() },
            TrainIo::default(),
        )
        .unwrap()
        .log[0]
            .loss
    };
    let (micro, tokens) = (run(LossNorm::MicroMean), run(LossNorm::StepTokens));
    assert!(micro.is_finite() && tokens.is_finite());
    assert_ne!(micro, tokens, "examples have different lengths, so the two averages differ");
}
