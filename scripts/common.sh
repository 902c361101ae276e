# Shared by the run scripts; sourced, never run on its own.
# cosmos_run RUN_DIR CMD [ARGS...]: runs CMD from /workspace, appends everything it
# prints to RUN_DIR/run.log (and to the container's stdout), and always ends the log
# with one line "[COSMOS_COMPLETE] exit_code=N" carrying CMD's real exit code:
# also when CMD crashes, and 143/130 when the container is stopped or interrupted.
set -uo pipefail

COSMOS_EXIT=1
COSMOS_LOG=/dev/null

cosmos_finish() {
  # Start the marker on a line of its own even if the model left a partial line.
  if [ -s "$COSMOS_LOG" ] && [ -n "$(tail -c 1 "$COSMOS_LOG")" ]; then
    printf '\n' >>"$COSMOS_LOG"
  fi
  printf '[COSMOS_COMPLETE] exit_code=%d\n' "$COSMOS_EXIT" >>"$COSMOS_LOG"
}

cosmos_on_signal() {
  trap '' TERM INT
  COSMOS_EXIT=$1
  kill -TERM 0 2>/dev/null  # the model and tee share our process group
  exit "$COSMOS_EXIT"
}

cosmos_run() {
  local run_dir=$1
  shift
  COSMOS_LOG="$run_dir/run.log"
  mkdir -p "$run_dir/outputs"
  trap cosmos_finish EXIT
  trap 'cosmos_on_signal 143' TERM
  trap 'cosmos_on_signal 130' INT
  # In the background so that `wait` returns as soon as a signal arrives.
  ( "$@" 2>&1 | tee -a "$COSMOS_LOG"; exit "${PIPESTATUS[0]}" ) &
  wait "$!"
  COSMOS_EXIT=$?
  exit "$COSMOS_EXIT"
}

# cosmos_transfer RUN_DIR SAVE_NAME [FLAGS...]: Cosmos-Transfer1's transfer.py on the
# run's spec.json, writing RUN_DIR/outputs/SAVE_NAME.mp4; FLAGS go before the offload flags.
cosmos_transfer() {
  local run_dir=$1 save_name=$2
  shift 2
  torchrun --nproc_per_node="${NUM_GPU:-1}" --nnodes=1 --node_rank=0 \
    cosmos_transfer1/diffusion/inference/transfer.py \
    --checkpoint_dir checkpoints \
    --video_save_folder "$run_dir/outputs" \
    --video_save_name "$save_name" \
    --controlnet_specs "$run_dir/spec.json" \
    --num_gpus "${NUM_GPU:-1}" \
    "$@" \
    --offload_text_encoder_model \
    --offload_guardrail_models
}
