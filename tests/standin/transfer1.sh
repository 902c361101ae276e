# Stand-in for Cosmos-Transfer1's cosmos_transfer1/diffusion/inference/transfer.py
# (sourced by torchrun; see the token list there).  Line numbers in the log
# lines and tracebacks are upstream's (nvidia-cosmos/cosmos-transfer1 5005e82).

T1_T=cosmos_transfer1/diffusion/inference/transfer.py
T1_WG=cosmos_transfer1/diffusion/inference/world_generation_pipeline.py
T1_IU=cosmos_transfer1/diffusion/inference/inference_utils.py
T1_CONTROL_KEYS="vis seg edge depth keypoint upscale hdmap lidar"
T1_HINT_SET="{'vis', 'seg', 'edge', 'depth', 'keypoint', 'upscale', 'hdmap', 'lidar'}"
T1_LEVELS="very_low low medium high very_high"
T1_MODEL_DIR=nvidia/Cosmos-Transfer1-7B
T1_DEFAULT_PROMPT="The video captures a stunning, photorealistic scene with remarkable attention to detail, giving it a lifelike appearance that is almost indistinguishable from reality."
T1_DEFAULT_NEGATIVE="The video captures a game playing, with bad crappy graphics and cartoonish frames. It represents a recording of old outdated games."

T1_OOM="torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB"
T1_OOM+=" of which 1.06 GiB is free. Including non-PyTorch memory, this process has 78.08 GiB memory in use. Of the"
T1_OOM+=" allocated memory 75.31 GiB is allocated by PyTorch, and 1.24 GiB is reserved by PyTorch but unallocated. If"
T1_OOM+=" reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid"
T1_OOM+=" fragmentation.  See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"

declare -A ARG=() # the effective arguments (flags merged with the spec), without "--"
T1_CONTROLS=()    # the spec's control blocks, in spec order
T1_ARGV=()        # the script's own argv, for the "--key in sys.argv" rule

