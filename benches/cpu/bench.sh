#!/usr/bin/env bash
# syco against its peers on this CPU, in the same precision, alternating in one run (issue 25):
#   - LoRA training, the trainer's default (gradient checkpointing) and without checkpointing,
#     8 x 128 and 2 x 512: `bench_train` vs PyTorch + PEFT at its default (no checkpointing;
#     engine/train/bench/bench_peft.py), f32 both;
#   - scoring 16 x 128 (forward + log-softmax at the targets), SmolLM2-135M: syco f32 products
#     vs transformers f32, syco `matmul = "bf16"` vs transformers under bf16 autocast
#     (engine/ml/examples/bench.rs, engine/ml/bench/bench_transformers.py);
#   - syco decoding, batch 1 and 16, f32 vs bf16 products on dense weights without GGUF blocks
#     (as a safetensors checkpoint loads): the bf16 path must not be slower than the f32 one;
#   - lettered 4-choice scoring (64 MMLU questions of the seed data, SYCO_MMLU), the shared prompt
#     pass against every choice run whole (syco only; the example checks they agree).
#
#   benches/cpu/bench.sh [ROUNDS]    (default 3; raw rows appended to bench-results/cpu.raw.tsv)
#
# Needs `cargo build --release -p syco-ml --example bench -p syco-train --example bench_train`,
# a Python with torch, transformers, peft and gguf (PY, default /tmp/lmeval-venv/bin/python),
# and the SmolLM2 GGUF (SYCO_SMOLLM2_GGUF or target/syco-test-cache/models/...Q4_1.gguf).
# Every figure is a whole process's own median over its timed repetitions; compare only rows
# of the same round (these machines drift).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROUNDS="${1:-3}"
PY="${PY:-/tmp/lmeval-venv/bin/python}"
GGUF="${SYCO_SMOLLM2_GGUF:-$ROOT/target/syco-test-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
RAW="${RAW:-$ROOT/bench-results/cpu.raw.tsv}"
BENCH="$ROOT/target/release/examples/bench"
TRAIN="$ROOT/target/release/examples/bench_train"
export SYCO_MMLU="${SYCO_MMLU:-$ROOT/../shared/seed/data/02_general_benchmarks_splits/test_splits/mmlu_test.jsonl}"
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
for f in "$BENCH" "$TRAIN" "$PY" "$GGUF"; do [[ -e "$f" ]] || { echo "missing: $f" >&2; exit 1; }; done

# The model name alone ("AMD EPYC") does not tell Zen 4 (family 25) from Zen 5 (family 26).
CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -1), family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p')"
AMX="no AMX"; grep -qw amx_tile /proc/cpuinfo && AMX="AMX"
BF16="no avx512_bf16"; grep -qw avx512_bf16 /proc/cpuinfo && BF16="avx512_bf16"
MACHINE="$CPU ($AMX, $BF16, $(nproc) CPUs)"
[[ -s "$RAW" ]] || printf 'time\tround\tmachine\tmeasure\timpl\tvalue\tpeak_mib\n' >"$RAW"
echo "machine: $MACHINE; load: $(cut -d' ' -f1-3 /proc/loadavg)"

row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%H:%M:%S)" "$1" "$MACHINE" "$2" "$3" "$4" "${5:-}" | tee -a "$RAW"; }
# jq-free JSON field reader: `field NAME` on one JSON line from stdin.
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }

for round in $(seq 1 "$ROUNDS"); do
  # Scoring: syco f32, peer f32 + bf16 autocast (one process), syco bf16.
  out=$("$BENCH" "$GGUF" 5 dense-f32 score)
  row "$round" score_16x128_tok_s syco-f32 "$(grep score_16x128 <<<"$out" | field median)"
  out=$(sed 's/for batch in (1, 16):/for batch in ():/' "$ROOT/engine/ml/bench/bench_transformers.py" | "$PY" - "$GGUF" 5 bf16 2>/dev/null)
  row "$round" score_16x128_tok_s transformers-f32 "$(grep '"transformers", "measure": "score' <<<"$out" | field median)"
  row "$round" score_16x128_tok_s transformers-bf16-autocast "$(grep '"transformers-bf16", "measure": "score_16' <<<"$out" | field median)"
  out=$("$BENCH" "$GGUF" 5 dense-bf16 score)
  row "$round" score_16x128_tok_s syco-bf16 "$(grep score_16x128 <<<"$out" | field median)"
  # Decoding on dense weights, f32 vs bf16 products (syco only).
  for p in dense-f32-noblocks dense-bf16-noblocks; do
    for b in b1 b16; do
      out=$("$BENCH" "$GGUF" 3 "$p" "$b")
      row "$round" "generate_${b}_new_tok_s" "syco-$p" "$(grep generate_ <<<"$out" | field median)"
    done
  done
  # Lettered 4-choice items/s, the shared prompt pass against each choice run whole (syco only).
  out=$("$BENCH" "$GGUF" 1 dense-f32 mc4)
  row "$round" mc4_items_s syco-unshared "$(grep mc4_unshared <<<"$out" | field median)"
  row "$round" mc4_items_s syco-shared "$(grep mc4_shared_items <<<"$out" | field median)"
  # Training, the default configuration, each shape in its own process.
  for shape in 8x128 2x512; do
    out=$("$TRAIN" "$shape" --steps 4 --warmup 1 2>/dev/null | tail -1)
    row "$round" "train_${shape}_tok_s" syco-default "$(field tokens_per_s_median <<<"$out")" "$(field peak_rss_mib <<<"$out")"
    out=$("$TRAIN" "$shape" --steps 4 --warmup 1 --no-checkpointing 2>/dev/null | tail -1)
    row "$round" "train_${shape}_tok_s" syco-no-checkpointing "$(field tokens_per_s_median <<<"$out")" "$(field peak_rss_mib <<<"$out")"
    out=$("$PY" "$ROOT/engine/train/bench/bench_peft.py" "$shape" --steps 4 --warmup 1 2>/dev/null | tail -1)
    row "$round" "train_${shape}_tok_s" pytorch-peft "$(field tokens_per_s_median <<<"$out")" "$(field peak_rss_mib <<<"$out")"
  done
done
