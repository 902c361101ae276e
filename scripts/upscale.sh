#!/usr/bin/env bash
# 4K upscale of a finished inference run, inside the container, from /workspace.
# Usage: upscale.sh RUN_DIR [FLAGS...]
# RUN_DIR/spec.json names the parent's output.mp4; the result is RUN_DIR/outputs/output_4k.mp4.
source "$(dirname "$0")/common.sh"
run_dir=$1
shift

cosmos_run "$run_dir" cosmos_transfer "$run_dir" output_4k "$@"
