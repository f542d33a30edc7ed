#!/usr/bin/env bash
# Items per second on lm-eval task files, SmolLM2-135M-Instruct (Q4_1 GGUF, f32): `syco run` vs
# lm-evaluation-harness's HF backend (float32, batch 16), 2 threads each, same machine, same run,
# alternating rounds. The tasks are engine/tasks/golden/lm_eval_run/capitals_{mc,letter,gen}.yaml
# (40 test records each, 3-shot): 4-choice MC scored on the answers' text (160 log-likelihood
# requests, 1-3 token continuations), the same lettered as MMLU does (160 requests, one-token
# continuations " A".." D"), and 40 greedy generations of at most 16 tokens, cut at "\n".
#
#   benches/tasks/bench.sh [ROUNDS]          (default 3; results: bench-results/tasks.raw.tsv)
#
# Needs: target/release/syco (cargo build --release), the lm-eval venv (LMEVAL_PY, default
# /tmp/lmeval-venv/bin/python, with lm_eval 0.4.13), the GGUF (SYCO_SMOLLM2_GGUF or
# target/syco-test-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf) and its HF conversion
# (HF_MODEL, default target/syco-test-cache/smollm2-hf; made by
# engine/tasks/golden/lm_eval_run/make_hf_model.py).
#
# syco: every run gets a fresh cache (so nothing is reused) and is timed as a whole process;
# its model-load/start-up cost is estimated by a run of the same task on 1 record, also fresh.
# lm-eval: the process is timed as a whole, and inside it the model load (HFLM construction)
# and simple_evaluate separately (benches/tasks/lmeval_run.py).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROUNDS="${1:-3}"
SYCO="${SYCO:-$ROOT/target/release/syco}"
PY="${LMEVAL_PY:-/tmp/lmeval-venv/bin/python}"
GGUF="${SYCO_SMOLLM2_GGUF:-$ROOT/target/syco-test-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
HF_MODEL="${HF_MODEL:-$ROOT/target/syco-test-cache/smollm2-hf}"
TASKS=(capitals_mc capitals_letter capitals_gen)
GOLDEN="$ROOT/engine/tasks/golden/lm_eval_run"
RAW="${RAW:-$ROOT/bench-results/tasks.raw.tsv}"
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1
unset SYCO_CACHE || true

for f in "$SYCO" "$PY" "$GGUF" "$HF_MODEL/model.safetensors"; do
  [[ -e "$f" ]] || { echo "missing: $f" >&2; exit 1; }
done

WORK="$(mktemp -d /tmp/syco-tasks-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
# A copy, so a rebuild during the rounds cannot change what is measured.
cp "$SYCO" "$WORK/syco"
SYCO="$WORK/syco"

# The one-record variants (for syco's load estimate): the task file with its test split cut to
# the first record, written beside a copy of the data so relative paths still resolve.
mkdir -p "$WORK/one/data"
head -n 1 "$GOLDEN/data/capitals_test.jsonl" > "$WORK/one/data/capitals_test.jsonl"
cp "$GOLDEN/data/capitals_train.jsonl" "$WORK/one/data/"
for t in "${TASKS[@]}"; do cp "$GOLDEN/$t.yaml" "$WORK/one/$t.yaml"; done

manifest() { # TASK YAML_DIR -> manifest path
  local m="$WORK/$1-$(basename "$2").toml"
  cat > "$m" <<TOML
[experiment]
name = "tasks-bench"
seed = 1

[model.base]
source = { path = "$GGUF" }
dtype = "f32"
matmul = "f32"

[tasks.$1]
lm_eval = "$2/$1.yaml"

[eval]
models = ["base"]
TOML
  echo "$m"
}

now() { date +%s.%N; }

syco_run() { # TASK YAML_DIR -> seconds
  local m; m="$(manifest "$1" "$2")"
  local c="$WORK/cache-$RANDOM$RANDOM" o="$WORK/out-$RANDOM$RANDOM"
  local t0 t1; t0=$(now)
  "$SYCO" run "$m" --out "$o" --cache "$c" > "$WORK/syco.log" 2>&1 || { cat "$WORK/syco.log" >&2; exit 1; }
  t1=$(now)
  local n; n=$(wc -l < "$o/models/base/$1/items.jsonl")
  rm -rf "$c" "$o"
  echo "$(echo "$t1 - $t0" | bc -l) $n"
}

{
  echo "# $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) CPUs, AMX: $(grep -q amx_tile /proc/cpuinfo && echo yes || echo no)"
  echo "# syco $("$SYCO" --version 2>/dev/null || echo '?') ($(git -C "$ROOT" rev-parse --short HEAD)); lm_eval $("$PY" -c 'import importlib.metadata as m; print(m.version("lm_eval"), "torch", m.version("torch"), "transformers", m.version("transformers"))')"
  printf "round\ttool\ttask\tn\twall_s\tload_s\teval_s\tbusy\n"
} | tee -a "$RAW"

for r in $(seq 1 "$ROUNDS"); do
  for t in "${TASKS[@]}"; do
    # busy: other compilers (rustc) running when the measurement ended; such rows are not quiet.
    read -r one _ < <(syco_run "$t" "$WORK/one")
    read -r wall n < <(syco_run "$t" "$GOLDEN")
    printf "%s\tsyco\t%s\t%s\t%.2f\t%.2f\t%.2f\t%s\n" "$r" "$t" "$n" "$wall" "$one" "$(echo "$wall - $one" | bc -l)" "$(pgrep -c rustc || true)" | tee -a "$RAW"
    t0=$(now)
    line=$("$PY" "$ROOT/benches/tasks/lmeval_run.py" "$HF_MODEL" "$t" 2> "$WORK/lmeval.log" | tail -n 1) || { tail -20 "$WORK/lmeval.log" >&2; exit 1; }
    t1=$(now)
    read -r n load ev < <(echo "$line" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["n"], d["load_s"], d["eval_s"])')
    printf "%s\tlm-eval\t%s\t%s\t%.2f\t%.2f\t%.2f\t%s\n" "$r" "$t" "$n" "$(echo "$t1 - $t0" | bc -l)" "$load" "$ev" "$(pgrep -c rustc || true)" | tee -a "$RAW"
  done
done

"$PY" "$ROOT/benches/tasks/summarise.py" "$RAW"
