"""Split datasets/capitals.jsonl (115 records) into the two local files the golden tasks read.

Fixed and seedless: every third record (0-based lines 0, 3, 6, ...; 39 records) plus line 1 is
the test split (40); the other 75 are the train split the few-shot examples come from. Records are
copied unchanged.

Rerun:  python3 engine/tasks/golden/lm_eval_run/make_data.py
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[3] / "datasets" / "capitals.jsonl"


def main():
    lines = [l for l in SRC.read_text(encoding="utf-8").splitlines() if l.strip()]
    recs = [json.loads(l) for l in lines]
    test_idx = {i for i in range(len(recs)) if i % 3 == 0} | {1}
    test = [r for i, r in enumerate(recs) if i in test_idx]
    train = [r for i, r in enumerate(recs) if i not in test_idx]
    for name, rows in (("test", test), ("train", train)):
        with open(HERE / "data" / f"capitals_{name}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    (HERE / "data").mkdir(exist_ok=True)
    main()
