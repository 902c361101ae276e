#!/usr/bin/env bash
# Cosmos-Transfer1 inference for one run, inside the container, from /workspace.
# Usage: inference.sh RUN_DIR NUM_STEPS GUIDANCE SEED
# RUN_DIR holds spec.json (the controlnet spec); the video goes to RUN_DIR/outputs/output.mp4.
source "$(dirname "$0")/common.sh"
run_dir=$1 num_steps=$2 guidance=$3 seed=$4

cosmos_run "$run_dir" cosmos_transfer "$run_dir" output \
  --num_steps "$num_steps" --guidance "$guidance" --seed "$seed"
