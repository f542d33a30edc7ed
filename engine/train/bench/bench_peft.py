"""PyTorch + PEFT side of bench-results/train.md: LoRA training tokens/s and peak RSS on a
SmolLM2-135M-shaped LlamaForCausalLM (random f32 weights), r 16, alpha 32, dropout 0.1 on the
7 projections, AdamW(lr 2e-4), labels = input_ids, random ids, 2 threads (PEERS.md Part 1).

  /tmp/peft-venv/bin/python engine/train/bench/bench_peft.py 8x128 2x512 [--steps 12 --warmup 2]

Each shape should run in a fresh process (pass one shape per call) so peak RSS is per shape.
Prints one JSON line per shape.
"""
import json
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM


def rss_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def main():
    args = sys.argv[1:]
    steps, warmup, shapes = 12, 2, []
    while args:
        a = args.pop(0)
        if a == "--steps":
            steps = int(args.pop(0))
        elif a == "--warmup":
            warmup = int(args.pop(0))
        else:
            b, t = a.split("x")
            shapes.append((int(b), int(t)))
    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, rms_norm_eps=1e-5, rope_theta=100000.0,
                      max_position_embeddings=8192, tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg).float()
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.1, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4)
    for batch, seq in shapes:
        times, cpus, losses = [], [], []
        for i in range(warmup + steps):
            if i == warmup:
                open("/proc/self/clear_refs", "w").write("5")
            ids = torch.randint(0, cfg.vocab_size, (batch, seq))
            t0, c0 = time.perf_counter(), time.process_time()
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if i >= warmup:
                times.append(dt)
                cpus.append(dc)
                losses.append(loss.item())
        tps = sorted(batch * seq / t for t in times)
        print(json.dumps({
            "impl": "pytorch+peft", "batch": batch, "seq": seq, "steps": steps,
            "tokens_per_s_median": statistics.median(tps), "tokens_per_s_min": tps[0], "tokens_per_s_max": tps[-1],
            "tokens_per_cpu_s": batch * seq * steps / sum(cpus), "cpu_s": sum(cpus), "wall_s": sum(times),
            "peak_rss_mib": rss_kib("VmHWM:") // 1024, "first_loss": losses[0], "last_loss": losses[-1],
            "threads": torch.get_num_threads(), "torch": torch.__version__,
        }), flush=True)


if __name__ == "__main__":
    main()
