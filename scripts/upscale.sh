#!/usr/bin/env bash
# 4K upscale of a finished inference run, inside the container, from /workspace.
# Usage: upscale.sh RUN_DIR
# RUN_DIR/spec.json names the parent's output.mp4; the result is RUN_DIR/outputs/output_4k.mp4.
source "$(dirname "$0")/common.sh"
run_dir=$1

cosmos_run "$run_dir" torchrun --nproc_per_node="${NUM_GPU:-1}" --nnodes=1 --node_rank=0 \
  cosmos_transfer1/diffusion/inference/transfer.py \
  --checkpoint_dir checkpoints \
  --video_save_folder "$run_dir/outputs" \
  --video_save_name output_4k \
  --controlnet_specs "$run_dir/spec.json" \
  --num_gpus "${NUM_GPU:-1}" \
  --num_steps 10 \
  --offload_text_encoder_model \
  --offload_guardrail_models
