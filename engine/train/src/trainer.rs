//! The LoRA training loop: micro-batches -> accumulated gradients -> clipped AdamW steps,
//! with evaluation, keep-best, checkpoints, resume, progress and a JSONL log.
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};
use syco_ml::{cross_entropy_sum, Objective};

use crate::batch::{collate, split_by_fraction, Batch, StepPlan, TokenizedExample};
use crate::checkpoint::{self, CheckpointState, CheckpointTensors};
use crate::config::{LossNorm, TrainConfig};
use crate::error::{file_err, io_err, Result, TrainError};
use crate::model::TrainableModel;
use crate::optim::{clip_global_norm, global_norm, AdamW};
use crate::rng::{self, PURPOSE_DROPOUT};
use crate::schedule::LrSchedule;

/// The examples of a run. Without `val`, the last `val_fraction` of `examples` is held out.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    pub examples: &'a [TokenizedExample],
    pub val: Option<&'a [TokenizedExample]>,
    /// Padding id; positions holding it are never targets (the study pads with EOS).
    pub pad_id: u32,
}

/// One line of the training log (JSONL), one per optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub step: usize,
    pub epoch: f64,
    pub loss: f64,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    pub tokens_per_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_loss: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Progress {
    pub step: usize,
    pub total: usize,
    pub loss: f64,
    pub tokens_per_s: f64,
}

pub type ProgressFn<'a> = Box<dyn FnMut(&Progress) -> ControlFlow<()> + 'a>;

/// Where a run writes besides the model: checkpoints, progress reports, the JSONL log.
#[derive(Default)]
pub struct TrainIo<'a> {
    /// Checkpoints go here, and a run resumes from the newest one found here.
    pub checkpoint_dir: Option<PathBuf>,
    /// Called after every step; `Break` stops the run with `TrainError::Interrupted`.
    pub progress: Option<ProgressFn<'a>>,
    /// Receives one JSON line per step (steps replayed after a resume are written again).
    pub log: Option<Box<dyn Write + 'a>>,
}

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub steps: usize,
    pub total_steps: usize,
    pub train_examples: usize,
    pub val_examples: usize,
    /// Loss of the last step.
    pub final_loss: f64,
    pub best_step: Option<usize>,
    pub best_eval_loss: Option<f64>,
    /// Validation loss before the first step: the base model's, as a fresh LoRA B is zero. With
    /// `best_eval_loss` it says how much the adapter learned of its held-out data.
    pub initial_eval_loss: Option<f64>,
    /// The adapter now holds the best evaluated step's weights rather than the last step's.
    pub restored_best: bool,
    /// Step of the checkpoint this call resumed from.
    pub resumed_from: Option<usize>,
    pub log: Vec<LogRecord>,
    /// Non-pad tokens processed by this call and the seconds it spent training.
    pub tokens: usize,
    pub seconds: f64,
}

struct Best {
    step: usize,
    loss: f64,
    weights: Vec<Tensor>,
}

