"""How a run's prompt, inputs and parameters reach each model: its spec JSON and flags (pure).

Spelled exactly as upstream spells them; docs/upstream.md cites each key and flag.
`files` maps an input's role ("video", "depth", "seg") to its path relative to
the run's directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cosmos_core.upstream.params import InferenceParams


@dataclass(frozen=True)
class ModelCall:
    spec: dict  # written to the run's spec.json
    flags: tuple[str, ...]  # appended to the model's command line by the run script


def transfer1_call(run_dir: str, files: Mapping[str, str], prompt: str, negative_prompt: str,
                   params: InferenceParams) -> ModelCall:
    """transfer.py reads paths relative to /workspace (its working directory). A spec key that is
    not a control block replaces the flag's default, so an empty negative prompt is left out:
    upstream's default then applies (an empty one crashes the model)."""
    spec: dict[str, object] = {"prompt": prompt, "input_video_path": f"{run_dir}/{files['video']}"}
    if negative_prompt:
        spec["negative_prompt"] = negative_prompt
    for control in params.active_controls():
        block: dict[str, object] = {"control_weight": params.weight(control)}
        if control in files:
            block["input_control"] = f"{run_dir}/{files[control]}"
        spec[control] = block
    flags = [
        "--num_steps", str(params.num_steps), "--guidance", f"{params.guidance:g}", "--seed", str(params.seed),
        "--blur_strength", params.blur_strength, "--canny_threshold", params.canny_threshold,
        "--fps", str(params.fps),
    ]  # fmt: skip
    if params.sigma_max is not None:  # None: upstream's default
        flags[6:6] = ["--sigma_max", f"{params.sigma_max:g}"]
    if params.distilled:
        flags.append("--use_distilled")
    if params.upsample_prompt:
        flags += ["--upsample_prompt", "--offload_prompt_upsampler"]
    return ModelCall(spec, tuple(flags))


def transfer1_upscale_call(parent_output: str, control_weight: float) -> ModelCall:
    """The 4K upscaler: transfer.py with the `upscale` control on a finished run's video."""
    return ModelCall({"input_video_path": parent_output, "upscale": {"control_weight": control_weight}},
                     ("--num_steps", "10"))


def transfer25_call(run_dir: str, files: Mapping[str, str], prompt: str, negative_prompt: str,
                    params: InferenceParams) -> ModelCall:
    """examples/inference.py resolves relative paths against the spec file's directory (the run
    dir), forbids unknown top-level keys, takes guidance as a whole number and sigma_max as text,
    and names its video after `name`."""
    spec: dict[str, object] = {
        "name": "output", "prompt": prompt, "video_path": files["video"],
        "guidance": int(params.guidance), "seed": params.seed, "num_steps": params.num_steps,
    }  # fmt: skip
    if negative_prompt:
        spec["negative_prompt"] = negative_prompt
    if params.sigma_max is not None:
        spec["sigma_max"] = f"{params.sigma_max:g}"
    presets = {"edge": ("preset_edge_threshold", params.canny_threshold),
               "vis": ("preset_blur_strength", params.blur_strength)}
    for control in params.active_controls():
        block: dict[str, object] = {"control_weight": params.weight(control)}
        if control in files:
            block["control_path"] = files[control]
        if control in presets:
            key, value = presets[control]
            block[key] = value
        spec[control] = block
    return ModelCall(spec, ())
