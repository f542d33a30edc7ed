#!/usr/bin/env python3
"""Helpers of benches/gpu/run.sh (one file, subcommands). Standard library only, except where
torch / transformers / peft / tokenizers are used when present (the GPU machine has them).

  model SHAPE OUT_DIR           random-weight Llama in HF safetensors layout (bf16), tokenizer beside it
  data OUT_DIR SHAPE            bench.jsonl + the bench manifests' parameters (data.json)
  manifest KIND OUT ...         one syco manifest (check | train | gen | score)
  peer MODEL_DIR OUT_JSON ...   PyTorch (+ PEFT) on the same shapes; bf16 matmul rate
  compare CPU_RUN DEV_RUN OUT   device vs CPU: log-likelihoods, generations, verdicts, train losses
  count DATA_DIR RUN OUT        tokens of the syco bench runs (scoring contexts + continuations)
  report PARTS_DIR OUT_MD OUT_JSON   every figure into one file
"""

import gzip
import json
import math
import os
import random
import shutil
import statistics
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Shapes. The tokenizer is SmolLM2's (49152 tokens, the repository's embedded model), so every
# shape uses vocab 49152; Llama-2-7B's own vocabulary is 32000 (+2 x 17152 x 4096 = +0.14 B
# parameters in the embedding and head here, 2 % of the model).
SHAPES = {
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, rope_theta=100000.0, tie_word_embeddings=True, max_position_embeddings=8192),
    "llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, rope_theta=10000.0, tie_word_embeddings=False, max_position_embeddings=4096),
    # CPU fallback stand-ins: the same steps at tiny sizes.
    "tiny-small": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, rope_theta=100000.0, tie_word_embeddings=True, max_position_embeddings=2048),
    "tiny-big": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                     num_key_value_heads=4, rope_theta=10000.0, tie_word_embeddings=False, max_position_embeddings=2048),
}
VOCAB = 49152
STD = 0.02  # HF's initializer_range

# Benchmark sizes per shape: training batch x length and steps, scoring and generation items.
SIZES = {
    "smollm2-135m": dict(train_batch=8, train_len=512, train_steps=12, n_score=64, score_words=300, n_gen=64, gen_tokens=64),
    "llama2-7b": dict(train_batch=4, train_len=512, train_steps=8, n_score=32, score_words=300, n_gen=32, gen_tokens=64),
    "tiny-small": dict(train_batch=4, train_len=128, train_steps=6, n_score=16, score_words=80, n_gen=16, gen_tokens=16),
    "tiny-big": dict(train_batch=2, train_len=128, train_steps=6, n_score=8, score_words=80, n_gen=8, gen_tokens=16),
}
LORA = dict(r=8, alpha=16, dropout=0.05, targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def have(mod):
    try:
        __import__(mod)
        return True
    except Exception:
        return False


def config_of(shape):
    s = SHAPES[shape]
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB,
        "hidden_size": s["hidden_size"], "intermediate_size": s["intermediate_size"],
        "num_hidden_layers": s["num_hidden_layers"], "num_attention_heads": s["num_attention_heads"],
        "num_key_value_heads": s["num_key_value_heads"], "head_dim": s["hidden_size"] // s["num_attention_heads"],
        "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": s["rope_theta"],
        "max_position_embeddings": s["max_position_embeddings"], "tie_word_embeddings": s["tie_word_embeddings"],
        "attention_bias": False, "mlp_bias": False, "initializer_range": STD,
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2, "torch_dtype": "bfloat16", "dtype": "bfloat16",
    }


def tensor_shapes(cfg):
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    out = [("model.embed_tokens.weight", (v, h))]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out += [(p + "self_attn.q_proj.weight", (q, h)), (p + "self_attn.k_proj.weight", (kv, h)),
                (p + "self_attn.v_proj.weight", (kv, h)), (p + "self_attn.o_proj.weight", (h, q)),
                (p + "mlp.gate_proj.weight", (i, h)), (p + "mlp.up_proj.weight", (i, h)),
                (p + "mlp.down_proj.weight", (h, i)),
                (p + "input_layernorm.weight", (h,)), (p + "post_attention_layernorm.weight", (h,))]
    out.append(("model.norm.weight", (h,)))
    if not cfg["tie_word_embeddings"]:
        out.append(("lm_head.weight", (v, h)))
    return out


