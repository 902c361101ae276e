# Stand-in for Cosmos-Transfer2.5's examples/inference.py (sourced by
# torchrun; see the token list there).  Line numbers in the log lines and
# tracebacks are upstream's (nvidia-cosmos/cosmos-transfer2.5 2ff49d0).
#
#   torchrun --nproc_per_node=N examples/inference.py -i SPEC.json... -o OUTDIR
#       [--disable-guardrails] [--model edge|depth|vis|seg] [--num-steps N] [--seed N] [--guidance N]
#
# Specs are validated like upstream's pydantic model (transfer25_spec.jq);
# relative paths in a spec resolve against the spec's directory.  Model
# checkpoints "download" only if HF_TOKEN is set.  Per sample it writes
# OUT/NAME.json, OUT/NAME_control_KEY.mp4, OUT/NAME.mp4 and OUT/NAME.txt;
# a prompt the guardrail blocks leaves only NAME.json and the run exits 0.
# Logs: stdout (modules under cosmos_transfer2/_src only with COSMOS_VERBOSE=1),
# OUT/console.log (the same) and OUT/debug.log (everything).

T25_INF=cosmos_transfer2/inference.py
T25_PIPE=cosmos_transfer2/_src/transfer2/inference/inference_pipeline.py
T25_CKPT_DB=cosmos_transfer2/_src/imaginaire/utils/checkpoint_db.py
T25_CONTROL_KEYS="edge vis depth seg"
T25_DEFAULT_NEGATIVE="The video is blurry, distorted and of low quality, with unnatural motion and artifacts."
T25_PYDANTIC_DOCS=https://errors.pydantic.dev/2.11/v
# Checkpoint per control: "uuid revision hf-subdir"
declare -A T25_CKPT=(
    [edge]="61f5694b-0ad5-4ecd-8ad7-c8545627d125 b67b64abda3801a9aceddbff2bdb86126c06db74 edge"
    [depth]="626e6618-bfcd-4d9a-a077-1409e2ce353f dea7737ca29dd8d9086413c6dc5724b8250a0bb4 depth"
    [vis]="ba2f44f2-c726-4fe7-949f-597069d9b91c eb5325b77d358944da58a690157dd2b8071bbf85 blur"
    [seg]="5136ef49-6d8d-42e8-8abf-7dac722a304a 23057a4167b89de89a4a397fdbf3887994d115eb seg"
)

T25_INPUTS=() T25_OUT= T25_GUARDRAILS=true T25_OVERRIDES='{}' T25_LOGDIR=
T25_SAMPLES=() # the validated samples, as model_dump_json() would write them

t25_verbose() { [[ ${COSMOS_VERBOSE-} =~ ^(1|[Tt]rue|TRUE|[Yy]es)$ ]]; }

