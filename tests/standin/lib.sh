# Shared helpers for the stand-in entry points; sourced by `torchrun`.
#
# Output helpers mimic what the real Python programs print: loguru lines on
# stdout, tracebacks and tqdm bars on stderr, argparse errors, and torchrun's
# report when a worker fails.  User text only ever travels in quoted
# variables and is printed with printf '%s'; nothing here evaluates it.

say() { printf '%s\n' "$*"; }

# loguru WHERE LEVEL MESSAGE : "[MM-DD HH:MM:SS|LEVEL|path.py:LINE:function] MESSAGE"
# on stdout; loguru_line (same arguments) only sets LOGURU_LINE.
loguru_line() {
    printf -v LOGURU_LINE '[%(%m-%d %H:%M:%S)T|%s|%s] %s' -1 "$2" "$1" "$3"
}
loguru() {
    loguru_line "$@"
    printf '%s\n' "$LOGURU_LINE"
}

# jq filter: the Python type name of a JSON value
PY_TYPE='if type == "string" then "str" elif type == "boolean" then "bool" elif type == "null" then "NoneType"
    elif type == "array" then "list" elif type == "object" then "dict" elif . == floor then "int" else "float" end'

# --- magic tokens --------------------------------------------------------
token() { # token NAME TEXT : prints the value of the first [NAME=number]
    local re="\[$1=([0-9]+(\.[0-9]+)?)\]"
    [[ $2 =~ $re ]] && printf '%s' "${BASH_REMATCH[1]}"
}

has_token() { # has_token NAME TEXT : true if TEXT contains [NAME]
    [[ $2 == *"[$1]"* ]]
}

exit_token() { # exit_token TEXT : honours [exit=N] (no output, no torchrun report)
    local code
    code=$(token exit "$1") || return 0
    code=${code%.*}
    say "standin: simulated failure, exiting with code $code"
    exit "$code"
}

write_video() { # write_video DEST TEXT : the sample video, cut or padded for [size=N]
    local dest=$1 size have
    cp "$STANDIN_DIR/sample.mp4" "$dest" || crash "OSError: cannot write '$dest'"
    size=$(token size "$2") || return 0
    size=${size%.*}
    have=$(($(wc -c <"$dest")))
    if [ "$size" -gt "$have" ]; then
        head -c "$((size - have))" /dev/urandom >>"$dest"
    else
        truncate -s "$size" "$dest"
    fi || crash "OSError: cannot resize '$dest'"
}

# --- Python exceptions and torchrun's failure report ----------------------
frame() { # frame FILE LINE FUNCTION SOURCE : one traceback frame for crash
    printf '%s|%s|%s|%s' "$1" "$2" "$3" "$4"
}

py_traceback() { # py_traceback EXCEPTION_LINE FRAME... (on stderr)
    local last=$1 entry file line func src
    shift
    {
        say "Traceback (most recent call last):"
        for entry in "$@"; do
            IFS='|' read -r file line func src <<<"$entry"
            printf '  File "%s", line %s, in %s\n' "$file" "$line" "$func"
            [ -z "$src" ] || printf '    %s\n' "$src"
        done
        printf '%s\n' "$last"
    } >&2
}

# torchrun_report CODE : torchrun's E-line, its own traceback and the
# ChildFailedError summary, as it prints them when its worker exits CODE.
torchrun_report() {
    [ "$LAUNCHER" = torchrun ] || return 0
    local code=$1 site=/usr/local/lib/python3.12/dist-packages/torch/distributed pid=$$
    local e_line
    e_line=$(printf 'E%(%m%d %H:%M:%S)T.000000 %s torch/distributed/elastic/multiprocessing/api.py:874]' -1 "$pid")
    printf '%s failed (exitcode: %s) local_rank: 0 (pid: %s) of binary: /usr/bin/python\n' "$e_line" "$code" "$pid" >&2
    py_traceback "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: " \
        "$(frame /usr/local/bin/torchrun 8 '<module>' 'sys.exit(main())')" \
        "$(frame "$site/elastic/multiprocessing/errors/__init__.py" 355 wrapper 'return f(*args, **kwargs)')" \
        "$(frame "$site/run.py" 918 main 'run(args)')" \
        "$(frame "$site/run.py" 909 run 'elastic_launch(')" \
        "$(frame "$site/launcher/api.py" 138 __call__ 'return launch_agent(self._config, self._entrypoint, list(args))')" \
        "$(frame "$site/launcher/api.py" 269 launch_agent 'raise ChildFailedError(')"
    {
        say "============================================================"
        say "$SCRIPT FAILED"
        say "------------------------------------------------------------"
        say "Failures:"
        say "  <NO_OTHER_FAILURES>"
        say "------------------------------------------------------------"
        say "Root Cause (first observed failure):"
        say "[0]:"
        printf '  time      : %(%Y-%m-%d_%H:%M:%S)T\n' -1
        say "  host      : $(hostname)"
        say "  rank      : 0 (local_rank: 0)"
        say "  exitcode  : $code (pid: $pid)"
        say "  error_file: <N/A>"
        say "  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html"
        say "============================================================"
    } >&2
}

