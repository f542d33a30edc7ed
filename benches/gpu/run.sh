#!/usr/bin/env bash
# The whole GPU check of syco in one script (issue 24): random-weight models of SmolLM2-135M's and
# Llama-2-7B's shapes, device-vs-CPU correctness on the main job's items, throughput of LoRA
# training, scoring and generation against PyTorch (+ PEFT), the GPU's bf16 matmul rate for MFU.
# Every figure goes into "$OUT/gpu-results.md" and "$OUT/gpu-results.json" (+ run.log, logs/).
#
#   bash benches/gpu/run.sh                      (from the repository root; see benches/gpu/README.md)
#
# GPU mode when `nvidia-smi -L` works (and FORCE_CPU is not 1): the CUDA binary (SYCO_CUDA, default
# target-cuda/syco.gz or target-cuda/syco, the stripped copy, else target-cuda/release/syco), device
# "cuda", the two real shapes (SHAPES_OVERRIDE="tiny-small tiny-big" for a quick try).
# CPU fallback otherwise: the normal binary (SYCO, default target/release/syco), the same steps on
# tiny stand-in shapes, device "cpu" on both sides of the comparison (a test of the plumbing only).
# PY (default python3) makes the models and runs the peer; without torch the tiny models are
# written in pure Python and the peer is skipped; without peft only the peer's training is skipped.
#
# Time: every step has a budget (seconds, below) and runs under `timeout`; a step that no longer
# fits in BUDGET_S (default 540 s: the device allows 600 per command) is skipped and says so.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
START=$(date +%s)
export BUDGET_S="${BUDGET_S:-540}"
export OUT="${OUT:-$ROOT/target/gpu-check}"
mkdir -p "$OUT/parts" "$OUT/logs"
export WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/syco-gpu.XXXXXX")}"
mkdir -p "$WORK"
export PY="${PY:-python3}"
export B="$ROOT/benches/gpu/gpu_bench.py"
exec > >(tee -a "$OUT/run.log") 2>&1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
unset SYCO_CACHE || true

if [[ "${FORCE_CPU:-0}" != 1 ]] && nvidia-smi -L >/dev/null 2>&1; then
  # target-cuda/syco.gz: the stripped, gzipped copy that travels to the device (README); else the
  # stripped copy, else the build's own binary
  cuda_bin="$ROOT/target-cuda/syco"
  if [[ -z "${SYCO_CUDA:-}" && -e "$ROOT/target-cuda/syco.gz" ]]; then
    gzip -dc "$ROOT/target-cuda/syco.gz" > "$WORK/syco-cuda" && chmod +x "$WORK/syco-cuda" && cuda_bin="$WORK/syco-cuda"
  fi
  [[ -x "$cuda_bin" ]] || cuda_bin="$ROOT/target-cuda/release/syco"
  export MODE=gpu DEV=cuda SYCO_SRC="${SYCO_CUDA:-$cuda_bin}"
  SHAPES=(smollm2-135m llama2-7b)
else
  export MODE=cpu DEV=cpu SYCO_SRC="${SYCO:-$ROOT/target/release/syco}"
  SHAPES=(tiny-small tiny-big)
fi
[[ -n "${SHAPES_OVERRIDE:-}" ]] && read -r -a SHAPES <<< "$SHAPES_OVERRIDE"   # e.g. "tiny-small tiny-big"
export CHECK_SHAPE="${SHAPES[0]}" SMALL="${SHAPES[0]}" BIG="${SHAPES[1]}"
echo "== mode $MODE, device $DEV, shapes ${SHAPES[*]}, work $WORK, out $OUT, budget ${BUDGET_S}s"
[[ -x "$SYCO_SRC" ]] || { echo "no syco binary at $SYCO_SRC" >&2; exit 1; }
# A copy, so a rebuild cannot change what is measured.
cp "$SYCO_SRC" "$WORK/syco" && export SYCO="$WORK/syco"