t25_log() { # t25_log WHERE LEVEL MESSAGE : stdout + console.log, filtered like upstream; debug.log always
    loguru_line "$@"
    [ -z "$T25_LOGDIR" ] || printf '%s\n' "$LOGURU_LINE" >>"$T25_LOGDIR/debug.log"
    if [[ $1 == cosmos_transfer2/_src/* && $1 != "$T25_CKPT_DB"* ]] && ! t25_verbose; then return; fi
    printf '%s\n' "$LOGURU_LINE"
    [ -z "$T25_LOGDIR" ] || printf '%s\n' "$LOGURU_LINE" >>"$T25_LOGDIR/console.log"
}

t25_main_frames() { # the frames of examples/inference.py down to FUNC's call (one per line)
    frame "$SCRIPT_FILE" 94 '<module>' 'main(args)'
    printf '\n'
    frame "$SCRIPT_FILE" "$1" main "$2"
}

t25_crash() { # t25_crash EXCEPTION MAIN_LINE MAIN_SOURCE FRAME...
    local frames
    mapfile -t frames < <(t25_main_frames "$2" "$3")
    crash "$1" "${frames[@]}" "${@:4}"
}

# --- the command line (tyro) --------------------------------------------
t25_usage_error() { # t25_usage_error TITLE MESSAGE : tyro's error box, exit 2
    local lines=("$2" "For full helptext, run inference.py --help") line width=0
    for line in "${lines[@]}"; do [ ${#line} -le "$width" ] || width=${#line}; done
    {
        printf '╭─ %s %s╮\n' "$1" "$(t25_rule "$((width - ${#1} - 1))")"
        printf '│ %-*s │\n' "$width" "${lines[0]}"
        printf '│ %s │\n' "$(t25_rule "$width")"
        printf '│ %-*s │\n' "$width" "${lines[1]}"
        printf '╰%s╯\n' "$(t25_rule "$((width + 2))")"
    } >&2
    worker_exit 2
}

t25_rule() { printf '%*s' "$1" '' | sed 's/ /─/g'; } # t25_rule WIDTH : a horizontal line

t25_parse_cli() {
    local arg flag value inline
    while [ $# -gt 0 ]; do
        arg=$1 inline=false
        shift
        flag=${arg%%=*}
        [[ $flag != --* ]] || flag=${flag//_/-}
        [[ $arg != -*=* ]] || { value=${arg#*=} && inline=true; }
        case $flag in
        -i | --input-files)
            ! $inline || T25_INPUTS+=("$value")
            while [ $# -gt 0 ] && [[ $1 != -* ]]; do T25_INPUTS+=("$1") && shift; done
            [ ${#T25_INPUTS[@]} -gt 0 ] || t25_usage_error "Parsing error" "Argument $flag: expected at least 1 argument"
            continue
            ;;
        --disable-guardrails) T25_GUARDRAILS=false && continue ;;
        --no-disable-guardrails) T25_GUARDRAILS=true && continue ;;
        --offload-guardrail-models | --no-offload-guardrail-models | control:edge | control:depth | control:vis | control:seg)
            continue
            ;;
        -o | --output-dir | --model | --num-steps | --seed | --guidance) ;;
        *) t25_usage_error "Unrecognized options" "Unrecognized options: $arg" ;;
        esac
        if ! $inline; then
            [ $# -gt 0 ] && [[ $1 != -* ]] || t25_usage_error "Parsing error" "Argument $flag: expected 1 argument"
            value=$1
            shift
        fi
        t25_option "$flag" "$value"
    done
    [ ${#T25_INPUTS[@]} -gt 0 ] || t25_usage_error "Required options" "Argument -i/--input-files is required"
    [ -n "$T25_OUT" ] || t25_usage_error "Required options" "Argument -o/--output-dir is required"
}

t25_option() { # t25_option FLAG VALUE
    case $1 in
    -o | --output-dir) T25_OUT=$2 ;;
    --model)
        [[ " $T25_CONTROL_KEYS " == *" $2 "* || ($2 == edge/distilled && -n ${COSMOS_EXPERIMENTAL_CHECKPOINTS-}) ]] ||
            t25_usage_error "Parsing error" "Argument --model: invalid choice: '$2' (choose from 'edge', 'depth', 'seg', 'vis')"
        ;;
    *)
        is_int "$2" || t25_usage_error "Parsing error" "Argument $1: invalid int value: '$2'"
        T25_OVERRIDES=$(jq -c --arg k "${1#--}" --argjson v "$2" '. + {($k | gsub("-"; "_")): $v}' <<<"$T25_OVERRIDES")
        ;;
    esac
}

# --- InferenceArguments.from_files() ------------------------------------
t25_file_crash() { # t25_file_crash EXCEPTION CONFIG_LINE CONFIG_SOURCE
    t25_crash "$1" 67 'inference_samples, batch_hint_keys = InferenceArguments.from_files(args.input_files, overrides=args.overrides)' \
        "$(frame "$(t25_path cosmos_transfer2/config.py)" 402 from_files 'objs.extend(cls._from_file(path, override_data))')" \
        "$(frame "$(t25_path cosmos_transfer2/config.py)" "$2" _from_file "$3")"
}

t25_path() { # t25_path REL : absolute path of a module in the checkout
    printf '%s%s' "${SCRIPT_FILE%examples/inference.py}" "$1"
}

t25_read_file() { # t25_read_file FILE : prints one compact JSON object per sample
    local file=$1
    [ -f "$file" ] || t25_file_crash "FileNotFoundError: [Errno 2] No such file or directory: '$file'" 361 \
        'data_list = [json.loads(path.read_text())]'
    case $file in
    *.json) jq -c -s 'if length == 1 then .[0] else error("extra data") end' "$file" 2>/dev/null ;;
    *.jsonl) jq -c . "$file" 2>/dev/null ;;
    *) t25_file_crash "ValueError: Unsupported file extension: .${file##*.}" 365 \
        'raise ValueError(f"Unsupported file extension: {path.suffix}")' ;;
    esac || t25_file_crash "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)" 361 \
        'data_list = [json.loads(path.read_text())]'
}

t25_abs() { # t25_abs DIR PATH : PATH made absolute against DIR
    if [[ $2 == /* ]]; then printf '%s' "$2"; else printf '%s/%s' "$1" "${2#./}"; fi
}

t25_validate() { # t25_validate FILE INDEX DIR SAMPLE : pydantic's errors, exit 1
    local file=$1 index=$2 dir=$3 sample=$4 kind loc msg path errors=() count
    while IFS=$'\t' read -r kind loc msg path; do
        case $kind in
        P) [ ! -f "$(t25_abs "$dir" "$path")" ] || continue ;;
        C) [ ${#errors[@]} -eq 0 ] || continue ;; # model_post_init runs only on valid fields
        esac
        [[ $msg =~ \[type=([a-z_]+), ]]
        [ "$kind" = C ] || errors+=("$loc")
        errors+=("  $msg" "    For further information visit $T25_PYDANTIC_DOCS/${BASH_REMATCH[1]}")
    done < <(jq -r -f "$STANDIN_DIR/transfer25_spec.jq" <<<"$sample")
    [ ${#errors[@]} -gt 0 ] || return 0
    count=$(printf '%s\n' "${errors[@]}" | grep -c '^    For further')
    {
        printf "Error validating parameters from '%s' at line %s\n" "$file" "$index"
        printf '%s validation error%s for InferenceArguments\n' "$count" "$([ "$count" = 1 ] || printf s)"
        printf '%s\n' "${errors[@]}"
    } >&2
    worker_exit 1
}

t25_resolve() { # t25_resolve DIR SAMPLE : the sample with defaults and absolute paths
    local dir=$1 sample=$2 prompt_file prompt=
    prompt_file=$(jq -r 'if has("prompt") then "" else .prompt_path // "" end' <<<"$sample")
    [ -z "$prompt_file" ] || prompt=$(cat "$(t25_abs "$dir" "$prompt_file")")
    jq -c --arg dir "$dir" --arg prompt "$prompt" --arg negative "$T25_DEFAULT_NEGATIVE" '
        def abs: if . == null then null elif startswith("/") then . else $dir + "/" + ltrimstr("./") end;
        def int: if type == "string" then tonumber elif type == "boolean" then (if . then 1 else 0 end) else . end;
        def control($extra): if . == null then null else
            {control_path: (.control_path | abs), control_weight: (.control_weight // 1.0),
             mask_path: (.mask_path | abs), mask_prompt} + $extra end;
        def strip: sub("^\\s+"; "") | sub("\\s+$"; "");
        {name, prompt_path: (.prompt_path | abs), prompt: (if has("prompt") then .prompt else $prompt | strip end),
         negative_prompt: (.negative_prompt // $negative), seed: (.seed // 2025 | int), guidance: (.guidance // 3 | int),
         video_path: (.video_path | abs), max_frames, context_frame_index, image_context_path: (.image_context_path | abs),
         num_conditional_frames: (.num_conditional_frames // 1), resolution: (.resolution // "720"), sigma_max,
         num_video_frames_per_chunk: (.num_video_frames_per_chunk // 93 | int), num_steps: (.num_steps // 35 | int),
         show_control_condition: (.show_control_condition // false), show_input: (.show_input // false),
         keep_input_resolution: (if has("keep_input_resolution") then .keep_input_resolution else true end),
         edge: (.edge | control({preset_edge_threshold: (.preset_edge_threshold // "medium")})),
         depth: (.depth | control({})),
         vis: (.vis | control({preset_blur_strength: (.preset_blur_strength // "medium")})),
         seg: (.seg | control({control_prompt})),
         guided_generation_mask, guided_generation_step_threshold: (.guided_generation_step_threshold // 25),
         guided_generation_foreground_labels}' <<<"$sample"
}

t25_load_samples() {
    local file dir index samples sample names=" " name
    for file in "${T25_INPUTS[@]}"; do
        mapfile -t samples < <(t25_read_file "$file")
        dir=$(cd "$(dirname "$file")" && pwd)
        for index in "${!samples[@]}"; do
            sample=$(jq -c --argjson over "$T25_OVERRIDES" '. + $over' <<<"${samples[$index]}" 2>/dev/null) ||
                t25_file_crash "TypeError: unsupported operand type(s) for |: 'list' and 'dict'" 374 \
                    'objs.append(cls.model_validate(data | override_data))'
            t25_validate "$file" "$index" "$dir" "$sample"
            T25_SAMPLES+=("$(t25_resolve "$dir" "$sample")")
        done
    done
    if [ ${#T25_SAMPLES[@]} -eq 0 ]; then
        say "Error: No inference samples" >&2
        worker_exit 1
    fi
    for sample in "${T25_SAMPLES[@]}"; do
        name=$(jq -r .name <<<"$sample")
        if [[ $names == *" $name "* ]]; then
            say "Error: Inference samplename $name is not unique" >&2
            worker_exit 1
        fi
        names+="$name "
    done
}

# --- Control2WorldInference(): guardrails and checkpoints ----------------
t25_batch_keys() { # the control keys used by any sample, in upstream's order
    local key
    for key in $T25_CONTROL_KEYS; do
        printf '%s\n' "${T25_SAMPLES[@]}" | jq --arg k "$key" '.[$k] != null' | grep -q true && printf '%s\n' "$key"
    done
}

t25_download() { # t25_download INIT_FRAME REPO REVISION [FILE] : uvx hf download; needs HF_TOKEN
    local init=$1 cmd repr
    shift
    cmd="uvx 'hf>=1.3.5' download $1 --repo-type model --revision $2${3:+ $3}"
    repr="['uvx', 'hf>=1.3.5', 'download', '$1', '--repo-type', 'model', '--revision', '$2'${3:+, '$3'}]"
    t25_log "$T25_CKPT_DB:165:_hf_download" INFO "$cmd"
    [ -z "${HF_TOKEN-}" ] || return 0
    {
        say "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-standin-0000)"
        say ""
        say "Cannot access gated repo for url https://huggingface.co/api/models/$1/revision/$2."
        say "Access to model $1 is restricted. You must have access to it and be authenticated to access it. Please log in."
    } >&2
    t25_crash "subprocess.CalledProcessError: Command '$repr' returned non-zero exit status 1." \
        77 'inference = Control2WorldInference(args.setup, batch_hint_keys=batch_hint_keys)' "$init" \
        "$(frame "$(t25_path "$T25_CKPT_DB")" 187 download 'self._path = self._download()')" \
        "$(frame "$(t25_path "$T25_CKPT_DB")" 208 _download 'path = _hf_download(cmd_args)')" \
        "$(frame "$(t25_path "$T25_CKPT_DB")" 166 _hf_download 'subprocess.check_call(cmd, text=True)')" \
        "$(frame /root/.local/share/uv/python/cpython-3.13.5-linux-x86_64-gnu/lib/python3.13/subprocess.py 419 check_call \
            'raise CalledProcessError(retcode, cmd)')"
}

t25_load_model() {
    local keys downloads key uuid rev sub init
    if $T25_GUARDRAILS; then
        t25_download "$(frame "$(t25_path "$T25_INF")" 91 __init__ \
            'self.text_guardrail_runner = guardrail_presets.create_text_guardrail_runner(')" \
            nvidia/Cosmos-Guardrail1 d6d4bfa899a71454a700907664f3e88f503950cf
    fi
    mapfile -t keys < <(t25_batch_keys)
    downloads=("${keys[@]}")
    [ ${#keys[@]} -le 1 ] || downloads=($T25_CONTROL_KEYS) # multicontrol: all four checkpoints
    init=$(frame "$(t25_path "$T25_INF")" 127 __init__ 'self.inference_pipeline = ControlVideo2WorldInference(')
    for key in "${downloads[@]}"; do
        read -r uuid rev sub <<<"${T25_CKPT[$key]}"
        t25_log "$T25_CKPT_DB:297:download" INFO "Downloading checkpoint nvidia/Cosmos-Transfer2.5-2B/general/$sub($uuid)"
        t25_download "$init" nvidia/Cosmos-Transfer2.5-2B "$rev" "general/$sub/${uuid}_ema_bf16.pt"
    done
    t25_log "$T25_INF:146:__init__" INFO "Found ${#keys[@]} hint keys across all samples"
    [ ${#keys[@]} -le 1 ] || t25_log "$T25_INF:148:__init__" WARNING \
        "Loading the multicontrol model. Multicontrol inference is not strictly equal to single control"
    printf '# standin: the resolved model config\nmodel: standin\n' >"$T25_OUT/config.yaml"
    t25_log "$T25_INF:156:__init__" INFO "Saved config to $T25_OUT/config.yaml"
}

# --- Control2WorldInference.generate() -----------------------------------
t25_field() { jq -r "$1" <<<"$2"; } # t25_field FILTER SAMPLE

t25_denoise() { # t25_denoise PROMPT STEPS SEED : chunks of tqdm steps, honouring [sleep=S]
    local prompt=$1 steps=$2 chunks secs pause chunk step where="$T25_PIPE"
    chunks=$(token chunks "$prompt") || chunks=1
    chunks=${chunks%.*}
    [ "$chunks" -ge 1 ] || chunks=1
    secs=$(token sleep "$prompt") || secs=0
    pause=$(awk -v s="$secs" -v n="$((chunks * steps))" 'BEGIN { printf "%.4f", s / n }')
    t25_log "$where:472:generate_img2world" INFO "Loading input video..."
    t25_log "$where:492:generate_img2world" INFO "Computing prompt text embeddings..."
    t25_log "$where:525:generate_img2world" INFO "Loading control inputs..."
    for ((chunk = 1; chunk <= chunks; chunk++)); do
        t25_log "$where:554:generate_img2world" INFO "Generating chunk $chunk/$chunks"
        t25_log "$where:640:generate_img2world" INFO "Seed: $3"
        tqdm_start "Generating samples" "$steps"
        for ((step = 1; step <= steps; step++)); do
            [ "$pause" = 0.0000 ] || sleep "$pause"
            tqdm_update "$step"
        done
        tqdm_close
    done
    t25_log "$where:736:generate_img2world" INFO "Average time per chunk: $(awk -v s="$secs" -v n="$chunks" 'BEGIN { print s / n }')"
}

t25_prompt_guardrail() { # t25_prompt_guardrail PROMPT : false if it blocks the sample
    if ! $T25_GUARDRAILS; then
        t25_log "$T25_INF:239:_generate_sample" WARNING "Guardrail checks on prompt are disabled"
        return 0
    fi
    t25_log "$T25_INF:213:_generate_sample" INFO "Running guardrail check on prompt..."
    if has_token guardrail "$1"; then
        t25_log cosmos_transfer2/_src/imaginaire/auxiliary/guardrail/common/presets.py:58:run_text_guardrail CRITICAL \
            "GUARDRAIL BLOCKED: BLOCKLIST: Prompt blocked by censorship: Censored Prompt: $1"
        t25_log "$T25_INF:217:_generate_sample" CRITICAL "Guardrail blocked generation. Prompt: $1"
        return 1
    fi
    t25_log "$T25_INF:223:_generate_sample" SUCCESS "Passed guardrail on prompt"
    t25_log "$T25_INF:237:_generate_sample" SUCCESS "Passed guardrail on negative prompt"
}

t25_sample() { # t25_sample SAMPLE : one sample's outputs
    local sample=$1 name prompt base key
    name=$(t25_field .name "$sample")
    prompt=$(t25_field .prompt "$sample")
    base=$T25_OUT/$name
    printf '%s' "$sample" >"$base.json"
    t25_log "$T25_INF:208:_generate_sample" INFO "Saved arguments to $base.json"
    t25_prompt_guardrail "$prompt" || return 0
    t25_log "$T25_INF:242:_generate_sample" INFO "Processing the following paths: $(t25_field '
        [("edge", "vis", "depth", "seg") as $k | select(.[$k] != null)
         | "'"'"'\($k)'"'"': " + (.[$k].control_path | if . == null then "None" else "'"'"'\(.)'"'"'" end)]
        | "{" + join(", ") + "}"' "$sample")"
    t25_denoise "$prompt" "$(t25_field .num_steps "$sample")" "$(t25_field .seed "$sample")"
    exit_token "$prompt"
    for key in $T25_CONTROL_KEYS; do
        [ "$(t25_field ".$key != null" "$sample")" = true ] || continue
        write_video "${base}_control_$key.mp4" ""
        t25_log "$T25_INF:311:_generate_sample" INFO "$key control video saved to ${base}_control_$key.mp4"
    done
    if $T25_GUARDRAILS; then
        t25_log "$T25_INF:319:_generate_sample" INFO "Running guardrail check on video..."
        t25_log "$T25_INF:329:_generate_sample" SUCCESS "Passed guardrail on generated video"
    else
        t25_log "$T25_INF:335:_generate_sample" WARNING "Guardrail checks on video are disabled"
    fi
    write_video "$base.mp4" "$prompt"
    printf '%s' "$prompt" >"$base.txt"
    t25_log "$T25_INF:343:_generate_sample" SUCCESS "Generated video saved to $base.mp4"
}

t25_generate() {
    local i n=${#T25_SAMPLES[@]} names
    names=$(printf '%s\n' "${T25_SAMPLES[@]}" | jq -rs '"[" + (map("'"'"'\(.name)'"'"'") | join(", ")) + "]"')
    t25_log "$T25_INF:163:generate" INFO "Generating $n samples: $names"
    for ((i = 0; i < n; i++)); do
        t25_log "$T25_INF:167:generate" INFO "[$((i + 1))/$n] Processing sample $(t25_field .name "${T25_SAMPLES[$i]}")"
        t25_sample "${T25_SAMPLES[$i]}"
    done
}

transfer25_main() {
    t25_parse_cli "$@"
    [[ $T25_OUT == / ]] || T25_OUT=${T25_OUT%/}
    t25_load_samples
    mkdir -p "$T25_OUT" || crash "PermissionError: [Errno 13] Permission denied: '$T25_OUT'"
    T25_LOGDIR=$T25_OUT
    t25_load_model
    t25_generate
}
