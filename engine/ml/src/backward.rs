//! Loss and LoRA gradients of one training micro-batch, optionally with per-layer activation
//! checkpointing.
//!
//! candle keeps every forward intermediate alive until `backward` returns, so a plain pass holds
//! all layers' activations at once (~70 MB per SmolLM2 layer at 8 x 128 tokens). With
//! checkpointing, the forward keeps only each layer's input; the backward then walks the layers
//! from the top, recomputes one layer's graph from its saved input, and back-propagates the
//! incoming gradient through it. Peak memory is one layer's graph, for one extra forward. The
//! LoRA dropout masks are seeded by (step, layer, projection), so the recomputed layer is the
//! same function as the first one.
use anyhow::{Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::autograd::GradSink;
use crate::linear::Grad;
use crate::loss::Objective;
use crate::model::{full_positions, key_mask_rows, Llama, Pass};

impl Llama {
    /// Loss (a scalar, detached) and the gradients of the active adapter's tensors for one
    /// micro-batch: `ids`/`mask` are as for `forward`; LoRA dropout draws from `dropout_seed`
    /// only. Dense f32 models on the CPU take the hand-written step (`cpu_train/`), everything
    /// else candle's graph.
    pub fn loss_and_grads(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout_seed: u64,
        checkpoint: bool,
        objective: Objective,
    ) -> Result<(Tensor, GradStore)> {
        if let Some(out) = self.cpu_loss_and_grads(ids, mask, dropout_seed, checkpoint, objective)? {
            return Ok(out);
        }
        self.graph_loss_and_grads(ids, mask, dropout_seed, checkpoint, objective)
    }

    /// `loss_and_grads` through candle's graph: any device and dtype.
    pub(crate) fn graph_loss_and_grads(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout_seed: u64,
        checkpoint: bool,
        objective: Objective,
    ) -> Result<(Tensor, GradStore)> {
        let sink = GradSink::default();
        let (b, t) = ids.dims2()?;
        let (positions, key_mask) = (full_positions(b, t), key_mask_rows(Some(mask), b, t)?);
        // The same masks in every pass over a layer; only passes with `grad` record a graph.
        let tracked = Pass { dropout: Some(dropout_seed), grad: Grad::Sink(&sink) };
        let untracked = Pass { grad: Grad::None, ..tracked };

        let (l, mut grads) = if !checkpoint {
            let hidden = self.hidden_pass(ids, &positions, &key_mask, None, tracked)?;
            let l = objective.graph_loss(&self.logits_train(&hidden)?)?;
            let grads = l.backward()?;
            (l.detach(), grads)
        } else {
            self.checkpointed(ids, &positions, &key_mask, tracked, untracked, objective)?
        };
        // The adapter's gradients were put into the sink by the projections' explicit nodes.
        if let Some(active) = self.active_unmerged() {
            for layer in &self.layers {
                for pair in layer.projs.iter().filter_map(|p| p.loras.get(active)) {
                    for var in [&pair.a, &pair.b] {
                        if let Some(g) = sink.take(var.as_tensor()) {
                            grads.insert(var.as_tensor(), g);
                        }
                    }
                }
            }
        }
        Ok((l, grads))
    }

    /// Forward keeping each layer's input only, the head's backward, then each layer from the
    /// top recomputed with `tracked` and back-propagated. Returns the loss and the head's
    /// gradient store (stripped of the top activation's gradient).
    fn checkpointed(
        &self,
        ids: &Tensor,
        positions: &[Vec<u32>],
        key_mask: &[Vec<u8>],
        tracked: Pass,
        untracked: Pass,
        objective: Objective,
    ) -> Result<(Tensor, GradStore)> {
        let inputs = self.pass_inputs(ids, positions, key_mask, 0)?;
        let mut saved = Vec::with_capacity(self.layers.len());
        let mut x = self.embed_ids(ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let next = self.block(i, layer, &x, &inputs, None, untracked)?;
            saved.push(x);
            x = next;
        }

        // The head: final norm, logits, loss; its backward gives the gradient at the top layer.
        let top = Var::from_tensor(&x)?;
        let hidden = self.rms_norm(top.as_tensor(), &self.norm, true)?;
        let l = objective.graph_loss(&self.logits_train(&hidden)?)?;
        let mut head = l.backward()?;
        let mut grad = head.remove(top.as_tensor()).context("no gradient reached the last layer's output")?;
        drop(hidden);

        for (i, layer) in self.layers.iter().enumerate().rev() {
            let input = Var::from_tensor(&saved[i])?;
            let out = self.block(i, layer, input.as_tensor(), &inputs, None, tracked)?;
            let mut store = (out * &grad)?.sum_all()?.backward()?;
            if i > 0 {
                grad = store.remove(input.as_tensor()).with_context(|| format!("no gradient reached the input of layer {i}"))?;
            }
        }
        Ok((l.detach(), head))
    }
}
