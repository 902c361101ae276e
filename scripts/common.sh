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

# The host's GPU queue. No daemon anywhere: each run's script waits here for NUM_GPU of the
# host's COSMOS_GPUS slots, first come first served by its ticket COSMOS_TICKET (a name that sorts
# in creation order; the product renames it to move a run to the front), and holds them with flock
# until it ends: the kernel frees them when the container dies, so no lock is ever stale. A file
# `paused` in the queue holds every waiting run. One queue per host: COSMOS_QUEUE_DIR is the host's
# queue directory (cosmos_core/upstream/gpu_queue.py), mounted into every run's container.
COSMOS_QUEUE="${COSMOS_QUEUE_DIR:-}/tickets"
COSMOS_SLOTS="${COSMOS_QUEUE_DIR:-}/slots"

# cosmos_gpu_count: how many GPUs nvidia-smi lists here (in a container: those its --gpus gave it), else 1.
cosmos_gpu_count() {
  local count
  count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ') || count=0
  if [ "$count" -ge 1 ]; then printf '%s' "$count"; else printf 1; fi
}

cosmos_log() { printf '%s\n' "$*" >>"$COSMOS_LOG"; printf '%s\n' "$*"; }

# cosmos_first_ticket: the first ticket whose run still waits (a ticket whose lock is free belongs to
# a run that died: it is removed); empty when the queue is paused or empty.
cosmos_first_ticket() {
  local ticket
  [ -e "$COSMOS_QUEUE/paused" ] && return 0
  for ticket in $(ls "$COSMOS_QUEUE" | sort); do
    [ "$ticket" = paused ] && continue
    if flock -n "$COSMOS_QUEUE/$ticket" true 2>/dev/null; then
      rm -f "$COSMOS_QUEUE/$ticket"
      continue
    fi
    printf '%s' "$ticket"
    return 0
  done
}

# cosmos_take_slots COUNT: lock COUNT free slots (fds kept open); sets COSMOS_GOT; 1 if too few are free.
cosmos_take_slots() {
  local i fd
  COSMOS_GOT=()
  COSMOS_FDS=()
  for ((i = 0; i < COSMOS_GPUS && ${#COSMOS_GOT[@]} < $1; i++)); do
    exec {fd}>"$COSMOS_SLOTS/gpu$i.lock"
    if flock -n "$fd"; then COSMOS_GOT+=("$i"); COSMOS_FDS+=("$fd"); else exec {fd}>&-; fi
  done
  [ ${#COSMOS_GOT[@]} -ge "$1" ] && return 0
  for fd in "${COSMOS_FDS[@]}"; do exec {fd}>&-; done
  return 1
}

cosmos_wait_for_gpus() {
  local want=${NUM_GPU:-1} ticket_fd
  [ -n "${COSMOS_GPUS:-}" ] && [ -n "${COSMOS_TICKET:-}" ] && [ -n "${COSMOS_QUEUE_DIR:-}" ] || return 0
  [ "$COSMOS_GPUS" = auto ] && COSMOS_GPUS=$(cosmos_gpu_count)
  if [ "$want" -gt "$COSMOS_GPUS" ]; then
    cosmos_log "[COSMOS_QUEUE] needs $want GPUs, the host has $COSMOS_GPUS"
    COSMOS_EXIT=1
    exit 1
  fi
  mkdir -p "$COSMOS_QUEUE" "$COSMOS_SLOTS"
  # Locked before it is in the queue (under a hidden name), so no one takes it for a dead run's.
  exec {ticket_fd}>"$COSMOS_QUEUE/.new-$COSMOS_RUN_ID"
  flock "$ticket_fd"  # held while this run waits: others see it is alive
  mv -f "$COSMOS_QUEUE/.new-$COSMOS_RUN_ID" "$COSMOS_QUEUE/$COSMOS_TICKET"
  cosmos_log "[COSMOS_QUEUE] waiting for $want of the host's $COSMOS_GPUS GPUs"
  while true; do
    case "$(cosmos_first_ticket)" in
      *"-$COSMOS_RUN_ID") cosmos_take_slots "$want" && break ;;
    esac
    sleep 1 &
    wait $!
  done
  rm -f "$COSMOS_QUEUE"/*"-$COSMOS_RUN_ID"
  exec {ticket_fd}>&-
  export CUDA_VISIBLE_DEVICES
  CUDA_VISIBLE_DEVICES=$(IFS=,; printf '%s' "${COSMOS_GOT[*]}")
  cosmos_log "[COSMOS_GPUS] $CUDA_VISIBLE_DEVICES"
}

cosmos_run() {
  local run_dir=$1
  shift
  COSMOS_LOG="$run_dir/run.log"
  mkdir -p "$run_dir/outputs"
  trap cosmos_finish EXIT
  trap 'cosmos_on_signal 143' TERM
  trap 'cosmos_on_signal 130' INT
  cosmos_wait_for_gpus
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
