"""The New sweep form as plain data: its lists, and the count shown before anything starts."""

import pytest

from app.sweep_form import SweepForm
from cosmos_core.api import MAX_RUNS, CosmosError


def test_the_sweep_form_counts_its_runs_before_anything_starts():
    form = SweepForm(("ps_1",), "transfer1", "", {"seeds": "1-2"}, weights="0,0.3,0,0; 0,0.5,0,0", max_runs=20)
    assert form.grid() == {"seed": [1, 2], "weights": [(0.0, 0.3, 0.0, 0.0), (0.0, 0.5, 0.0, 0.0)]}
    assert form.preview() == "Starts 4 runs: 1 prompt × 2 seeds × 2 weight sets."
    assert SweepForm((), "transfer1", "").preview() == "Choose one or more prompts."
    assert SweepForm(("ps_1",), "transfer1", "", {"seeds": "9-1"}).preview().startswith("❌ seeds: range '9-1'")
    assert "more than --max-runs 3" in SweepForm(("ps_1", "ps_2"), "transfer1", "", {"seeds": "1-2"},
                                                 max_runs=3).preview()


def test_the_form_sweeps_every_list_the_cli_does_fps_too():
    values = {"prompts": ["ps_1"], "model": "transfer1", "host": "", "seeds": "", "steps": "20", "guidance": None,
              "sigma_max": "", "fps": "16,24", "weights": None, "max_runs": 20.0}
    form = SweepForm.of(values)
    assert form.grid() == {"num_steps": [20], "fps": [16, 24]}
    assert form.preview() == "Starts 2 runs: 1 prompt × 2 frame rates."
    assert SweepForm.of(values | {"max_runs": None}).preview().startswith("❌ the sweep makes 2 runs")


def test_a_bad_list_in_the_form_is_one_error_naming_it_and_its_value():
    with pytest.raises(CosmosError, match=r"^fps: range '24-16' runs backwards$"):
        SweepForm(("ps_1",), "transfer1", "", {"fps": "24-16"}).grid()
    assert SweepForm(("ps_1",), "transfer1", "", weights="0,1").preview() == \
        "❌ weights: weights must be 4 numbers VIS,EDGE,DEPTH,SEG, got '0,1'"
    assert SweepForm(("ps_1",), "transfer1", "").max_runs == MAX_RUNS == 20
