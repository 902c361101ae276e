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
