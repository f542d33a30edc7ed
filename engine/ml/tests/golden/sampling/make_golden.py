"""Golden fixture for engine/ml/tests/sample.rs: temperature + top-p as HF transformers' logits
warpers define them (`TemperatureLogitsWarper`, then `TopPLogitsWarper`, min_tokens_to_keep = 1).

    /tmp/lmeval-venv/bin/python engine/ml/tests/golden/sampling/make_golden.py > engine/ml/tests/golden/sampling/warp.json

Each case: f32 logits, temperature, top_p, and what the warpers leave: `kept` (token ids with a
finite warped score, most probable first, ties by index) and `probs` (softmax of the warped
scores at those ids). The logits are f32 values; the warpers run in float64 on them, so the
probabilities are exact to ~1e-15 and the kept sets are not decided by float32 rounding.

Ties at the top-p boundary are left out of the HF cases: torch sorts ascending and its order of
equal values is not specified, while syco's rule is a stable descending sort (of tied tokens the
lower id counts as more probable). Those cases are written by hand below (`"source": "rule"`),
with what transformers keeps beside them (`transformers_kept`: here the higher ids, since its
ascending sort puts the later of equal values last, i.e. most probable).
"""

import json
import sys

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper


def warp(logits, temperature, top_p):
    scores = torch.tensor([logits], dtype=torch.float64)
    scores = TemperatureLogitsWarper(temperature)(None, scores)
    if top_p < 1.0:  # generate() adds the top-p warper only below 1
        scores = TopPLogitsWarper(top_p)(None, scores)
    probs = torch.softmax(scores, dim=-1)[0]
    finite = torch.isfinite(scores[0])
    kept = [i for i in range(len(logits)) if finite[i] and probs[i] > 0]
    kept.sort(key=lambda i: (-float(probs[i]), i))
    return kept, [float(probs[i]) for i in kept]


def f32(xs):
    return [float(np.float32(x)) for x in xs]


def json_logits(xs):
    """JSON has no infinities: a suppressed token's -inf logit is written as null."""
    return [None if x == float("-inf") else x for x in xs]


def main():
    rng = np.random.default_rng(20231020)
    cases = []
    specs = [
        ("uniform-ish small vocab", f32(rng.normal(0, 1, 8)), 1.0, 0.9),
        ("peaked", f32(rng.normal(0, 4, 12)), 0.7, 0.8),
        ("low temperature", f32(rng.normal(0, 1, 16)), 0.3, 0.95),
        ("high temperature", f32(rng.normal(0, 2, 16)), 1.7, 0.5),
        ("top_p off", f32(rng.normal(0, 2, 10)), 0.8, 1.0),
        ("top_p tiny keeps one", f32(rng.normal(0, 1, 10)), 1.0, 1e-6),
        ("larger vocab", f32(rng.normal(0, 3, 200)), 0.9, 0.9),
        ("suppressed tokens", f32([1.0, float("-inf"), 0.5, 2.0, float("-inf"), -1.0]), 1.0, 0.99),
        ("ties away from the boundary", f32([3.0, 1.0, 1.0, 0.0, 3.0, -2.0]), 1.0, 0.7),
        ("five tokens", f32([2.0, 1.0, 0.5, 0.0, -1.0]), 0.8, 0.9),
    ]
    for name, logits, t, p in specs:
        kept, probs = warp(logits, t, p)
        cases.append({"name": name, "source": "transformers", "logits": json_logits(logits), "temperature": t, "top_p": p,
                      "kept": kept, "probs": probs})
    # Ties at the boundary, by syco's rule (stable descending sort): logits [1, 1, 1, 0] at T = 1
    # give probabilities e/(3e+1) ≈ 0.2969 each for the first three. top_p = 0.5 needs two tokens;
    # of the three tied ones the two lowest ids are kept.
    e = float(np.exp(1.0))
    z = e + e
    cases.append({"name": "tie at the boundary", "source": "rule", "logits": [1.0, 1.0, 1.0, 0.0], "temperature": 1.0,
                  "top_p": 0.5, "kept": [0, 1], "probs": [e / z, e / z],
                  "transformers_kept": warp([1.0, 1.0, 1.0, 0.0], 1.0, 0.5)[0]})
    # Same, tokens in another order: ids 3 and 1 tie with 2; the kept ones are 1 and 2.
    cases.append({"name": "tie at the boundary, other order", "source": "rule", "logits": [0.0, 1.0, 1.0, 1.0],
                  "temperature": 1.0, "top_p": 0.5, "kept": [1, 2], "probs": [e / z, e / z],
                  "transformers_kept": warp([0.0, 1.0, 1.0, 1.0], 1.0, 0.5)[0]})
    json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "cases": cases}, sys.stdout, indent=1,
              allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