t1_log() { # t1_log FILE:LINE:FUNC [LEVEL] MESSAGE
    if [ $# -eq 3 ]; then loguru "$1" "$2" "$3"; else loguru "$1" INFO "$2"; fi
}

t1_path() { # t1_path REL : absolute path of a module in the checkout
    printf '%s%s' "${SCRIPT_FILE%"$T1_T"}" "$1"
}

t1_flags() {
    local switch
    ap_flag --prompt str "$T1_DEFAULT_PROMPT"
    ap_flag --negative_prompt str "$T1_DEFAULT_NEGATIVE"
    ap_flag --input_video_path str ""
    ap_flag --num_input_frames int 1 "1"
    ap_flag --sigma_max float 70.0
    ap_flag --blur_strength str medium "$T1_LEVELS"
    ap_flag --canny_threshold str medium "$T1_LEVELS"
    ap_flag --controlnet_specs required ""
    ap_flag --is_av_sample switch
    ap_flag --checkpoint_dir str checkpoints
    ap_flag --tokenizer_dir str Cosmos-Tokenize1-CV8x8x8-720p
    ap_flag --video_save_name str output
    ap_flag --video_save_folder str outputs/
    ap_flag --batch_input_path str ""
    ap_flag --batch_size int 1
    ap_flag --num_steps int 35
    ap_flag --guidance float 5
    ap_flag --fps int 24
    ap_flag --seed int 1
    ap_flag --num_gpus int 1
    for switch in offload_diffusion_transformer offload_text_encoder_model offload_guardrail_models \
        upsample_prompt offload_prompt_upsampler use_distilled save_input_noise benchmark; do
        ap_flag "--$switch" switch
    done
}

truthy() { [[ -n $1 && $1 != false && $1 != 0 && $1 != null ]]; }

in_argv() { # in_argv WORD : is WORD exactly one of the script's arguments?
    local word
    for word in "${T1_ARGV[@]}"; do [ "$word" != "$1" ] || return 0; done
    return 1
}

# --- parse_arguments(): argparse, then the spec merge ----------------------
t1_spec_crash() { # t1_spec_crash EXCEPTION SOURCE_LINE SOURCE : raised in load_controlnet_specs
    crash "$1" "$(frame "$SCRIPT_FILE" 432 '<module>' 'args, control_inputs = parse_arguments()')" \
        "$(frame "$SCRIPT_FILE" 177 parse_arguments 'control_inputs, json_args = load_controlnet_specs(cmd_args)')" \
        "$(frame "$(t1_path "$T1_IU")" "$2" load_controlnet_specs "$3")"
}

t1_load_spec() {
    local spec=${ARG[controlnet_specs]} keys types key kind i
    [ -f "$spec" ] || t1_spec_crash "FileNotFoundError: [Errno 2] No such file or directory: '$spec'" \
        1198 'with open(cfg.controlnet_specs, "r") as f:'
    jq -e . "$spec" >/dev/null 2>&1 || t1_spec_crash \
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)" 1199 'controlnet_specs_in = json.load(f)'
    jq -e 'type == "object"' "$spec" >/dev/null ||
        t1_spec_crash "AttributeError: '$(jq -r 'if type == "array" then "list" else type end' "$spec")' object has no attribute 'items'" \
            1204 'for hint_key, config in controlnet_specs_in.items():'
    mapfile -t keys < <(jq -r 'keys_unsorted[]' "$spec")
    mapfile -t types < <(jq -r '.[] | type' "$spec")
    for i in "${!keys[@]}"; do
        key=${keys[$i]} kind=${types[$i]-}
        if [[ " $T1_CONTROL_KEYS " == *" $key "* ]]; then
            T1_CONTROLS+=("$key")
        elif [ "$kind" = object ]; then
            t1_spec_crash "ValueError: Invalid hint_key: $key. Must be one of $T1_HINT_SET" 1209 \
                'raise ValueError(f"Invalid hint_key: {hint_key}. Must be one of {valid_hint_keys}")'
        elif ! in_argv "--$key"; then
            ARG[$key]=$(jq -r --arg k "$key" '.[$k] | if type == "string" then . elif . == null then "" else tojson end' "$spec")
        fi
    done
    t1_log "$T1_T:179:parse_arguments" "control_inputs: $(jq --indent 4 --arg keys "$T1_CONTROL_KEYS" \
        'with_entries(select(.key as $k | $keys | split(" ") | index($k)))' "$spec")"
    t1_log "$T1_T:180:parse_arguments" "args in json: $(jq --indent 4 --arg keys "$T1_CONTROL_KEYS" \
        'with_entries(select(.key as $k | $keys | split(" ") | index($k) | not))' "$spec")"
}