crash() { # crash EXCEPTION_LINE FRAME... : an uncaught Python exception; exit 1
    py_traceback "$@"
    torchrun_report 1
    exit 1
}

worker_exit() { # worker_exit CODE : the worker calls sys.exit(CODE)
    torchrun_report "$1"
    exit "$1"
}

# --- argparse ------------------------------------------------------------
# ap_flag NAME KIND DEFAULT [CHOICES] declares a flag; KIND is str, int,
# float, switch or required (a str flag argparse requires).  ap_parse PROG
# ARGS... then fills OPT[NAME] (switches: true/false) or exits 2 with
# argparse's usage and message.  Like argparse, a value that starts with '-'
# (but is not a negative number and has no space) is taken for an option.
declare -A OPT=() AP_KIND=() AP_CHOICES=()
AP_ORDER=()
AP_PROG=

ap_flag() {
    AP_ORDER+=("$1")
    AP_KIND[$1]=$2
    OPT[$1]=${3-}
    [ $# -lt 4 ] || AP_CHOICES[$1]=$4
    [ "$2" != switch ] || OPT[$1]=false
}

ap_usage() {
    local flag meta text="usage: $AP_PROG [-h]"
    for flag in "${AP_ORDER[@]}"; do
        meta=${flag#--}
        meta=${meta^^}
        case ${AP_KIND[$flag]} in
        switch) text+=" [$flag]" ;;
        required) text+=" $flag $meta" ;;
        *) text+=" [$flag $meta]" ;;
        esac
    done
    say "$text"
}

ap_error() { # ap_error MESSAGE : argparse's error exit (status 2)
    ap_usage >&2
    printf '%s: error: %s\n' "$AP_PROG" "$1" >&2
    worker_exit 2
}

ap_is_option() { # ap_is_option ARG : would argparse take ARG for an option?
    local arg=$1
    [[ $arg == -?* ]] || return 1
    [ -z "${AP_KIND[$arg]+x}" ] || return 0
    [[ $arg == *=* && -n ${AP_KIND[${arg%%=*}]+x} ]] && return 0
    [[ $arg =~ ^-[0-9]+$|^-[0-9]*\.[0-9]+$ ]] && return 1
    [[ $arg == *" "* ]] && return 1
    return 0
}

is_int() { [[ $1 =~ ^[-+]?[0-9]+$ ]]; }
is_float() {
    [[ ${1,,} =~ ^[-+]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[-+]?[0-9]+)?|inf|infinity|nan)$ ]]
}

ap_store() { # ap_store FLAG VALUE : type and choices check, then OPT[FLAG]=VALUE
    local flag=$1 value=$2 kind=${AP_KIND[$1]} choices=${AP_CHOICES[$1]-} shown
    if [[ $kind == int || $kind == float ]] && ! "is_$kind" "$value"; then
        ap_error "argument $flag: invalid $kind value: '$value'"
    fi
    if [ -n "$choices" ] && [[ " $choices " != *" $value "* ]]; then
        shown=$value
        [ "$kind" = int ] || shown="'$value'"
        ap_error "argument $flag: invalid choice: $shown (choose from $(ap_choice_list "$flag"))"
    fi
    OPT[$flag]=$value
}

