"""Medians of the last block of benches/sampling/bench.sh rows in bench-results/sampling.md:
tokens/s per (tool, weights), and syco's ratio to transformers."""

import statistics
import sys


def main():
    text = open(sys.argv[1]).read()
    block = text.rsplit("round\ttool", 1)[1].split("```", 1)[0]
    rates = {}
    for line in block.strip().splitlines()[1:]:
        f = line.split("\t")
        rates.setdefault((f[1], f[2]), []).append(float(f[6]))
    med = {k: statistics.median(v) for k, v in rates.items()}
    hf = med.get(("transformers", "hf-f32"))
    print()
    print("Medians (sampled tokens/s): " + "; ".join(
        f"{t} {w} {m:.1f} ({len(rates[(t, w)])} rounds)" + (f", {m / hf:.2f}x transformers" if hf and t == "syco" else "")
        for (t, w), m in sorted(med.items())))


if __name__ == "__main__":
    main()
