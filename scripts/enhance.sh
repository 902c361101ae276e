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

# upsampled_text: reads the upsampler's stdout and prints the text of its last
# "Upsampled prompt: " line, with the lines that follow it up to the next log record
# (the answer may span paragraphs). Fails if there is no such line.
upsampled_text() {
  local line text="" found=0 log_record='^\[[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\|'
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line == "Upsampled prompt: "* ]]; then
      found=1 text=${line#Upsampled prompt: }
    elif [ "$found" = 1 ]; then
      if [[ $line =~ $log_record ]]; then found=2; else text+=$'\n'$line; fi
    fi
  done
  [ "$found" != 0 ] && printf '%s' "$text"
}

enhance() {
  local prompt transcript="$run_dir/upsampler.out" text
  prompt=$(cat "$run_dir/prompt.txt") || return 1
  # upsampler_pipeline.py deletes OMP_NUM_THREADS from its environment, and torchrun sets it
  # only for more than one process.
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  # --prompt=TEXT: as a separate word, a prompt starting with "-" would read as a flag.
  torchrun --nproc_per_node=1 --nnodes=1 --node_rank=0 \
    cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py \
    --prompt="$prompt" \
    --input_video "$input_video" \
    --checkpoint_dir checkpoints \
    --offload_prompt_upsampler | tee "$transcript"
  local code=${PIPESTATUS[0]}
  [ "$code" -eq 0 ] || return "$code"
  if ! text=$(upsampled_text <"$transcript"); then
    echo "enhance.sh: the upsampler printed no 'Upsampled prompt:' line"
    return 1
  fi
  printf '[{"upsampled_prompt": %s, "prompt": %s, "input_video": %s}]\n' \
    "$(json_string "$text")" "$(json_string "$prompt")" \
    "$(json_string "$input_video")" >"$run_dir/outputs/batch_results.json"
  echo "Wrote $run_dir/outputs/batch_results.json"
}

cosmos_run "$run_dir" enhance
