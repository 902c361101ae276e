"""The comparison grid's captions and HTML (pure)."""

from app.compare import differing, grid_html
from tests.unit.app_fakes import make_run


def test_captions_name_only_the_parameters_that_differ():
    runs = [make_run(f"rs_{i}", params={"seed": seed, "weights": [0, w, 0, 0], "num_steps": 35})
            for i, (seed, w) in enumerate([(1, 0.3), (1, 0.5), (2, 0.3)])]
    assert differing(runs, {"ps_1": "robot"}) == ["seed 1 · weights 0/0.3/0/0", "seed 1 · weights 0/0.5/0/0",
                                                  "seed 2 · weights 0/0.3/0/0"]
    same = [make_run("rs_a", params={"seed": 1}), make_run("rs_b", params={"seed": 1})]
    assert differing(same, {}) == ["rs_a", "rs_b"]


def test_the_grid_has_one_control_bar_and_videos_without_their_own_controls():
    page = grid_html([("rs_1", "/out/run_rs_1/outputs/output.mp4", "seed <1>"),
                      ("rs_2", "/out/run rs_2/outputs/output.mp4", "seed 2")])
    assert page.count("class='compare-play'") == 1 and page.count("<video") == 2 and "controls" not in page
    assert "/gradio_api/file=/out/run%20rs_2/outputs/output.mp4" in page and "seed &lt;1&gt;" in page
    assert "No finished videos" in grid_html([])

