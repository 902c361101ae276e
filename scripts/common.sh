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

# The machine's GPU queue. No daemon anywhere: each run's script waits here for NUM_GPU of the
# GPUs its container may use, first come first served by its ticket COSMOS_TICKET (a name that sorts
# in creation order; the product renames it to move a run to the front), and holds them with flock
# until it ends: the kernel frees them when the container dies, so no lock is ever stale. A file
# `paused` in the queue holds every waiting run. One queue per machine, shared by all its users and
# checkouts: COSMOS_QUEUE_DIR is the machine's queue directory (cosmos_core/upstream/gpu_queue.py),
# mounted into every run's container. A slot is named by the machine's index of its GPU, whatever
# subset of the GPUs a container is given, so that every container means the same GPU by it.
COSMOS_QUEUE="${COSMOS_QUEUE_DIR:-}/tickets"
COSMOS_SLOTS="${COSMOS_QUEUE_DIR:-}/slots"

# cosmos_gpu_count: how many GPUs nvidia-smi lists here (in a container: those its --gpus gave it), else 1.
cosmos_gpu_count() {
  local count
  count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ') || count=0
  if [ "$count" -ge 1 ]; then printf '%s' "$count"; else printf 1; fi
}

cosmos_log() { printf '%s\n' "$*" >>"$COSMOS_LOG"; printf '%s\n' "$*"; }

# cosmos_slot_ids: the machine's indices of the GPUs this container sees, in the container's order, into
# COSMOS_IDS: COSMOS_GPU_IDS when its `--gpus "device=..."` named them, else 0 .. COSMOS_GPUS-1.
cosmos_slot_ids() {
  local i
  COSMOS_IDS=()
  if [ -n "${COSMOS_GPU_IDS:-}" ]; then
    IFS=, read -r -a COSMOS_IDS <<<"$COSMOS_GPU_IDS"
    return 0
  fi
  [ "$COSMOS_GPUS" = auto ] && COSMOS_GPUS=$(cosmos_gpu_count)
  for ((i = 0; i < COSMOS_GPUS; i++)); do COSMOS_IDS+=("$i"); done
}

# cosmos_first_ticket: the first ticket whose run still waits (a ticket whose lock is free belongs to
# a run that died: it is removed, where this user may); empty when the queue is paused or empty.
cosmos_first_ticket() {
  local ticket
  [ -e "$COSMOS_QUEUE/paused" ] && return 0
  for ticket in $(ls "$COSMOS_QUEUE" | sort); do
    [ "$ticket" = paused ] && continue
    if flock -n "$COSMOS_QUEUE/$ticket" true 2>/dev/null; then
      rm -f "$COSMOS_QUEUE/$ticket" 2>/dev/null
      continue
    fi
    printf '%s' "$ticket"
    return 0
  done
}

# cosmos_take_slots COUNT: lock COUNT free slots (fds kept open); sets COSMOS_GOT (the machine's indices)
# and COSMOS_AT (the container's); 1 if too few are free. A slot whose GPU has COSMOS_BUSY_MIB or more of
# memory in use is busy outside the queue (another user's job): it is left, and named in COSMOS_BUSY.
cosmos_take_slots() {
  local i fd used=() mib
  COSMOS_GOT=() COSMOS_AT=() COSMOS_FDS=() COSMOS_BUSY=
  mapfile -t used < <(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null)
  for ((i = 0; i < ${#COSMOS_IDS[@]} && ${#COSMOS_GOT[@]} < $1; i++)); do
    exec {fd}>"$COSMOS_SLOTS/gpu${COSMOS_IDS[i]}.lock"
    if ! flock -n "$fd"; then exec {fd}>&-; continue; fi
    mib=${used[i]:-0}
    mib=${mib//[!0-9]/}
    if [ "${COSMOS_BUSY_MIB:-0}" -gt 0 ] && [ "${mib:-0}" -ge "$COSMOS_BUSY_MIB" ]; then
      COSMOS_BUSY="GPU ${COSMOS_IDS[i]}: ${mib} MiB in use outside the queue"
      exec {fd}>&-
      continue
    fi
    COSMOS_GOT+=("${COSMOS_IDS[i]}")
    COSMOS_AT+=("$i")
    COSMOS_FDS+=("$fd")
  done
  [ ${#COSMOS_GOT[@]} -ge "$1" ] && return 0
  for fd in "${COSMOS_FDS[@]}"; do exec {fd}>&-; done
  return 1
}

# cosmos_cannot_start REASON: the run can never get its GPUs; say so (the product shows it) and end.
cosmos_cannot_start() {
  cosmos_log "[COSMOS_QUEUE] needs $1"
  COSMOS_EXIT=1
  exit 1
}

cosmos_wait_for_gpus() {
  local want=${NUM_GPU:-1} ticket_fd said=
  [ -n "${COSMOS_GPUS:-}" ] && [ -n "${COSMOS_TICKET:-}" ] && [ -n "${COSMOS_QUEUE_DIR:-}" ] || return 0
  command -v flock >/dev/null 2>&1 || cosmos_cannot_start "flock (util-linux) in the image, which has none"
  cosmos_slot_ids
  [ "$want" -le ${#COSMOS_IDS[@]} ] || cosmos_cannot_start "$want GPUs, the host has ${#COSMOS_IDS[@]}"
  mkdir -p "$COSMOS_QUEUE" "$COSMOS_SLOTS"
  # Locked before it is in the queue (under a hidden name), so no one takes it for a dead run's.
  exec {ticket_fd}>"$COSMOS_QUEUE/.new-$COSMOS_RUN_ID"
  flock "$ticket_fd"  # held while this run waits: others see it is alive
  # The ticket belongs to whoever started the run (the owner of its directory), who may move it to the
  # front; the queue's sticky bit keeps every other user from removing it.
  chown "$(stat -c %u:%g "${COSMOS_LOG%/*}")" "$COSMOS_QUEUE/.new-$COSMOS_RUN_ID" 2>/dev/null
  # Said before the ticket shows: whoever sees the ticket finds the run's log saying it waits.
  cosmos_log "[COSMOS_QUEUE] waiting for $want of the host's ${#COSMOS_IDS[@]} GPUs"
  mv -f "$COSMOS_QUEUE/.new-$COSMOS_RUN_ID" "$COSMOS_QUEUE/$COSMOS_TICKET"
  while true; do
    case "$(cosmos_first_ticket)" in
      *"-$COSMOS_RUN_ID")
        cosmos_take_slots "$want" && break
        if [ -n "$COSMOS_BUSY" ] && [ "$COSMOS_BUSY" != "$said" ]; then
          cosmos_log "[COSMOS_QUEUE] waiting for $COSMOS_BUSY"
          said=$COSMOS_BUSY
        fi
        ;;
    esac
    sleep 1 &
    wait $!
  done
  rm -f "$COSMOS_QUEUE"/*"-$COSMOS_RUN_ID"
  exec {ticket_fd}>&-
  export CUDA_VISIBLE_DEVICES
  CUDA_VISIBLE_DEVICES=$(IFS=,; printf '%s' "${COSMOS_AT[*]}")
  cosmos_log "[COSMOS_GPUS] $(IFS=,; printf '%s' "${COSMOS_GOT[*]}")"
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
