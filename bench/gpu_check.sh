#!/usr/bin/env bash
# The GPU check: one call on a lent GPU machine (about 2-4 minutes on an H100, limit 9.5).
#
# Re-measures the throughput table of the study's models (ResNet34, AlexNet, VGG19 fine-tuning;
# Qwen2-VL-2B and SmolVLM linear probe and LoRA) at the configured micro-batch and at the one
# `micro_batch_size: auto` finds on this GPU, and writes
#   bench/results/throughput-<kind>.json       the table `breastbench plan --throughput` reads
#   bench/results/gpu_throughput_auto-<host>.json  every figure, with the machine
#
#   bench/gpu_check.sh                    # on the GPU machine, from the repository root
#   bench/gpu_check.sh --smoke            # CPU, tiny models, seconds: checks the script only
#   breastbench plan configs/breakhis_cnn_vs_vlm.yaml \
#       --throughput bench/results/throughput-h100.json
#
# Extra arguments go to bench/gpu_throughput.py (e.g. --table FILE, --only vlm/smolvlm).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
exec timeout 570 "$PY" bench/gpu_throughput.py --auto "$@"
