#!/usr/bin/env bash
# GPU figures: training examples/s and sampling / encoding latency of the 16-bar presets (and the
# 2-bar reference), at full published sizes, on every Keras backend the GPU machine has.
#
#   bash benchmarks/gpu.sh                 # on the GPU machine, from the repository root
#   bash benchmarks/gpu.sh --fetch-wheels  # here (with network): the wheels a bare GPU image lacks
#
# It prints the card (nvidia-smi), then one line per workload and backend (benchmarks/model_speed.py:
# medians of timed steps after warm-up), then float32 against mixed precision side by side
# (benchmarks/precision_speed.py), and writes benchmarks/results_gpu.json. Quote the card with
# the figures in benchmarks/README.md.
#
# A GPU image with PyTorch and JAX but without Keras (or TensorFlow) needs Keras and this
# package's pure-Python dependencies carried as wheels: run `--fetch-wheels` on a machine with
# network (it fills .whl/, which git ignores), copy the repository with .whl/, and this script
# installs them into /tmp/site before measuring.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
WHEELS="${WHEELS:-.whl}"
# Pure-Python packages keras_musicvae imports at model-build time, for Python 3.12 images.
PACKAGES=(keras==3.12.0 namex==0.1.0 optree==0.17.0 ml-dtypes==0.5.3 rich h5py
          note-seq==0.0.5 pretty-midi==0.2.10 mido==1.3.3 absl-py)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  mkdir -p "$WHEELS"
  for package in "${PACKAGES[@]}"; do
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d "$WHEELS" "$package" \
      || "$PY" -m pip download --quiet --no-deps -d "$WHEELS" "$package"
  done
  ls -la "$WHEELS"
  exit 0
fi

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
  || echo "warning: no nvidia-smi: these are not GPU figures"
if ! "$PY" -c "import keras" 2>/dev/null; then
  if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
  else
    echo "Keras is not installed and $WHEELS/ has no wheels: run 'bash benchmarks/gpu.sh --fetch-wheels' first." >&2
    exit 2
  fi
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"

backends=()
for backend in tensorflow jax torch; do
  "$PY" -c "import $backend" 2>/dev/null && backends+=("$backend")
done
if [[ ${#backends[@]} -eq 0 ]]; then echo "no Keras backend (tensorflow, jax, torch) is installed" >&2; exit 2; fi
IFS=, ; list="${backends[*]}"; unset IFS
echo "backends: $list"

# GPU_WORKLOADS / GPU_PRECISION_WORKLOADS (comma-separated names) run fewer.
workloads="${GPU_WORKLOADS:-train_hierdec_mel_16bar_b32,train_hierdec_trio_16bar_b4,train_cat_mel_2bar_small_b64,sample_hierdec_trio_16bar_n8,encode_hierdec_trio_16bar_n8,sample_cat_mel_2bar_small_n8}"
"$PY" benchmarks/model_speed.py --backends "$list" --workloads "$workloads" \
  --json-out benchmarks/results_gpu.json
precision="${GPU_PRECISION_WORKLOADS:-train_cat_mel_2bar_small_b64,sample_hierdec_trio_16bar_n8}"
if [[ -n "$precision" && "$precision" != none ]]; then
  "$PY" benchmarks/precision_speed.py --backends "$list" --workloads "$precision" \
    --json-out benchmarks/results_gpu_precision.json || echo "precision comparison failed (see above)"
fi
