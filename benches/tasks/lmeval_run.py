"""One timed lm-eval run for benches/tasks/bench.sh: the HF backend on CPU, float32, batch 16,
torch on 2 threads, on one task of engine/tasks/golden/lm_eval_run/.

    python lmeval_run.py HF_MODEL_DIR TASK
prints one line of JSON: {"task", "n", "load_s" (HFLM construction: weights and tokenizer),
"eval_s" (simple_evaluate on the loaded model: task building, requests, scoring), "metrics"}.
The process's own wall time (imports included) is measured by bench.sh.
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

TASK_DIR = Path(__file__).resolve().parents[2] / "engine/tasks/golden/lm_eval_run"


def main():
    model_dir, task = sys.argv[1], sys.argv[2]
    import torch

    torch.set_num_threads(2)
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    os.chdir(TASK_DIR)  # the task files' data_files are relative to their folder
    t0 = time.perf_counter()
    lm = HFLM(pretrained=model_dir, dtype="float32", batch_size=16, device="cpu")
    t1 = time.perf_counter()
    res = lm_eval.simple_evaluate(model=lm, tasks=[task], task_manager=TaskManager(include_path=str(TASK_DIR)),
                                  batch_size=16, device="cpu", log_samples=False)
    t2 = time.perf_counter()
    r = res["results"][task]
    print(json.dumps({"task": task, "n": r.get("sample_len", res["n-samples"][task]["effective"]),
                      "load_s": round(t1 - t0, 3), "eval_s": round(t2 - t1, 3),
                      "metrics": {k: v for k, v in r.items() if k not in ("alias", "name")}}))


if __name__ == "__main__":
    main()
