#!/usr/bin/env bash
# Cosmos-Transfer1 inference for one run, inside the container, from /workspace.
# Usage: inference.sh RUN_DIR [FLAGS...]
# RUN_DIR holds spec.json (the controlnet spec); FLAGS are transfer.py's (--num_steps, --guidance,
# --seed, --sigma_max, ...); the video goes to RUN_DIR/outputs/output.mp4.
source "$(dirname "$0")/common.sh"
run_dir=$1
shift

cosmos_run "$run_dir" cosmos_transfer "$run_dir" output "$@"
