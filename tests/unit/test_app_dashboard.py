"""The page as built (no browser): the stable elem_ids, private events, the timer, upload progress,
the new-run form's fields and model switch."""

from __future__ import annotations

from dataclasses import fields

from app.applies import ACTIONS
from app.dashboard import RENDERED, _form_values, _model_switch, _step_reporter, _update, build_app
from app.handlers import KNOB_FIELDS, Handlers, NewRun
from app.layout import FORM_FIELDS
from cosmos_core.api import MAX_RUNS, StartReport, StartStep
from tests.unit.app_fakes import FakeAPI

ELEM_IDS = {"runs-table", "refresh-now", "run-status", "run-progress", "run-video", "run-log", "retry-download",
            "cancel-run", "new-run"}
FORM_IDS = {"new-run-model", "new-run-host", "new-run-sigma-max", "new-run-blur", "new-run-canny", "new-run-fps",
            "new-run-distilled", "new-run-upsample"}
WEIGHTS = ["vis", "edge", "depth_w", "seg_w"]


def test_the_page_has_the_test_hooks_a_cosmos_title_and_only_private_events(tmp_path):
    config = build_app(FakeAPI(tmp_path)).get_config_file()
    ids = {c["props"].get("elem_id") for c in config["components"]}
    assert ELEM_IDS | FORM_IDS <= ids
    assert "Cosmos" in config["title"]
    assert {d["api_visibility"] for d in config["dependencies"]} == {"private"}
    props = {c["props"].get("elem_id"): c["props"] for c in config["components"]}
    assert props["new-run-model"]["value"] == "transfer1"
    assert props["new-run-host"]["choices"] == [("gpu1", "gpu1")]  # gpu25 serves transfer2.5 only
    timers = [c["props"] for c in config["components"] if c["type"] == "timer"]
    assert [t["value"] for t in timers if t["active"]] == [5]  # ui.refresh_seconds' default
    assert [t["value"] for t in timers if not t["active"]] == [1]  # a start's step clock, off until Start


def uploaded(name: str, sent: int, total: int) -> StartReport:
    return StartReport("rs_1", "gpu1", StartStep.UPLOADING, name, sent, total)


def test_upload_progress_is_reported_at_most_five_times_a_second_and_at_the_end():
    calls = []
    report = _step_reporter(lambda fraction, desc: calls.append((fraction, desc)))
    for sent in range(0, 1_000_001, 1000):
        report(uploaded("clip.mp4", sent, 1_000_000))
    assert calls[0] == (0.0, "Uploading clip.mp4: 0.0/1.0 MB")
    assert calls[-1] == (1.0, "Uploading clip.mp4: 1.0/1.0 MB")
    assert len(calls) < 10
    small = []
    _step_reporter(lambda fraction, desc: small.append(desc))(uploaded("spec.json", 300, 300))
    assert small == ["Uploading spec.json: 300/300 B"]  # was "0.0 / 0.0 MB"


def test_every_other_step_of_a_start_shows_as_it_begins_with_what_it_waits_on():
    calls = []
    report = _step_reporter(lambda fraction, desc: calls.append((fraction, desc)))
    report(StartReport("rs_1", "gpu1", StartStep.CONNECTING))
    report(StartReport("rs_1", "gpu1", StartStep.STARTING, "docker run"))
    report(StartReport("rs_1", "hpc", StartStep.SUBMITTING, "sbatch"))
    assert calls == [(None, "Connecting to gpu1"), (None, "Starting the container on gpu1 (docker run)"),
                     (None, "Submitting the job on hpc (sbatch)")]


def test_the_form_fields_follow_new_run():
    names = [f.name for f in fields(NewRun)]
    at = names.index("weights")
    assert FORM_FIELDS == names[:at] + WEIGHTS + names[at + 1:]


def test_form_values_become_a_new_run_and_empty_numbers_the_models_default():
    values = {"prompt": "p", "upload": None, "picked": "/in/v.mp4", "depth": None, "seg": None, "negative": None,
              "name": "", "model": "transfer1", "host": "gpu1", "vis": 0.5, "edge": 0, "depth_w": 0, "seg_w": 0,
              "steps": 12, "guidance": 6, "seed": None, "sigma_max": None, "blur_strength": "low",
              "canny_threshold": "high", "fps": 30, "distilled": False, "upsample_prompt": True}  # fmt: skip
    form = _form_values(tuple(values[name] for name in FORM_FIELDS))
    assert form == NewRun(prompt="p", picked="/in/v.mp4", model="transfer1", host="gpu1", weights=(0.5, 0, 0, 0),
                          steps=12, guidance=6.0, seed=None, sigma_max=None, blur_strength="low",
                          canny_threshold="high", fps=30, distilled=False, upsample_prompt=True)
    assert isinstance(form.guidance, float)


def test_switching_the_model_offers_its_hosts_and_resets_and_hides_the_knobs(tmp_path):
    switch = _model_switch(Handlers(FakeAPI(tmp_path)))
    host, *knobs = switch("transfer2.5")
    assert (host["choices"], host["value"]) == (["gpu25"], "gpu25")
    knob = dict(zip(KNOB_FIELDS, knobs, strict=True))
    assert (knob["seed"]["value"], knob["edge"]["value"], knob["sigma_max"]["value"]) == (2025, 1.0, None)
    assert [name for name, update in knob.items() if not update["visible"]] == ["fps", "distilled", "upsample_prompt"]
    host, *_ = switch("transfer1")
    assert host["choices"] == ["gpu1"] and host["info"] is None


def test_what_does_not_apply_is_hidden_not_disabled(tmp_path):
    assert {f"run_can_{action}" for action in ACTIONS} <= RENDERED.keys()  # every action has its control
    assert _update("run_can_cancel", False) == {"__type__": "update", "visible": False}
    assert _update("run_can_retry", True) == {"__type__": "update", "visible": True}
    assert _update("run_video", None) == {"__type__": "update", "value": None, "visible": False}
    assert _update("run_log", "") == {"__type__": "update", "value": "", "visible": False}
    assert _update("run_log", "step 1/35") == {"__type__": "update", "value": "step 1/35", "visible": True}
    config = build_app(FakeAPI(tmp_path)).get_config_file()
    props = {c["props"].get("elem_id"): c["props"] for c in config["components"]}
    hidden = ("run-video", "run-log", "retry-download", "cancel-run", "enhance-prompt", "rerun-run",
              "upscale-controls", "open-sweep")
    assert [props[elem_id]["visible"] for elem_id in hidden] == [False] * len(hidden)  # until a run says so


def test_the_new_sweep_form_has_a_field_for_every_list_the_cli_sweeps_and_the_cli_cap(tmp_path):
    config = build_app(FakeAPI(tmp_path)).get_config_file()
    props = {c["props"].get("elem_id"): c["props"] for c in config["components"]}
    assert {f"new-sweep-{s}" for s in ("seeds", "steps", "guidance", "sigma-max", "fps")} <= props.keys()
    assert props["new-sweep-fps"]["placeholder"] == "16,24"
    assert props["new-sweep-max-runs"]["value"] == MAX_RUNS
