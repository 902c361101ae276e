"""Control-fidelity scores and thumbnails on real files: H.264 videos made by ffmpeg, decoded by PyAV,
scored into a real SQLite database, and `cosmos metrics` as a real process. No host is needed: the
run's output is in place as a verified download leaves it (its end to end on the stand-in host is
in test_metrics_host.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cosmos_core import scoring
from cosmos_core.config import SyncConfig
from cosmos_core.metrics import scores
from cosmos_core.metrics.compare import plan_videos, score_videos
from cosmos_core.metrics.video import THUMB_NAME
from cosmos_core.records import run_to_dict
from cosmos_core.store import metric_rows, tables
from cosmos_core.store.queries import RunStore
from cosmos_core.store.tables import Run
from tests.hostkit import wait_until
from tests.workspace import REPO

SIZE = "320x240"


def ffmpeg(dest: Path, source: str, *options: str) -> Path:
    """An H.264 mp4 from a lavfi source, or from a file with `-vf` options."""
    inputs = ["-f", "lavfi", "-i", source] if not Path(source).is_file() else ["-i", source]
    encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12"]
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *inputs, *options, *encode, str(dest)],
                   check=True, timeout=60)
    return dest


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An input of 60 frames full of edges, and outputs: itself, blurred, shifted, noise, shorter and
    bigger copies."""
    root = tmp_path_factory.mktemp("videos")
    source = ffmpeg(root / "input.mp4", f"testsrc2=size={SIZE}:rate=24", "-frames:v", "60")
    made = {"input": source, "same": Path(shutil.copy(source, root / "same.mp4"))}
    made["blurred"] = ffmpeg(root / "blurred.mp4", str(source), "-vf", "gblur=sigma=2")
    made["shifted"] = ffmpeg(root / "shifted.mp4", str(source), "-vf", "crop=iw-4:ih:4:0,pad=iw+4:ih:0:0")
    made["noise"] = ffmpeg(root / "noise.mp4", f"nullsrc=size={SIZE}:rate=24,geq=lum='random(1)*255':cb=128:cr=128",
                           "-frames:v", "60")
    made["short"] = ffmpeg(root / "short.mp4", str(source), "-frames:v", "40")
    made["bigger"] = ffmpeg(root / "bigger.mp4", str(source), "-vf", "scale=640:480")
    return made


def test_an_output_equal_to_its_input_scores_1_and_1(videos):
    assert score_videos(videos["input"], videos["same"]) == {
        "blur_ssim": 1.0, "canny_f1": 1.0, "canny_precision": 1.0, "canny_recall": 1.0, "frames": 30}


def test_noise_scores_low_and_blurred_or_shifted_copies_score_in_between(videos):
    got = {name: score_videos(videos["input"], videos[name]) for name in ("same", "blurred", "shifted", "noise")}
    for key in ("blur_ssim", "canny_f1"):
        assert got["same"][key] > got["blurred"][key] > got["noise"][key], (key, got)
        assert got["same"][key] > got["shifted"][key] > got["noise"][key], (key, got)
    assert got["noise"]["blur_ssim"] < 0.2 and got["noise"]["canny_f1"] < 0.2, got["noise"]
    assert got["blurred"]["blur_ssim"] > 0.9  # a blur that leaves the layout is still close in blur SSIM
    assert got["blurred"]["canny_recall"] < got["blurred"]["canny_precision"]  # blur loses edges


