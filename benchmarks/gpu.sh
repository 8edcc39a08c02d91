#!/usr/bin/env bash
# Training throughput and model FLOP utilisation (MFU) of ResNet-50 and ViT-B/16 (224 px,
# bfloat16 compute, float32 weights) on one GPU, through the benchmark suite; and ResNet-50's
# jaxvision / PyTorch training ratio on that GPU, in the same run.
#
# Usage (from the repository root, on a machine with an NVIDIA GPU):
#   bash benchmarks/gpu.sh [OUT.json]
# Environment:
#   PYTHON        an interpreter that already has JAX for this GPU (and flax, optax,
#                 orbax-checkpoint, grain, ml_collections); jaxvision is taken from this
#                 checkout through PYTHONPATH. When unset, VENV is created or reused instead.
#   VENV          virtualenv to create or reuse (default .venv-gpu); it gets `pip install -e .`
#                 and JAX_EXTRA.
#   JAX_EXTRA     JAX's CUDA wheels for VENV (default "jax[cuda12]"; "jax[cuda13]" for CUDA 13
#                 drivers).
#   R50_BATCH     ResNet-50 batch (default 256);  VIT_BATCH  ViT-B/16 batch (default 128).
#   STEPS         timed steps (default 20), after WARMUP untimed ones (default 5).
#   PEAK_FLOPS    the GPU's peak dense bf16 FLOP/s, when benchmarks/mfu.py does not know it.
#   COMPARE_TORCH 1 (default) also times PyTorch's ResNet-50 (benchmarks/torch_models.py, plain
#                 torch.nn, channels-last, bf16 autocast) against jaxvision's on the same GPU,
#                 through benchmarks.throughput; 0 skips it (no PyTorch needed).
# Prints the suite's table and, per model, images/s and MFU (benchmarks/mfu.py:
# XLA's FLOPs of one train step x steps/s / the device's peak), then the PyTorch ratio.
# The published anchors are in benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu_suite.json}"
if [[ -n "${PYTHON:-}" ]]; then
  PY="$PYTHON"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  VENV="${VENV:-.venv-gpu}"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --upgrade pip
    "$VENV/bin/pip" install -e . "${JAX_EXTRA:-jax[cuda12]}"
  fi
  PY="$VENV/bin/python"
fi
"$PY" -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', d; print(jax.__version__, d.device_kind)"
PEAK_ARG=()
if [[ -n "${PEAK_FLOPS:-}" ]]; then PEAK_ARG=(--peak_flops="$PEAK_FLOPS"); fi
STEPS="${STEPS:-20}"
WARMUP="${WARMUP:-5}"
COMMON=(--dtype=bfloat16 --compare=none --steps="$STEPS" --warmup="$WARMUP" "${PEAK_ARG[@]}")
"$PY" -m benchmarks.suite --only=imagenet_resnet50 --batch_size="${R50_BATCH:-256}" \
  "${COMMON[@]}" --json="${OUT%.json}_resnet50.json"
"$PY" -m benchmarks.suite --only=imagenet_vit_b16 --batch_size="${VIT_BATCH:-128}" \
  "${COMMON[@]}" --json="${OUT%.json}_vit_b16.json"
"$PY" -m benchmarks.mfu "${OUT%.json}_resnet50.json" "${OUT%.json}_vit_b16.json"
if [[ "${COMPARE_TORCH:-1}" == 1 ]]; then
  "$PY" -m benchmarks.throughput --model=resnet50 --image-size=224 \
    --batch-size="${R50_BATCH:-256}" --dtype=bfloat16 --steps="$STEPS" --warmup="$WARMUP" \
    --compare=torch --torch-device=cuda --torch-channels-last \
    --json="${OUT%.json}_resnet50_torch.json"
fi
