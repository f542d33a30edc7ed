"""Golden fixture for syco-train's parity test against PyTorch + PEFT.

Builds a tiny LlamaForCausalLM with fixed (seeded) weights, wraps it in a PEFT LoRA adapter
(r 4, alpha 8, dropout 0, all 7 projections), and trains it for 20 optimizer steps on fixed
token ids with the HF Trainer semantics the study relies on (transformers 4.43):
labels = ids with pad positions -100, shifted causal-LM loss, each micro-batch's token mean
divided by grad_accum, global-norm clipping 1.0, torch AdamW (weight decay 0.01), and
get_cosine_schedule_with_warmup. Micro-batches are taken in order (no shuffling), batch 2,
grad_accum 2, over 7 micro-batches per epoch so accumulation groups span epoch boundaries.

Writes next to this file:
  tiny/config.json, tiny/model.safetensors,     the base model (HF layout)
  tiny/tokenizer.json
  adapter_init/                                  PEFT adapter before training (B = 0)
  adapter_final/                                 PEFT adapter after 20 steps
  fixture.json                                   ids, settings, per-step loss / lr / grad_norm

Rerun (about 6 GB of wheels; torch's default Linux wheel is the CUDA build and runs on CPU):
  python3 -m venv /tmp/peft-venv
  /tmp/peft-venv/bin/pip install torch transformers peft safetensors
  /tmp/peft-venv/bin/python engine/train/tests/golden/make_golden.py
Made with torch 2.15.0, transformers 5.23.0, peft 0.21.2.
"""
import json
import os

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM, get_cosine_schedule_with_warmup

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS, BATCH, ACCUM, LR, WD, WARMUP, MAX_NORM, PAD = 20, 2, 2, 1e-2, 0.01, 5, 1.0, 0

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

cfg = LlamaConfig(
    vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
    bos_token_id=1, eos_token_id=PAD, pad_token_id=PAD,
)
cfg._attn_implementation = "eager"
model = LlamaForCausalLM(cfg).float()
with torch.no_grad():  # HF's init uses std 0.02: too small for a visible loss curve
    for p in model.parameters():
        if p.dim() == 2:
            p.normal_(0.0, 0.3)
model.save_pretrained(os.path.join(HERE, "tiny"), safe_serialization=True)
# transformers 5 nests rope_theta under rope_parameters; older readers want it at the top.
with open(os.path.join(HERE, "tiny", "config.json")) as f:
    written = json.load(f)
written["rope_theta"] = 10000.0
os.remove(os.path.join(HERE, "tiny", "generation_config.json"))
# A word-level tokenizer ("t0".."t63") so the directory loads as a complete HF model.
from tokenizers import Tokenizer, models, pre_tokenizers
tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(64)}, unk_token="t2"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.save(os.path.join(HERE, "tiny", "tokenizer.json"))
with open(os.path.join(HERE, "tiny", "config.json"), "w") as f:
    json.dump(written, f, indent=2)

lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
peft_model = get_peft_model(model, lora)
# PEFT starts B at zero; make B nonzero too so the first steps exercise every gradient path.
with torch.no_grad():
    for n, p in peft_model.named_parameters():
        if "lora_B" in n:
            p.normal_(0.0, 0.05)
peft_model.save_pretrained(os.path.join(HERE, "adapter_init"))

g = torch.Generator().manual_seed(1)
lengths = [5, 9, 12, 7, 16, 6, 10, 11, 8, 14, 4, 13, 9, 15]  # 14 rows -> 7 micro-batches
seqs = [[1] + torch.randint(2, 64, (n - 1,), generator=g).tolist() for n in lengths]


def micro_batch(rows):
    t = max(len(r) for r in rows)
    ids = torch.full((len(rows), t), PAD, dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    labels = ids.clone()
    labels[labels == PAD] = -100  # DataCollatorForLanguageModeling(mlm=False)
    return ids, mask, labels


micro = [seqs[i: i + BATCH] for i in range(0, len(seqs), BATCH)]
params = [p for p in peft_model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD)
sched = get_cosine_schedule_with_warmup(opt, WARMUP, STEPS)
peft_model.train()
log = []
stream = 0
for step in range(STEPS):
    lr = opt.param_groups[0]["lr"]
    total = 0.0
    for _ in range(ACCUM):
        ids, mask, labels = micro_batch(micro[stream % len(micro)])
        stream += 1
        logits = peft_model(input_ids=ids, attention_mask=mask).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100)
        (loss / ACCUM).backward()
        total += loss.item() / ACCUM
    norm = torch.nn.utils.clip_grad_norm_(params, MAX_NORM).item()
    opt.step()
    sched.step()
    opt.zero_grad()
    log.append({"step": step + 1, "loss": total, "lr": lr, "grad_norm": norm})
peft_model.save_pretrained(os.path.join(HERE, "adapter_final"))

fixture = {
    "settings": {"steps": STEPS, "batch_size": BATCH, "grad_accum": ACCUM, "lr": LR, "weight_decay": WD,
                 "warmup_steps": WARMUP, "max_grad_norm": MAX_NORM, "pad_id": PAD, "schedule": "cosine"},
    "sequences": seqs,
    "log": log,
    "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                 "peft": __import__("peft").__version__},
}
for d in ["adapter_init", "adapter_final"]:  # PEFT's generated model cards are noise here
    os.remove(os.path.join(HERE, d, "README.md"))
with open(os.path.join(HERE, "fixture.json"), "w") as f:
    json.dump(fixture, f, indent=1)
print("losses", [round(r["loss"], 4) for r in log])
