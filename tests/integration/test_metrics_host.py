"""A run on the real stand-in host gets its thumbnail and scores once its output is verified: through
the lazy sync of an ordinary query (the page's tick), and through `cosmos sync --wait`. The stand-in's
model writes the same clip as the test's input video, so both scores are 1."""

from __future__ import annotations

from pathlib import Path

from cosmos_core.api import CosmosAPI, Refresh
from tests.hostkit import wait_until


def scored(api: CosmosAPI, run_id: str, refresh: Refresh = Refresh.AUTO) -> dict:
    """Query the run (each query moves it on within the download budget) until its scoring ended."""
    return wait_until(lambda: (run := api.get_run(run_id, refresh))["metrics_status"] in ("done", "failed") and run,
                      60, f"the scores of run {run_id}")


def test_a_completed_run_gets_its_thumbnail_and_scores_from_the_lazy_sync(api, sample_video):
    run = api.start_inference(api.add_prompt("a quiet street [sleep=1]", sample_video)["id"])
    assert run["metrics"] is None and run["metrics_status"] == "none" and run["thumbnail"] is None
    final = scored(api, run["id"])
    assert final["status"] == "completed" and final["download"]["status"] == "done"
    metrics = final["metrics"]
    assert final["metrics_status"] == "done" and metrics["error"] is None, metrics
    assert (metrics["blur_ssim"], metrics["canny_f1"], metrics["canny_precision"], metrics["canny_recall"]) == (
        1.0, 1.0, 1.0, 1.0)
    assert metrics["frames"] == 25 and metrics["label"] == "25 of 50 frames (1 in 2)"
    thumb = Path(final["thumbnail"])
    assert thumb.parent == Path(final["output_path"]).parent and thumb.name == "thumb.jpg"
    assert thumb.read_bytes()[:2] == b"\xff\xd8"
    assert api.export_runs()[1][0]["blur_ssim"] == 1.0


def test_sync_wait_returns_with_the_scores_made(workspace, sample_video):
    prompt = workspace.cli_json("prompt", "add", "a harbour", "--video", str(sample_video))
    run = workspace.cli_json("run", prompt["id"])
    result = workspace.cli("sync", "--wait", "--timeout", "60")
    assert result.returncode == 0, result.stderr
    shown = workspace.cli_json("show", run["id"])
    assert shown["metrics_status"] == "done" and shown["metrics"]["canny_f1"] == 1.0
    assert Path(shown["thumbnail"]).is_file()
    exported = workspace.cli("export", check=True).stdout.splitlines()
    header, row = exported[0].split(","), exported[1].split(",")
    assert row[header.index("canny_f1")] == "1.0" and row[header.index("metrics_frames")] == "25"
