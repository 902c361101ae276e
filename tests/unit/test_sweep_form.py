"""The New sweep form as plain data: its lists, and the count shown before anything starts."""

from app.sweep_form import SweepForm


def test_the_sweep_form_counts_its_runs_before_anything_starts():
    form = SweepForm(("ps_1",), "transfer1", "", seeds="1-2", weights="0,0.3,0,0; 0,0.5,0,0", max_runs=20)
    assert form.grid() == {"seed": [1, 2], "weights": [(0.0, 0.3, 0.0, 0.0), (0.0, 0.5, 0.0, 0.0)]}
    assert form.preview() == "Starts 4 runs: 1 prompt × 2 seeds × 2 weight sets."
    assert SweepForm((), "transfer1", "").preview() == "Choose one or more prompts."
    assert SweepForm(("ps_1",), "transfer1", "", seeds="9-1").preview().startswith("❌ seeds: range '9-1'")
    assert "more than --max-runs 3" in SweepForm(("ps_1", "ps_2"), "transfer1", "", seeds="1-2", max_runs=3).preview()