/// Trains `adapter` of `model` in place. Resumes from the newest checkpoint in
/// `io.checkpoint_dir` if one exists and belongs to the same run (same config and data sizes).
pub fn train<M: TrainableModel + ?Sized>(
    model: &M,
    adapter: &str,
    data: TrainData<'_>,
    cfg: &TrainConfig,
    mut io: TrainIo<'_>,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    let (train_set, val_set) = match data.val {
        Some(val) => (data.examples, val),
        None => split_by_fraction(data.examples, cfg.val_fraction),
    };
    if let Some(i) = train_set.iter().chain(val_set).position(|e| e.ids.len() < 2) {
        return Err(TrainError::Data(format!("example {i} has fewer than 2 tokens")));
    }
    let plan = StepPlan::new(train_set.len(), cfg.batch_size, cfg.grad_accum, cfg.epochs, cfg.max_steps, cfg.shuffle, cfg.seed)?;
    let schedule = LrSchedule { kind: cfg.schedule, warmup: cfg.warmup_for(plan.total_steps), total: plan.total_steps };

    let named = model.trainable(adapter);
    if named.is_empty() {
        return Err(TrainError::Data(format!("model has no trainable tensors for adapter `{adapter}`")));
    }
    let (names, vars): (Vec<String>, Vec<Var>) = named.into_iter().unzip();
    let device = vars[0].device().clone();
    let mut opt = AdamW::new(vars.clone(), cfg.betas, cfg.eps, cfg.weight_decay)?;
    let fingerprint = serde_json::json!({
        "config": cfg, "train_examples": train_set.len(), "val_examples": val_set.len(), "tensors": names,
    });

    let mut step = 0;
    let mut best: Option<Best> = None;
    let mut log: Vec<LogRecord> = vec![];
    let mut resumed_from = None;
    let mut initial_eval_loss = None;
    if let Some(dir) = &io.checkpoint_dir {
        if let Some((_, path)) = checkpoint::list(dir)?.pop() {
            let (state, tensors) = checkpoint::read(&path, &device)?;
            if state.fingerprint != fingerprint {
                return Err(file_err(
                    &path,
                    "checkpoint belongs to a different run (config, data sizes or tensors differ); use an empty checkpoint dir",
                ));
            }
            restore(&path, &names, &vars, &mut opt, &state, &tensors, &mut best)?;
            step = state.step;
            initial_eval_loss = state.initial_eval_loss;
            log = state.log;
            resumed_from = Some(step);
        }
    }

    let evaluates = cfg.eval_steps.is_some() && !val_set.is_empty();
    if step == 0 && evaluates {
        initial_eval_loss = Some(eval_loss(model, val_set, data.pad_id, cfg, &device)?);
    }
    let started = Instant::now();
    let mut tokens_total = 0;
    while step < plan.total_steps {
        let t0 = Instant::now();
        let lr = cfg.lr * schedule.factor(step);
        let batches = plan
            .step_micro_batches(step)
            .iter()
            .map(|idx| collate(&idx.iter().map(|&i| &train_set[i]).collect::<Vec<_>>(), data.pad_id, cfg.max_len, cfg.loss, &device))
            .collect::<Result<Vec<Batch>>>()?;
        let (loss, mut grads, n_tokens) = step_gradients(model, &vars, &names, &batches, cfg, step)?;
        if !loss.is_finite() {
            return Err(TrainError::NonFiniteLoss { step: step + 1, loss });
        }
        let grad_norm = match cfg.max_grad_norm {
            Some(max) if max > 0.0 => clip_global_norm(&mut grads, max)?,
            _ => global_norm(&grads)?,
        };
        opt.step(&grads, lr)?;
        step += 1;
        tokens_total += n_tokens;
        let tokens_per_s = n_tokens as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        let mut record = LogRecord { step, epoch: plan.epoch_at(step), loss, lr, grad_norm, tokens_per_s, eval_loss: None };

        if evaluates && cfg.eval_steps.is_some_and(|n| step % n == 0) {
            let eval = eval_loss(model, val_set, data.pad_id, cfg, &device)?;
            record.eval_loss = Some(eval);
            if cfg.keep_best && best.as_ref().is_none_or(|b| eval < b.loss) {
                let weights = vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
                best = Some(Best { step, loss: eval, weights });
            }
        }
        if let Some(w) = io.log.as_mut() {
            let line = serde_json::to_string(&record).expect("log record serializes");
            writeln!(w, "{line}").map_err(io_err("training log"))?;
        }
        log.push(record);
        let finished = step == plan.total_steps;
        if let Some(dir) = &io.checkpoint_dir {
            if cfg.save_steps.is_some_and(|n| step % n == 0) || finished {
                let state = CheckpointState {
                    step,
                    adam_t: opt.state.t,
                    best_step: best.as_ref().map(|b| b.step),
                    best_eval_loss: best.as_ref().map(|b| b.loss),
                    initial_eval_loss,
                    fingerprint: fingerprint.clone(),
                    log: log.clone(),
                };
                checkpoint::write(dir, &state, &snapshot(&names, &vars, &opt, best.as_ref()), cfg.save_total_limit)?;
            }
        }
        if let Some(progress) = io.progress.as_mut() {
            if progress(&Progress { step, total: plan.total_steps, loss, tokens_per_s }).is_break() && !finished {
                return Err(TrainError::Interrupted { step });
            }
        }
    }

    let restored_best = match &best {
        Some(b) if cfg.keep_best => {
            for (v, w) in vars.iter().zip(&b.weights) {
                v.set(w)?;
            }
            true
        }
        _ => false,
    };
    Ok(TrainOutcome {
        steps: step,
        total_steps: plan.total_steps,
        train_examples: train_set.len(),
        val_examples: val_set.len(),
        final_loss: log.last().map_or(f64::NAN, |r| r.loss),
        best_step: best.as_ref().map(|b| b.step),
        best_eval_loss: best.as_ref().map(|b| b.loss),
        initial_eval_loss,
        restored_best,
        resumed_from,
        log,
        tokens: tokens_total,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Loss and summed gradients of one optimizer step over its micro-batches.
fn step_gradients<M: TrainableModel + ?Sized>(
    model: &M,
    vars: &[Var],
    names: &[String],
    batches: &[Batch],
    cfg: &TrainConfig,
    step: usize,
) -> Result<(f64, Vec<Tensor>, usize)> {
    let step_targets: usize = batches.iter().map(|b| b.n_targets).sum();
    let mut grads: Vec<Option<Tensor>> = vec![None; vars.len()];
    let mut loss = 0f64;
    let mut n_tokens = 0;
    for (j, batch) in batches.iter().enumerate() {
        n_tokens += batch.n_tokens;
        if batch.n_targets == 0 {
            continue; // nothing to learn from; HF would produce 0/0 here
        }
        let seed = rng::derive(cfg.seed, PURPOSE_DROPOUT, (step * batches.len() + j) as u64).next_u64();
        let weight = match cfg.loss_norm {
            LossNorm::MicroMean => 1.0 / (batch.n_targets as f64 * batches.len() as f64),
            LossNorm::StepTokens => 1.0 / step_targets as f64,
        };
        let objective = Objective::CrossEntropy { targets: &batch.targets, weight };
        let (scaled, store) = model.loss_and_grads(&batch.ids, &batch.mask, seed, cfg.gradient_checkpointing, objective)?;
        loss += scaled.to_scalar::<f32>()? as f64;
        for (i, v) in vars.iter().enumerate() {
            let g = store.get(v.as_tensor()).ok_or_else(|| TrainError::NoGradient(names[i].clone()))?;
            grads[i] = Some(match grads[i].take() {
                Some(acc) => (acc + g)?,
                None => g.clone(),
            });
        }
    }
    let grads = grads
        .into_iter()
        .zip(vars)
        .map(|(g, v)| g.map_or_else(|| v.as_tensor().zeros_like(), Ok))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok((loss, grads, n_tokens))
}

/// Validation loss as HF's evaluation loop reports it: the mean over eval batches (in order,
/// `eval_batch_size` each) of each batch's token-mean loss, weighted by the batch's rows.
pub fn eval_loss<M: TrainableModel + ?Sized>(
    model: &M,
    val: &[TokenizedExample],
    pad_id: u32,
    cfg: &TrainConfig,
    device: &candle_core::Device,
) -> Result<f64> {
    let mut weighted = 0f64;
    let mut rows = 0usize;
    for chunk in val.chunks(cfg.eval_batch_size) {
        let refs: Vec<&TokenizedExample> = chunk.iter().collect();
        let batch = collate(&refs, pad_id, cfg.max_len, cfg.loss, device)?;
        if batch.n_targets == 0 {
            continue;
        }
        let logits = model.forward_logits(&batch.ids, &batch.mask, None)?.detach();
        let sum = cross_entropy_sum(&logits, &batch.targets)?.to_scalar::<f32>()? as f64;
        weighted += sum / batch.n_targets as f64 * batch.rows as f64;
        rows += batch.rows;
    }
    if rows == 0 {
        return Err(TrainError::Data("validation set has no loss targets".into()));
    }
    Ok(weighted / rows as f64)
}

fn snapshot(names: &[String], vars: &[Var], opt: &AdamW, best: Option<&Best>) -> CheckpointTensors {
    let map = |ts: &mut dyn Iterator<Item = Tensor>| names.iter().cloned().zip(ts).collect::<BTreeMap<_, _>>();
    CheckpointTensors {
        params: map(&mut vars.iter().map(|v| v.as_tensor().clone())),
        exp_avg: map(&mut opt.state.m.iter().cloned()),
        exp_avg_sq: map(&mut opt.state.v.iter().cloned()),
        best: best.map_or_else(BTreeMap::new, |b| map(&mut b.weights.iter().cloned())),
    }
}

fn restore(
    path: &std::path::Path,
    names: &[String],
    vars: &[Var],
    opt: &mut AdamW,
    state: &CheckpointState,
    t: &CheckpointTensors,
    best: &mut Option<Best>,
) -> Result<()> {
    let get = |map: &BTreeMap<String, Tensor>, group: &str, name: &str| {
        map.get(name).cloned().ok_or_else(|| file_err(path, format!("checkpoint lacks {group} tensor `{name}`")))
    };
    for (i, name) in names.iter().enumerate() {
        vars[i].set(&get(&t.params, "param", name)?)?;
        opt.state.m[i] = get(&t.exp_avg, "exp_avg", name)?;
        opt.state.v[i] = get(&t.exp_avg_sq, "exp_avg_sq", name)?;
    }
    opt.state.t = state.adam_t;
    *best = match (state.best_step, state.best_eval_loss) {
        (Some(step), Some(loss)) => {
            Some(Best { step, loss, weights: names.iter().map(|n| get(&t.best, "best", n)).collect::<Result<_>>()? })
        }
        _ => None,
    };
    Ok(())
}
