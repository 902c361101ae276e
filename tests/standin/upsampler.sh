# Stand-in for Cosmos-Transfer1's prompt upsampler,
# cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py
# (sourced by torchrun).  Like upstream, before parsing its flags it reads
# RANK and deletes torchrun's variables one by one, so it fails with a
# KeyError unless every one is set: OMP_NUM_THREADS is set by torchrun only
# with --nproc_per_node > 1, so with one process the caller must export it.

UP_DIST_KEYS="RANK LOCAL_RANK WORLD_SIZE LOCAL_WORLD_SIZE GROUP_RANK ROLE_RANK ROLE_NAME OMP_NUM_THREADS
    MASTER_ADDR MASTER_PORT TORCHELASTIC_USE_AGENT_STORE TORCHELASTIC_MAX_RESTARTS TORCHELASTIC_RUN_ID
    TORCH_NCCL_ASYNC_ERROR_HANDLING TORCHELASTIC_ERROR_FILE"
UP_SECOND_PARAGRAPH="The camera glides slowly, and the light stays soft."

up_env_crash() { # up_env_crash KEY LINE SOURCE FROZEN_LINE FROZEN_FUNC
    crash "KeyError: '$1'" "$(frame "$SCRIPT_FILE" "$2" '<module>' "$3")" "$(frame '<frozen os>' "$4" "$5" '')"
}

up_take_dist_env() { # reads RANK into UP_RANK, then deletes the dist keys
    local key
    [[ -v RANK ]] || up_env_crash RANK 48 'rank = int(os.environ["RANK"])' 714 __getitem__
    UP_RANK=$RANK
    for key in $UP_DIST_KEYS; do
        [[ -v $key ]] || up_env_crash "$key" 69 'del os.environ[dist_key]' 724 __delitem__
        unset "$key"
    done
}

up_main_crash() { # up_main_crash EXCEPTION FRAME...
    crash "$1" "$(frame "$SCRIPT_FILE" 72 '<module>' 'main()')" "${@:2}"
}

upsampler_main() {
    local prompt ckpt video secs answer
    up_take_dist_env
    [ "$UP_RANK" = 0 ] || exit 0
    ap_flag --prompt str ""
    ap_flag --input_video required ""
    ap_flag --checkpoint_dir str checkpoints
    ap_flag --offload_prompt_upsampler switch
    ap_parse upsampler_pipeline.py "$@"
    prompt=${OPT[--prompt]} ckpt=${OPT[--checkpoint_dir]} video=${OPT[--input_video]}
    [ -d "$ckpt" ] || up_main_crash \
        "OSError: Incorrect path_or_model_id: '$ckpt/nvidia/Cosmos-UpsamplePrompt1-12B-Transfer'. Please provide either the path to a local folder or the repo_id of a model on the Hub." \
        "$(frame "$SCRIPT_FILE" 35 main 'model = create_vlm_prompt_upsampler(args.checkpoint_dir)')"
    [ -f "$video" ] || up_main_crash "AssertionError: Video file $video does not exist" \
        "$(frame "$SCRIPT_FILE" 40 main 'frame_paths = extract_video_frames(args.input_video)')"
    secs=$(token sleep "$prompt") || secs=0
    [ "$secs" = 0 ] || sleep "$secs"
    exit_token "$prompt"
    answer=${prompt//$'\n'/ }
    [ -n "$answer" ] || answer="The video shows the scene in the input frames"
    printf 'Upsampled prompt: %s with rich cinematic detail\n\n%s\n' "$answer" "$UP_SECOND_PARAGRAPH"
}
