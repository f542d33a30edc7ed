//! What a training micro-batch minimises, stated once, and its graph implementation.
//!
//! `Objective` is data, not a closure: the two training paths both read it. candle's graph
//! (`backward.rs`, and any `TrainableModel` in syco-train) evaluates `Objective::graph_loss`; the
//! hand-written CPU step (`cpu_train/`) computes the same loss and its gradient in place in the
//! logits buffer, since candle's backward of it holds three more logits-sized buffers (600 MB
//! at 8 x 128 tokens with a 49k vocabulary). A new kind of loss is a new variant, and each
//! path's `match` must then say how it computes it. The cpu_train tests hold the two to the
//! same values.
//!
//! The graph's cross-entropy: on CPU a fused kernel computes it in one pass per row and its
//! gradient in one more (softmax - one-hot), instead of the ~6 full (N, V) temporaries of
//! log_softmax + gather; other devices use the composed candle ops.
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

/// The scalar a training micro-batch minimises, as a function of its logits (B, T, V).
#[derive(Clone, Copy, Debug)]
pub enum Objective<'a> {
    /// `weight · Σ -log softmax(logits[i])[targets[i]]` over the positions i (of B*T) whose
    /// target is not negative (the trainer's `IGNORE`).
    CrossEntropy { targets: &'a [i64], weight: f64 },
}

impl Objective<'_> {
    /// The loss through candle's ops (differentiable; any device and dtype).
    pub fn graph_loss(&self, logits: &Tensor) -> Result<Tensor> {
        match *self {
            Objective::CrossEntropy { targets, weight } => cross_entropy_sum(logits, targets)? * weight,
        }
    }
}

/// Sum over positions with a target of -log softmax(logits)[target]. `logits` is (B, T, V);
/// `targets` (B*T) are already shifted (the trainer's `Batch::targets`); a negative one (the
/// trainer's `IGNORE`) is no target. Rows without a target cost no
/// softmax (skipped by the fused kernel, dropped before the composed ops).
pub fn cross_entropy_sum(logits: &Tensor, targets: &[i64]) -> Result<Tensor> {
    let (b, t, v) = logits.dims3()?;
    let flat = logits.reshape((b * t, v))?;
    let dev = logits.device();
    if targets.iter().all(|&t| t < 0) {
        return Tensor::zeros((), DType::F32, dev);
    }
    if dev.is_cpu() {
        // Rows without a target get label NO_TARGET: zero loss and zero gradient, no copy.
        let labels: Vec<u32> = targets.iter().map(|&t| if t < 0 { NO_TARGET } else { t as u32 }).collect();
        let per_row =
            flat.to_dtype(DType::F32)?.contiguous()?.apply_op1(FusedCrossEntropy { labels: Arc::new(labels), lse: Mutex::new(None) })?;
        return per_row.sum_all();
    }
    let rows: Vec<u32> = (0..targets.len() as u32).filter(|&i| targets[i as usize] >= 0).collect();
    let labels: Vec<u32> = rows.iter().map(|&i| targets[i as usize] as u32).collect();
    let n = rows.len();
    let picked = if n == b * t { flat } else { flat.index_select(&Tensor::from_vec(rows, n, dev)?, 0)? };
    composed(&picked.to_dtype(DType::F32)?, labels)
}

/// Label of a row that is not a target in the fused kernel.
const NO_TARGET: u32 = u32::MAX;

fn composed(logits: &Tensor, labels: Vec<u32>) -> Result<Tensor> {
    let n = labels.len();
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let at_label = logp.gather(&Tensor::from_vec(labels, (n, 1), logits.device())?, 1)?;
    at_label.sum_all()?.neg()
}

/// Per-row loss lse(x) - x[label] of (N, V) f32 logits; remembers each row's lse for `bwd`.
struct FusedCrossEntropy {
    labels: Arc<Vec<u32>>,
    lse: Mutex<Option<Arc<Vec<f32>>>>,
}

fn f32_rows<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> candle_core::Result<(&'a [f32], usize, usize)> {
    let CpuStorage::F32(data) = storage else { candle_core::bail!("{what}: expected f32 logits") };
    let Some((start, end)) = layout.contiguous_offsets() else { candle_core::bail!("{what}: expected contiguous logits") };
    let (n, v) = layout.shape().dims2()?;
    Ok((&data[start..end], n, v))
}

fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max; // inf / NaN propagate so the trainer reports them
    }
    let sum: f32 = row.iter().map(|x| (x - max).exp()).sum();
    max + sum.ln()
}

