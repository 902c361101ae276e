#!/usr/bin/env bash
# Prompt enhancement (upsampling), inside the container, from /workspace.
# Usage: enhance.sh RUN_DIR INPUT_VIDEO
# The prompt is read from RUN_DIR/prompt.txt (never from the command line, so no
# quoting can go wrong); the result is RUN_DIR/outputs/batch_results.json.
source "$(dirname "$0")/common.sh"
run_dir=$1 input_video=$2

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  s=${s//$'\n'/\\n}
  s=${s//[[:cntrl:]]/}
  printf '"%s"' "$s"
}

enhance() {
  local prompt transcript="$run_dir/upsampler.out" line
  prompt=$(cat "$run_dir/prompt.txt") || return 1
  torchrun --nproc_per_node=1 --nnodes=1 --node_rank=0 \
    cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py \
    --prompt "$prompt" \
    --input_video "$input_video" \
    --checkpoint_dir checkpoints \
    --offload_prompt_upsampler | tee "$transcript"
  local code=${PIPESTATUS[0]}
  [ "$code" -eq 0 ] || return "$code"
  line=$(grep '^Upsampled prompt: ' "$transcript" | tail -n 1)
  if [ -z "$line" ]; then
    echo "enhance.sh: the upsampler printed no 'Upsampled prompt:' line"
    return 1
  fi
  printf '[{"upsampled_prompt": %s, "prompt": %s, "input_video": %s}]\n' \
    "$(json_string "${line#Upsampled prompt: }")" "$(json_string "$prompt")" \
    "$(json_string "$input_video")" >"$run_dir/outputs/batch_results.json"
  echo "Wrote $run_dir/outputs/batch_results.json"
}

cosmos_run "$run_dir" enhance