ap_choice_list() { # ap_choice_list FLAG : "'a', 'b'" (ints unquoted)
    local choice out=()
    for choice in ${AP_CHOICES[$1]}; do
        if [ "${AP_KIND[$1]}" = int ]; then out+=("$choice"); else out+=("'$choice'"); fi
    done
    ap_join ', ' "${out[@]}"
}

ap_parse() {
    AP_PROG=$1
    shift
    local arg flag extras=() missing=()
    while [ $# -gt 0 ]; do
        arg=$1
        shift
        [[ $arg != -h && $arg != --help ]] || { ap_usage; exit 0; }
        flag=${arg%%=*}
        if [[ $arg != -?* || -z ${AP_KIND[$flag]+x} ]]; then
            extras+=("$arg")
        elif [ "${AP_KIND[$flag]}" = switch ]; then
            [ "$flag" = "$arg" ] || ap_error "argument $flag: ignored explicit argument '${arg#*=}'"
            OPT[$flag]=true
        elif [ "$flag" != "$arg" ]; then
            ap_store "$flag" "${arg#*=}"
        elif [ $# -eq 0 ] || ap_is_option "$1"; then
            ap_error "argument $flag: expected one argument"
        else
            ap_store "$flag" "$1"
            shift
        fi
    done
    for flag in "${AP_ORDER[@]}"; do
        [[ ${AP_KIND[$flag]} != required || -n ${OPT[$flag]} ]] || missing+=("$flag")
    done
    [ ${#missing[@]} -eq 0 ] || ap_error "the following arguments are required: $(ap_join ', ' "${missing[@]}")"
    [ ${#extras[@]} -eq 0 ] || ap_error "unrecognized arguments: ${extras[*]}"
}

ap_join() { # ap_join SEPARATOR WORD...
    local sep=$1 out=${2-} word
    shift 2 || return 0
    for word in "$@"; do out+=$sep$word; done
    printf '%s' "$out"
}

# --- tqdm ----------------------------------------------------------------
# tqdm_start DESC TOTAL, tqdm_update N, tqdm_close: a bar on stderr redrawn
# with '\r' (at most every 0.1 s, like tqdm's mininterval), ending in '\n'.
TQ_DESC= TQ_TOTAL=0 TQ_N=0 TQ_START=0 TQ_LAST=0 TQ_LEN=0

now_us() { printf '%s' "${EPOCHREALTIME//[.,]/}"; }

tqdm_draw() {
    local line
    TQ_LAST=$(now_us)
    line=$(awk -v desc="$TQ_DESC" -v n="$TQ_N" -v total="$TQ_TOTAL" -v us="$((TQ_LAST - TQ_START))" '
        function interval(t,  h, m, s) {
            t = int(t); m = int(t / 60); s = t % 60; h = int(m / 60); m = m % 60
            return h ? sprintf("%d:%02d:%02d", h, m, s) : sprintf("%02d:%02d", m, s)
        }
        BEGIN {
            el = us / 1e6; frac = n / total; v = int(frac * 10 * 10)
            bar = ""; for (i = 0; i < int(v / 10); i++) bar = bar "#"
            if (length(bar) < 10) bar = bar (v % 10 ? v % 10 : " ")
            while (length(bar) < 10) bar = bar " "
            rate = (el > 0 && n > 0) ? n / el : 0
            if (rate == 0) { rem = "?"; rs = "?it/s" }
            else {
                rem = interval((total - n) / rate)
                rs = (1 / rate > 1) ? sprintf("%5.2fs/it", 1 / rate) : sprintf("%5.2fit/s", rate)
            }
            printf "%s%3.0f%%|%s| %d/%d [%s<%s, %s]", (desc != "" ? desc ": " : ""), frac * 100, bar, n, total, interval(el), rem, rs
        }')
    printf '\r%s%*s' "$line" "$((TQ_LEN > ${#line} ? TQ_LEN - ${#line} : 0))" '' >&2
    TQ_LEN=${#line}
}

tqdm_start() {
    TQ_DESC=$1 TQ_TOTAL=$2 TQ_N=0 TQ_LEN=0
    TQ_START=$(now_us)
    tqdm_draw
}

tqdm_update() {
    TQ_N=$1
    [ $(($(now_us) - TQ_LAST)) -lt 100000 ] || tqdm_draw
}

tqdm_close() {
    tqdm_draw
    printf '\n' >&2
}

# --- the stand-in's own record of the GPUs it held ---------------------------
# gpu_record_start MODEL ARGS... (torchrun calls it before the entry point)
# appends "start RUN_DIR DEVICES TIME" to GPU_RECORD and, from an EXIT trap
# (a normal end, an error's exit, the SIGTERM/SIGINT traps' exit), "end RUN_DIR
# DEVICES TIME".  DEVICES is $CUDA_VISIBLE_DEVICES ("-" if unset or empty) or,
# in a container given some of the machine's GPUs (STANDIN_GPU_IDS, see
# nvidia-smi), the machine's indices of the GPUs it uses;
# TIME is $EPOCHREALTIME (epoch seconds with microseconds).  RUN_DIR is the
# run the output (Transfer1: --video_save_folder, Transfer2.5: -o) or, for the
# upsampler, the input video belongs to, relative to the checkout: its
# cosmos_runs/NAME prefix if it has one, else the output dir's parent or the
# video's dir.  Best effort: nothing here can fail the model.  Only inside a
# container (a /workspace dir); TestHost.gpu_record reads the file.
GPU_RECORD=/workspace/cosmos_runs/.standin-gpus.log
GPU_RECORD_RUN=-

gpu_machine_devices() { # the machine's indices of the GPUs CUDA_VISIBLE_DEVICES names (all, if unset)
    local ids=() seen=() i
    IFS=, read -r -a ids <<<"$STANDIN_GPU_IDS"
    if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
        IFS=, read -r -a seen <<<"$CUDA_VISIBLE_DEVICES"
    else
        for i in "${!ids[@]}"; do seen+=("$i"); done
    fi
    for i in "${!seen[@]}"; do seen[i]=${ids[${seen[i]}]:-?}; done
    (IFS=,; printf '%s' "${seen[*]}")
}

gpu_record() { # gpu_record start|end
    local devices=${CUDA_VISIBLE_DEVICES:--} now=${EPOCHREALTIME:-}
    [ -d /workspace ] || return 0
    [ -z "${STANDIN_GPU_IDS:-}" ] || devices=$(gpu_machine_devices)
    devices=${devices//[[:space:]]/}
    now=${now/,/.}
    [ -n "$now" ] || now=$(date +%s 2>/dev/null) || now=0
    {
        mkdir -p "${GPU_RECORD%/*}" && printf '%s %s %s %s\n' "$1" "$GPU_RECORD_RUN" "$devices" "$now" >>"$GPU_RECORD"
    } 2>/dev/null
    return 0
}

gpu_record_run_dir() { # gpu_record_run_dir PATH IS_FILE : the run dir PATH belongs to (see above)
    local path=$1 re='^((.*/)?cosmos_runs/[^/]+)(/.*)?$'
    path=${path#"$PWD"/}
    path=${path#/workspace/}
    if [[ $path =~ $re ]]; then
        printf '%s' "${BASH_REMATCH[1]}"
        return
    fi
    [ "$2" = true ] || { while [[ $path == */ && $path != / ]]; do path=${path%/}; done; }
    if [[ $path == */* ]]; then path=${path%/*}; else path=.; fi
    printf '%s' "${path:-/}"
}

gpu_record_start() { # gpu_record_start MODEL ARGS...
    local model=$1 arg value= is_file=false
    shift
    while [ $# -gt 0 ]; do
        arg=$1
        shift
        case $model:$arg in
        transfer1:--video_save_folder | transfer25:-o | transfer25:--output-dir | transfer25:--output_dir | \
            upsampler:--input_video) value=${1-} ;;
        transfer1:--video_save_folder=* | transfer25:-o=* | transfer25:--output-dir=* | transfer25:--output_dir=* | \
            upsampler:--input_video=*) value=${arg#*=} ;;
        esac
    done
    [ "$model" != transfer1 ] || value=${value:-outputs/}
    [ "$model" != upsampler ] || is_file=true
    [ -z "$value" ] || GPU_RECORD_RUN=$(gpu_record_run_dir "$value" "$is_file")
    GPU_RECORD_RUN=${GPU_RECORD_RUN//[[:space:]]/_}
    GPU_RECORD_RUN=${GPU_RECORD_RUN:--}
    gpu_record start
    trap 'gpu_record end' EXIT
}
