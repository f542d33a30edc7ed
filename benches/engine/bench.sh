#!/usr/bin/env bash
# Pipeline-engine overhead: syco vs Snakemake vs DVC on generated N-stage command pipelines.
# Stage i cats stage i-1 (and i-7 when i>=7 && i%3==0), the shape of shared/checks/engine_contract.py.
# Times (hyperfine medians): the no-op rerun at N = 10/100/1000 and the first full run.
# DVC's first run at N=1000 takes ~17 min (PEERS.md), so DVC is measured at N = 10 and 100 only.
#
# Usage: benches/engine/bench.sh [PATH/TO/syco]   (env: SIZES="10 100 1000", RUNS=7, WORK=/tmp/syco-engine-bench)
set -euo pipefail

SYCO=$(readlink -f "${1:-${CARGO_TARGET_DIR:-target}/release/syco}")
SIZES=${SIZES:-"10 100 1000"}
RUNS=${RUNS:-7}
DVC_MAX_N=${DVC_MAX_N:-100}
WORK=${WORK:-/tmp/syco-engine-bench}
VENV=${VENV:-/tmp/syco-engine-bench-venv}
OUT="$WORK/results"

command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install -y hyperfine)" >&2; exit 2; }
[ -x "$SYCO" ] || { echo "no syco binary at $SYCO" >&2; exit 2; }
if [ ! -x "$VENV/bin/snakemake" ] || [ ! -x "$VENV/bin/dvc" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q snakemake dvc
fi
export PATH="$VENV/bin:$PATH" DVC_NO_ANALYTICS=1
rm -rf "$WORK"; mkdir -p "$OUT"

# ins N I: the stage indices stage I reads
ins() { local i=$2; [ "$i" -gt 0 ] && echo -n "$((i - 1))"; [ "$i" -ge 7 ] && [ $((i % 3)) -eq 0 ] && echo -n " $((i - 7))"; echo; }

gen_syco() { # N DIR
  local n=$1 d=$2 i j cat; mkdir -p "$d"
  { echo '[experiment]'; echo 'name = "bench"'; echo
    for ((i = 0; i < n; i++)); do
      cat=""; local deps=()
      for j in $(ins "$n" "$i"); do cat+=" \"\$SYCO_IN_S$(printf %04d "$j")/out.txt\""; deps+=("\"s$(printf %04d "$j")\""); done
      printf '[stages.s%04d]\n' "$i"
      if [ -n "$cat" ]; then echo "cmd = 'cat$cat | wc -c > out.txt'"; else echo "cmd = 'echo \$SYCO_PARAM_V > out.txt'"; fi
      echo "inputs = [$(IFS=,; echo "${deps[*]}")]"
      [ "$i" -eq 0 ] && echo 'params = { v = 1 }'
      echo 'outs = ["out.txt"]'; echo
    done; } > "$d/m.toml"
}

gen_snake() { # N DIR
  local n=$1 d=$2 i j; mkdir -p "$d"
  echo 'v: 1' > "$d/config.yaml"
  { echo 'import sys'; echo 'sys.setrecursionlimit(100000)'; echo 'configfile: "config.yaml"'
    echo "rule all:"; echo "    input: \"out/$((n - 1)).txt\""
    for ((i = 0; i < n; i++)); do
      echo "rule s$i:"
      if [ "$i" -eq 0 ]; then
        echo '    output: "out/0.txt"'; echo '    params: v=config["v"]'; echo '    shell: "echo {params.v} > {output}"'
      else
        echo "    input: $(for j in $(ins "$n" "$i"); do echo -n "\"out/$j.txt\", "; done)"
        echo "    output: \"out/$i.txt\""; echo '    shell: "cat {input} | wc -c > {output}"'
      fi
    done; } > "$d/Snakefile"
}

