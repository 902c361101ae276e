"""The scores of one pair of frames, and their totals over a video (pure computation: no I/O).

Both frames are 8-bit luma (grey) arrays of the same size. Parameters (docs/upstream.md says where
each comes from):

- Blur SSIM: the same blur on both frames, Cosmos-Transfer1's own kind for its vis control: a
  down-scale by BLUR_FACTOR with OpenCV's area average (a BLUR_FACTOR-wide box blur, kept at every
  BLUR_FACTOR-th pixel; the up-scale back that the vis control adds brings no detail, so SSIM is taken
  at the smaller size), then scikit-image's SSIM with its defaults (7x7 window, so 28x28 pixels of
  the frame; K1 0.01, K2 0.03; data range 255); the run's score is the mean over the frames scored
  of each frame's mean SSIM.
- Canny-F1: OpenCV's Canny (CANNY_LOW, CANNY_HIGH) on both; an edge pixel of the output that is an
  edge pixel of the input is a true positive, one that is not a false positive, an input edge pixel
  the output lacks a false negative; the counts add up over the frames scored, then precision,
  recall and F1 come from the totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BLUR_FACTOR = 4  # Cosmos-Transfer1's smallest down-up factor for its vis control ("low" blur strength)
CANNY_LOW = 100  # Cosmos-Transfer1's "medium" Canny thresholds, the edge control's default
CANNY_HIGH = 200
DATA_RANGE = 255


@dataclass(frozen=True)
class FrameScores:
    ssim: float  # mean SSIM of the blurred frames
    tp: int  # edge pixels in both
    fp: int  # edge pixels in the output only
    fn: int  # edge pixels in the input only


def library_errors() -> tuple[type[Exception], ...]:
    """What OpenCV and scikit-image raise on a frame they cannot take (checked only once one is raised)."""
    import cv2

    return (cv2.error, ValueError)


def resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`frame` at `size` (width, height): OpenCV's area average when it shrinks, bilinear when it grows."""
    import cv2

    height, width = frame.shape[:2]
    if (width, height) == size:
        return frame
    shrinks = size[0] * size[1] < width * height
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR)


def blurred(frame: np.ndarray) -> np.ndarray:
    """The frame down-scaled by BLUR_FACTOR with OpenCV's area average."""
    import cv2

    height, width = frame.shape[:2]
    size = (max(1, width // BLUR_FACTOR), max(1, height // BLUR_FACTOR))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def edges(frame: np.ndarray) -> np.ndarray:
    """Canny's edge map as booleans."""
    import cv2

    return cv2.Canny(frame, CANNY_LOW, CANNY_HIGH) > 0


def blur_ssim(control: np.ndarray, output: np.ndarray) -> float:
    import numpy as np
    from skimage.metrics import structural_similarity

    return float(structural_similarity(blurred(control).astype(np.float32), blurred(output).astype(np.float32),
                                       data_range=DATA_RANGE))


def frame_scores(control: np.ndarray, output: np.ndarray) -> FrameScores:
    """The scores of one output frame against its input (control) frame, both grey and the same size."""
    import numpy as np

    if control.shape != output.shape:
        raise ValueError(f"frames differ in size: {control.shape} and {output.shape}")
    want, got = edges(control), edges(output)
    return FrameScores(blur_ssim(control, output), int(np.count_nonzero(want & got)),
                       int(np.count_nonzero(got & ~want)), int(np.count_nonzero(want & ~got)))


def edge_scores(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """(precision, recall, F1) of the output's edges against the input's. No edge in either: all 1
    (they agree); a denominator of 0 otherwise gives 0 for that figure."""
    if tp + fp + fn == 0:
        return 1.0, 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True)
class Tally:
    """The running totals of a scoring: what is kept in the database between turns."""

    frames: int = 0
    ssim_sum: float = 0.0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, scores: FrameScores) -> Tally:
        return Tally(self.frames + 1, self.ssim_sum + scores.ssim, self.tp + scores.tp, self.fp + scores.fp,
                     self.fn + scores.fn)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, float | int]) -> Tally:
        return cls(int(data["frames"]), float(data["ssim_sum"]), int(data["tp"]), int(data["fp"]), int(data["fn"]))

    def scores(self) -> dict[str, float | int]:
        """The run's scores (rounded to 4 places): SPEC.md's `metrics` keys."""
        if self.frames == 0:
            raise ValueError("no frame was scored")
        precision, recall, f1 = edge_scores(self.tp, self.fp, self.fn)
        return {"blur_ssim": round(self.ssim_sum / self.frames, 4), "canny_f1": round(f1, 4),
                "canny_precision": round(precision, 4), "canny_recall": round(recall, 4), "frames": self.frames}
