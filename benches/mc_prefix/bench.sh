#!/usr/bin/env bash
# HellaSwag items per second (4 endings each, scored by `syco_ml::loglik`) through `syco run`,
# with and without the shared prompt pass (issue 25): "after" is syco at REV (default HEAD), where
# an item's endings share the pass over its prompt; "before" is the same source with the respond
# stage calling `syco_ml::generate::loglik_unshared`, the reference path that runs every
# (prompt + ending) whole, which is what `loglik` did before. Everything else is the same code.
#
#   benches/mc_prefix/bench.sh [ROUNDS] [N]        (defaults 3, 100 items)
#
# The manifest is benches/mc_prefix/hellaswag.toml (the study's HellaSwag evaluation: f32,
# strict prompts, 16 items per batch) on the study's test split (DATA, default ../shared/seed/data)
# and the SmolLM2 GGUF the tests fetch (SYCO_SMOLLM2_GGUF or
# target/syco-test-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf). Each round runs before, then
# after, each on a fresh copy of a cache that holds only the data and model stages, so the
# respond stage computes every item; its `duration_s` (loading the model included) gives
# items/s. The last round's log-likelihoods of the two paths are compared. Rows are appended to
# bench-results/mc_prefix.md (RAW) with the CPU and `busy` (rustc processes running when the row
# ended: such rows are not quiet).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROUNDS="${1:-3}"
N="${2:-100}"
REV="${REV:-HEAD}"
DATA="$(readlink -f "${DATA:-$ROOT/../shared/seed/data}")"
GGUF="$(readlink -f "${SYCO_SMOLLM2_GGUF:-$ROOT/target/syco-test-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}")"
RAW="${RAW:-$ROOT/bench-results/mc_prefix.md}"
WORK="${WORK:-/tmp/syco-mc-prefix-bench}"
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"
for f in "$GGUF" "$DATA/02_general_benchmarks_splits/test_splits/hellaswag_test.jsonl"; do
  [[ -e "$f" ]] || { echo "missing: $f" >&2; exit 1; }
done
mkdir -p "$WORK"
MANIFEST="$ROOT/benches/mc_prefix/hellaswag.toml"
SETS=(--set "vars.data=$DATA" --set "vars.n=$N" --set "model.base.source={ path = \"$GGUF\" }")

# build NAME: syco at REV in a worktree of its own (before: with the unshared scoring path).
build() {
  # One target folder: the two trees share their dependencies' builds.
  local tree="$WORK/$1" target="${TARGET_DIR:-$WORK/target}"
  [[ -d "$tree" ]] || git -C "$ROOT" worktree add --detach "$tree" "$REV" >&2
  git -C "$tree" checkout -q -f --detach "$REV"
  if [[ "$1" == before ]]; then
    sed -i 's/syco_ml::loglik(&self.lm, pairs, batch)/syco_ml::generate::loglik_unshared(\&self.lm, pairs, batch)/' "$tree/engine/cli/stages/runtime.rs"
    grep -q loglik_unshared "$tree/engine/cli/stages/runtime.rs" || { echo "before: the respond stage's loglik call was not found" >&2; exit 1; }
  fi
  (cd "$tree" && CARGO_TARGET_DIR="$target" nice -n 19 cargo build --release --bin syco >&2)
  cp "$target/release/syco" "$WORK/syco-$1" # a rebuild during the rounds cannot change what is measured
}
build before
build after

# A cache with the data and model stages, copied for every run.
rm -rf "$WORK/warm"
"$WORK/syco-after" run "$MANIFEST" data/hellaswag model/base --cache "$WORK/warm" "${SETS[@]}" --out "$WORK/out-warm" >&2

{
  echo
  echo "## $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) CPUs, AMX: $(grep -q amx_tile /proc/cpuinfo && echo yes || echo no), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "syco $(git -C "$ROOT" rev-parse --short "$REV"); HellaSwag, $N items x 4 endings, f32, 16 items per batch, $RAYON_NUM_THREADS threads"
  echo
  echo '```'
  printf "round\tpath\titems\trespond_s\titems_s\tbusy\n"
} | tee -a "$RAW"

run() { # ROUND NAME
  local cache="$WORK/cache-$2"
  rm -rf "$cache"
  cp -r "$WORK/warm" "$cache"
  "$WORK/syco-$2" run "$MANIFEST" respond/base/hellaswag --cache "$cache" "${SETS[@]}" --out "$WORK/out-$2" >/dev/null 2>&1
  python3 - "$cache" "$N" "$1" "$2" "$(pgrep -c rustc || true)" <<'EOF' | tee -a "$RAW"
import glob, json, shutil, sys
cache, n, rnd, name, busy = sys.argv[1:]
rec = next(r for r in map(lambda f: json.load(open(f)), glob.glob(f"{cache}/records/*/record.json")) if r["stage"] == "respond/base/hellaswag")
shutil.copy(f"{cache}/records/{rec['key']}/out/responses.jsonl", f"{cache}/../responses-{name}.jsonl")
d = rec["duration_s"]
print(f"{rnd}\t{name}\t{n}\t{d:.2f}\t{int(n) / d:.3f}\t{busy}")
EOF
}

for r in $(seq 1 "$ROUNDS"); do
  run "$r" before
  run "$r" after
done
echo '```' | tee -a "$RAW"

# Medians, and the two paths' log-likelihoods side by side (the last round's).
python3 - "$RAW" "$WORK/responses-before.jsonl" "$WORK/responses-after.jsonl" <<'EOF' | tee -a "$RAW"
import json, statistics, sys
raw, before, after = sys.argv[1:]
block = open(raw).read().rsplit("```", 2)[-2]
rows = [l.split("\t") for l in block.strip().splitlines()[1:]]
med = {p: statistics.median(float(r[4]) for r in rows if r[1] == p) for p in ("before", "after")}
print(f"\nmedian items/s: before {med['before']:.3f}, after {med['after']:.3f}, after/before {med['after'] / med['before']:.2f}x")
b, a = ([json.loads(l) for l in open(f)] for f in (before, after))
worst, argmax_same, counts_same = 0.0, 0, True
for x, y in zip(b, a):
    lx, ly = x["output"]["logliks"], y["output"]["logliks"]
    for p, q in zip(lx, ly):
        worst = max(worst, abs(p["sum_logprob"] - q["sum_logprob"]), abs(p["context_sum_logprob"] - q["context_sum_logprob"]))
        counts_same &= (p["n_tokens"], p["context_tokens"]) == (q["n_tokens"], q["context_tokens"])
    pick = lambda l: max(range(len(l)), key=lambda i: l[i]["sum_logprob"] / max(l[i]["n_tokens"], 1))
    argmax_same += pick(lx) == pick(ly)
print(f"before vs after, {len(b)} items: token counts equal: {counts_same}; largest difference of a log-prob sum {worst:.2e}; the same ending by mean log-prob on {argmax_same} of {len(b)}")
EOF