def _direct(source: Path, output: Path, indices: list[int], size: tuple[int, int]) -> dict:
    """The scores computed straight from PyAV, OpenCV and scikit-image, without the product's code."""
    import av
    import cv2
    from skimage.metrics import structural_similarity

    def grey(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        grows = frames[0].shape[0] < size[1]  # bilinear up, area average down (the documented rule)
        method = cv2.INTER_LINEAR if grows else cv2.INTER_AREA
        return [cv2.resize(frames[i], size, interpolation=method) if frames[i].shape[::-1] != size
                else frames[i] for i in indices]

    ssims, tp, fp, fn = [], 0, 0, 0
    quarter = (size[0] // 4, size[1] // 4)
    for a, b in zip(grey(source), grey(output), strict=True):
        ssims.append(structural_similarity(cv2.resize(a, quarter, interpolation=cv2.INTER_AREA),
                                           cv2.resize(b, quarter, interpolation=cv2.INTER_AREA), data_range=255))
        want, got = cv2.Canny(a, 100, 200) > 0, cv2.Canny(b, 100, 200) > 0
        tp, fp, fn = tp + int((want & got).sum()), fp + int((got & ~want).sum()), fn + int((want & ~got).sum())
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {"blur_ssim": float(np.mean(ssims)), "canny_f1": 2 * precision * recall / (precision + recall),
            "canny_precision": precision, "canny_recall": recall, "frames": len(indices)}


@pytest.mark.parametrize("name", ["blurred", "shifted", "short", "bigger"])
def test_the_scores_equal_a_direct_computation_on_the_same_frames(videos, name):
    source, output = videos["input"], videos[name]
    the_plan = plan_videos(source, output)
    got = score_videos(source, output)
    want = _direct(source, output, list(the_plan.indices), the_plan.size)
    assert got["frames"] == want["frames"]
    for key in ("blur_ssim", "canny_f1", "canny_precision", "canny_recall"):
        assert got[key] == pytest.approx(want[key], abs=6e-5), key  # stored to 4 places
    assert (scores.CANNY_LOW, scores.CANNY_HIGH, scores.BLUR_FACTOR) == (100, 200, 4)


def test_frames_align_by_index_and_the_input_is_compared_at_the_outputs_size(videos):
    short = plan_videos(videos["input"], videos["short"])
    assert (short.aligned, short.input_frames, short.output_frames) == (40, 60, 40)
    bigger = plan_videos(videos["input"], videos["bigger"])
    assert bigger.size == (640, 480) and bigger.indices == tuple(range(0, 60, 2))
    assert bigger.label == "30 of 60 frames (1 in 2)"


# -- the scoring of a run, in the database --------------------------------------------


@pytest.fixture
def store(tmp_path):
    db = tables.connect(f"sqlite:///{tmp_path}/cosmos.db")
    yield RunStore(tmp_path / "outputs", SyncConfig(min_interval_seconds=2, lost_after_seconds=120,
                                                    download_budget_seconds=3))
    db.close()


def verified_run(store: RunStore, source: Path, output: Path, *, depth: Path | None = None,
                 weights: list[float] | None = None, run_id: str = "rs_scored") -> Run:
    """A completed inference run whose output.mp4 is downloaded and checked, its scores due."""
    prompt = store.create_prompt("a street at night", source, depth=depth)
    store.create_run(run_id, prompt.id, "inference", "gpu1", {"weights": weights or [0.25, 0.25, 0.25, 0.25]})
    local = store.local_dir(run_id) / "outputs" / "output.mp4"
    local.parent.mkdir(parents=True)
    shutil.copy(output, local)
    store.update_run(run_id, status="completed", exit_code=0, completed_at=time.time(), download_status="done",
                     output_path=str(local.resolve()), files=json.dumps([str(local.resolve())]),
                     metrics_status="pending")
    return store.stored_run(run_id)


def test_a_verified_run_gets_its_thumbnail_and_scores_in_its_json(store, videos):
    run = verified_run(store, videos["input"], videos["shifted"])
    assert scoring.score_due(store, deadline=None) == 1
    data = run_to_dict(store.stored_run(run.id))
    assert data["metrics_status"] == "done"
    metrics = data["metrics"]
    assert {k: metrics[k] for k in ("blur_ssim", "canny_f1", "canny_precision", "canny_recall", "frames")} == \
        score_videos(videos["input"], videos["shifted"])
    assert metrics["label"] == "30 of 60 frames (1 in 2)" and metrics["of_frames"] == 60
    assert metrics["size"] == "320x240" and metrics["error"] is None
    assert set(metrics["not_computed"]) == {"depth_rmse", "seg_miou"}  # weights 0.25 each: depth and seg in use
    thumb = Path(data["thumbnail"])
    assert thumb == Path(data["output_path"]).with_name(THUMB_NAME) and thumb.read_bytes()[:2] == b"\xff\xd8"
    import cv2

    assert cv2.imread(str(thumb)).shape == (240, 320, 3)
    assert data["status"] == "completed" and data["download"]["status"] == "done"
    assert scoring.score_due(store, deadline=None) == 0  # done: never scored again by itself


def test_only_the_depth_and_seg_scores_of_controls_in_use_are_named_not_computed(store, videos, tmp_path):
    run = verified_run(store, videos["input"], videos["same"], depth=videos["blurred"], weights=[0.5, 0.5, 0, 0])
    scoring.score_due(store, deadline=None)
    metrics = json.loads(store.stored_run(run.id).metrics)
    assert list(metrics["not_computed"]) == ["depth_rmse"]  # its depth video was given; no seg
    assert metrics["blur_ssim"] == 1.0 and metrics["canny_f1"] == 1.0


def test_a_scoring_resumes_turn_by_turn_from_the_totals_in_the_database(store, videos):
    """Each turn whose deadline is already over scores one frame pair and stores the totals; the next
    turn (any process: it reads only the database) goes on from them, to the same scores."""
    run = verified_run(store, videos["input"], videos["blurred"])
    turns = 0
    while scoring.turn(run.id, deadline=time.monotonic()) is False:
        turns += 1
        state = json.loads(store.stored_run(run.id).metrics_state)
        assert state["tally"]["frames"] == turns  # one more frame pair each turn
        assert run.id in scoring._OPEN  # its videos stay open here for the next turn, decoded that far
        assert turns < 100
    assert turns == 29  # 30 frames: the last turn ends the scoring
    assert run.id not in scoring._OPEN
    stored = store.stored_run(run.id)
    assert stored.metrics_status == "done" and stored.metrics_state is None
    metrics = json.loads(stored.metrics)
    assert {k: metrics[k] for k in ("blur_ssim", "canny_f1", "canny_precision", "canny_recall", "frames")} == \
        score_videos(videos["input"], videos["blurred"])


def test_a_turn_after_another_process_stored_totals_goes_on_from_those(store, videos):
    """The videos this process left open stand for its own last totals: once the database holds
    others, the next turn decodes again from those."""
    run = verified_run(store, videos["input"], videos["shifted"])
    for _ in range(3):
        scoring.turn(run.id, deadline=time.monotonic())
    mine = store.stored_run(run.id).metrics_state
    assert json.loads(mine)["tally"]["frames"] == 3 and run.id in scoring._OPEN
    state = json.loads(mine)
    state["tally"] = {"frames": 1, "ssim_sum": 0.5, "tp": 0, "fp": 0, "fn": 0}  # as another process left them
    Run.update(metrics_state=json.dumps(state)).where(Run.id == run.id).execute()
    scoring.turn(run.id, deadline=time.monotonic())
    assert json.loads(store.stored_run(run.id).metrics_state)["tally"]["frames"] == 2  # from theirs, not mine
    scoring.score_due(store, deadline=None)
    assert json.loads(store.stored_run(run.id).metrics)["frames"] == 30 and run.id not in scoring._OPEN


def test_videos_left_open_for_a_run_no_longer_due_are_closed(store, videos):
    run = verified_run(store, videos["input"], videos["same"])
    scoring.turn(run.id, deadline=time.monotonic())
    assert run.id in scoring._OPEN
    Run.update(metrics_status="none", metrics_state=None).where(Run.id == run.id).execute()  # cosmos delete, say
    scoring.score_due(store, deadline=None)
    assert run.id not in scoring._OPEN


def test_a_turn_whose_totals_another_process_changed_stores_nothing(store, videos):
    run = verified_run(store, videos["input"], videos["same"])
    assert scoring.turn(run.id, deadline=time.monotonic()) is False
    mine = store.stored_run(run.id).metrics_state
    theirs = mine.replace('"frames": 1', '"frames": 0')
    Run.update(metrics_state=theirs).where(Run.id == run.id).execute()  # another process stored a turn
    assert not metric_rows.save(run.id, mine, metrics_state="{}")  # compare-and-set on the totals
    assert store.stored_run(run.id).metrics_state == theirs
    Run.update(metrics_status="done").where(Run.id == run.id).execute()  # and another ended it
    assert scoring.turn(run.id, deadline=None) is False and store.stored_run(run.id).metrics_state == theirs


def assert_failed_with(store: RunStore, run_id: str, error: str) -> None:
    """The scoring ended with this one-line error in the run's metrics, and nothing else changed."""
    stored = store.stored_run(run_id)
    assert stored.metrics is not None, f"{run_id} has no metrics"
    metrics = json.loads(stored.metrics)
    assert stored.metrics_status == "failed" and metrics["error"] == error and "\n" not in error
    assert metrics["blur_ssim"] is None and metrics["canny_f1"] is None and metrics["frames"] == 0
    assert (stored.status, stored.download_status, stored.exit_code) == ("completed", "done", 0)


def test_an_unreadable_output_fails_its_scoring_with_one_line_and_keeps_the_run_as_it_was(store, videos, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    run = verified_run(store, videos["input"], garbage)
    assert scoring.score_due(store, deadline=None) == 1
    assert_failed_with(store, run.id, "cannot read output.mp4: Invalid data found when processing input")
    assert store.stored_run(run.id).thumbnail is None


def test_an_output_with_no_frames_or_a_missing_input_fail_with_one_line(store, videos, tmp_path):
    empty = tmp_path / "empty.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={SIZE}",
                    "-frames:v", "0", "-c:v", "libx264", str(empty)], check=True, timeout=60)
    run = verified_run(store, videos["input"], empty, run_id="rs_empty")
    scoring.score_due(store, deadline=None)
    assert_failed_with(store, run.id, "output.mp4 has no video stream")
    source = Path(shutil.copy(videos["input"], tmp_path / "moved.mp4"))
    other = verified_run(store, source, videos["same"], run_id="rs_moved")
    source.unlink()
    scoring.score_due(store, deadline=None)
    assert_failed_with(store, other.id, "cannot read moved.mp4: No such file or directory")
    assert Path(store.stored_run(other.id).thumbnail).is_file()  # the output itself was fine


def test_a_run_whose_output_is_on_another_machine_is_left_to_it(store, videos):
    run = verified_run(store, videos["input"], videos["same"])
    Path(run.output_path).unlink()
    assert scoring.score_due(store, deadline=None) == 0
    assert store.stored_run(run.id).metrics_status == "pending"


# -- `cosmos metrics` --------------------------------------------------------------


def cosmos(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cosmos.toml"
    config.write_text(f'[storage]\ndatabase = "sqlite:///{tmp_path}/cosmos.db"\noutputs_dir = "{tmp_path}/outputs"\n')
    return subprocess.run([sys.executable, "-m", "cosmos_core", "--config", str(config), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
                          stdin=subprocess.DEVNULL)


def test_cosmos_metrics_computes_the_scores_again_and_prints_them(store, videos, tmp_path):
    run = verified_run(store, videos["input"], videos["shifted"])
    scoring.score_due(store, deadline=None)
    first = json.loads(store.stored_run(run.id).metrics)
    Path(store.stored_run(run.id).thumbnail).unlink()
    Run.update(metrics=None, metrics_status="none", thumbnail=None).where(Run.id == run.id).execute()
    result = cosmos(tmp_path, "metrics", run.id, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == first
    assert Path(store.stored_run(run.id).thumbnail).is_file()
    plain = cosmos(tmp_path, "metrics", run.id)
    assert plain.returncode == 0 and plain.stdout.startswith(f"blur_ssim {first['blur_ssim']:.4f} · canny_f1 ")
    assert "30 of 60 frames (1 in 2)" in plain.stdout and "depth_rmse: Depth RMSE needs a depth model" in plain.stdout
    shown = json.loads(cosmos(tmp_path, "show", run.id, "--json").stdout)
    assert shown["metrics"] == first and shown["metrics_status"] == "done"


def test_cosmos_metrics_says_in_one_line_why_a_run_has_no_scores(store, videos, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    run = verified_run(store, videos["input"], bad)
    result = cosmos(tmp_path, "metrics", run.id)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"error: run {run.id}: no scores: cannot read output.mp4: Invalid data found when " \
                            "processing input\n"
    store.update_run(run.id, download_status="failed")
    refused = cosmos(tmp_path, "metrics", run.id)
    assert refused.returncode == 1 and refused.stderr == (
        f"error: run {run.id} cannot be scored: its output is not downloaded yet (download failed)\n")
    missing = cosmos(tmp_path, "metrics", "rs_nope")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "rs_nope" in missing.stderr


def test_a_scoring_killed_midway_goes_on_from_its_stored_totals(store, tmp_path):
    """`cosmos sync` scores to the end; killed (SIGKILL) once it has stored some totals, the next turn
    in another process starts from them, and the scores come out as one uninterrupted pass gives."""
    long = ffmpeg(tmp_path / "long.mp4", "testsrc2=size=1280x704:rate=24", "-frames:v", "720", "-preset", "ultrafast")
    run = verified_run(store, long, long)
    config = tmp_path / "cosmos.toml"
    config.write_text(f'[storage]\ndatabase = "sqlite:///{tmp_path}/cosmos.db"\noutputs_dir = "{tmp_path}/outputs"\n')
    process = subprocess.Popen([sys.executable, "-m", "cosmos_core", "--config", str(config), "sync"], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def midway() -> int:
            state = store.stored_run(run.id).metrics_state
            frames = json.loads(state)["tally"]["frames"] if state else 0
            assert store.stored_run(run.id).metrics_status == "pending", "the scoring ended before the kill"
            return frames
        wait_until(midway, 120, "the scoring to store its totals", interval=0.005)
    finally:
        process.kill()
        process.wait()
    stored = json.loads(store.stored_run(run.id).metrics_state)["tally"]["frames"]
    assert 0 < stored < 32
    assert scoring.turn(run.id, deadline=time.monotonic()) is False  # one more frame pair, from the stored totals
    assert json.loads(store.stored_run(run.id).metrics_state)["tally"]["frames"] == stored + 1
    assert scoring.score_due(store, deadline=None) == 1
    metrics = json.loads(store.stored_run(run.id).metrics)
    assert {k: metrics[k] for k in ("blur_ssim", "canny_f1", "frames")} == {"blur_ssim": 1.0, "canny_f1": 1.0,
                                                                            "frames": 32}


def test_a_verified_upscale_gets_a_thumbnail_and_no_scores(store, videos):
    run = verified_run(store, videos["input"], videos["bigger"], run_id="rs_up")
    Run.update(kind="upscale").where(Run.id == run.id).execute()
    scoring.score_due(store, deadline=None)
    data = run_to_dict(store.stored_run(run.id))
    assert data["metrics_status"] == "none" and data["metrics"] is None
    import cv2

    assert cv2.imread(data["thumbnail"]).shape == (240, 320, 3)  # 320 wide, the 640x480 video's aspect