# --- CUDA libraries: the binary needs libcuda.so.1 (driver), libcublas(Lt).so.13, libcurand.so.10,
# libcudart.so.13. Look for what ldd misses in a carried folder, PyTorch's wheels, /usr/local/cuda.
missing() { ldd "$SYCO" 2>/dev/null | awk '/not found/{print $1}'; }
if [[ $MODE == gpu && -n "$(missing)" ]]; then
  cands=("$ROOT/target-cuda/cuda-libs" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu)
  cands+=(/usr/local/cuda-13*/lib64)
  while IFS= read -r d; do cands+=("$d"); done < <("$PY" - <<'EOF' 2>/dev/null
import glob, site, sys
for sp in set(site.getsitepackages() + [site.getusersitepackages()] + sys.path):
    for d in glob.glob(sp + "/nvidia/*/lib") + glob.glob(sp + "/nvidia/cu13/lib") + glob.glob(sp + "/torch/lib"):
        print(d)
EOF
)
  for lib in $(missing); do
    for d in "${cands[@]}"; do
      if [[ -e "$d/$lib" ]]; then
        [[ ":${LD_LIBRARY_PATH:-}:" == *":$d:"* ]] || export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        break
      fi
    done
  done
  if [[ -n "$(missing)" ]]; then # last resort: search the disk (bounded)
    for lib in $(missing); do
      f=$(timeout 30 find / -xdev -name "$lib" -not -path '/proc/*' 2>/dev/null | head -1)
      [[ -n "$f" ]] && export LD_LIBRARY_PATH="$(dirname "$f")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
  fi
fi
ldd "$SYCO" > "$OUT/logs/ldd.txt" 2>&1
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; grep -E "cuda|cublas|curand|not found" "$OUT/logs/ldd.txt" || true

# --- GPU memory: nvidia-smi memory.used (MiB) sampled every 100 ms while a syco command runs.
mem_base() { [[ $MODE == gpu ]] && nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 > "$1" 2>/dev/null || echo 0 > "$1"; }
# with_mem FILE CMD...: runs CMD with the sampler on
with_mem() {
  local f=$1; shift
  local pid=
  if [[ $MODE == gpu ]]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 > "$f" 2>/dev/null &
    pid=$!
  fi
  "$@"; local rc=$?
  [[ -n "$pid" ]] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
  return $rc
}
export -f with_mem mem_base

# --- Steps: step NAME BUDGET_SECONDS FUNCTION [ARGS]
STEPS="$OUT/logs/steps.tsv"; : > "$STEPS"
step() {
  local name=$1 budget=$2; shift 2
  local left=$(( BUDGET_S - ($(date +%s) - START) ))
  if (( left < budget / 2 || left < 10 )); then
    echo "== $name: skipped ($left s left, budget $budget s)"
    printf '%s\tskipped (%s s left)\t0\t%s\n' "$name" "$left" "$budget" >> "$STEPS"; return 1
  fi
  local t=$(( budget < left ? budget : left )) t0=$(date +%s.%N)
  echo "== $name (budget $budget s, limit $t s)"
  timeout -k 5 "$t" bash -c '"$@"' _ "$@"; local rc=$?
  local s; s=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a - b}')
  local st=ok; (( rc == 124 || rc == 137 )) && st="timeout"; (( rc != 0 && rc != 124 && rc != 137 )) && st="failed rc=$rc"
  echo "== $name: $st (${s} s)"
  printf '%s\t%s\t%.1f\t%s\n' "$name" "$st" "$s" "$budget" >> "$STEPS"
  return $rc
}

