//! Loss and LoRA gradients of one training micro-batch, optionally with per-layer activation
//! checkpointing.
//!
//! candle keeps every forward intermediate alive until `backward` returns, so a plain pass holds
//! all layers' activations at once (~90 MB per SmolLM2 layer at 8 x 128 tokens). With
//! checkpointing, the forward keeps only each layer's input; the backward then walks the layers
//! from the top, recomputes one layer's graph from its saved input, and back-propagates the
//! incoming gradient through it. Peak memory is one layer's graph, for one extra forward. The
//! LoRA dropout masks are seeded by (step, layer, projection), so the recomputed layer is the
//! same function as the first one.
use anyhow::{Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::model::{full_positions, key_mask_rows, Llama, Pass};

impl Llama {
    /// Loss (a scalar, detached) and the gradients of the active adapter's tensors for one
    /// micro-batch. `loss` maps the logits (B,T,V) to the scalar to minimise; `ids`/`mask` are as
    /// for `forward`; LoRA dropout draws from `dropout_seed` only.
    pub fn loss_and_grads(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout_seed: u64,
        checkpoint: bool,
        loss: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<(Tensor, GradStore)> {
        if !checkpoint {
            let l = loss(&self.forward_train(ids, Some(mask), dropout_seed)?)?;
            let grads = l.backward()?;
            return Ok((l.detach(), grads));
        }
        let (b, t) = ids.dims2()?;
        let inputs = self.pass_inputs(ids, &full_positions(b, t), &key_mask_rows(Some(mask), b, t)?, 0)?;
        // The same masks in both passes; only the second records a graph.
        let forward = Pass { dropout: Some(dropout_seed), grad: false };
        let recompute = Pass { grad: true, ..forward };

        // Forward without a graph, keeping each layer's input only.
        let mut saved = Vec::with_capacity(self.layers.len());
        let mut x = self.embed_ids(ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let next = self.block(i, layer, &x, &inputs, None, forward)?;
            saved.push(x);
            x = next;
        }

        // The head: final norm, logits, loss; its backward gives the gradient at the top layer.
        let top = Var::from_tensor(&x)?;
        // (`grads`, emptied of that gradient, then collects the adapter's gradients.)
        let (l, mut grad, mut grads) = {
            let hidden = self.rms_norm(top.as_tensor(), &self.norm, true)?;
            let l = loss(&self.logits_train(&hidden)?)?;
            let mut head = l.backward()?;
            let grad = head.remove(top.as_tensor()).context("no gradient reached the last layer's output")?;
            (l.detach(), grad, head)
        };

        // Layers from the top: recompute, back-propagate `grad`, keep the adapter's gradients.
        let active = self.active_unmerged();
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let input = Var::from_tensor(&saved[i])?;
            let out = self.block(i, layer, input.as_tensor(), &inputs, None, recompute)?;
            let mut store = (out * &grad)?.sum_all()?.backward()?;
            for proj in &layer.projs {
                if let Some(pair) = active.and_then(|a| proj.loras.get(a)) {
                    for var in [&pair.a, &pair.b] {
                        if let Some(g) = store.remove(var.as_tensor()) {
                            grads.insert(var.as_tensor(), g);
                        }
                    }
                }
            }
            if i > 0 {
                grad = store.remove(input.as_tensor()).with_context(|| format!("no gradient reached the input of layer {i}"))?;
            }
        }
        Ok((l, grads))
    }
}
