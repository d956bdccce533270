#!/usr/bin/env bash
# The GPU benchmarks: training throughput (3D and 2D) and quality at equal budget, on CUDA.
#
# For a machine where nothing is pip-installed: Python 3.12 with torch preinstalled, covplan's
# dependencies unpacked into /tmp/site, covplan used from this checkout. Its plugins' entry
# points are then missing; the benchmarks register them in-process
# (benchmarks/common.py: register_bundled_plugins). Tables go to $OUT/benchmarks.md (when $OUT
# is set) and are appended to docs/benchmarks.md.
#
#   bash benchmarks/gpu_run.sh --slices-dir gpu_data/covid_semiseg_train            # all, < 8 min on an H100
#   bash benchmarks/gpu_run.sh --only training                                      # one part
#   bash benchmarks/gpu_run.sh --only compile                                       # torch.compile on CUDA
#   bash benchmarks/gpu_run.sh --only quality --iterations 250 --folds 5
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
slices_dir="$repo/gpu_data/covid_semiseg_train"
only="all"
iterations=200
folds=5
while [ $# -gt 0 ]; do
    case "$1" in
        --slices-dir) slices_dir="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;  # training | compile | quality | all
        --iterations) iterations="$2"; shift 2 ;;  # bench_quality's iterations per fold
        --folds) folds="$2"; shift 2 ;;
        *) echo "unknown option: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done

export PYTHONPATH="/tmp/site:$repo:$repo/plugins/covplan-qchc:$repo/plugins/covplan-coarse-refine${PYTHONPATH:+:$PYTHONPATH}"
export BENCH_OUT="${OUT:-$repo/bench_out}"
python="${PYTHON:-python3}"
workers="$(( $(nproc) > 12 ? 12 : $(nproc) - 1 ))"  # nnU-Net's default augmentation workers, at most the cores less one
cd "$repo"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

if [ "$only" = "all" ] || [ "$only" = "training" ]; then
    "$python" benchmarks/bench_training.py --device cuda --kind ct3d --cases 8 --size 128 --iterations 30 --workers "$workers"
    "$python" benchmarks/bench_training.py --device cuda --kind semiseg --cases 8 --size 384 --iterations 30 --workers "$workers"
fi
# torch.compile on CUDA (issue 30, unmeasured on the CPU machines): each trainer's own default
# (both compile on CUDA; AMP on in both) against the eager runs above, and the compile time
# (the "first step" column).
if [ "$only" = "all" ] || [ "$only" = "compile" ]; then
    "$python" benchmarks/bench_training.py --device cuda --kind ct3d --cases 8 --size 128 --iterations 30 --workers "$workers" --compile default --rounds 1
    "$python" benchmarks/bench_training.py --device cuda --kind semiseg --cases 8 --size 384 --iterations 30 --workers "$workers" --compile default --rounds 1
fi
if [ "$only" = "all" ] || [ "$only" = "quality" ]; then
    "$python" benchmarks/bench_quality.py --device cuda --slices-dir "$slices_dir" --folds "$folds" \
        --iterations "$iterations" --iterations-per-epoch 50 --workers "$workers"
fi
