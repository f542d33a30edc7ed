#!/usr/bin/env python3
"""Per-round ratios and their medians from benches/cpu/bench.sh's raw rows.

    benches/cpu/summarise.py [RAW] [--since HH:MM:SS]

RAW defaults to bench-results/cpu.raw.tsv. Rows are grouped by machine and by run (a run's
rounds count up from 1; a round number that does not grow starts another run); --since keeps
rows at or after that UTC time of day. Every ratio pairs two figures of the same round.
"""
import statistics
import sys
from collections import defaultdict

# (measure, syco figure, peer figure): what each ratio compares, in the same precision.
PAIRS = [
    ("train_8x128_tok_s", "syco-default", "pytorch-peft"),
    ("train_8x128_tok_s", "syco-no-checkpointing", "pytorch-peft"),
    ("train_2x512_tok_s", "syco-default", "pytorch-peft"),
    ("train_2x512_tok_s", "syco-no-checkpointing", "pytorch-peft"),
    ("score_16x128_tok_s", "syco-f32", "transformers-f32"),
    ("score_16x128_tok_s", "syco-bf16", "transformers-bf16-autocast"),
    ("generate_b1_new_tok_s", "syco-dense-bf16-noblocks", "syco-dense-f32-noblocks"),
    ("generate_b16_new_tok_s", "syco-dense-bf16-noblocks", "syco-dense-f32-noblocks"),
    ("mc4_items_s", "syco-shared", "syco-unshared"),
]


def main():
    args = sys.argv[1:]
    since = None
    if "--since" in args:
        i = args.index("--since")
        since = args[i + 1]
        del args[i : i + 2]
    raw = args[0] if args else "bench-results/cpu.raw.tsv"
    runs = defaultdict(dict)  # (machine, run) -> {(round, measure, impl): (value, peak)}
    run, last_round = 0, 0
    with open(raw) as f:
        next(f)
        for line in f:
            time, rnd, machine, measure, impl, value, peak = (line.rstrip("\n").split("\t") + [""])[:7]
            if since and time < since:
                continue
            rnd = int(rnd)
            if rnd < last_round:
                run += 1
            last_round = rnd
            runs[(machine, run)][(rnd, measure, impl)] = (float(value), peak)
    for (machine, _), rows in runs.items():
        rounds = sorted({r for r, _, _ in rows})
        print(f"{machine}: rounds {rounds}")
        for measure, a, b in PAIRS:
            got = [(rows[(r, measure, a)], rows[(r, measure, b)]) for r in rounds if (r, measure, a) in rows and (r, measure, b) in rows]
            if not got:
                continue
            ratios = [x[0] / y[0] for x, y in got]
            figures = " / ".join(f"{x[0]:.1f} vs {y[0]:.1f}" for x, y in got)
            peaks = ["/".join(p[1] for p in side if p[1]) for side in zip(*got)]
            print(f"  {measure}: {a} vs {b}: {figures}; ratios {' / '.join(f'{r:.2f}x' for r in ratios)}, "
                  f"median {statistics.median(ratios):.2f}x" + (f"; peak MiB {peaks[0]} vs {peaks[1]}" if peaks[0] else ""))


if __name__ == "__main__":
    main()