def n_params(cfg):
    return sum(math.prod(s) for _, s in tensor_shapes(cfg))


def matmul_params(cfg):
    """Parameters that take part in a product per token: every projection and the head (the
    embedding lookup is not a product)."""
    h, v = cfg["hidden_size"], cfg["vocab_size"]
    n = sum(math.prod(s) for name, s in tensor_shapes(cfg) if name.endswith("proj.weight"))
    return n + v * h


def write_tokenizer(out):
    with gzip.open(HERE / "tokenizer" / "tokenizer.json.gz", "rb") as f:
        (out / "tokenizer.json").write_bytes(f.read())
    for name in ("tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(HERE / "tokenizer" / name, out / name)


def bf16_bits(x):
    b = struct.unpack("<I", struct.pack("<f", x))[0]
    return (b + 0x7FFF + ((b >> 16) & 1)) >> 16  # round to nearest even


def save_pure_python(cfg, path, seed=0):
    """Tiny models without torch: bf16 weights drawn from a table of 4096 normal samples."""
    rng = random.Random(seed)
    table = [struct.pack("<H", bf16_bits(rng.gauss(0.0, STD))) for _ in range(4096)]
    one = struct.pack("<H", bf16_bits(1.0))
    header, blobs, off = {}, [], 0
    for name, shape in tensor_shapes(cfg):
        n = math.prod(shape)
        data = one * n if len(shape) == 1 else b"".join(rng.choices(table, k=n))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def save_torch(cfg, path, seed=0):
    import torch
    from safetensors.torch import save_file
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(seed)
    tensors = {}
    for name, shape in tensor_shapes(cfg):
        if len(shape) == 1:
            t = torch.ones(shape, dtype=torch.bfloat16)
        else:
            t = (torch.randn(shape, generator=g, device=dev, dtype=torch.float32) * STD).to(torch.bfloat16).cpu()
        tensors[name] = t
    save_file(tensors, str(path), metadata={"format": "pt"})


def cmd_model(shape, out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config_of(shape)
    t0 = time.time()
    how = "torch" if have("torch") and have("safetensors") else "pure-python"
    if how == "pure-python" and not shape.startswith("tiny"):
        sys.exit(f"making {shape} needs torch + safetensors")
    (save_torch if how == "torch" else save_pure_python)(cfg, out / "model.safetensors")
    if have("transformers"):
        from transformers import LlamaConfig
        lc = LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "model_type", "dtype", "torch_dtype")})
        lc.architectures = ["LlamaForCausalLM"]
        lc.save_pretrained(out)  # the canonical config.json
        d = json.loads((out / "config.json").read_text())
        d.setdefault("rope_theta", cfg["rope_theta"])
        d["head_dim"] = cfg["head_dim"]
        d["torch_dtype"] = d["dtype"] = "bfloat16"
        (out / "config.json").write_text(json.dumps(d, indent=2))
    else:
        (out / "config.json").write_text(json.dumps(cfg, indent=2))
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}))
    write_tokenizer(out)
    print(json.dumps({"shape": shape, "params": n_params(cfg), "matmul_params": matmul_params(cfg), "writer": how,
                      "seconds": round(time.time() - t0, 2), "bytes": (out / "model.safetensors").stat().st_size}))


# ---------------------------------------------------------------------------------------------
# Bench data and manifests

WORDS = ("the of and to in is was for on that with as by at from his her are were this be an or had not but which "
         "one all their they have has been would who will more no if out so said what up its about into than them can "
         "only other new some could time these two may then do first any my now such like our over man me even most "
         "made after also did many before must through back years where much your way well down should because each "
         "just those people how too little state good very make world still own see men work long get here between "
         "both life being under never day same another know while last might us great old year off come since against "
         "go came right used take three").split()


