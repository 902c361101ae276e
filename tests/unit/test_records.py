"""A run as SPEC's JSON (cosmos_core/records.py, pure): the GPU list."""

from __future__ import annotations

import pytest

from cosmos_core.records import gpu_indices, run_to_dict
from cosmos_core.store.tables import Run


@pytest.mark.parametrize(("stored", "shown"), [
    (None, None), ("", None), ("0", [0]), ("0,1", [0, 1]), ("3, 1", [3, 1]),
    ("x", None), ("0,x", None), ("-1", None),  # a log line that is no GPU list: nothing shown
])  # fmt: skip
def test_the_gpus_a_run_holds_are_a_list_of_indices(stored, shown):
    assert gpu_indices(stored) == shown


def test_the_run_json_shows_gpus_as_integers():
    run = Run(id="rs_1", prompt="ps_1", kind="inference", host="gpu1", status="running", created_at=0.0,
              gpus="0,1")
    assert run_to_dict(run)["gpus"] == [0, 1]
