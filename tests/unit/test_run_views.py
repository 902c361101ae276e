"""The API's views of runs on a real SQLite file: star and note, durations for estimates, GPU time per host."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import cast

import pytest

from cosmos_core.config import Config
from cosmos_core.lifecycle import RunStatus
from cosmos_core.repository import DataRepository
from cosmos_core.run_views import RunViews
from cosmos_core.store import marks, tables
from cosmos_core.store.queries import InvalidInput, NotFound
from tests.unit.test_repository import SYNC

NOW = 10_000.0


@pytest.fixture
def repo(tmp_path):
    """A repository on its own SQLite file, with one prompt (`prompt`)."""
    with tables.connect(f"sqlite:///{tmp_path}/judging.db"):
        (tmp_path / "in.mp4").write_bytes(b"\x00")
        store = DataRepository(tmp_path / "outputs", SYNC)
        store.create_prompt("judged", tmp_path / "in.mp4")
        yield store


@pytest.fixture
def prompt(repo):
    return repo.list_prompts()[0].id


def _config(**hosts: int) -> Callable[[], Config]:
    """What judging reads of the config in use: each host's name, GPUs per run and GPU slots."""
    config = cast(Config, SimpleNamespace(hosts=[SimpleNamespace(name=name, num_gpus=n, gpus=2)
                                                 for name, n in hosts.items()]))
    return lambda: config


def _ran(repo, prompt, run_id, host="gpu1", steps=35, started=None, ended=None, gpus=None, status="completed",
         model="transfer1"):
    repo.create_run(run_id, prompt, "inference", host, {"num_steps": steps}, model=model)
    tables.Run.update(status=status, started_at=started, completed_at=ended, gpus=gpus).where(
        tables.Run.id == run_id).execute()
    if status in ("completed", "failed", "cancelled"):
        marks.Changes.update(count=marks.Changes.count + 1).execute()  # as a transition does


def test_star_and_note_are_stored_shown_filtered_and_checked(repo, prompt):
    judging = RunViews(repo, _config(gpu1=1), clock=lambda: NOW)
    _ran(repo, prompt, "rs_a")
    _ran(repo, prompt, "rs_b")
    run = judging.mark("rs_a", starred=True)
    assert (run["starred"], run["note"]) == (True, None)
    run = judging.mark("rs_b", note="  edges too soft ")
    assert (run["starred"], run["note"]) == (False, "edges too soft")
    assert [r.id for r in repo.list_runs(starred=True)] == ["rs_a"]
    assert [r.id for r in repo.list_runs(note="soft")] == ["rs_b"]
    assert [r.id for r in repo.list_runs(search="too soft")] == ["rs_b"]  # the page's search finds notes
    with pytest.raises(InvalidInput, match="one line"):
        judging.mark("rs_a", starred=False, note="a\nb")
    assert repo.find_run("rs_a").starred  # a refused note changes nothing, not even the star asked with it
    assert judging.mark("rs_a", starred=False, note="")["starred"] is False
    assert judging.mark("rs_b", note="")["note"] is None
    with pytest.raises(NotFound, match="no run with id 'rs_nope'"):
        judging.mark("rs_nope", starred=True)
    with pytest.raises(NotFound):
        judging.mark("rs_nope", note="x")


def test_durations_are_of_completed_inference_runs_of_the_same_host_model_and_steps(repo, prompt):
    _ran(repo, prompt, "rs_1", started=100.0, ended=160.0)
    _ran(repo, prompt, "rs_2", started=200.0, ended=300.0)
    _ran(repo, prompt, "rs_steps", steps=10, started=100.0, ended=110.0)
    _ran(repo, prompt, "rs_host", host="gpu2", started=100.0, ended=110.0)
    _ran(repo, prompt, "rs_model", model="transfer2.5", started=100.0, ended=110.0)
    _ran(repo, prompt, "rs_failed", status="failed", started=100.0, ended=101.0)
    _ran(repo, prompt, "rs_running", status="running", started=100.0)
    assert sorted(marks.durations("gpu1", "transfer1", 35)) == [60.0, 100.0]
    assert marks.durations("gpu1", "transfer1", 10) == [10.0]
    assert marks.durations("gpu1", "transfer1", 99) == []
    repo.create_run("rs_up", prompt, "upscale", "gpu1", {"control_weight": 0.5}, parent_run_id="rs_1")
    tables.Run.update(status="completed", started_at=0.0, completed_at=40.0).where(tables.Run.id == "rs_up").execute()
    assert marks.durations("gpu1", "transfer1", None, "upscale") == [40.0]  # an upscale's history is upscales'
    assert marks.durations("gpu1", "transfer1", None) == []


