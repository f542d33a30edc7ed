"""Writes prompts.golden.json: the exact requests lm-evaluation-harness builds for the small
tasks next to this script (*_mini.yaml over data/*.jsonl), so the Rust test
`tests/requests.rs` can check that `build_requests` reproduces them character for character.

Run with the lm-eval install (0.4.13 was used), offline:

    HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 /tmp/lmeval-venv/bin/python engine/tasks/golden/make_prompts.py

Each task's few-shot seed is set as lm-eval's evaluator sets it (`task.set_fewshot_seed`).
"""

import json
import os
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import yaml  # noqa: E402
from lm_eval.api.task import ConfigurableTask  # noqa: E402

HERE = Path(__file__).resolve().parent
# task file -> few-shot seed given to the sampler
TASKS = {"arc_mini.yaml": 1234, "arith_mini.yaml": 42, "lastword_mini.yaml": 1234}


def build(task_file: str, seed: int) -> dict:
    config = yaml.safe_load((HERE / task_file).read_text())
    files = config["dataset_kwargs"]["data_files"]
    config["dataset_kwargs"]["data_files"] = {split: str(HERE / path) for split, path in files.items()}
    task = ConfigurableTask(config=config)
    task.set_fewshot_seed(seed=seed)
    task.build_all_requests()
    items: dict[int, list] = {}
    targets: dict[int, object] = {}
    for inst in task.instances:
        targets[inst.doc_id] = task.doc_to_target(inst.doc)
        if inst.request_type == "generate_until":
            context, kwargs = inst.arguments
            request = {"context": context, "until": kwargs["until"], "max_gen_toks": kwargs["max_gen_toks"]}
        else:
            context, continuation = inst.arguments
            request = {"context": context, "continuation": continuation}
        items.setdefault(inst.doc_id, []).append((inst.idx, request))
    return {
        "task_file": task_file,
        "seed": seed,
        "items": [
            {"doc_id": d, "target": targets[d], "requests": [r for _, r in sorted(reqs, key=lambda x: x[0])]}
            for d, reqs in sorted(items.items())
        ],
    }


def main() -> None:
    golden = {"lm_eval_version": version("lm_eval"), "tasks": {name: build(name, seed) for name, seed in TASKS.items()}}
    out = HERE / "prompts.golden.json"
    out.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