# syco_run NAME MANIFEST [STAGES...]: fresh cache per run, log in $OUT/logs/NAME.log
syco_run() {
  local name=$1 m=$2; shift 2
  rm -rf "$WORK/cache-$name" "$WORK/run-$name"
  "$SYCO" run "$m" --cache "$WORK/cache-$name" --out "$WORK/run-$name" --keep-going "$@" > "$OUT/logs/$name.log" 2>&1
  local rc=$?
  grep -E "^(ran|failed|error)|stages:" "$OUT/logs/$name.log" | tail -n 40
  for f in "$WORK/cache-$name"/failed/*.txt; do
    [[ -e "$f" ]] && cp "$f" "$OUT/logs/$name.failed.$(basename "$f" | sed 's/%2F/_/g')"
  done
  return $rc
}
export -f syco_run

make_model() { "$PY" "$B" model "$1" "$WORK/models/$1" | tee "$OUT/parts/model-$1.json"; }
make_data() { "$PY" "$B" data "$WORK/data-$1" "$1" >/dev/null; }
export -f make_model make_data

# 1. correctness: the main job's items (quick.toml's datasets, one adapter trained 20 steps),
#    bf16 weights, on DEV and on the CPU; then the training alone in f32 weights when bf16
#    training fails; then MC log-likelihoods (the logits' log-softmax) of 8 items, DEV vs CPU.
check_run() { # DEVICE DTYPE TAG [STAGES]
  local dev=$1 dt=$2 tag=$3; shift 3
  "$PY" "$B" manifest check "$WORK/check-$tag.toml" "$WORK/models/$CHECK_SHAPE" "$dev" "$dt"
  mem_base "$WORK/mem-base.txt"
  with_mem "$WORK/mem-check-$tag.txt" syco_run "check-$tag" "$WORK/check-$tag.toml" "$@"
}
logits_run() { # DEVICE TAG
  "$PY" "$B" manifest infer "$WORK/logits-$2.toml" "$WORK/models/$CHECK_SHAPE" "$1" bf16 "$WORK/data-$CHECK_SHAPE" 8,4
  syco_run "logits-$2" "$WORK/logits-$2.toml"
}
export -f check_run logits_run

# 2. syco throughput at one shape: scoring + generation at 1 item and at N items (the difference of
#    the respond stages' seconds removes model loading), LoRA training (bf16 weights; f32 if that fails)
bench_infer() { # SHAPE TAG N_SCORE,N_GEN
  local d="$WORK/bench-$1"; mkdir -p "$d"
  "$PY" "$B" manifest infer "$d/infer$2.toml" "$WORK/models/$1" "$DEV" bf16 "$WORK/data-$1" "$3"
  mem_base "$d/mem-base.txt"
  with_mem "$d/mem-infer$2.txt" syco_run "infer$2-$1" "$d/infer$2.toml" -j 1; local rc=$?
  cp "$OUT/logs/infer$2-$1.log" "$d/infer$2.log"; rm -rf "$d/run-infer$2"; mv "$WORK/run-infer$2-$1" "$d/run-infer$2"
  return $rc
}
bench_train() { # SHAPE DTYPE
  local d="$WORK/bench-$1"; mkdir -p "$d"
  "$PY" "$B" manifest train "$d/train-$2.toml" "$WORK/models/$1" "$DEV" "$2" "$WORK/data-$1"
  mem_base "$d/mem-base.txt"
  with_mem "$d/mem-train-$2.txt" syco_run "train-$2-$1" "$d/train-$2.toml" -j 1; local rc=$?
  cp "$OUT/logs/train-$2-$1.log" "$d/train-$2.log"; rm -rf "$d/run-train-$2"; mv "$WORK/run-train-$2-$1" "$d/run-train-$2"
  return $rc
}
bench_shape() { # SHAPE
  local s=$1 ns ng
  ns=$("$PY" "$B" size "$s" n_score); ng=$("$PY" "$B" size "$s" n_gen)
  bench_infer "$s" 1 1,1
  bench_infer "$s" N "$ns,$ng"
  bench_train "$s" bf16 || bench_train "$s" f32
  "$PY" "$B" collect "$s" "$WORK/bench-$s" "$WORK/models/$s" "$OUT/parts/syco-$s.json"
}
peer() { # SHAPE [matmul]
  "$PY" -c "import torch, transformers" 2>/dev/null || { echo "no torch/transformers: peer skipped"; echo '{"skipped": "no torch"}' > "$OUT/parts/peer-$1.json"; return 0; }
  "$PY" "$B" peer "$WORK/models/$1" "$OUT/parts/peer-$1.json" "$1" "${2:-}"
}
export -f bench_infer bench_train bench_shape peer

if [[ $MODE == gpu ]]; then # budgets (s) for the H200 machine
  BM_SMALL=60 BM_BIG=150 BC_DEV=120 BC_CPU=240 BC_F32=60 BL=45 BB_SMALL=90 BB_BIG=180 BP_SMALL=60 BP_BIG=150
else                        # the CPU fallback on a 2-core machine
  BM_SMALL=60 BM_BIG=60 BC_DEV=200 BC_CPU=200 BC_F32=120 BL=60 BB_SMALL=120 BB_BIG=120 BP_SMALL=120 BP_BIG=120
fi

step "model $SMALL" $BM_SMALL make_model "$SMALL"
for s in "${SHAPES[@]}"; do make_data "$s"; done
smoke() { # one short greedy generation on the device: the first place a CUDA problem shows
  "$SYCO" generate --model "$WORK/models/$SMALL" --device "$DEV" --dtype bf16 --prompt "Hello" --max-new-tokens 8 --cache "$WORK/gcache" 2>&1 \
    | tee "$OUT/logs/smoke.log" | tail -n 5
  return "${PIPESTATUS[0]}"
}
export -f smoke
step "smoke: syco generate on $DEV" 60 smoke
# The CPU side of the check (the slow one) runs in the background beside the device side, the big
# model's making and the logits check, none of which is a measurement; the benchmarks wait for it.
( step "check, cpu side (bf16, main job items)" $BC_CPU check_run cpu bf16 cpu ) &
CPU_CHECK=$!
step "check, device side ($DEV, bf16, main job items)" $BC_DEV check_run "$DEV" bf16 dev
step "model $BIG" $BM_BIG make_model "$BIG"
step "logits, device side ($DEV)" $BL logits_run "$DEV" dev
step "logits, cpu side" $BL logits_run cpu cpu
wait $CPU_CHECK
if [[ ! -e "$WORK/run-check-dev/adapters/gsm8k/train_log.jsonl" || ! -e "$WORK/run-check-cpu/adapters/gsm8k/train_log.jsonl" ]]; then
  echo "bf16 training did not finish on both sides: the training check again in f32 weights"
  step "check train f32, device side ($DEV)" $BC_F32 check_run "$DEV" f32 dev-f32 train/gsm8k
  step "check train f32, cpu side" $BC_F32 check_run cpu f32 cpu-f32 train/gsm8k
fi
"$PY" "$B" compare "$WORK/run-check-cpu" "$WORK/run-check-dev" "$OUT/parts/compare.json"
[[ -d "$WORK/run-check-cpu-f32" ]] && "$PY" "$B" compare "$WORK/run-check-cpu-f32" "$WORK/run-check-dev-f32" "$OUT/parts/compare-f32.json"
"$PY" "$B" compare "$WORK/run-logits-cpu" "$WORK/run-logits-dev" "$OUT/parts/compare-logits.json"

# Benchmarks, the most wanted first: syco at both shapes, the peer at the big one (+ the matmul
# rate), the peer at the small one.
step "syco bench $SMALL" $BB_SMALL bench_shape "$SMALL"
step "syco bench $BIG" $BB_BIG bench_shape "$BIG"
step "peer $BIG (+ bf16 matmul)" $BP_BIG peer "$BIG" matmul
step "peer $SMALL" $BP_SMALL peer "$SMALL"

# --- environment and the one results file
gpu=none; [[ $MODE == gpu ]] && gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
"$PY" - "$OUT/parts/env.json" "$STEPS" <<EOF
import json, sys, socket, time
steps = [dict(zip(("name", "status", "seconds", "budget"), l.rstrip("\n").split("\t"))) for l in open(sys.argv[2]) if l.strip()]
json.dump({"mode": "$MODE", "device": "$DEV", "gpu": "$gpu", "host": socket.gethostname(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "syco": "$SYCO_SRC", "syco_version": "$("$SYCO" --version 2>&1 | head -1)", "shapes": "${SHAPES[*]}".split(),
           "small": "$SMALL", "big": "$BIG", "total_s": $(( $(date +%s) - START )), "budget_s": $BUDGET_S,
           "ld_library_path": "${LD_LIBRARY_PATH:-}", "ldd_missing": "$(missing | tr '\n' ' ')"}, open(sys.argv[1], "w"), indent=1)
json.dump({"steps": steps}, open(sys.argv[1].replace("env.json", "steps.json"), "w"), indent=1)
EOF
"$PY" "$B" report "$OUT/parts" "$OUT/gpu-results.md" "$OUT/gpu-results.json"
echo "== done in $(( $(date +%s) - START )) s: $OUT/gpu-results.md"
cat "$OUT/gpu-results.md"
[[ "${KEEP_WORK:-0}" == 1 ]] || rm -rf "$WORK"
