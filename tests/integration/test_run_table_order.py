"""The runs table's sort orders and sweep list on SQLite and on a real PostgreSQL 15 server: parameters
sort as numbers, runs without the value come last either way, pages are stable, filters still apply,
and a sorted page is kept until runs change."""

from __future__ import annotations

import pytest

from cosmos_core.config import SyncConfig
from cosmos_core.lifecycle import RunStatus
from cosmos_core.repository import DataRepository, Refresh
from cosmos_core.store import run_table, tables
from cosmos_core.store.run_table import UnknownSort, order_by, recent_sweeps
from cosmos_core.store.tables import Run

SYNC = SyncConfig(min_interval_seconds=2, lost_after_seconds=120, download_budget_seconds=3)


@pytest.fixture
def repo(database_url, tmp_path):
    db = tables.connect(database_url)
    yield DataRepository(tmp_path / "outputs", SYNC)
    db.close()


@pytest.fixture
def stored(repo, tmp_path):
    """Five runs made in this order: seeds 9, 10, 2 (sweep sw_a), an upscale (no seed), seed 10 (sw_b)."""
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00")
    prompt = repo.create_prompt("hello", video)
    made = [("rs_a", {"seed": 9, "guidance": 5.0, "weights": [0.5, 0.1, 0, 0]}, "sw_a"),
            ("rs_b", {"seed": 10, "guidance": 7.5, "weights": [0.5, 0.3, 0, 0]}, "sw_a"),
            ("rs_c", {"seed": 2, "guidance": 3.0, "weights": [0.2, 0.9, 0, 0]}, "sw_a"),
            ("rs_d", {"control_weight": 0.5}, None),
            ("rs_e", {"seed": 10, "guidance": 1.0, "weights": [0.5, 0.1, 0, 0]}, "sw_b")]  # fmt: skip
    for at, (run_id, params, sweep) in enumerate(made):
        repo.clock = lambda at=at: 1000.0 + at
        repo.create_run(run_id, prompt.id, "inference" if "seed" in params else "upscale", "gpu1", params,
                        sweep_id=sweep)
    return repo


def ids(store: DataRepository, **filters) -> list[str]:
    return [run.id for run in store.list_runs(None, Refresh.NONE, **filters)]


def test_the_default_order_is_newest_first(stored):
    assert ids(stored) == ["rs_e", "rs_d", "rs_c", "rs_b", "rs_a"]
    assert ids(stored, sort="created", ascending=True) == ["rs_a", "rs_b", "rs_c", "rs_d", "rs_e"]


def test_a_parameter_sorts_as_a_number_with_runs_lacking_it_last(stored):
    assert ids(stored, sort="seed", ascending=True) == ["rs_c", "rs_a", "rs_b", "rs_e", "rs_d"]  # 2 < 9 < 10
    assert ids(stored, sort="seed") == ["rs_e", "rs_b", "rs_a", "rs_c", "rs_d"]  # ties: by id, the same way
    assert ids(stored, sort="guidance", ascending=True)[:4] == ["rs_e", "rs_c", "rs_a", "rs_b"]


def test_weights_sort_by_each_control_in_turn(stored):
    assert ids(stored, sort="weights", ascending=True) == ["rs_c", "rs_a", "rs_e", "rs_b", "rs_d"]


def test_sorting_keeps_the_filters_and_pages(stored):
    assert ids(stored, sweep="sw_a", sort="seed", ascending=True) == ["rs_c", "rs_a", "rs_b"]
    first = ids(stored, sort="seed", limit=2)
    second = ids(stored, sort="seed", limit=2, offset=2)
    assert first == ["rs_e", "rs_b"] and second == ["rs_a", "rs_c"]


def test_every_sort_key_runs(stored):
    for key in run_table.SORT_KEYS:
        assert sorted(ids(stored, sort=key)) == ["rs_a", "rs_b", "rs_c", "rs_d", "rs_e"], key


def test_an_unknown_sort_is_refused():
    with pytest.raises(UnknownSort, match="cannot sort runs by 'colour'"):
        order_by("colour")


def test_recent_sweeps_lists_the_newest_sweep_first(stored):
    assert recent_sweeps() == ["sw_b", "sw_a"]
    assert recent_sweeps(limit=1) == ["sw_b"]


def test_a_sorted_page_is_read_again_only_once_runs_change(stored, monkeypatch):
    reads = []
    run_ids = stored.run_ids
    monkeypatch.setattr(stored, "run_ids", lambda *a, **k: reads.append(k.get("order")) or run_ids(*a, **k))
    first = ids(stored, sort="seed", limit=3)
    assert ids(stored, sort="seed", limit=3) == first and len(reads) == 1  # a quiet tick: no sort again
    ids(stored, sort="seed", limit=3, offset=3)
    assert len(reads) == 2  # another page is its own
    ids(stored)
    assert len(reads) == 3  # the default order is an index walk: never kept
    stored.create_run("rs_f", stored.find_run("rs_a").prompt_id, "inference", "gpu1", {"seed": 99})
    assert ids(stored, sort="seed", limit=3)[0] == "rs_f" and len(reads) == 4  # a new run: sorted again
    stored.transition("rs_f", RunStatus.PENDING, status="cancelled")
    ids(stored, sort="seed", limit=3)
    assert len(reads) == 5  # a status changed


def test_a_json_column_other_than_params_sorts_the_same_way(stored):
    """The scores sort from `metrics` (once the store has it) through the same path as the parameters."""
    value = run_table.param_value("seed", numeric=True, column=Run.params)
    ordered = stored.run_ids(order=[value.is_null(), value.asc(), Run.id.asc()])
    assert ordered == ids(stored, sort="seed", ascending=True)
    assert ("blur_ssim" in run_table.SORT_KEYS) == ("metrics" in Run._meta.fields)