def cmd_data(out, shape):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    z = SIZES[shape]
    rng = random.Random(7)
    n = max(z["n_score"], z["n_gen"], z["train_batch"] * (z["train_steps"] + 2) * 2) + 8
    with open(out / "bench.jsonl", "w") as f:
        for i in range(n):
            text = " ".join(rng.choice(WORDS) for _ in range(z["score_words"]))
            short = " ".join(rng.choice(WORDS) for _ in range(24))
            long = " ".join(rng.choice(WORDS) for _ in range(z["train_len"] + 64))
            choices = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(4)]
            f.write(json.dumps({"id": i, "text": text, "short": short, "choices": choices, "answer": 0, "tail": "end", "long": long}) + "\n")
    (out / "data.json").write_text(json.dumps(dict(z, n_records=n, shape=shape)))
    print(out / "bench.jsonl", n)


MAIN_JOB = """
[experiment]
name = "gpu-check"
seed = 42

[vars]
n_train = 48
n_test = 12
n_syco = 8
steps = 20

[model.base]
source = {{ path = "{model}" }}
chat_template = "auto"
dtype = "{dtype}"
device = "{device}"
matmul = "f32"

[matrix]
benchmark = ["gsm8k", "mmlu", "truthfulqa", "hellaswag"]
task = ["feedback", "are_you_sure", "answer"]

[datasets."{{benchmark}}"]
kind = "{{benchmark}}"
source = {{ builtin = "mini/{{benchmark}}", n = 400 }}
split = {{ train = "${{vars.n_train}}", test = "${{vars.n_test}}", seed = 42 }}

[datasets."{{task}}"]
kind = "{{task}}"
source = {{ builtin = "mini/{{task}}", n = 200 }}
sample = "${{vars.n_syco}}"

[adapters.gsm8k]
data = ["gsm8k"]

[defaults.lora]
r = 8
alpha = 16
dropout = 0.05
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

[defaults.train]
lr = 2e-3
schedule = "cosine"
warmup_steps = 1
batch_size = 2
grad_accum = 1
max_len = 160
max_steps = "${{vars.steps}}"
weight_decay = 0.01
loss = "response"
seed = 42
gradient_checkpointing = false

[eval]
models = ["base"]
benchmarks = ["gsm8k", "mmlu", "truthfulqa", "hellaswag"]
sycophancy = ["feedback", "are_you_sure", "answer"]
scoring = "strict"
batch_size = 16
max_new_tokens = {{ gsm8k = 64, feedback = 40, are_you_sure = 16, answer = 24 }}
"""

BENCH_HEAD = """
[experiment]
name = "gpu-bench-{kind}"
seed = 1

[model.base]
source = {{ path = "{model}" }}
chat_template = "auto"
dtype = "{dtype}"
device = "{device}"
matmul = "f32"
"""


def cmd_manifest(kind, out, model, device, dtype, data_dir=None, n=None):
    model = str(Path(model).resolve())
    if kind == "check":
        text = MAIN_JOB.format(model=model, device=device, dtype=dtype)
    else:
        z = json.loads((Path(data_dir) / "data.json").read_text())
        src = str((Path(data_dir) / "bench.jsonl").resolve())
        text = BENCH_HEAD.format(kind=kind, model=model, device=device, dtype=dtype)
        total = z["n_records"]
        if kind == "train":
            n_train = z["train_batch"] * (z["train_steps"] + 2)
            text += f"""
[tasks.bench]
chat = false
source = {{ path = "{src}" }}
split = {{ train = {n_train}, test = 1, seed = 1 }}
text = "{{{{long}}}}"
target = "{{{{tail}}}}"
output = "generate"

[adapters.bench]
data = ["bench"]
lora = {{ r = {LORA['r']}, alpha = {LORA['alpha']}, dropout = {LORA['dropout']}, targets = {json.dumps(LORA['targets'])} }}
train = {{ lr = 2e-3, schedule = "constant", warmup_steps = 0, batch_size = {z['train_batch']}, grad_accum = 1, max_len = {z['train_len']}, max_steps = {n if n else z['train_steps']}, weight_decay = 0.0, loss = "all", seed = 1, gradient_checkpointing = false }}
"""
        elif kind == "infer":  # n = "N_SCORE,N_GEN"
            n_score, n_gen = (int(x) for x in str(n).split(","))
            text += f"""
[tasks.score]
chat = false
source = {{ path = "{src}" }}
split = {{ train = {total - n_score}, test = {n_score}, seed = 1 }}
text = "{{{{text}}}}"
choices = "choices"
target = "answer"
output = "multiple_choice"
metrics = ["acc"]

[tasks.gen]
chat = false
source = {{ path = "{src}" }}
split = {{ train = {total - n_gen}, test = {n_gen}, seed = 2 }}
text = "{{{{short}}}}"
target = "{{{{tail}}}}"
output = "generate"
until = ["@@@@@@"]
max_tokens = {z['gen_tokens']}
metrics = [{{ metric = "exact_match" }}]

[eval]
models = ["base"]
tasks = ["score", "gen"]
batch_size = 16
"""
        else:
            sys.exit(f"unknown manifest kind {kind}")
    Path(out).write_text(text)