gen_dvc() { # N DIR
  local n=$1 d=$2 i j; mkdir -p "$d/out"
  ( cd "$d" && git init -q && git config user.email b@b && git config user.name b && dvc init -q \
    && dvc config core.analytics false && dvc config core.check_update false )
  echo 'v: 1' > "$d/params.yaml"
  { echo 'stages:'
    for ((i = 0; i < n; i++)); do
      echo "  s$i:"
      if [ "$i" -eq 0 ]; then
        echo '    cmd: echo ${v} > out/0.txt'; echo '    params: [v]'
      else
        echo "    cmd: cat $(for j in $(ins "$n" "$i"); do echo -n "out/$j.txt "; done)| wc -c > out/$i.txt"
        echo "    deps: [$(for j in $(ins "$n" "$i"); do echo -n "out/$j.txt, "; done | sed 's/, $//')]"
      fi
      echo "    outs: [out/$i.txt]"
    done; } > "$d/dvc.yaml"
  ( cd "$d" && git add -A && git commit -qm init )
}

# First full runs: each timed command first wipes that tool's state, so every timed run is a first run.
FIRST_RUNS=${FIRST_RUNS:-3}
for n in $SIZES; do
  d="$WORK/n$n"; gen_syco "$n" "$d/syco"; gen_snake "$n" "$d/snake"
  # warm the caches for the no-op measurements
  "$SYCO" run "$d/syco/m.toml" --cache "$d/syco/cache" --out "$d/syco/runs" >/dev/null
  ( cd "$d/snake" && snakemake --cores 1 -q >/dev/null 2>&1 )
  cmds=(-n "syco run no-op N=$n" "$SYCO run $d/syco/m.toml --cache $d/syco/cache --out $d/syco/runs"
        -n "snakemake -n N=$n" "snakemake -n -q --directory $d/snake -s $d/snake/Snakefile"
        -n "snakemake --cores 1 no-op N=$n" "snakemake --cores 1 -q --directory $d/snake -s $d/snake/Snakefile")
  if [ "$n" -le "$DVC_MAX_N" ]; then
    gen_dvc "$n" "$d/dvc"
    ( cd "$d/dvc" && dvc repro -q >/dev/null && git add -A && git commit -qm ran )
    cmds+=(-n "dvc repro no-op N=$n" "sh -c 'cd $d/dvc && exec dvc repro -q'")
  fi
  hyperfine -N -w 1 -r "$RUNS" --export-json "$OUT/noop-$n.json" --export-markdown "$OUT/noop-$n.md" "${cmds[@]}"

  first=(-n "syco run first N=$n" "sh -c 'rm -rf $d/syco/cache $d/syco/runs && exec $SYCO run $d/syco/m.toml --cache $d/syco/cache --out $d/syco/runs'"
         -n "snakemake --cores 1 first N=$n" "sh -c 'rm -rf $d/snake/out $d/snake/.snakemake && exec snakemake --cores 1 -q --directory $d/snake -s $d/snake/Snakefile'")
  if [ "$n" -le "$DVC_MAX_N" ]; then
    first+=(-n "dvc repro first N=$n" "sh -c 'cd $d/dvc && rm -rf out/* .dvc/cache dvc.lock && exec dvc repro -q'")
  fi
  hyperfine -N -w 0 -r "$FIRST_RUNS" --export-json "$OUT/first-$n.json" --export-markdown "$OUT/first-$n.md" "${first[@]}"
done

{ echo "syco: $("$SYCO" --version)"; echo "snakemake: $(snakemake --version)"; echo "dvc: $(dvc --version)"
  echo "hyperfine: $(hyperfine --version)"; echo "load: $(cat /proc/loadavg)"; nproc; uname -r; } > "$OUT/versions.txt"
cat "$OUT"/versions.txt
# Medians (hyperfine's markdown shows means; noisy shared machines call for medians).
python3 - "$OUT" <<'PY'
import glob, json, sys
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    for r in json.load(open(f))["results"]:
        print(f"{r['command']:<34} median {r['median']*1000:9.1f} ms  [{r['min']*1000:.1f}-{r['max']*1000:.1f}]  n={len(r['times'])}")
PY
