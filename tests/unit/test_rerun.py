"""Run again with changes: the merge of overrides onto a run's parameters (pure) and the CLI's grammar.
The store's side (a prompt stored again, the refusals) is in test_repository.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cosmos_core.cli.parser import build_parser
from cosmos_core.rerun import inputs_used, merged_params, missing_inputs
from cosmos_core.store import tables
from cosmos_core.upstream.models import TRANSFER1, TRANSFER25
from cosmos_core.upstream.params import InferenceParams, ParamError

STORED = {"num_steps": 12, "guidance": 6.5, "seed": 7, "weights": [0.0, 0.4, 0.6, 0.0], "sigma_max": 80.0,
          "blur_strength": "high", "canny_threshold": "low", "fps": 16, "distilled": False,
          "upsample_prompt": True}  # fmt: skip


def test_no_override_gives_back_every_stored_parameter():
    assert merged_params(STORED, TRANSFER1, TRANSFER1, {}).to_dict() == STORED


def test_an_override_changes_that_parameter_alone():
    merged = merged_params(STORED, TRANSFER1, TRANSFER1, {"seed": 8, "weights": (0.0, 1.0, 0.0, 0.0)})
    assert merged == replace(InferenceParams.from_dict(STORED), seed=8, weights=(0.0, 1.0, 0.0, 0.0))


def test_keys_an_older_run_did_not_store_are_the_models_defaults():
    merged = merged_params({"seed": 3}, TRANSFER25, TRANSFER25, {})
    assert merged == replace(TRANSFER25.defaults, seed=3)


def test_on_another_model_only_the_knobs_it_takes_carry_over():
    merged = merged_params(STORED, TRANSFER1, TRANSFER25, {"guidance": 3})
    assert (merged.seed, merged.num_steps, merged.blur_strength, merged.guidance) == (7, 12, "high", 3)
    assert (merged.fps, merged.upsample_prompt) == (TRANSFER25.defaults.fps, False)  # Transfer2.5 takes neither


def test_an_unknown_override_is_refused():
    with pytest.raises(ParamError, match="unknown parameter.*temperature"):
        merged_params(STORED, TRANSFER1, TRANSFER1, {"temperature": 1})


def test_inputs_used_are_the_video_and_the_control_videos_in_use():
    prompt = tables.Prompt(video_path="/v.mp4", depth_path="/d.mp4", seg_path="/s.mp4")
    params = InferenceParams(weights=(0.0, 0.5, 0.5, 0.0))
    assert inputs_used(prompt, params) == {"video": "/v.mp4", "depth": "/d.mp4"}
    assert missing_inputs({"video": "/nowhere/v.mp4"}) == {"video": "/nowhere/v.mp4"}


def test_rerun_takes_run_options_with_nothing_given_as_none():
    args = build_parser().parse_args(["rerun", "rs_1", "--seed", "9", "--no-distilled"])
    assert (args.run_id, args.seed, args.distilled, args.model, args.host, args.num_steps) == (
        "rs_1", 9, False, None, None, None)
    assert build_parser().parse_args(["run", "ps_1"]).model == TRANSFER1.name  # run keeps its default
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["rerun", "rs_1", "--seed", "two"])
    assert usage.value.code == 2
