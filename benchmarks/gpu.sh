#!/usr/bin/env bash
# Training throughput and model FLOP utilisation (MFU) of ResNet-50 and ViT-B/16 (224 px,
# bfloat16 compute, float32 weights) on one GPU, through the benchmark suite.
#
# Usage (from the repository root, on a machine with an NVIDIA GPU and CUDA 12 drivers):
#   bash benchmarks/gpu.sh [OUT.json]
# Environment:
#   VENV          virtualenv to create or reuse (default .venv-gpu); it gets `pip install -e .`
#                 and `jax[cuda12]` (JAX's CUDA 12 wheels, CUDA and cuDNN included).
#   R50_BATCH     ResNet-50 batch (default 256);  VIT_BATCH  ViT-B/16 batch (default 128).
#   STEPS         timed steps (default 20), after WARMUP untimed ones (default 5).
#   PEAK_FLOPS    the GPU's peak dense bf16 FLOP/s, when benchmarks/mfu.py does not know it.
# Prints the suite's table and, per model, images/s and MFU (benchmarks/mfu.py:
# XLA's FLOPs of one train step x steps/s / the device's peak). The published anchors are in
# benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-gpu}"
OUT="${1:-gpu_suite.json}"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --upgrade pip
  "$VENV/bin/pip" install -e . "jax[cuda12]"
fi
"$VENV/bin/python" -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', d; print(d.device_kind)"
PEAK_ARG=()
if [[ -n "${PEAK_FLOPS:-}" ]]; then PEAK_ARG=(--peak_flops="$PEAK_FLOPS"); fi
COMMON=(--dtype=bfloat16 --compare=none --steps="${STEPS:-20}" --warmup="${WARMUP:-5}" "${PEAK_ARG[@]}")
"$VENV/bin/python" -m benchmarks.suite --only=imagenet_resnet50 --batch_size="${R50_BATCH:-256}" \
  "${COMMON[@]}" --json="${OUT%.json}_resnet50.json"
"$VENV/bin/python" -m benchmarks.suite --only=imagenet_vit_b16 --batch_size="${VIT_BATCH:-128}" \
  "${COMMON[@]}" --json="${OUT%.json}_vit_b16.json"
"$VENV/bin/python" -m benchmarks.mfu "${OUT%.json}_resnet50.json" "${OUT%.json}_vit_b16.json"
