"""store/marks.py on both backends (a SQLite file and a real PostgreSQL 15 server, tests/pgkit.py): star and
note, their filters, earlier durations, GPU time per host (its SQL count of GPU indices)."""

from __future__ import annotations

import json

import pytest

from cosmos_core.store import marks, tables
from cosmos_core.store.queries import RunStore
from cosmos_core.store.tables import Changes, Prompt, Run
from tests.unit.test_repository import SYNC


@pytest.fixture
def store(database_url, tmp_path):
    db = tables.connect(database_url)
    Prompt.create(id="ps_1", name="p", text="a red robot", video_path="/v.mp4", created_at=1.5)
    yield RunStore(tmp_path / "outputs", SYNC)
    db.close()


def _run(run_id: str, host: str = "gpu1", status: str = "completed", started: float | None = 0.0,
         ended: float | None = 100.0, gpus: str | None = None, steps: int = 35) -> None:
    Run.create(id=run_id, prompt="ps_1", kind="inference", host=host, status=status, created_at=1.0,
               started_at=started, completed_at=ended, gpus=gpus, params=json.dumps({"num_steps": steps}))


def test_star_note_and_their_filters(store):
    _run("rs_a")
    _run("rs_b")
    assert marks.set_starred("rs_a", True) and marks.set_starred("rs_a", True)  # twice: still found
    assert marks.set_note("rs_b", "é" * 200)  # the column holds 200 characters, whatever they are
    assert not marks.set_starred("rs_nope", True) and not marks.set_note("rs_nope", "x")
    assert store.run_ids(starred=True) == ["rs_a"]
    assert store.run_ids(note="éé") == ["rs_b"] and store.run_ids(search="éé") == ["rs_b"]
    assert sorted(store.run_ids()) == ["rs_a", "rs_b"]


def test_durations_and_gpu_time_per_host(store):
    _run("rs_1", gpus="0,1")  # 100 s × 2
    _run("rs_2", ended=40.0, gpus="")  # 40 s × the host's GPUs per run
    _run("rs_3", host="gpu2", ended=10.0, gpus="0,1,2", steps=10)  # 10 s × 3
    _run("rs_4", host="gpu2", status="failed", started=None, ended=5.0)  # never started
    _run("rs_5", status="running", started=990.0, ended=None, gpus="1")  # 10 s × 1, up to now
    assert sorted(marks.durations("gpu1", "transfer1", 35)) == [40.0, 100.0]
    assert marks.durations("gpu2", "transfer1", 10) == [10.0]
    totals = marks.GpuTotals()
    assert totals.by_host({"gpu1": 2}, now=1000.0) == {"gpu1": 200.0 + 80.0 + 10.0, "gpu2": 30.0}
    Run.update(completed_at=50.0).where(Run.id == "rs_1").execute()
    assert totals.by_host({"gpu1": 2}, now=1000.0)["gpu1"] == 290.0  # kept until a status changes
    Changes.update(count=Changes.count + 1).execute()
    assert totals.by_host({"gpu1": 2}, now=1000.0)["gpu1"] == 190.0
