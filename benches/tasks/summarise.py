"""Medians of the last block of benches/tasks/bench.sh's raw TSV: items/s per tool and task, whole
process and evaluation only (syco: wall minus its 1-record run; lm-eval: simple_evaluate), and
syco's speed-up. Usage: python summarise.py bench-results/tasks.raw.tsv"""

import statistics
import sys


def main():
    lines = open(sys.argv[1]).read().splitlines()
    start = max(i for i, l in enumerate(lines) if l.startswith("round\t"))
    header = [l for l in lines[:start] if l.startswith("#")][-2:]
    rows = [dict(zip(lines[start].split("\t"), l.split("\t"))) for l in lines[start + 1:] if l and not l.startswith("#")]
    print("\n".join(header))
    med = {}
    for tool in ("syco", "lm-eval"):
        for task in sorted({r["task"] for r in rows}):
            rs = [r for r in rows if r["tool"] == tool and r["task"] == task]
            if not rs:
                continue
            n = int(rs[0]["n"])
            wall = statistics.median(float(r["wall_s"]) for r in rs)
            ev = statistics.median(float(r["eval_s"]) for r in rs)
            load = statistics.median(float(r["load_s"]) for r in rs)
            med[tool, task] = (n / wall, n / ev)
            busy = sum(1 for r in rs if r.get("busy", "0") not in ("", "0"))
            print(f"{tool:8} {task:14} n={n:4} rounds={len(rs)}  wall {wall:7.2f} s ({n / wall:6.2f} items/s)  "
                  f"load {load:6.2f} s  eval {ev:7.2f} s ({n / ev:6.2f} items/s)  busy rounds {busy}")
    for task in sorted({t for _, t in med}):
        if ("syco", task) in med and ("lm-eval", task) in med:
            s, l = med["syco", task], med["lm-eval", task]
            # The same round's pair (measured minutes apart) also: the machine's speed drifts.
            per = {}
            for r in rows:
                if r["task"] == task:
                    per.setdefault(r["round"], {})[r["tool"]] = r
            pairs = [p for p in per.values() if len(p) == 2]
            whole = [float(p["lm-eval"]["wall_s"]) / float(p["syco"]["wall_s"]) for p in pairs]
            ev = [float(p["lm-eval"]["eval_s"]) / float(p["syco"]["eval_s"]) for p in pairs]
            print(f"speed-up {task:14} ratio of medians: whole process {s[0] / l[0]:5.2f}x, evaluation only {s[1] / l[1]:5.2f}x; "
                  f"per round: whole {' '.join(f'{x:.2f}' for x in whole)} (median {statistics.median(whole):.2f}x), "
                  f"evaluation {' '.join(f'{x:.2f}' for x in ev)} (median {statistics.median(ev):.2f}x)")


if __name__ == "__main__":
    main()