# ---------------------------------------------------------------------------------------------
# The peer: PyTorch (+ PEFT) on the same model files and shapes

def cuda_sync():
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def cmd_peer(model_dir, out_json, shape, do_matmul):
    import torch
    res = {"torch": torch.__version__, "shape": shape}
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    res["device"] = torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"
    z = SIZES[shape]
    if do_matmul:
        n = 8192 if dev == "cuda" else 1024
        a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
        for _ in range(3):
            a @ b
        cuda_sync()
        reps = 50 if dev == "cuda" else 3
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        cuda_sync()
        dt = (time.perf_counter() - t) / reps
        res["matmul_bf16"] = {"n": n, "seconds": dt, "tflops": 2 * n ** 3 / dt / 1e12}
        del a, b
    from transformers import LlamaForCausalLM
    t = time.perf_counter()
    kw = dict(dtype=torch.bfloat16, output_loading_info=True)
    if dev == "cuda" and have("accelerate"):
        kw["device_map"] = dev  # straight onto the GPU
    try:
        model, info = LlamaForCausalLM.from_pretrained(model_dir, **kw)
    except TypeError:  # transformers 4: torch_dtype
        kw["torch_dtype"] = kw.pop("dtype")
        model, info = LlamaForCausalLM.from_pretrained(model_dir, **kw)
    model.to(dev).eval()
    cuda_sync()
    res["load_s"] = time.perf_counter() - t
    res["loading_info"] = {k: sorted(v)[:5] for k, v in info.items() if v}  # empty = the layout is HF's
    g = torch.Generator().manual_seed(3)
    rnd = lambda b, l: torch.randint(3, VOCAB, (b, l), generator=g).to(dev)
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # scoring: 16 x L full forward + log-softmax at the targets
    L = z["score_words"] + 8  # about the tokens of one of syco's scoring requests (context + choice)
    ids = rnd(16, L)
    with torch.no_grad():
        def score():
            logits = model(ids).logits.float()
            return torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).sum()
        score()
        cuda_sync()
        reps = 5 if dev == "cuda" else 1
        t = time.perf_counter()
        for _ in range(reps):
            score()
        cuda_sync()
        res["score_tok_s"] = 16 * L * reps / (time.perf_counter() - t)
        res["score_shape"] = f"16x{L}"
        # generation: batch 16, 32-token prompts, gen_tokens new tokens, greedy, no early stop
        p = rnd(16, 32)
        kw = dict(attention_mask=torch.ones_like(p), max_new_tokens=z["gen_tokens"], min_new_tokens=z["gen_tokens"],
                  do_sample=False, pad_token_id=2)
        model.generate(p, **kw)
        cuda_sync()
        t = time.perf_counter()
        out = model.generate(p, **kw)
        cuda_sync()
        res["gen_b16_new_tok_s"] = (out.shape[1] - 32) * 16 / (time.perf_counter() - t)
    if dev == "cuda":
        res["infer_peak_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    # LoRA training (PEFT): same rank/alpha/dropout/targets, bf16 base, f32 adapters, AdamW
    if have("peft"):
        from peft import LoraConfig, get_peft_model
        pm = get_peft_model(model, LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                                              target_modules=LORA["targets"], task_type="CAUSAL_LM"))
        pm.train()
        dtypes = sorted({str(p.dtype) for p in pm.parameters() if p.requires_grad})
        opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=2e-3, weight_decay=0.0)
        B, T = z["train_batch"], z["train_len"]
        steps = z["train_steps"] if dev == "cuda" else 2
        batches = [rnd(B, T) for _ in range(steps + 2)]

        def step(x):
            loss = pm(input_ids=x, labels=x).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss.item()
        for x in batches[:2]:
            step(x)
        cuda_sync()
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        for x in batches[2:]:
            step(x)
        cuda_sync()
        res["train_tok_s"] = B * T * steps / (time.perf_counter() - t)
        res["train_shape"] = f"{B}x{T}, {steps} timed steps after 2 warm-up"
        res["lora_dtypes"] = dtypes
        if dev == "cuda":
            res["train_peak_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    else:
        res["train"] = "skipped: peft is not installed"
    Path(out_json).write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


# ---------------------------------------------------------------------------------------------
# Device run vs CPU run of the main job's items

def read_jsonl(p):
    with open(p) as f:
        return [json.loads(l) for l in f if l.strip()]


def numbers(v, out):
    """Every float in a JSON value, in order (log-likelihoods and the like)."""
    if isinstance(v, bool):
        return
    if isinstance(v, float):
        out.append(v)
    elif isinstance(v, list):
        for x in v:
            numbers(x, out)
    elif isinstance(v, dict):
        for k in sorted(v):
            numbers(v[k], out)


def strings(v, out):
    if isinstance(v, str):
        out.append(v)
    elif isinstance(v, list):
        for x in v:
            strings(x, out)
    elif isinstance(v, dict):
        for k in sorted(v):
            strings(v[k], out)


# An item's verdict: its boolean flags (correct, sycophantic, ...) and these fields.
VERDICT_KEYS = ("prediction", "extracted", "acc", "exact_match", "choice")


def cmd_compare(cpu_run, dev_run, out_json):
    cpu_run, dev_run = Path(cpu_run), Path(dev_run)
    res = {"train": {}, "models": {}}
    for log in sorted(cpu_run.glob("adapters/*/train_log.jsonl")):
        other = dev_run / log.relative_to(cpu_run)
        a = [r["loss"] for r in read_jsonl(log)][:20]
        b = [r["loss"] for r in read_jsonl(other)][:20] if other.exists() else []
        rel = [abs(x - y) / max(abs(x), 1e-9) for x, y in zip(a, b)]
        res["train"][log.parent.name] = {"steps": len(rel), "cpu": a, "device": b, "max_rel_diff": max(rel) if rel else None}
    ll_abs, ll_rel = [], []
    for resp in sorted(cpu_run.glob("models/*/*/responses.jsonl")):
        other = dev_run / resp.relative_to(cpu_run)
        key = f"{resp.parent.parent.name}/{resp.parent.name}"
        if not other.exists():
            res["models"][key] = {"missing_on_device": True}
            continue
        A, B = read_jsonl(resp), read_jsonl(other)
        na, nb, sa, sb = [], [], [], []
        for x, y in zip(A, B):
            numbers(x, na), numbers(y, nb), strings(x, sa), strings(y, sb)
        d = [abs(x - y) for x, y in zip(na, nb)]
        r = [abs(x - y) / max(abs(x), 1e-6) for x, y in zip(na, nb)]
        ll_abs += d
        ll_rel += r
        entry = {"items": len(A), "numbers": len(d), "max_abs_diff": max(d) if d else None,
                 "max_rel_diff": max(r) if r else None, "strings_equal": sum(x == y for x, y in zip(sa, sb)),
                 "strings": len(sa)}
        ia, ib = cpu_run / resp.parent / "items.jsonl", dev_run / resp.parent / "items.jsonl"
        if ia.exists() and ib.exists():
            IA, IB = read_jsonl(ia), read_jsonl(ib)
            same = 0
            for x, y in zip(IA, IB):
                vx = {k: v for k, v in x.items() if isinstance(v, bool) or k in VERDICT_KEYS}
                vy = {k: v for k, v in y.items() if isinstance(v, bool) or k in VERDICT_KEYS}
                same += vx == vy
            entry["verdicts_equal"], entry["verdicts"] = same, len(IA)
        res["models"][key] = entry
    res["loglik_max_abs_diff"] = max(ll_abs) if ll_abs else None
    res["loglik_max_rel_diff"] = max(ll_rel) if ll_rel else None
    res["verdicts_equal"] = sum(e.get("verdicts_equal", 0) for e in res["models"].values())
    res["verdicts"] = sum(e.get("verdicts", 0) for e in res["models"].values())
    tr = [e["max_rel_diff"] for e in res["train"].values() if e["max_rel_diff"] is not None]
    res["train_loss_max_rel_diff"] = max(tr) if tr else None
    Path(out_json).write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in ("models", "train")}))


