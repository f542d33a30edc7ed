//! What the trainer needs from a model: logits and the adapter's trainable tensors.
//! `syco_ml::Llama` implements this (see `llama.rs`); tests implement it on toy models.
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use syco_ml::Objective;

pub trait TrainableModel {
    /// Logits (B, T, V) for `ids` (B, T) u32 with attention `mask` (B, T) u32 (1 = real token,
    /// 0 = right padding). `dropout_seed` is `Some` in training: LoRA dropout must draw its
    /// masks from that seed only, so a run (and a resumed run) is reproducible. `None` = eval.
    fn forward_logits(&self, ids: &Tensor, mask: &Tensor, dropout_seed: Option<u64>) -> candle_core::Result<Tensor>;

    /// The trainable tensors of `adapter` under canonical PEFT names
    /// (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`), in a stable order.
    fn trainable(&self, adapter: &str) -> Vec<(String, Var)>;

    /// The scalar objective of one training micro-batch and the gradients of the trainable
    /// tensors. The default is one forward and one backward of `objective.graph_loss`; a model
    /// may instead recompute activations per layer when `checkpoint` is set, trading one extra
    /// forward for memory, and compute the objective without a graph.
    fn loss_and_grads(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout_seed: u64,
        checkpoint: bool,
        objective: Objective,
    ) -> candle_core::Result<(Tensor, GradStore)> {
        let _ = checkpoint;
        let l = objective.graph_loss(&self.forward_logits(ids, mask, Some(dropout_seed))?)?;
        let grads = l.backward()?;
        Ok((l, grads))
    }
}