t1_parse_arguments() {
    local flag
    t1_flags
    ap_parse transfer.py "$@"
    for flag in "${AP_ORDER[@]}"; do ARG[${flag#--}]=${OPT[$flag]}; done
    t1_load_spec
}

# --- validate_controlnet_specs() -----------------------------------------
t1_validate_crash() { # t1_validate_crash EXCEPTION LINE SOURCE
    crash "$1" "$(frame "$SCRIPT_FILE" 433 '<module>' 'demo(args, control_inputs)')" \
        "$(frame "$SCRIPT_FILE" 217 demo 'control_inputs = validate_controlnet_specs(cfg, control_inputs)')" \
        "$(frame "$(t1_path "$T1_IU")" "$2" validate_controlnet_specs "$3")"
}

t1_block() { # t1_block KEY JQ_FILTER : a value from the KEY control block
    jq -r --arg k "$1" ".[\$k] | $2" "${ARG[controlnet_specs]}"
}

t1_validate_block() { # t1_validate_block KEY
    local key=$1 where="$T1_IU:1245:validate_controlnet_specs" ckpt weight_ok
    [ "$(t1_block "$key" type)" = object ] || t1_validate_crash \
        "TypeError: argument of type '$(t1_block "$key" "$PY_TYPE")' is not iterable" 1239 \
        "if not input_video_path and \"input_control\" not in config:"
    if [ -z "${ARG[input_video_path]}" ]; then
        is_float "${ARG[sigma_max]}" || t1_validate_crash \
            "TypeError: '<' not supported between instances of 'str' and 'int'" 1236 'if not input_video_path and sigma_max < 80:'
        if awk -v s="${ARG[sigma_max]}" 'BEGIN { exit !(s < 80) }'; then
            t1_validate_crash "ValueError: Must have 'input_video' specified if sigma_max < 80" 1237 \
                "raise ValueError(\"Must have 'input_video' specified if sigma_max < 80\")"
        fi
        [ "$(t1_block "$key" 'has("input_control")')" = true ] || t1_validate_crash \
            "ValueError: $key controlnet must have 'input_control' video specified if no 'input_video' specified." 1240 \
            'raise ValueError('
    fi
    if [ "$(t1_block "$key" 'has("ckpt_path")')" != true ]; then
        t1_log "$where" "No checkpoint path specified for $key. Using default."
        ckpt=${ARG[checkpoint_dir]}/$T1_MODEL_DIR/$(t1_ckpt_file "$key")
        if truthy "${ARG[use_distilled]}"; then
            [ "$key" = edge ] || t1_validate_crash \
                "ValueError: No default distilled checkpoint for $key. Users must specify ckpt_path in config." 1251 \
                'raise ValueError('
            ckpt=${ARG[checkpoint_dir]}/$T1_MODEL_DIR/edge_control_distilled.pt
        fi
        t1_log "$T1_IU:1256:validate_controlnet_specs" "Using default checkpoint path: $ckpt"
    fi
    if [ "$(t1_block "$key" 'has("control_weight")')" != true ]; then
        t1_log "$T1_IU:1261:validate_controlnet_specs" WARNING "No control weight specified for $key. Setting to 0.5."
        return
    fi
    weight_ok=$(t1_block "$key" '.control_weight |
        (type == "string" and endswith(".pt"))
        or ((if type == "string" then (tonumber? // null) elif type == "number" then . else null end) as $n
            | $n != null and $n >= 0)')
    [ "$weight_ok" = true ] || t1_validate_crash \
        "ValueError: Control weight for $key must be a valid non-negative float or a path to a .pt file." 1273 \
        'raise ValueError('
}

t1_ckpt_file() { # t1_ckpt_file KEY : the default checkpoint's file name
    case $1 in
    upscale) printf '4kupscaler_control.pt' ;;
    hdmap | lidar) printf '../Cosmos-Transfer1-7B-Sample-AV/%s_control.pt' "$1" ;;
    *) printf '%s_control.pt' "$1" ;;
    esac
}

t1_validate() {
    local key
    for key in "${T1_CONTROLS[@]}"; do t1_validate_block "$key"; done
}

# --- the pipeline's constructor: checkpoints ----------------------------
t1_init_crash() { # t1_init_crash EXCEPTION FRAME... : raised while building the pipeline
    crash "$1" "$(frame "$SCRIPT_FILE" 433 '<module>' 'demo(args, control_inputs)')" \
        "$(frame "$SCRIPT_FILE" 239 demo 'pipeline = DiffusionControl2WorldGenerationPipeline(')" "${@:2}"
}

t1_load_pipeline() {
    local ckpt=${ARG[checkpoint_dir]} base=cosmos_transfer1/utils/base_world_generation_pipeline.py
    if [ "${WORLD_SIZE:-1}" != "${ARG[num_gpus]}" ]; then
        t1_init_crash "RuntimeError: standin: --num_gpus ${ARG[num_gpus]} does not match torchrun's WORLD_SIZE ${WORLD_SIZE:-1}"
    fi
    if [ ! -d "$ckpt" ]; then
        if truthy "${ARG[offload_guardrail_models]}"; then
            t1_init_crash "FileNotFoundError: [Errno 2] No such file or directory: '$ckpt/$T1_MODEL_DIR/base_model.pt'" \
                "$(frame "$(t1_path "$base")" 90 __init__ 'self._load_network()')" \
                "$(frame "$(t1_path cosmos_transfer1/diffusion/model/model_ctrl.py)" 75 load_checkpoint \
                    'state_dict = torch.load(path, map_location=lambda storage, loc: storage, weights_only=False)')"
        fi
        t1_init_crash "FileNotFoundError: [Errno 2] No such file or directory: '$ckpt/nvidia/Cosmos-Guardrail1/blocklist/custom'" \
            "$(frame "$(t1_path "$base")" 86 __init__ 'self._load_text_guardrail()')" \
            "$(frame "$(t1_path cosmos_transfer1/auxiliary/guardrail/blocklist/utils.py)" 27 read_keyword_list_from_dir \
                'for file in os.listdir(folder_path):')"
    fi
    t1_log cosmos_transfer1/diffusion/model/model_ctrl.py:74:load_checkpoint \
        "Loading base model checkpoint (local): $ckpt/$T1_MODEL_DIR/base_model.pt"
    if truthy "${ARG[use_distilled]}"; then
        t1_log "$T1_WG:1279:_load_network" "Loading distilled consolidated checkpoint"
        [ ${#T1_CONTROLS[@]} -eq 1 ] || t1_init_crash "AssertionError: Distilled model only supports single control input" \
            "$(frame "$(t1_path "$base")" 90 __init__ 'self._load_network()')" \
            "$(frame "$(t1_path "$T1_WG")" 1287 _load_network \
                'assert len(self.control_inputs) == 1, "Distilled model only supports single control input"')"
    fi
}

# --- the inputs the preprocessors read ------------------------------------
t1_check_inputs() {
    local key control
    t1_input_exists "${ARG[input_video_path]}"
    for key in "${T1_CONTROLS[@]}"; do
        control=$(t1_block "$key" '.input_control // "" | tostring')
        [ -z "$control" ] || t1_input_exists "$control"
    done
}

t1_input_exists() {
    [ -z "$1" ] || [ -e "$1" ] || crash "FileNotFoundError: [Errno 2] No such file or directory: '$1'" \
        "$(frame "$SCRIPT_FILE" 433 '<module>' 'demo(args, control_inputs)')" \
        "$(frame "$SCRIPT_FILE" 332 demo 'preprocessors(current_video_path, current_prompt, current_control_inputs, video_save_subfolder)')"
}

# --- pipeline.generate() ------------------------------------------------
t1_generate_frames() { # the frames down to _run_model
    frame "$SCRIPT_FILE" 433 '<module>' 'demo(args, control_inputs)'
    printf '\n'
    frame "$SCRIPT_FILE" 363 demo 'batch_outputs = pipeline.generate('
    printf '\n'
    frame "$(t1_path "$T1_WG")" 775 generate 'model_outputs = self._run_model_with_offload('
}

t1_guardrail_block() { # the prompt guardrail's verdict, then demo() crashes on the None
    local prompt=$1
    loguru cosmos_transfer1/auxiliary/guardrail/common/presets.py:55:run_text_guardrail CRITICAL \
        "GUARDRAIL BLOCKED: BLOCKLIST: Prompt blocked by censorship: Censored Prompt: $prompt"
    t1_log "$T1_WG:735:generate" CRITICAL "Input text prompt 1 is not safe"
    t1_log "$T1_WG:738:generate" CRITICAL "All prompts failed safety checks"
    t1_log "$T1_T:377:demo" CRITICAL "Guardrail blocked generation for entire batch."
    crash "TypeError: cannot unpack non-iterable NoneType object" \
        "$(frame "$SCRIPT_FILE" 433 '<module>' 'demo(args, control_inputs)')" \
        "$(frame "$SCRIPT_FILE" 387 demo 'videos, final_prompts = batch_outputs')"
}

t1_negative_prompt_crash() {
    local frames
    mapfile -t frames < <(t1_generate_frames)
    crash "TypeError: expected Tensor as element 0 in argument 0, but got NoneType" "${frames[@]}" \
        "$(frame "$(t1_path "$T1_WG")" 448 _run_model_with_offload \
            'negative_prompt_embeddings = torch.cat(negative_prompt_embeddings)')"
}

t1_oom_crash() {
    local frames
    mapfile -t frames < <(t1_generate_frames)
    crash "$T1_OOM" \
        "${frames[@]}" \
        "$(frame "$(t1_path "$T1_WG")" 450 _run_model_with_offload 'samples = self._run_model(')" \
        "$(frame "$(t1_path "$T1_WG")" 616 _run_model 'samples = generate_world_from_control(')" \
        "$(frame /usr/local/lib/python3.12/dist-packages/torch/nn/modules/module.py 1762 _call_impl \
            'return forward_call(*args, **kwargs)')"
}

T1_STEP=0 # seconds of [sleep=S] spent so far

t1_sleep_until() { # t1_sleep_until SECOND TOTAL : one "standin: step" line per second
    while [ "$T1_STEP" -lt "$1" ]; do
        sleep 1
        T1_STEP=$((T1_STEP + 1))
        say "standin: step $T1_STEP/$2"
    done
}

t1_clips() { # t1_clips PROMPT : the per-clip loop, its tqdm bar and [sleep]/[oom]
    local prompt=$1 clips secs whole c at=(583 596 615 638 639 643)
    clips=$(token clips "$prompt") || clips=2
    clips=${clips%.*}
    [ "$clips" -ge 1 ] || clips=1
    secs=$(token sleep "$prompt") || secs=0
    whole=${secs%.*}
    if truthy "${ARG[use_distilled]}"; then
        at=(1394 1407 1426 1439 1441 1443)
        t1_log "$T1_WG:1386:_run_model" "N_clip: $clips"
    fi
    tqdm_start "" "$clips"
    for ((c = 1; c <= clips; c++)); do
        t1_log "$T1_WG:${at[0]}:_run_model" "Starting latent encoding"
        t1_log "$T1_WG:${at[1]}:_run_model" "Completed latent encoding"
        t1_log "$T1_WG:${at[2]}:_run_model" "Starting diffusion sampling"
        ! has_token oom "$prompt" || t1_oom_crash
        t1_sleep_until $((whole * c / clips)) "$whole"
        [ "$c" -lt "$clips" ] || [ "$whole" = "$secs" ] || sleep "0.${secs#*.}"
        t1_log "$T1_WG:${at[3]}:_run_model" "Completed diffusion sampling"
        t1_log "$T1_WG:${at[4]}:_run_model" "Starting VAE decode"
        t1_log "$T1_WG:${at[5]}:_run_model" "Completed VAE decode"
        tqdm_update "$c"
    done
    tqdm_close
}

t1_has_upsampler_hint() {
    local key
    for key in "${T1_CONTROLS[@]}"; do [[ " vis edge seg depth " != *" $key "* ]] || return 0; done
    return 1
}

t1_generate() { # prints the prompt it ends with in T1_FINAL_PROMPT
    local prompt=${ARG[prompt]} negative=${ARG[negative_prompt]}
    say "Prompt: $prompt"
    [ -z "$negative" ] || say "Negative prompt: $negative"
    t1_log "$T1_WG:705:generate" "Running batch generation with batch_size=1"
    if truthy "${ARG[upsample_prompt]}" && t1_has_upsampler_hint; then
        t1_log "$T1_WG:717:generate" "Upsampling prompt 1/1: ${prompt:0:50}..."
        prompt="$prompt with rich cinematic detail"
        t1_log "$T1_WG:724:generate" "Upsampled prompt 1: ${prompt:0:50}..."
    fi
    t1_log "$T1_WG:728:generate" "Running guardrail checks on all prompts"
    ! has_token guardrail "$prompt" || t1_guardrail_block "$prompt"
    t1_log "$T1_WG:745:generate" "Running text embedding on all prompts"
    t1_log "$T1_WG:768:generate" "Finish text embedding on prompt"
    t1_log "$T1_WG:771:generate" "Run generation"
    [ -n "$negative" ] || t1_negative_prompt_crash
    t1_clips "$prompt"
    exit_token "$prompt"
    t1_log "$T1_WG:786:generate" "Finish generation"
    t1_log "$T1_WG:788:generate" "Run guardrail on generated videos"
    T1_FINAL_PROMPT=$prompt
}

t1_save() {
    local folder=${ARG[video_save_folder]} base
    mkdir -p "$folder" || crash "PermissionError: [Errno 13] Permission denied: '$folder'"
    [[ $folder == */ ]] || folder+=/ # os.path.join
    base=$folder${ARG[video_save_name]}
    write_video "$base.mp4" "$T1_FINAL_PROMPT"
    t1_log "$T1_T:412:demo" "Saved video to $base.mp4"
    printf '%s' "$T1_FINAL_PROMPT" >"$base.txt" || crash "OSError: cannot write '$base.txt'"
    t1_log "$T1_T:417:demo" "Saved prompt to $base.txt"
}

transfer1_main() {
    T1_ARGV=("$@")
    t1_parse_arguments "$@"
    [ -z "${ARG[batch_input_path]}" ] || crash "NotImplementedError: standin: --batch_input_path is not emulated"
    t1_validate
    t1_load_pipeline
    t1_log "$T1_T:323:demo" "running preprocessor"
    t1_check_inputs
    t1_generate
    t1_save
}
