#!/usr/bin/env bash
# On a lent CUDA machine, in one call (prepare .gpu/ first with benchmarks/gpu/prepare.sh):
#   device run: carry [".gpu"], timeout_s 600, command "bash benchmarks/gpu/run.sh"
# 1. a CUDA smoke test: one ci-config model's chain (train, evaluate, campaigns, sharpness) on the GPU;
# 2. the depth study at convergence (CONFIG, default config/depth_converged.yaml) on the device for
#    ARCHS and SEEDS, cut off after BUDGET_S (one process per network: a GPU trains several at once
#    when CORES lets Snakemake run several jobs).
# Everything comes back as $OUT/gpu_run.tar.gz (tables, per-job times, logs) and $OUT/summary.txt.
# Try it on a CPU first: OUT=/tmp/out DEVICE=cpu TINY=1 bash benchmarks/gpu/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:?set OUT to the folder that comes back}
CONFIG=${CONFIG:-config/depth_converged.yaml}
ARCHS=${ARCHS:-[resnet8]}
SEEDS=${SEEDS:-[0,1]}
BUDGET_S=${BUDGET_S:-420}
WORK=${WORK:-/tmp}  # the runs write to $WORK/gpu_smoke and $WORK/gpu_depth
DEVICE=${DEVICE:-cuda}
CORES=${CORES:-$(nproc)}
start=$(date +%s)
mkdir -p "$OUT" /tmp/gpu_bin
summary="$OUT/summary.txt"
say() { echo "$*" | tee -a "$summary"; }

# What the image lacks, from the carried wheels; flatenn from the checkout (no compiled kernels:
# they are CPU code, and the GPU runs PyTorch's).
if [ -d .gpu/whl ] && ! python3 -c "import snakemake" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
printf '#!/bin/sh\nexec python3 -m flatenn "$@"\n' > /tmp/gpu_bin/flatenn && chmod +x /tmp/gpu_bin/flatenn
export PATH="/tmp/gpu_bin:$PATH"
DATA=${DATA:-$ROOT/.gpu/fashion-mnist}
[ -d "$DATA" ] || DATA=/usr/share/datasets/fashion-mnist
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC')"
say "$(python3 -c 'import torch; print("torch", torch.__version__, "| cuda:", torch.cuda.is_available() and torch.cuda.get_device_name(0))')"
say "$(nproc) CPU cores; yardstick (float LeNet-5 step, 1 thread): $(python3 benchmarks/bench.py none 2>/dev/null | head -1 | grep -o '[0-9]* img/s')"

smk() {  # snakemake on this checkout's Snakefile in work dir $1, then the rest of the arguments
    local work=$1; shift
    python3 -m snakemake -s "$ROOT/Snakefile" -d "$work" --scheduler greedy --cores "$CORES" "$@"
}
# TINY=1: a few hundred images and one epoch, to try this script on a CPU first.
dataset="{root: $DATA}"
tiny=()
if [ -n "${TINY:-}" ]; then
    dataset="{root: $DATA, train_subset: 600, test_subset: 200, val_size: 100}"
    tiny=("training={epochs: 1}" "faults={trials: 2, eval_size: 100}"
          "sharpness={subset: 64, power_iters: 3, hutchinson_samples: 2, fault_samples: 1}")
fi

# 1. Smoke test: one model of the ci config, every per-model stage on the device.
model=fashion_mnist/lenet5/as_high/saq/s1
t0=$(date +%s)
smk "$WORK/gpu_smoke" --configfile config/ci.yaml --config device="$DEVICE" "dataset=$dataset" "${tiny[@]}" \
    -- results/eval/$model.json results/campaign/$model/bitflip.csv results/sharpness/$model.json \
    > "$OUT/smoke.log" 2>&1
rc=$?
say "smoke test (ci config, $model: train, evaluate, campaigns on $DEVICE; sharpness on the CPU): rc $rc in $(( $(date +%s) - t0 )) s"
[ $rc -eq 0 ] && say "  clean accuracy $(python3 -c "import json; print(json.load(open('$WORK/gpu_smoke/results/eval/$model.json'))['accuracy'])" 2>&1)"

# 2. The depth study on the device, cut off after BUDGET_S; what finished is kept and reported.
t0=$(date +%s)
left=$(( BUDGET_S - (t0 - start) ))
[ $left -lt 60 ] && left=60
timeout --signal=INT --kill-after=30 "$left" \
    python3 -m snakemake -s "$ROOT/Snakefile" -d "$WORK/gpu_depth" --scheduler greedy --cores "$CORES" --keep-going \
    --configfile "$CONFIG" --config device="$DEVICE" archs="$ARCHS" seeds="$SEEDS" "dataset=$dataset" \
    "${tiny[@]}" > "$OUT/depth.log" 2>&1
rc=$?
say "depth study ($CONFIG, archs $ARCHS, seeds $SEEDS, device $DEVICE): rc $rc after $(( $(date +%s) - t0 )) s (124 or 130: cut off at the budget)"
done_jobs=$(grep -c "^Finished jobid" "$OUT/depth.log" || true)
say "  $done_jobs jobs finished; per-job seconds by rule:"
python3 - "$WORK/gpu_depth/results/benchmarks" <<'PY' | tee -a "$summary"
import csv, pathlib, sys, collections
rows = collections.defaultdict(list)
for f in pathlib.Path(sys.argv[1]).rglob("*.tsv"):
    rule = f.relative_to(sys.argv[1]).parts[0]
    rows[rule].append(float(list(csv.DictReader(open(f), delimiter="\t"))[-1]["s"]))
for rule, s in sorted(rows.items()):
    print(f"    {rule:<24} {len(s):>3} jobs  {sum(s):8.1f} s  (max {max(s):.1f} s)")
PY
tar -czf "$OUT/gpu_run.tar.gz" -C "$WORK" --exclude='*.pt' --exclude='.snakemake' gpu_smoke/results/logs \
    gpu_depth/paper_tables gpu_depth/figures gpu_depth/results/benchmarks gpu_depth/results/logs 2>/dev/null
ls -la "$OUT"
