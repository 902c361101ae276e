#!/usr/bin/env bash
# Cosmos-Transfer1 inference for one run, inside the container, from /workspace.
# Usage: inference.sh RUN_DIR NUM_STEPS GUIDANCE SEED
# RUN_DIR holds spec.json (the controlnet spec); the video goes to RUN_DIR/outputs/output.mp4.
source "$(dirname "$0")/common.sh"
run_dir=$1 num_steps=$2 guidance=$3 seed=$4

cosmos_run "$run_dir" torchrun --nproc_per_node="${NUM_GPU:-1}" --nnodes=1 --node_rank=0 \
  cosmos_transfer1/diffusion/inference/transfer.py \
  --checkpoint_dir checkpoints \
  --video_save_folder "$run_dir/outputs" \
  --video_save_name output \
  --controlnet_specs "$run_dir/spec.json" \
  --num_gpus "${NUM_GPU:-1}" \
  --num_steps "$num_steps" \
  --guidance "$guidance" \
  --seed "$seed" \
  --offload_text_encoder_model \
  --offload_guardrail_models
