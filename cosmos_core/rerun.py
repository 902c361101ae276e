"""Running a run again with changes: a new run of its prompt, model, host and parameters, except those given.

`merged_params` (pure) decides the new run's parameters; `again` reads the original from the store and
says what to start (the API starts it like any inference run). The new run uploads the prompt's input
files from this machine, where the prompt recorded them: when one it needs is gone, `again` refuses
before anything is created, naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from cosmos_core.store.queries import InvalidInput, RunStore
from cosmos_core.store.tables import Prompt, Run
from cosmos_core.upstream.models import CosmosModel, model
from cosmos_core.upstream.params import InferenceParams, ParamError
from cosmos_core.words import agreeing

INPUT_LABELS = {"video": "input video", "depth": "depth video", "seg": "segmentation video"}


@dataclass(frozen=True)
class Again:
    """What to start: the original's prompt, and the model, host and parameters after the changes."""

    prompt_id: str
    model: str
    host: str
    params: InferenceParams


def merged_params(stored: Mapping[str, Any], original: CosmosModel, target: CosmosModel,
                  overrides: Mapping[str, Any]) -> InferenceParams:
    """The original run's `stored` parameters with `overrides` (InferenceParams field -> value) on top.
    On another model, only the knobs that model takes carry over; the others are its defaults."""
    names = {f.name for f in fields(InferenceParams)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ParamError(f"unknown {agreeing(len(unknown), 'parameter')}: {', '.join(unknown)}")
    before = InferenceParams.from_dict(stored, base=original.defaults)
    carried = {name: getattr(before, name) for name in names if name in target.tunes}
    return replace(target.defaults, **(carried | dict(overrides)))


def inputs_used(prompt: Prompt, params: InferenceParams) -> dict[str, str]:
    """The prompt's files a run with `params` uploads, by role: the video, and a depth or segmentation
    video only when its control is in use (as launcher.plan_inference decides)."""
    active = params.active_controls()
    files = {"video": prompt.video_path, "depth": prompt.depth_path, "seg": prompt.seg_path}
    return {role: path for role, path in files.items() if path and (role == "video" or role in active)}


def missing_inputs(files: Mapping[str, str]) -> dict[str, str]:
    """The files (by role) no longer on this machine."""
    return {role: path for role, path in files.items() if not Path(path).is_file()}


def again(store: RunStore, run_id: str, overrides: Mapping[str, Any], host: str | None = None,
          model_name: str | None = None) -> Again:
    """The run to start for `rerun RUN_ID`: InvalidInput (one line) when the original is not an
    inference run or an input it needs is gone from this machine; nothing is created here."""
    run = _inference_run(store, run_id)
    target = model(model_name or run.model)
    params = merged_params(json.loads(run.params), model(run.model), target, overrides)
    prompt = store.get_prompt(run.prompt_id)
    gone = missing_inputs(inputs_used(prompt, params))
    if gone:
        role, path = next(iter(gone.items()))
        raise InvalidInput(f"run {run.id}'s {INPUT_LABELS[role]} {path} is no longer on this machine; "
                           f"add the prompt again with that file (`prompt add`), then `run` it")
    return Again(prompt.id, target.name, host or run.host, params)


def _inference_run(store: RunStore, run_id: str) -> Run:
    run = store.find_run(run_id)
    if run.kind != "inference":
        raise InvalidInput(f"run {run.id} is an {run.kind} run; only an inference run can be run again")
    return run
