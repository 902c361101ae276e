#!/usr/bin/env bash
# Cosmos-Transfer2.5 inference for one run, inside the container, from /workspace (its checkout).
# Usage: transfer25.sh RUN_DIR [FLAGS...]
# RUN_DIR holds spec.json, whose "name" is "output": the video goes to RUN_DIR/outputs/output.mp4.
# Paths are absolute because examples/inference.py changes directory to the spec's folder.
source "$(dirname "$0")/common.sh"
run_dir=$1
shift
# Upstream logs "Generating chunk i/N" only to debug.log unless COSMOS_VERBOSE is set.
export COSMOS_VERBOSE=1

cosmos_run "$run_dir" torchrun --nproc_per_node="${NUM_GPU:-1}" examples/inference.py \
  -i "$PWD/$run_dir/spec.json" -o "$PWD/$run_dir/outputs" "$@"