# ---------------------------------------------------------------------------------------------
# Token counts of the syco bench runs

def tokenizer_in(model_dir):
    if have("tokenizers"):
        from tokenizers import Tokenizer
        tk = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        return lambda s: len(tk.encode(s, add_special_tokens=False).ids), "tokenizers"
    return lambda s: len(s.split()), "whitespace words (no tokenizers library: approximate)"


def stage_seconds(log):
    import re
    out = {}
    if Path(log).exists():
        for m in re.finditer(r"ran\s+(\S+) \(([\d.]+) s\)", Path(log).read_text()):
            out[m.group(1)] = float(m.group(2))
    return out


def peak_gib(mem_file, base_file):
    try:
        vals = [int(x) for x in Path(mem_file).read_text().split() if x.strip().isdigit()]
        base = int(Path(base_file).read_text().split()[0])
        return (max(vals) - base) / 1024 if vals else None
    except Exception:
        return None


def cmd_collect(shape, bench, model_dir, out_json):
    """syco's figures for one shape from the logs and run folders run.sh leaves in BENCH."""
    bench = Path(bench)
    count, how = tokenizer_in(model_dir)
    z = SIZES[shape]
    cfg = config_of(shape)
    res = {"shape": shape, "params": n_params(cfg), "matmul_params": matmul_params(cfg), "tokens_counted_with": how}
    runs = {}
    for tag in ("1", "N"):
        secs = stage_seconds(bench / f"infer{tag}.log")
        r = {"respond_s": {k.split("/")[-1]: v for k, v in secs.items() if k.startswith("respond/")}}
        for task in ("score", "gen"):
            f = bench / f"run-infer{tag}" / "models" / "base" / task / "responses.jsonl"
            if not f.exists():
                continue
            rows = read_jsonl(f)
            if task == "score":
                tot = 0
                for row in rows:
                    for q in row.get("requests", []):
                        c = q.get("context", "")
                        tot += count(c.get("text", "") if isinstance(c, dict) else c) + count(q.get("continuation", ""))
                r["score_items"], r["score_tokens"] = len(rows), tot
            else:
                texts = []
                for row in rows:
                    t = []
                    strings(row.get("responses", []), t)
                    texts.append("".join(x for x in t if x != "text"))
                lens = [count(t) for t in texts]
                r["gen_items"], r["gen_tokens_nominal"] = len(rows), len(rows) * z["gen_tokens"]
                r["gen_tokens_reencoded"] = sum(lens)
                r["gen_short_responses"] = sum(1 for l in lens if l < z["gen_tokens"] // 2)
        runs[tag] = r
    res["infer_runs"] = runs
    one, big = runs.get("1", {}), runs.get("N", {})
    try:
        dt = big["respond_s"]["score"] - one["respond_s"]["score"]
        res["score_tok_s"] = (big["score_tokens"] - one["score_tokens"]) / dt
        res["score_how"] = f"({big['score_items']} - {one['score_items']} items, context + continuation tokens) / (respond stage seconds difference {dt:.2f})"
    except Exception as e:
        res["score_tok_s"] = None
        res["score_error"] = repr(e)
    try:
        dt = big["respond_s"]["gen"] - one["respond_s"]["gen"]
        res["gen_b16_new_tok_s"] = (big["gen_tokens_nominal"] - one["gen_tokens_nominal"]) / dt
        res["gen_how"] = f"batch 16, {z['gen_tokens']} new tokens per item, ({big['gen_items']} - {one['gen_items']} items) / (respond stage seconds difference {dt:.2f}); nominal token counts"
    except Exception as e:
        res["gen_b16_new_tok_s"] = None
        res["gen_error"] = repr(e)
    res["infer_peak_gib"] = peak_gib(bench / "mem-inferN.txt", bench / "mem-base.txt")
    for dt_name in ("bf16", "f32"):
        log = bench / f"run-train-{dt_name}" / "adapters" / "bench" / "train_log.jsonl"
        if not log.exists():
            res[f"train_{dt_name}"] = {"status": "no train_log.jsonl (failed, skipped or not needed)",
                                        "error": tail_error(bench / f"train-{dt_name}.log")}
            continue
        rows = read_jsonl(log)
        rates = [r["tokens_per_s"] for r in rows[2:]] or [r["tokens_per_s"] for r in rows]
        res[f"train_{dt_name}"] = {"steps": len(rows), "losses": [r["loss"] for r in rows],
                                    "tok_s_median_after_2": statistics.median(rates),
                                    "peak_gib": peak_gib(bench / f"mem-train-{dt_name}.txt", bench / "mem-base.txt"),
                                    "shape": f"{z['train_batch']}x{z['train_len']}"}
    t = res.get("train_bf16", {}).get("tok_s_median_after_2") and res["train_bf16"]
    t = t or (res.get("train_f32", {}).get("tok_s_median_after_2") and res["train_f32"])
    if t:
        res["train_tok_s"] = t["tok_s_median_after_2"]
        res["train_peak_gib"] = t["peak_gib"]
        res["train_weights"] = "bf16" if t is res.get("train_bf16") else "f32 (bf16 training failed)"
    Path(out_json).write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in ("infer_runs",)})[:2000])


