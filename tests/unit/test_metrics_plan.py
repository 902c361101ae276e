"""The scores' pure parts: frame alignment and sampling, edge counts to F1, the running totals, which
scores apply, and the scores of frame pairs (numpy arrays, no file)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_core.metrics import scores
from cosmos_core.metrics.plan import MAX_FRAMES, PlanError, not_computed, plan, sample_indices, wants_scores
from cosmos_core.metrics.scores import FrameScores, Tally, edge_scores, frame_scores, resized
from cosmos_core.scoring import refusal


def test_a_121_frame_output_scores_every_4th_frame_31_in_all():
    p = plan(121, 121, (1280, 704))
    assert p.indices == tuple(range(0, 121, 4)) and len(p.indices) == 31
    assert p.aligned == 121 and p.size == (1280, 704) and p.step == 4
    assert p.label == "31 of 121 frames (1 in 4)"


def test_a_short_video_scores_every_frame():
    p = plan(20, 20, (320, 240))
    assert p.indices == tuple(range(20)) and p.label == "all 20 frames"


def test_frames_align_by_index_over_the_shorter_video():
    assert plan(200, 121, (64, 48)).aligned == 121
    assert plan(57, 121, (64, 48)).aligned == 57
    p = plan(57, 121, (64, 48))
    assert p.input_frames == 57 and p.output_frames == 121 and max(p.indices) < 57


@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=1, max_value=64))
def test_sampling_keeps_at_most_the_budget_evenly_from_the_first_frame(frames, budget):
    picked = sample_indices(frames, budget)
    assert len(picked) <= budget and len(set(picked)) == len(picked) and list(picked) == sorted(picked)
    assert all(0 <= i < frames for i in picked)
    if frames:
        assert picked[0] == 0 and len({b - a for a, b in zip(picked, picked[1:], strict=False)}) <= 1
        assert len(picked) == frames or len(picked) > budget // 2  # the smallest step that fits


@pytest.mark.parametrize(("inputs", "outputs", "size", "reason"), [
    (121, 0, (64, 48), "the output video has no frames"),
    (0, 121, (64, 48), "the input video has no frames"),
    (10, 10, (0, 48), "the output video is 0x48, too small to score (at least 28x28)"),
    (10, 10, (64, 27), "the output video is 64x27, too small to score (at least 28x28)"),
])  # fmt: skip
def test_empty_videos_are_a_one_line_plan_error(inputs, outputs, size, reason):
    with pytest.raises(PlanError, match=rf"^{__import__('re').escape(reason)}$"):
        plan(inputs, outputs, size)


def test_edge_counts_give_precision_recall_and_f1():
    assert edge_scores(45, 55, 73) == pytest.approx((0.45, 45 / 118, 2 * 0.45 * (45 / 118) / (0.45 + 45 / 118)))
    assert edge_scores(10, 0, 0) == (1.0, 1.0, 1.0)
    assert edge_scores(0, 0, 0) == (1.0, 1.0, 1.0)  # no edge in either: they agree
    assert edge_scores(0, 5, 0) == (0.0, 0.0, 0.0)  # edges only in the output
    assert edge_scores(0, 0, 5) == (0.0, 0.0, 0.0)  # the output lost every edge
    assert edge_scores(0, 3, 4) == (0.0, 0.0, 0.0)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_f1_is_the_harmonic_mean_of_precision_and_recall_and_all_lie_in_0_1(tp, fp, fn):
    precision, recall, f1 = edge_scores(tp, fp, fn)
    assert all(0.0 <= x <= 1.0 for x in (precision, recall, f1))
    if precision + recall:
        assert f1 == pytest.approx(2 * precision * recall / (precision + recall))
    assert min(precision, recall) <= f1 + 1e-12 and f1 <= max(precision, recall) + 1e-12


def test_the_tally_adds_frames_and_round_trips_through_json_and_gives_specs_keys():
    tally = Tally().add(FrameScores(0.9, 10, 2, 3)).add(FrameScores(0.7, 20, 8, 7))
    assert tally == Tally(2, pytest.approx(1.6), 30, 10, 10)
    assert Tally.from_dict(tally.to_dict()) == tally
    result = tally.scores()
    assert set(result) == {"blur_ssim", "canny_f1", "canny_precision", "canny_recall", "frames"}
    assert result["blur_ssim"] == 0.8 and result["frames"] == 2
    assert result["canny_precision"] == 0.75 and result["canny_recall"] == 0.75 and result["canny_f1"] == 0.75
    with pytest.raises(ValueError):
        Tally().scores()


def test_depth_and_segmentation_scores_are_named_as_not_computed_when_they_apply():
    assert not_computed([0.5, 0.5, 0, 0], {"depth": False, "seg": False}) == {}
    assert set(not_computed([0.5, 0.5, 0.3, 0], {})) == {"depth_rmse"}
    assert set(not_computed([0, 1, 0, 0], {"seg": True})) == {"seg_miou"}  # a video given, even at weight 0
    assert set(not_computed(None, {"depth": True, "seg": True})) == {"depth_rmse", "seg_miou"}
    assert "neural network" in not_computed(None, {"depth": True})["depth_rmse"]


@pytest.mark.parametrize(("kind", "status", "download", "here", "reason"), [
    ("inference", "completed", "done", True, None),
    ("upscale", "completed", "done", True, "it is a completed upscale run; only a completed inference run has scores"),
    ("inference", "failed", "done", True, "it is a failed inference run; only a completed inference run has scores"),
    ("inference", "completed", "pending", True, "its output is not downloaded yet (download pending)"),
    ("inference", "completed", "done", False, "its output is not on this machine (downloaded by another, or deleted)"),
])  # fmt: skip
def test_which_runs_cosmos_metrics_scores(kind, status, download, here, reason):
    assert refusal(kind, status, download, here) == reason


def test_completed_runs_with_a_video_get_a_thumbnail_and_scores_due():
    assert wants_scores("inference", "completed") and wants_scores("upscale", "completed")
    assert not wants_scores("enhance", "completed") and not wants_scores("inference", "failed")


# -- frame pairs -----------------------------------------------------------------


def _scene(width: int = 320, height: int = 240, seed: int = 3) -> np.ndarray:
    """A grey picture with edges at many scales: rectangles and discs on a gradient."""
    import cv2

    rng = np.random.default_rng(seed)
    picture = np.tile(np.linspace(40, 200, width, dtype=np.uint8), (height, 1))
    for _ in range(25):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        shade = int(rng.integers(0, 256))
        if rng.random() < 0.5:
            cv2.rectangle(picture, (x, y), (x + int(rng.integers(8, 60)), y + int(rng.integers(8, 60))), shade, -1)
        else:
            cv2.circle(picture, (x, y), int(rng.integers(4, 30)), shade, -1)
    return picture


def test_a_frame_against_itself_scores_1_and_1():
    frame = _scene()
    result = frame_scores(frame, frame.copy())
    assert result.ssim == pytest.approx(1.0) and result.fp == result.fn == 0 and result.tp > 1000


def test_noise_scores_low_and_blurred_or_shifted_copies_in_between_in_order():
    import cv2

    frame = _scene()
    noise = np.random.default_rng(7).integers(0, 256, frame.shape, dtype=np.uint8)
    shifted = np.roll(frame, 3, axis=1)
    soft = cv2.GaussianBlur(frame, (0, 0), 2.0)
    tally = {name: Tally().add(frame_scores(frame, other)).scores() for name, other in
             (("same", frame), ("soft", soft), ("shifted", shifted), ("noise", noise))}
    for key in ("blur_ssim", "canny_f1"):
        assert tally["same"][key] == 1.0
        assert tally["same"][key] > tally["soft"][key] > tally["noise"][key], key
        assert tally["same"][key] > tally["shifted"][key] > tally["noise"][key], key
    assert tally["noise"]["blur_ssim"] < 0.2 and tally["noise"]["canny_f1"] < 0.2
    assert tally["soft"]["canny_recall"] < tally["soft"]["canny_precision"]  # a blur loses edges, adds few


def test_the_scores_equal_a_direct_computation_with_the_same_libraries():
    import cv2
    from skimage.metrics import structural_similarity

    frame, other = _scene(seed=1), np.roll(_scene(seed=1), 2, axis=0)
    result = frame_scores(frame, other)
    quarter = (frame.shape[1] // 4, frame.shape[0] // 4)
    expected_ssim = structural_similarity(cv2.resize(frame, quarter, interpolation=cv2.INTER_AREA),
                                          cv2.resize(other, quarter, interpolation=cv2.INTER_AREA), data_range=255)
    assert result.ssim == pytest.approx(expected_ssim, abs=1e-5)  # float32 here, float64 there
    want = cv2.Canny(frame, scores.CANNY_LOW, scores.CANNY_HIGH) > 0
    got = cv2.Canny(other, scores.CANNY_LOW, scores.CANNY_HIGH) > 0
    assert (result.tp, result.fp, result.fn) == (int((want & got).sum()), int((got & ~want).sum()),
                                                 int((want & ~got).sum()))


def test_frames_of_different_sizes_are_refused_and_resized_frames_fit():
    import cv2

    frame = _scene(640, 480)
    with pytest.raises(ValueError, match="differ in size"):
        frame_scores(frame, _scene())
    small = resized(frame, (320, 240))
    assert small.shape == (240, 320)
    assert np.array_equal(small, cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA))
    assert resized(small, (640, 480)).shape == (480, 640) and resized(small, (320, 240)) is small


def test_the_default_budget_is_the_one_the_label_and_spec_show():
    assert MAX_FRAMES == 32 and len(sample_indices(121)) == 31

