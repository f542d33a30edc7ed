"""Golden resolved configurations of syco-tasks' lm-eval YAML fixtures, computed by lm-evaluation-harness.

Run with the lm-eval environment (0.4.13):
    /tmp/lmeval-venv/bin/python engine/tasks/golden/make_configs.py
Writes configs.golden.json next to this file; engine/tasks/tests/lm_eval.rs checks syco's reader
against it.

Each fixture goes through lm-eval's own loading: `load_yaml` (includes merged), the structural
keys dropped as its task factory drops them, then a real `ConfigurableTask` on the fixture's local
JSON files (TaskConfig defaults, generation defaults, metric defaults, filter construction, the
split lm-eval evaluates and the one it draws few-shot examples from). The few-shot and eval
splits are found by comparing the documents lm-eval returns with each split's documents.

One adaptation: HF datasets resolves relative `data_files` against the working directory; syco
resolves them against the directory of the YAML file that wrote them. The script makes them
absolute that way before building the task, and records them relative to the fixtures folder.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

CACHE = tempfile.mkdtemp(prefix="syco-lmeval-golden-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ["HF_DATASETS_CACHE"] = CACHE
os.environ.setdefault("HF_HOME", CACHE)

import lm_eval  # noqa: E402
from lm_eval.api.registry import get_filter  # noqa: E402
from lm_eval.api.task import ConfigurableTask  # noqa: E402
from lm_eval.models.utils import normalize_gen_kwargs  # noqa: E402
from lm_eval.tasks._yaml_loader import load_yaml  # noqa: E402

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "lm_eval"
CASES = [
    "arc_like.yaml",
    "gsm8k_like.yaml",
    "nested/arc_child.yaml",
    "include_two.yaml",
    "files_string.yaml",
    "files_list.yaml",
    "mc_defaults.yaml",
    "loglikelihood.yaml",
]
FILTERS = ["regex", "take_first", "lowercase", "uppercase", "remove_whitespace"]


def dataset_kwargs_dir(path: Path) -> Path:
    """The directory of the file whose `dataset_kwargs` wins the include merge."""
    own = load_yaml(path, resolve_func=False, recursive=False)
    if "dataset_kwargs" in own:
        return path.parent
    includes = own.get("include", [])
    found = None
    for inc in includes if isinstance(includes, list) else [includes]:
        inc_path = (path.parent / inc).resolve()
        merged = load_yaml(inc_path, resolve_func=False)
        if "dataset_kwargs" in merged:
            found = dataset_kwargs_dir(inc_path)
    return found


def absolute_files(files, base: Path):
    if isinstance(files, str):
        return str((base / files).resolve())
    if isinstance(files, list):
        return [absolute_files(f, base) for f in files]
    return {split: absolute_files(f, base) for split, f in files.items()}


def relative_files(files):
    """As HF datasets reads the forms: one file or a list is the split `train`."""
    if not isinstance(files, dict):
        files = {"train": files}
    out = {}
    for split, f in files.items():
        f = f if isinstance(f, list) else [f]
        out[split] = [os.path.relpath(x, FIXTURES) for x in f]
    return out


def split_of(task, docs):
    """Which split's documents these are."""
    docs = list(docs)
    for split in task.dataset:
        if list(task.dataset[split]) == docs:
            return split
    raise ValueError("documents of no split")


def filter_step(partial_filter):
    name = next(n for n in FILTERS if partial_filter.func is get_filter(n))
    step = {"function": name}
    if name == "regex":
        f = partial_filter()
        step.update(regex_pattern=f.regex_pattern, group_select=f.group_select, fallback=f.fallback)
    return step


def resolve(rel: str) -> dict:
    path = FIXTURES / rel
    cfg = load_yaml(path, resolve_func=False)
    for key in ("tag", "group", "task_list"):
        cfg.pop(key, None)
    base = dataset_kwargs_dir(path.resolve())
    cfg["dataset_kwargs"] = dict(cfg["dataset_kwargs"])
    cfg["dataset_kwargs"]["data_files"] = absolute_files(cfg["dataset_kwargs"]["data_files"], base)
    task = ConfigurableTask(config=cfg)
    c = task.config
    out = {
        "task": c.task,
        "output_type": task.OUTPUT_TYPE,
        "doc_to_text": c.doc_to_text,
        "doc_to_target": c.doc_to_target,
        "doc_to_choice": c.doc_to_choice,
        "description": c.description or "",
        "target_delimiter": c.target_delimiter,
        "fewshot_delimiter": c.fewshot_delimiter,
        "num_fewshot": c.num_fewshot or 0,
        "fewshot_sampler": task.fewshot_cfg.sampler,
        "data_files": relative_files(c.dataset_kwargs["data_files"]),
        "dataset_name": c.dataset_name,
        "eval_split": split_of(task, task.eval_docs),
        "fewshot_split": split_of(task, task.fewshot_docs()),
        "metrics": [{"metric": name, **task._metric_fn_kwargs[name]} for name in task._metric_fn_list],
    }
    if task.OUTPUT_TYPE == "generate_until":
        gen = normalize_gen_kwargs(c.generation_kwargs)
        out["generation"] = {"until": gen["until"], "max_gen_toks": gen["max_gen_toks"], "do_sample": gen["do_sample"]}
    # No filter_list is lm-eval's single "none" pipeline (take_first), which syco writes as none.
    out["filters"] = (
        [{"name": e.name, "steps": [filter_step(f) for f in e.filters]} for e in task._filters]
        if c.filter_list is not None
        else []
    )
    return out


def main():
    golden = {
        "lm_eval_version": getattr(lm_eval, "__version__", "0.4.13"),
        "cases": {rel: resolve(rel) for rel in CASES},
    }
    out = HERE / "configs.golden.json"
    out.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({len(CASES)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
