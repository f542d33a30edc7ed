"""Golden per-item results of real lm-evaluation-harness on the three tasks in this folder.

lm-eval 0.4.13, HF backend, float32, CPU, batch 16, on SmolLM2-135M-Instruct converted from the
Q4_1 GGUF syco's tests use (make_hf_model.py). tests/lm_eval_golden.rs runs `syco run` on the same
task files and GGUF and compares item by item against the JSON this writes.

Rerun (from the workspace root, with the lm-eval venv; `gguf` and `accelerate` installed in it):
    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 /tmp/lmeval-venv/bin/python engine/tasks/golden/lm_eval_run/make_hf_model.py
    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 /tmp/lmeval-venv/bin/python engine/tasks/golden/lm_eval_run/run_lm_eval.py
Optional arguments: the HF model folder (default target/syco-test-cache/smollm2-hf) and the output
file (default lm_eval_smollm2.golden.json beside this script). lm-eval runs with this folder as its
working directory, so the tasks' relative `data_files` resolve as syco resolves them.
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
TASKS = ["capitals_mc", "capitals_letter", "capitals_gen"]


def mc_item(rows, lm):
    """One multiple-choice doc: lm-eval logs one sample per doc, with one request per choice.

    `pred` and `pred_norm` are lm-eval's (ConfigurableTask.process_results: `np.argmax(lls)` and
    `np.argmax(lls / completion_len)`, the length of each choice in characters); lm-eval logs only
    their consequences, `acc` and `acc_norm`, which are checked against them here.
    """
    import numpy as np

    (s,) = rows
    args = [a for a in s["arguments"].values()] if isinstance(s["arguments"], dict) else s["arguments"]
    args = [[a["arg_0"], a["arg_1"]] if isinstance(a, dict) else list(a) for a in args]
    contexts = {a[0] for a in args}
    assert len(contexts) == 1, "one context per doc"
    resps = [[float(r[0][0]), bool(r[0][1])] for r in s["resps"]]
    filtered = [[float(r[0]), bool(r[1])] for r in s["filtered_resps"]]
    assert filtered == resps, "multiple_choice has no filters"
    continuations = [a[1] for a in args]
    assert all(c.startswith(" ") for c in continuations), "target_delimiter is one space"
    choices = [c[1:] for c in continuations]
    lls = np.array([r[0] for r in resps])
    pred = int(np.argmax(lls))
    pred_norm = int(np.argmax(lls / np.array([float(len(c)) for c in choices])))
    assert s["acc"] == float(pred == s["target"]) and s["acc_norm"] == float(pred_norm == s["target"])
    # The token ids lm-eval scored: HFLM._encode_pair (trailing spaces of the context moved to the
    # continuation, no BOS with this tokenizer); the continuation's ids, and the context's length.
    pairs = [lm._encode_pair(args[0][0], c) for c in continuations]
    return {
        "doc_id": s["doc_id"],
        "id": s["doc"]["id"],
        "context": args[0][0],
        "context_tokens": len(pairs[0][0]),
        "continuations": continuations,
        "continuation_ids": [p[1] for p in pairs],
        "resps": resps,
        "target": s["target"],
        "pred": pred,
        "pred_norm": pred_norm,
        "acc": s["acc"],
        "acc_norm": s["acc_norm"],
    }


def gen_item(rows, lm):
    """One generate doc: lm-eval logs one sample per doc and filter pipeline."""
    first = rows[0]
    args = list(first["arguments"].values())[0] if isinstance(first["arguments"], dict) else first["arguments"][0]
    context, gen_kwargs = (args["arg_0"], args["arg_1"]) if isinstance(args, dict) else args
    item = {
        "doc_id": first["doc_id"],
        "id": first["doc"]["id"],
        "context": context,
        "context_tokens": len(lm.tok_encode(context)),
        "gen_kwargs": gen_kwargs,
        "resps": first["resps"][0],
        "target": first["target"],
        "filtered_resps": {},
        "exact_match": {},
    }
    for s in rows:
        assert s["resps"][0] == item["resps"] and s["doc_id"] == item["doc_id"]
        item["filtered_resps"][s["filter"]] = s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
        item["exact_match"][s["filter"]] = s["exact_match"]
    return item


def dump(golden):
    """Indented, except that each item is one line (keeps the file small and diffs readable)."""
    one = lambda v: json.dumps(v, ensure_ascii=False)
    lines = ["{"]
    head = [k for k in golden if k != "tasks"]
    for k in head:
        lines.append(f"  {one(k)}: {one(golden[k])},")
    lines.append('  "tasks": {')
    names = list(golden["tasks"])
    for t, name in enumerate(names):
        task = golden["tasks"][name]
        lines.append(f"    {one(name)}: {{")
        for k in task:
            if k != "items":
                lines.append(f"      {one(k)}: {one(task[k])},")
        lines.append('      "items": [')
        items = task["items"]
        lines += [f"        {one(it)}" + ("," if i + 1 < len(items) else "") for i, it in enumerate(items)]
        lines.append("      ]")
        lines.append("    }" + ("," if t + 1 < len(names) else ""))
    lines.append("  }")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == golden
    return text


def main():
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/syco-test-cache/smollm2-hf"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "lm_eval_smollm2.golden.json"
    model_dir = model_dir.resolve()
    out = out.resolve()

    import lm_eval
    import torch
    import transformers
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    os.chdir(HERE)
    t0 = time.time()
    lm = HFLM(pretrained=str(model_dir), dtype="float32", batch_size=16, device="cpu")
    res = lm_eval.simple_evaluate(
        model=lm,
        tasks=TASKS,
        task_manager=TaskManager(include_path=str(HERE)),
        log_samples=True,
        batch_size=16,
        device="cpu",
    )
    took = time.time() - t0

    golden = {
        "made_by": "engine/tasks/golden/lm_eval_run/run_lm_eval.py",
        "versions": {"lm_eval": lm_eval.__version__ if hasattr(lm_eval, "__version__") else "?",
                     "torch": torch.__version__, "transformers": transformers.__version__},
        "model": "SmolLM2-135M-Instruct Q4_1 GGUF (sha256 b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53), dequantised to float32 by transformers",
        "model_args": "HFLM(pretrained=<the conversion>, dtype=float32, batch_size=16, device=cpu)",
        "seconds": round(took, 1),
        "tasks": {},
    }
    for task in TASKS:
        samples = res["samples"][task]
        by_doc = {}
        for s in samples:
            by_doc.setdefault(s["doc_id"], []).append(s)
        make = gen_item if task.endswith("_gen") else mc_item
        items = [make(by_doc[d], lm) for d in sorted(by_doc)]
        metrics = {k: v for k, v in res["results"][task].items() if k != "alias"}
        golden["tasks"][task] = {
            "yaml": f"{task}.yaml",
            "n": len(items),
            "n_shot": res["n-shot"][task],
            "metrics": metrics,
            "items": items,
        }
        print(task, json.dumps(metrics))
    out.write_text(dump(golden), encoding="utf-8")
    print(f"wrote {out} in {took:.0f} s")


if __name__ == "__main__":
    main()