def tail_error(log):
    try:
        lines = [l for l in Path(log).read_text().splitlines() if l.startswith("error") or "failed" in l]
        return lines[-1][:300] if lines else None
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------
# The results file

def cmd_report(parts, out_md, out_json):
    parts = Path(parts)
    data = {}
    for p in sorted(parts.glob("*.json")):
        try:
            data[p.stem] = json.loads(p.read_text())
        except Exception as e:
            data[p.stem] = {"unreadable": str(e)}
    Path(out_json).write_text(json.dumps(data, indent=1))
    env = data.get("env", {})
    L = [f"# syco GPU check ({env.get('mode', '?')} mode)", "",
         f"- date: {env.get('date')}; host: {env.get('host')}; device: {env.get('gpu', 'none')}",
         f"- syco binary: `{env.get('syco')}`; total wall time {env.get('total_s', '?')} s", ""]
    if "peer-" + env.get("big", "") in data or "matmul" in data:
        pass
    mm = next((v.get("matmul_bf16") for k, v in data.items() if k.startswith("peer-") and v.get("matmul_bf16")), None)
    if mm:
        L += [f"Measured bf16 matmul ({mm['n']}² x {mm['n']}², torch): **{mm['tflops']:.1f} TFLOP/s** (the MFU denominator)", ""]
    L += ["## Correctness (device vs CPU)", ""]
    if env.get("mode") == "cpu":
        L += ["CPU fallback: both sides ran on the CPU, so this tests the plumbing, not a device.", ""]
    labels = {"compare": "bf16 weights, the main job's items (quick.toml's datasets; adapter gsm8k, 20 steps)",
              "compare-f32": "f32 weights, the adapter's training only (run when bf16 training did not finish on both sides)",
              "compare-logits": "bf16 weights, multiple-choice log-likelihoods (log-softmax of the logits) and greedy generations on 8 + 4 bench prompts"}
    for name, label in labels.items():
        c = data.get(name)
        L += [f"### {name}: {label}", ""]
        if not c:
            L += ["- not run (see steps)", ""]
            continue
        for ad, t in c.get("train", {}).items():
            L.append(f"- LoRA step losses (adapter {ad}): {t['steps']} steps compared, max relative difference {fmt(t['max_rel_diff'])}")
            if t.get("device"):
                L.append(f"  - device: {', '.join(f'{x:.4f}' for x in t['device'])}")
        if not c.get("train"):
            L.append("- no training log on both sides")
        L += [f"- log-likelihoods: max abs difference {fmt(c.get('loglik_max_abs_diff'))}, max relative {fmt(c.get('loglik_max_rel_diff'))}",
              f"- verdicts equal: {c.get('verdicts_equal')} / {c.get('verdicts')}", ""]
        if c.get("models"):
            L += ["| model/task | items | numbers | max abs diff | strings equal | verdicts equal |", "|---|---|---|---|---|---|"]
            for k, e in c["models"].items():
                L.append(f"| {k} | {e.get('items')} | {e.get('numbers')} | {fmt(e.get('max_abs_diff'))} | {e.get('strings_equal')}/{e.get('strings')} | {e.get('verdicts_equal')}/{e.get('verdicts')} |")
            L.append("")
    for shape in env.get("shapes", []):
        s = data.get("syco-" + shape, {})
        for dt in ("bf16", "f32"):
            t = s.get("train_" + dt)
            if t:
                L.append(f"- {shape} syco training, {dt} weights: " + (f"{t['steps']} steps, {fmt(t['tok_s_median_after_2'])} tok/s" if "steps" in t else f"{t.get('status')}: {t.get('error')}"))
    L.append("")
    L += ["## Throughput", "", "| shape | measure | syco | PyTorch peer | syco/peer | syco MFU | peer MFU | syco peak GiB | peer peak GiB |",
          "|---|---|---|---|---|---|---|---|---|"]
    for shape in env.get("shapes", []):
        s, p = data.get("syco-" + shape, {}), data.get("peer-" + shape, {})
        rate = (mm or {}).get("tflops")
        mp = s.get("matmul_params")
        for meas, pk, fl in (("train_tok_s", "train_tok_s", 4), ("score_tok_s", "score_tok_s", 2), ("gen_b16_new_tok_s", "gen_b16_new_tok_s", 2)):
            a, b = s.get(meas), p.get(pk)
            mfu = lambda x: f"{100 * fl * mp * x / (rate * 1e12):.1f} %" if x and rate and mp else "-"
            peak_s = s.get("train_peak_gib" if meas.startswith("train") else "infer_peak_gib")
            peak_p = p.get("train_peak_gib" if meas.startswith("train") else "infer_peak_gib")
            L.append(f"| {shape} | {meas} | {fmt(a)} | {fmt(b)} | {fmt(a / b) if a and b else '-'} | {mfu(a)} | {mfu(b)} | {fmt(peak_s)} | {fmt(peak_p)} |")
    L += ["", "MFU: training counts 4 x (projection + head parameters) FLOPs per token (forward 2N, backward to the",
          "inputs 2N; frozen weights get no weight gradient; attention scores and LoRA products not counted);",
          "scoring and generation count 2N. Peak GiB: syco from nvidia-smi memory.used sampling minus the idle",
          "baseline (includes the CUDA context); the peer from torch.cuda.max_memory_allocated.", "",
          "## Steps", "", "| step | status | seconds | budget s |", "|---|---|---|---|"]
    for st in data.get("steps", {}).get("steps", []):
        L.append(f"| {st['name']} | {st['status']} | {st['seconds']} | {st['budget']} |")
    fails = []
    for log in sorted((parts.parent / "logs").glob("*.log")):
        first = next((l.strip() for l in log.read_text(errors="replace").splitlines()
                      if l.startswith(("error", "Error", "FAILED"))), None)
        if first:
            fails.append(f"| {log.name} | `{first[:200]}` |")
    if fails:
        L += ["", "## First error of each log that has one", "", "| log | error |", "|---|---|"] + fails
    L += ["", "Raw figures: gpu-results.json (every part), run.log, logs/."]
    Path(out_md).write_text("\n".join(L) + "\n")
    print(out_md)


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1 else f"{x:,.1f}"
    return str(x)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    c = a[0]
    if c == "model":
        cmd_model(a[1], a[2])
    elif c == "data":
        cmd_data(a[1], a[2])
    elif c == "manifest":  # KIND OUT MODEL DEVICE DTYPE [DATA_DIR N]
        cmd_manifest(a[1], a[2], a[3], a[4], a[5], *(a[6:8]))
    elif c == "peer":  # MODEL_DIR OUT SHAPE [matmul]
        cmd_peer(a[1], a[2], a[3], len(a) > 4 and a[4] == "matmul")
    elif c == "compare":
        cmd_compare(a[1], a[2], a[3])
    elif c == "collect":  # SHAPE BENCH_DIR MODEL_DIR OUT
        cmd_collect(a[1], a[2], a[3], a[4])
    elif c == "report":
        cmd_report(a[1], a[2], a[3])
    elif c == "params":
        cfg = config_of(a[1])
        print(json.dumps({"params": n_params(cfg), "matmul_params": matmul_params(cfg)}))
    elif c == "size":  # SHAPE KEY
        print(SIZES[a[1]][a[2]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
