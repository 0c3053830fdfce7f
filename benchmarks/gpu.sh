#!/usr/bin/env bash
# On a machine with a CUDA GPU: the CUDA tests, then the GPU benchmark (under 8 minutes).
#   bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q tests/test_torch_backend.py -k "cuda or autocast"
cd benchmarks && python gpu_perf.py && python families_perf.py --no-keras
