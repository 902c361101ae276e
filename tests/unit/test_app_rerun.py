"""Run again without a browser: New run filled from a run, and what starting that form asks the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.dashboard import _form_values
from app.handlers import Handlers
from app.layout import FORM_FIELDS
from app.rerun_form import refill
from cosmos_core.api import CosmosError, InferenceParams
from tests.unit.app_fakes import PROMPT, FakeAPI, handlers_over, make_run

PARAMS = {"num_steps": 12, "guidance": 6.5, "seed": 7, "weights": [0.0, 0.4, 0.6, 0.0], "sigma_max": 80.0,
          "blur_strength": "high", "canny_threshold": "low", "fps": 16, "distilled": False, "upsample_prompt": True}


def _handlers(tmp_path, run: dict, **prompt) -> tuple[FakeAPI, Handlers]:
    api = FakeAPI(tmp_path, [run])
    api.prompt = {**PROMPT, **prompt}
    return api, handlers_over(api)


def test_the_form_gets_every_parameter_and_starting_it_unchanged_asks_for_the_same_run(tmp_path):
    video, depth = tmp_path / "v.mp4", tmp_path / "d.mp4"
    for path in (video, depth):
        path.write_bytes(b"\x00")
    api, handlers = _handlers(tmp_path, make_run(params=PARAMS), video=str(video), depth=str(depth),
                              negative_prompt="blurry")
    filled = refill(handlers, "rs_1")
    values = filled.values
    assert (values["prompt"], values["negative"], values["name"], values["model"], values["host"]) == (
        "a red robot", "blurry", "red robot", "transfer1", "gpu1")
    assert (values["picked"], values["upload"], values["seg"]) == (str(video), None, None)
    kept = tmp_path / "outputs" / "inputs"
    assert values["depth"].startswith(str(kept)) and values["depth"].endswith("/d.mp4")  # served from outputs
    assert (values["seed"], values["depth_w"], values["sigma_max"], values["upsample_prompt"]) == (7, 0.6, 80.0, True)
    assert filled.note == "Filled from run rs_1: change what you like, then Start run."

    handlers.start(_form_values(tuple(values[name] for name in FORM_FIELDS)))
    (prompt_id, host, params), kwargs = api.called("start_inference")[0]
    assert (host, params, kwargs) == ("gpu1", InferenceParams.from_dict(PARAMS), {"model_name": "transfer1"})
    (text, given_video), stored = api.called("add_prompt")[0]
    assert (text, given_video, stored["depth"], stored["negative_prompt"]) == (
        "a red robot", video, Path(values["depth"]), "blurry")  # the kept copy as it is: no second copy


def test_inputs_gone_are_left_empty_and_named(tmp_path):
    _, handlers = _handlers(tmp_path, make_run(params=PARAMS), video="/gone/v.mp4", seg="/gone/s.mp4")
    filled = refill(handlers, "rs_1")
    assert (filled.values["picked"], filled.values["seg"]) == (None, None)
    assert "input video /gone/v.mp4 is no longer on this machine" in filled.note
    assert "segmentation video /gone/s.mp4 is no longer on this machine" in filled.note


def test_a_transfer25_run_shows_its_knobs_alone_and_a_host_that_serves_it(tmp_path):
    run = make_run(model="transfer2.5", host="gpu1", params={"seed": 5, "guidance": 4})
    _, handlers = _handlers(tmp_path, run)
    filled = refill(handlers, "rs_1")
    assert (filled.values["seed"], filled.values["guidance"], filled.values["host"]) == (5, 4, "gpu25")
    assert not filled.form.knobs["fps"].shown and filled.form.knobs["seed"].shown
    assert "Its host gpu1 no longer serves transfer2.5" in filled.note


def test_only_an_inference_run_is_run_again(tmp_path):
    _, handlers = _handlers(tmp_path, make_run(kind="upscale", params={"control_weight": 0.5}))
    with pytest.raises(CosmosError, match="rs_1 is an upscale run"):
        refill(handlers, "rs_1")
    with pytest.raises(CosmosError, match="select a run"):
        refill(handlers, None)
