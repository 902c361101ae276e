"""What a scoring compares, decided from plain facts (pure, imports nothing heavy).

Frames are aligned by index: output frame i was generated from input (control) frame i, so the first
min(input, output) frames are compared and the rest of the longer video is left out. Of those, at
most MAX_FRAMES are scored, evenly spaced (every `step`-th frame from the first): a 121-frame output
scores 31 frames (0, 4, ..., 120). Both videos are compared at the output's size (the model's working
resolution): the input is resized to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cosmos_core.words import count

MAX_FRAMES = 32  # frames scored per run at most; the cost budget is 5 s for a 121-frame 1280x704 output
MIN_SIDE = 28  # pixels: SSIM's 7x7 window on the frame blurred down by 4 (scores.BLUR_FACTOR)

SCORED_KINDS = ("inference",)  # scores compare an output with its input video; an upscale gets a thumbnail only
VIDEO_KINDS = ("inference", "upscale")  # runs whose output is a video: they get a thumbnail
CONTROLS = ("vis", "edge", "depth", "seg")
# The Cookbook's scores for the controls these scores do not cover, and why they are not computed here.
NOT_COMPUTED = {
    "depth": ("depth_rmse", "Depth RMSE needs a depth model run on the output (a neural network): not computed here"),
    "seg": ("seg_miou", "Seg mIoU needs a segmentation model run on the output (a neural network): not computed here"),
}


@dataclass(frozen=True)
class Plan:
    """Which frames to score and at what size."""

    indices: tuple[int, ...]  # frame indices scored, ascending
    aligned: int  # frames compared (the shorter video's length)
    input_frames: int
    output_frames: int
    size: tuple[int, int]  # (width, height) both are compared at

    @property
    def label(self) -> str:
        """How many frames the scores stand on, as the page and the command line say it."""
        if len(self.indices) == self.aligned:
            return f"all {count(self.aligned, 'frame')}"
        return f"{len(self.indices)} of {count(self.aligned, 'frame')} (1 in {self.step})"

    @property
    def step(self) -> int:
        return self.indices[1] - self.indices[0] if len(self.indices) > 1 else 1


class PlanError(ValueError):
    """The videos cannot be compared; the message is one line."""


def sample_indices(frames: int, max_frames: int = MAX_FRAMES) -> tuple[int, ...]:
    """Every `step`-th index from 0, with the smallest step that keeps at most `max_frames`."""
    if frames <= 0:
        return ()
    step = max(1, math.ceil(frames / max_frames))
    return tuple(range(0, frames, step))


def plan(input_frames: int, output_frames: int, output_size: tuple[int, int],
         max_frames: int = MAX_FRAMES) -> Plan:
    """The plan for an input and an output with these frame counts; PlanError when either is empty."""
    if output_frames <= 0:
        raise PlanError("the output video has no frames")
    if input_frames <= 0:
        raise PlanError("the input video has no frames")
    width, height = output_size
    if min(width, height) < MIN_SIDE:
        raise PlanError(f"the output video is {width}x{height}, too small to score (at least {MIN_SIDE}x{MIN_SIDE})")
    aligned = min(input_frames, output_frames)
    return Plan(sample_indices(aligned, max_frames), aligned, input_frames, output_frames, (width, height))


def not_computed(weights: Sequence[float] | None, given: Mapping[str, bool]) -> dict[str, str]:
    """The Cookbook's depth and segmentation scores that apply to this run but are not computed here:
    for each control given as a video (`given`: control -> whether a video was uploaded for it) or in
    use (weight above 0, then computed by the model from the input)."""
    weight = dict(zip(CONTROLS, weights or (), strict=False))
    return {score: reason for control, (score, reason) in NOT_COMPUTED.items()
            if given.get(control) or weight.get(control, 0) > 0}


def wants_scores(kind: str, status: str) -> bool:
    """Whether a run that ends so (once its output is verified) gets a thumbnail and, if an inference
    run, scores."""
    return kind in VIDEO_KINDS and status == "completed"
