"""HF transformers side of bench-results/ml.md: the same measures as engine/ml/examples/bench.rs
on the same GGUF, 2 threads. Generation: seeded random 32-token prompts + exactly 64 new tokens,
greedy, batch 1 and 16; scoring: 16 x 128 tokens, forward + log_softmax + gather.

  python3 -m venv /tmp/hf && /tmp/hf/bin/pip install torch transformers gguf
  /tmp/hf/bin/python engine/ml/bench/bench_transformers.py MODEL.gguf [runs] [bf16]

Prints one JSON line per measure (median, min, max over `runs`, after one warm-up). With `bf16`
it also scores under torch.autocast(cpu, bfloat16) (oneDNN's AMX kernels on CPUs that have
them): the peer of syco's `dense-bf16` path, with how far its log-probs are from f32's.
"""
import json
import os
import statistics
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def summary(path, measure, values):
    values = sorted(values)
    print(json.dumps({"path": path, "measure": measure, "median": round(statistics.median(values), 1),
                      "min": round(values[0], 1), "max": round(values[-1], 1), "runs": len(values)}), flush=True)


def main():
    gguf = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(2)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf), torch_dtype=torch.float32)
    model.eval()
    print(json.dumps({"path": "transformers", "measure": "load_s", "value": round(time.perf_counter() - t0, 3),
                      "torch": torch.__version__}), flush=True)
    vocab = model.config.vocab_size
    with torch.inference_mode():
        for batch in (1, 16):
            prompts = torch.randint(0, vocab, (batch, 32), generator=torch.Generator().manual_seed(42 + batch))
            mask = torch.ones_like(prompts)
            kwargs = dict(attention_mask=mask, do_sample=False, max_new_tokens=64, min_new_tokens=64,
                          use_cache=True, pad_token_id=0)
            model.generate(prompts, **kwargs)  # warm-up
            rates = []
            for _ in range(runs):
                t = time.perf_counter()
                out = model.generate(prompts, **kwargs)
                new = out.shape[1] - 32
                assert new == 64, new
                rates.append(batch * new / (time.perf_counter() - t))
            summary("transformers", f"generate_b{batch}_new_tok_s", rates)
        seqs = torch.randint(0, vocab, (16, 128), generator=torch.Generator().manual_seed(7))

        def score():
            logits = model(seqs).logits[:, :-1].float()
            return torch.log_softmax(logits, -1).gather(-1, seqs[:, 1:, None])

        score()  # warm-up
        rates = []
        for _ in range(runs):
            t = time.perf_counter()
            score()
            rates.append(16 * 128 / (time.perf_counter() - t))
        summary("transformers", "score_16x128_tok_s", rates)
        if "bf16" in sys.argv[3:]:
            exact = score()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                fast = score()  # warm-up
                rates = []
                for _ in range(runs):
                    t = time.perf_counter()
                    score()
                    rates.append(16 * 128 / (time.perf_counter() - t))
            summary("transformers-bf16", "score_16x128_tok_s", rates)
            diff = (fast.float() - exact).abs()
            print(json.dumps({"path": "transformers-bf16", "measure": "score_logprob_vs_f32",
                              "mean_abs": round(diff.mean().item(), 5), "max_abs": round(diff.max().item(), 5)}), flush=True)


if __name__ == "__main__":
    main()
