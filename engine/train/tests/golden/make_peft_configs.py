"""Golden files for syco's reading of PEFT adapter configs (tests/peft_config.rs).

On the tiny Llama of make_golden.py (tiny/, not rewritten here) it makes PEFT LoRA adapters
whose adapter_config.json, not their tensor names, decides what is applied, and records what
`PeftModel.from_pretrained` computes with each (logits of fixed ids, and 8 greedy tokens):

  layers1/     all seven projections, layers_to_transform=[1]: layer 0 has no LoRA
  qv_extra/    target_modules q_proj, v_proj; the file is edited after saving to hold tensors
               for all seven projections (PEFT ignores the unexpected keys: from_pretrained
               says nothing of them in peft 0.21; expected.json lists them)
  exclude/     all seven projections, exclude_modules ["k_proj", "layers.0.mlp.up_proj"]; the
               excluded modules' tensors are added to the file afterwards
  regex/       target_modules a regex string (a full match over module names); a k_proj tensor
               is added to the file afterwards
  all_linear/  the config's target_modules edited to "all-linear" after saving
  c_attn/      target_modules ["c_attn"]: PEFT refuses; its message is recorded

Writes peft_configs/<case>/ and peft_configs/expected.json.

Rerun (the venv of make_golden.py):
  /tmp/peft-venv/bin/python engine/train/tests/golden/make_peft_configs.py
"""
import json
import os
import shutil
import warnings

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.utils import set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "peft_configs")
TINY = os.path.join(HERE, "tiny")
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MODULE = {p: ("self_attn" if p in ALL[:4] else "mlp") for p in ALL}
IDS = [[1, 5, 9, 33, 2, 60, 17, 40], [1, 22, 3, 3, 48, 11, 7, 63]]
GREEDY = 8

torch.manual_seed(0)
torch.set_num_threads(1)


def base():
    m = LlamaForCausalLM.from_pretrained(TINY, torch_dtype=torch.float32)
    m.config._attn_implementation = "eager"
    return m.eval()


def make(name, cfg):
    """A PEFT adapter on the tiny model with random A and B (B nonzero so every module shows)."""
    model = get_peft_model(base(), cfg)
    g = torch.Generator().manual_seed(len(name))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_A" in n or "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    d = os.path.join(OUT, name)
    model.save_pretrained(d)
    os.remove(os.path.join(d, "README.md"))
    return d


def add_tensors(d, modules, r):
    """Adds LoRA A/B tensors for `modules` (module paths) to the saved file, as a foreign tool might."""
    path = os.path.join(d, "adapter_model.safetensors")
    t = load_file(path)
    shapes = {"q_proj": (32, 32), "k_proj": (16, 32), "v_proj": (16, 32), "o_proj": (32, 32),
              "gate_proj": (64, 32), "up_proj": (64, 32), "down_proj": (32, 64)}
    g = torch.Generator().manual_seed(99)
    for m in modules:
        out, inp = shapes[m.rsplit(".", 1)[1]]
        t[f"base_model.model.{m}.lora_A.weight"] = torch.randn((r, inp), generator=g)
        t[f"base_model.model.{m}.lora_B.weight"] = torch.randn((out, r), generator=g)
    save_file(t, path, metadata={"format": "pt"})


def module(layer, proj):
    return f"model.layers.{layer}.{MODULE[proj]}.{proj}"


def run(d):
    """What PEFT computes with the adapter in `d`, loaded as users load it, and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PeftModel.from_pretrained(base(), d).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(IDS)).logits
        ids = torch.tensor(IDS[:1])
        for _ in range(GREEDY):
            nxt = model(input_ids=ids).logits[0, -1].argmax()
            ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
    # from_pretrained drops keys of modules the config does not adapt without a word (peft
    # 0.21); load_state_dict's result lists them, as load_adapter returns it.
    state = load_file(os.path.join(d, "adapter_model.safetensors"))
    unexpected = set_peft_model_state_dict(model, state).unexpected_keys
    adapted = sorted(n for n, m in model.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A)
    return {
        "logits": logits.reshape(-1).tolist(),
        "greedy": ids[0, len(IDS[0]):].tolist(),
        "adapted": [n.removeprefix("base_model.model.") for n in adapted],
        "unexpected_keys": sorted(unexpected),
        "warnings": [str(w.message) for w in caught if "deprecated" not in str(w.message)],
    }


shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
expected = {"ids": IDS, "shape": [len(IDS), len(IDS[0]), 64], "cases": {}}

d = make("layers1", LoraConfig(r=4, lora_alpha=8, target_modules=ALL, layers_to_transform=[1]))
expected["cases"]["layers1"] = run(d)

d = make("qv_extra", LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
add_tensors(d, [module(i, p) for i in range(2) for p in ALL if p not in ("q_proj", "v_proj")], 4)
expected["cases"]["qv_extra"] = run(d)

d = make("exclude", LoraConfig(r=2, lora_alpha=4, target_modules=ALL, exclude_modules=["k_proj", "layers.0.mlp.up_proj"]))
add_tensors(d, [module(0, "k_proj"), module(1, "k_proj"), module(0, "up_proj")], 2)
expected["cases"]["exclude"] = run(d)

d = make("regex", LoraConfig(r=4, lora_alpha=8, target_modules=r".*\.layers\.1\.self_attn\.(q|v)_proj|.*\.mlp\.down_proj"))
add_tensors(d, [module(1, "k_proj")], 4)
expected["cases"]["regex"] = run(d)

d = make("all_linear", LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
with open(os.path.join(d, "adapter_config.json")) as f:
    cfg = json.load(f)
expected["cases"]["all_linear_saved_targets"] = sorted(cfg["target_modules"])
cfg["target_modules"] = "all-linear"  # as a hand-written config would say it
with open(os.path.join(d, "adapter_config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
expected["cases"]["all_linear"] = run(d)

# A config for another architecture's module names: PEFT refuses it.
d = os.path.join(OUT, "c_attn")
shutil.copytree(os.path.join(OUT, "qv_extra"), d)
with open(os.path.join(d, "adapter_config.json")) as f:
    cfg = json.load(f)
cfg["target_modules"] = ["c_attn"]
with open(os.path.join(d, "adapter_config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
try:
    run(d)
    raise SystemExit("PEFT accepted target_modules ['c_attn']")
except ValueError as e:  # NoMatchingPeftModuleError is a ValueError
    expected["cases"]["c_attn"] = {"error": str(e)}

expected["versions"] = {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                        "peft": __import__("peft").__version__}
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
for k, v in expected["cases"].items():
    if isinstance(v, dict):
        print(k, v.get("greedy"), len(v.get("adapted", [])), v.get("unexpected_keys"), v.get("warnings"), v.get("error"))
