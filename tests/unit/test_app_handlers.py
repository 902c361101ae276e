"""The dashboard's handlers without a browser: what they ask the API, what they return."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from app.handlers import KNOB_FIELDS, PAGE_SIZE, Handlers, NewRun, Query, diff
from app.remote import HostGates, LogTails
from app.run_table import cell_text
from app.serving import launch_options
from cosmos_core.api import MODELS, CosmosError, InferenceParams, Refresh
from cosmos_core.config import load_config
from tests.unit.app_fakes import FakeAPI, make_run


@pytest.fixture
def api(tmp_path):
    return FakeAPI(tmp_path)


def test_diff_keeps_only_what_changed():
    frame = pd.DataFrame({"a": [1]})
    changed, sent = diff({"table": frame, "log": "x"}, {})
    assert set(changed) == {"table", "log"}
    changed, sent = diff({"table": frame.copy(), "log": "x"}, sent)
    assert changed == {}
    changed, _ = diff({"table": frame, "log": "y"}, sent)
    assert changed == {"log": "y"}


def test_render_passes_the_filters_and_pages_fifty_at_a_time(api):
    api.runs = [make_run(f"rs_{i}") for i in range(PAGE_SIZE + 5)]
    view = Handlers(api).render(Query(status="failed", kind="all", host="gpu1", search=" robot ", page=0,
                                      starred=True, sweep="sw_1", sort="seed", ascending=True), None)
    (args, kwargs), = api.called("list_runs")
    assert args == ("failed", Refresh.NONE)
    assert kwargs == {"kind": None, "host": "gpu1", "search": "robot", "limit": PAGE_SIZE + 1, "offset": 0,
                      "sync_hosts": None, "starred": True, "sweep": "sw_1", "sort": "seed", "ascending": True}
    assert len(view["table"]) == PAGE_SIZE and view["older"] and not view["newer"]
    assert view["pager"] == "Runs 1–50"
    second = Handlers(api).render(Query(page=1), None)
    assert second["pager"] == "Runs 51–55" and second["newer"] and not second["older"]


def test_a_tick_syncs_only_the_hosts_no_other_remote_call_is_using(api):
    handlers = Handlers(api)
    with handlers.gates.exclusive("gpu1"):  # say, an upload
        handlers.render(Query(), None, Refresh.AUTO)
    with handlers.gates.exclusive("gpu1", "gpu25"):
        handlers.render(Query(), None, Refresh.AUTO)
    handlers.render(Query(), None, Refresh.AUTO)
    calls = [(args[1], kwargs["sync_hosts"]) for args, kwargs in api.called("list_runs")]
    assert calls == [(Refresh.AUTO, {"gpu25"}), (Refresh.NONE, set()), (Refresh.AUTO, {"gpu1", "gpu25"})]


def test_an_action_waits_only_for_its_own_hosts_gate(api):
    handlers = Handlers(api)
    with handlers.gates.exclusive("gpu25"):  # a long upload to another host
        with handlers.gates.attempt(["gpu1", "gpu25"]) as free:
            assert free == {"gpu1"}


def test_refresh_now_forces_a_sync(api):
    Handlers(api).render(Query(), None, Refresh.FORCE)
    assert api.called("list_runs")[0][0][1] is Refresh.FORCE


def test_render_shows_api_errors_in_the_banner(api):
    def broken(*args, **kwargs):
        raise CosmosError("unknown status 'nope'")

    api.list_runs = broken
    view = Handlers(api).render(Query(status="nope"), None)
    assert view["banner"] == "❌ unknown status 'nope'" and view["table"].empty


def test_details_of_the_selected_run_and_prompts_read_once(api):
    handlers = Handlers(api)
    view = handlers.render(Query(), "rs_1")
    assert "**rs_1**" in view["run_status"] and view["run_log"] == "line 1\nline 2\n"
    handlers.render(Query(), "rs_1")
    assert api.called("get_prompts") == [((["ps_1"],), {})]  # one query, then the cache
    assert "no run with id" in handlers.render(Query(), "rs_gone")["run_status"]


def test_a_run_that_never_started_reads_no_log_and_says_why_in_its_place(api):
    api.runs = [make_run(status="failed", started_at=None, exit_code=None,
                         error="docker run failed on gpu1 (exit 125): image not known")]
    view = Handlers(api).render(Query(), "rs_1")
    assert api.called("logs") == []  # no log anywhere: the host is not asked
    assert view["run_log"] == "" and view["run_video"] is None
    assert view["run_missing"].startswith("⛔ This run never started: docker run failed on gpu1 (exit 125)")
    assert {k: v for k, v in view.items() if k.startswith("run_can_")} == {
        "run_can_retry": False, "run_can_cancel": False, "run_can_upscale": False, "run_can_enhance": True,
        "run_can_rerun": True, "run_can_open_sweep": False}


def test_actions_follow_the_runs_host_as_configured_now(api):
    api.runs = [make_run("rs_1", status="running", exit_code=None, host="gpu25", model="transfer2.5"),
                make_run("rs_2", status="running", exit_code=None, host="gpu9")]  # gpu9: removed from the config
    handlers = Handlers(api)
    on_gpu25 = handlers.details_view("rs_1")
    assert on_gpu25["run_can_cancel"] and not on_gpu25["run_can_enhance"]  # gpu25 serves no upsampler
    gone = handlers.details_view("rs_2")
    assert [k for k, v in gone.items() if k.startswith("run_can_") and v] == ["run_can_rerun"]  # needs no host


def test_a_remote_log_is_read_once_per_ttl_and_a_local_one_each_time(api):
    now = [0.0]
    tails = LogTails(api, HostGates(), ttl=5, clock=lambda: now[0])
    running = make_run(status="running")
    tails.read(running)
    now[0] = 4
    tails.read(running)
    assert len(api.called("logs")) == 1
    now[0] = 6
    tails.read(running)
    assert len(api.called("logs")) == 2
    api.local_logs.add("rs_1")
    tails.read(running), tails.read(running)
    assert len(api.called("logs")) == 4
    assert tails.read(make_run("rs_2", status="pending")) == "" and len(api.called("logs")) == 4


def test_starting_a_run_keeps_the_upload_and_passes_the_parameters(api, tmp_path):
    upload = tmp_path / "gradio" / "clip.mp4"
    upload.parent.mkdir()
    upload.write_bytes(b"video bytes")
    progress = []
    form = NewRun(prompt="a red robot", upload=str(upload), negative="blurry", host="gpu1",
                  weights=(0.5, 0, 0, 0), steps=12, guidance=6.5, seed=9)
    run = Handlers(api).start(form, on_progress=progress.append)
    assert run["id"] == "rs_new" and [(p.detail, p.sent, p.total) for p in progress] == [("v.mp4", 10, 10)]
    (text, video), kwargs = api.called("add_prompt")[0]
    assert text == "a red robot" and kwargs["negative_prompt"] == "blurry" and kwargs["name"] is None
    assert video.read_bytes() == b"video bytes" and video.is_relative_to(tmp_path / "outputs" / "inputs")
    (_, host, params), _ = api.called("start_inference")[0]
    assert host == "gpu1" and (params.num_steps, params.guidance, params.seed) == (12, 6.5, 9)
    assert params.weights == (0.5, 0.0, 0.0, 0.0)


def test_every_knob_of_the_form_reaches_the_api_with_the_model(api, tmp_path):
    form = NewRun(prompt="p", picked=str(tmp_path / "v.mp4"), model="transfer1", host="gpu1",
                  weights=(0, 1, 0, 0), steps=20, guidance=7.5, seed=3, sigma_max=80.5, blur_strength="high",
                  canny_threshold="low", fps=16, distilled=True, upsample_prompt=True)
    Handlers(api).start(form)
    (_, host, params), kwargs = api.called("start_inference")[0]
    assert kwargs == {"model_name": "transfer1"} and host == "gpu1"
    assert params == InferenceParams(num_steps=20, guidance=7.5, seed=3, weights=(0.0, 1.0, 0.0, 0.0),
                                     sigma_max=80.5, blur_strength="high", canny_threshold="low", fps=16,
                                     distilled=True, upsample_prompt=True)


def test_empty_knobs_take_the_models_defaults(api, tmp_path):
    Handlers(api).start(NewRun(prompt="p", picked=str(tmp_path / "v.mp4"), model="transfer2.5", seed=4))
    (_, host, params), kwargs = api.called("start_inference")[0]
    assert kwargs == {"model_name": "transfer2.5"} and host == "gpu25"  # the core picked a host serving it
    assert params == replace(MODELS["transfer2.5"].defaults, seed=4) and params.sigma_max is None


def test_an_unknown_model_stores_nothing(api, tmp_path):
    with pytest.raises(CosmosError, match="unknown model"):
        Handlers(api).start(NewRun(prompt="p", picked=str(tmp_path / "v.mp4"), model="transfer9"))
    assert not api.called("add_prompt") and not api.called("start_inference")


def test_the_model_dropdown_offers_each_model_by_title(api):
    assert Handlers(api).model_choices() == [("Cosmos-Transfer1", "transfer1"), ("Cosmos-Transfer2.5", "transfer2.5")]


def test_a_model_resets_the_knobs_to_its_defaults_hides_the_others_and_offers_its_hosts(api):
    handlers = Handlers(api)
    transfer1 = handlers.model_form("transfer1")
    assert transfer1.hosts == ["gpu1"] and list(transfer1.knobs) == list(KNOB_FIELDS)
    assert all(k.shown for k in transfer1.knobs.values())
    assert {n: k.value for n, k in transfer1.knobs.items()} == {
        "vis": 0.25, "edge": 0.25, "depth_w": 0.25, "seg_w": 0.25, "steps": 35, "guidance": 5.0, "seed": 1,
        "sigma_max": 70.0, "blur_strength": "medium", "canny_threshold": "medium", "fps": 24, "distilled": False,
        "upsample_prompt": False}  # fmt: skip
    transfer25 = handlers.model_form("transfer2.5")
    assert transfer25.hosts == ["gpu25"]
    assert [n for n, k in transfer25.knobs.items() if not k.shown] == ["fps", "distilled", "upsample_prompt"]
    values = {n: k.value for n, k in transfer25.knobs.items()}
    assert (values["guidance"], values["seed"], values["sigma_max"]) == (3, 2025, None)
    assert (values["vis"], values["edge"], values["depth_w"], values["seg_w"]) == (0, 1, 0, 0)


def test_a_running_runs_progress_is_rendered(api):
    api.runs = [make_run(status="running", exit_code=None, progress="diffusion sampling · 1/2 chunks")]
    view = Handlers(api).render(Query(), "rs_1")
    assert view["run_progress"] == "⏳ diffusion sampling · 1/2 chunks"
    assert cell_text(view["table"].loc[0, "status"]) == "running · diffusion sampling · 1/2 chunks"
    assert Handlers(api).render(Query(), None)["run_progress"] == ""


def test_a_run_needs_a_video(api):
    with pytest.raises(CosmosError, match="choose an input video"):
        Handlers(api).start(NewRun(prompt="no video"))


def test_actions_call_the_api_and_say_what_happened(api):
    handlers = Handlers(api)
    assert handlers.retry("rs_1") == "Download of rs_1 is done."
    assert handlers.cancel("rs_1") == "Run rs_1 is cancelled."
    assert handlers.upscale("rs_1", 0.7) == ("Started 4K upscale rs_up.", "rs_up")
    assert api.called("start_upscale")[0][0] == ("rs_1", 0.7)
    assert handlers.enhance("rs_1") == ("Started prompt enhancement rs_en.", "rs_en")
    assert api.called("start_enhance")[0][0] == ("ps_1", "gpu1")
    with pytest.raises(CosmosError, match="select a run"):
        handlers.cancel(None)


def test_checking_hosts_fills_the_hosts_table(api):
    table = Handlers(api).check_hosts()
    assert table.loc[0, "reachable"] == "✅ yes" and table.loc[0, "GPUs"] == "– absent: nvidia-smi not found"


def test_checking_hosts_checks_the_hosts_of_the_config_file_as_it_is_now(api, tmp_path):
    edited = tmp_path / "edited.toml"
    edited.write_text('[[hosts]]\nname = "gpu-new"\nhostname = "h"\nuser = "u"\n')
    handlers = Handlers(api)
    api.follow_config = lambda: setattr(api, "config", load_config(edited))  # the file changed since the last tick
    handlers.check_hosts()
    assert [args for args, _ in api.called("check_host")] == [("gpu-new",)]


def test_launch_serves_outputs_but_not_the_database(api, tmp_path):
    options = launch_options(api.config)
    assert options["allowed_paths"] == [str(tmp_path / "outputs")]
    assert str(tmp_path / "c.db") in options["blocked_paths"] and str(tmp_path / "c.db-wal") in options["blocked_paths"]
    assert options["auth"] is None


def test_bad_parameters_store_no_prompt(tmp_path):
    api = FakeAPI(tmp_path)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"v")
    form = NewRun(prompt="p", picked=str(video), sigma_max=0)
    with pytest.raises(CosmosError, match="sigma_max must be above 0"):
        Handlers(api).start(form)
    assert not [c for c in api.calls if c[0] == "add_prompt"]


def test_cancel_of_an_uploading_run_does_not_wait_for_its_hosts_gate(tmp_path):
    api = FakeAPI(tmp_path, [make_run(status="uploading")])
    handlers = Handlers(api)
    with handlers.gates.exclusive("gpu1"):  # the upload itself
        handlers.cancel(api.runs[0]["id"])
    assert api.called("cancel")


def test_the_banner_says_a_broken_config_edit_and_the_page_keeps_working(tmp_path):
    api = FakeAPI(tmp_path)
    api.config_note = "the config file has an error, so the last good config is in use: cosmos.toml: bad port"
    view = Handlers(api).render(Query(), None)
    assert view["banner"] == f"⚠️ {api.config_note}" and "table" in view