impl CustomOp1 for FusedCrossEntropy {
    fn name(&self) -> &'static str {
        "syco-cross-entropy"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, n, v) = f32_rows(storage, layout, self.name())?;
        if n != self.labels.len() {
            candle_core::bail!("{}: {n} rows but {} labels", self.name(), self.labels.len());
        }
        if let Some(&bad) = self.labels.iter().find(|&&y| y != NO_TARGET && y as usize >= v) {
            candle_core::bail!("{}: label {bad} is outside the vocabulary of {v}", self.name());
        }
        let lse: Vec<f32> =
            x.par_chunks(v).zip(self.labels.par_iter()).map(|(row, &y)| if y == NO_TARGET { 0.0 } else { log_sum_exp(row) }).collect();
        let loss: Vec<f32> = lse
            .iter()
            .zip(self.labels.iter())
            .enumerate()
            .map(|(r, (l, &y))| if y == NO_TARGET { 0.0 } else { l - x[r * v + y as usize] })
            .collect();
        *self.lse.lock().expect("lse lock") = Some(Arc::new(lse));
        Ok((CpuStorage::F32(loss), Shape::from(n)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let lse = self.lse.lock().expect("lse lock").clone();
        let Some(lse) = lse else { candle_core::bail!("{}: backward before forward", self.name()) };
        let op = CrossEntropyGrad { labels: self.labels.clone(), lse };
        Ok(Some(arg.apply_op2_no_bwd(&grad_res.to_dtype(DType::F32)?.contiguous()?, &op)?))
    }
}

/// d loss_r / d x_rj = g_r (softmax(x_r)_j - [j = label_r]).
struct CrossEntropyGrad {
    labels: Arc<Vec<u32>>,
    lse: Arc<Vec<f32>>,
}

impl CustomOp2 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "syco-cross-entropy-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, n, v) = f32_rows(s1, l1, self.name())?;
        let CpuStorage::F32(g) = s2 else { candle_core::bail!("{}: expected f32 gradient", self.name()) };
        let Some((gs, _)) = l2.contiguous_offsets() else { candle_core::bail!("{}: expected contiguous gradient", self.name()) };
        let g = &g[gs..gs + n];
        let mut out = vec![0f32; n * v];
        out.par_chunks_mut(v).zip(x.par_chunks(v)).enumerate().for_each(|(r, (o, xr))| {
            let (lse, gr, y) = (self.lse[r], g[r], self.labels[r]);
            if y == NO_TARGET {
                return; // `out` is already zero
            }
            for (oj, xj) in o.iter_mut().zip(xr) {
                *oj = gr * (xj - lse).exp();
            }
            o[y as usize] -= gr;
        });
        Ok((CpuStorage::F32(out), Shape::from((n, v))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    const IGNORE: i64 = -100;

    #[test]
    fn matches_hand_computed_cross_entropy() -> Result<()> {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[[1f32, 2.0, 0.5], [0.0, 0.0, 3.0]]], &dev)?; // (1, 2, 3)
        let got = cross_entropy_sum(&logits, &[1, IGNORE])?.to_scalar::<f32>()?;
        let lse = (1f32.exp() + 2f32.exp() + 0.5f32.exp()).ln();
        assert!((got - (lse - 2.0)).abs() < 1e-6);
        assert_eq!(cross_entropy_sum(&logits, &[IGNORE, IGNORE])?.to_scalar::<f32>()?, 0.0);
        Ok(())
    }

    #[test]
    fn fused_kernel_matches_composed_ops_in_value_and_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 3.0, (2, 5, 11), &dev)?))?;
        let targets: Vec<i64> = vec![3, IGNORE, 0, 10, 5, 7, IGNORE, 1, 2, IGNORE];
        let fused = (cross_entropy_sum(x.as_tensor(), &targets)? * 0.7)?;
        let rows: Vec<u32> = (0..10u32).filter(|&i| targets[i as usize] >= 0).collect();
        let labels: Vec<u32> = rows.iter().map(|&i| targets[i as usize] as u32).collect();
        let picked = x.as_tensor().reshape((10, 11))?.index_select(&Tensor::from_vec(rows, 7, &dev)?, 0)?;
        let reference = (composed(&picked, labels)? * 0.7)?;
        let (a, b) = (fused.to_scalar::<f32>()?, reference.to_scalar::<f32>()?);
        assert!((a - b).abs() < 1e-5 * b.abs(), "{a} vs {b}");
        let ga = fused.backward()?.get(x.as_tensor()).expect("grad").flatten_all()?.to_vec1::<f32>()?;
        let gb = reference.backward()?.get(x.as_tensor()).expect("grad").flatten_all()?.to_vec1::<f32>()?;
        for (p, q) in ga.iter().zip(&gb) {
            assert!((p - q).abs() < 1e-6, "{p} vs {q}");
        }
        Ok(())
    }
}