def test_active_runs_get_an_estimate_from_their_history_others_none(repo, prompt):
    judging = RunViews(repo, _config(gpu1=1), clock=lambda: NOW)
    _ran(repo, prompt, "rs_done", started=100.0, ended=300.0)
    _ran(repo, prompt, "rs_now", status="running", started=NOW - 50)
    tables.Run.update(progress="diffusion sampling · 1/2 chunks").where(tables.Run.id == "rs_now").execute()
    _ran(repo, prompt, "rs_new", status="running", steps=12, started=NOW - 50)
    runs = {r["id"]: r for r in judging.dicts(repo.list_runs())}
    assert runs["rs_now"]["time_left"] == 100.0 and "about 1m 40s left" in runs["rs_now"]["time_left_text"]
    assert (runs["rs_new"]["time_left"], runs["rs_new"]["time_left_text"]) == (None, "no estimate")
    assert (runs["rs_done"]["time_left"], runs["rs_done"]["time_left_text"]) == (None, None)
    assert runs["rs_done"]["gpu_seconds"] == 200.0 and runs["rs_now"]["gpu_seconds"] == 50.0


def test_gpu_time_per_host_counts_gpus_held_and_is_recounted_after_a_status_change(repo, prompt):
    judging = RunViews(repo, _config(gpu1=2, gpu2=1), clock=lambda: NOW)
    _ran(repo, prompt, "rs_two", started=0.0, ended=100.0, gpus="0,1")  # 200
    _ran(repo, prompt, "rs_unsaid", started=0.0, ended=10.0)  # no indices: gpu1's 2 per run -> 20
    _ran(repo, prompt, "rs_other", host="gpu2", started=0.0, ended=30.0, gpus="3")  # 30
    _ran(repo, prompt, "rs_queued", status="queued")  # never held one
    _ran(repo, prompt, "rs_running", host="gpu2", status="running", started=NOW - 5, gpus="0")  # 5, up to now
    assert judging.gpu_seconds_by_host() == {"gpu1": 220.0, "gpu2": 35.0}
    tables.Run.update(completed_at=50.0).where(tables.Run.id == "rs_two").execute()  # no status change counted
    assert judging.gpu_seconds_by_host()["gpu1"] == 220.0  # the finished runs' sum is kept
    assert repo.transition("rs_running", RunStatus.RUNNING, status="completed", completed_at=NOW)
    assert judging.gpu_seconds_by_host() == {"gpu1": 120.0, "gpu2": 35.0}


def test_a_sweep_view_needs_runs_and_a_known_score(repo, prompt):
    judging = RunViews(repo, _config(gpu1=1), clock=lambda: NOW)
    with pytest.raises(NotFound, match="no sweep with id 'sw_x'"):
        judging.sweep("sw_x", [])
    _ran(repo, prompt, "rs_a")
    tables.Run.update(metrics=json.dumps({"blur_ssim": 0.5})).execute()
    run = judging.dicts(repo.list_runs())
    assert judging.sweep("sw_x", run)["runs"][0]["best"] is True
    with pytest.raises(InvalidInput, match="unknown score"):
        judging.sweep("sw_x", run, "psnr")


def test_the_history_is_read_again_only_after_a_status_changed(repo, prompt):
    judging = RunViews(repo, _config(gpu1=1), clock=lambda: NOW)
    _ran(repo, prompt, "rs_1", started=0.0, ended=100.0)
    assert judging.history("gpu1", "transfer1", 35) == [100.0]
    tables.Run.update(completed_at=50.0).where(tables.Run.id == "rs_1").execute()  # behind the store's back
    assert judging.history("gpu1", "transfer1", 35) == [100.0]  # a refresh repeats no history query
    _ran(repo, prompt, "rs_2", started=0.0, ended=30.0)  # another run ended: a status change
    assert sorted(judging.history("gpu1", "transfer1", 35)) == [30.0, 50.0]
