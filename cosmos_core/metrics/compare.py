"""The scores of an output video against its input video in one pass (no database): what a scoring
turn does when nothing stops it, for tests, benchmarks and scripts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from cosmos_core.metrics.plan import MAX_FRAMES, Plan, plan
from cosmos_core.metrics.scores import FrameScores, Tally, frame_scores, resized
from cosmos_core.metrics.video import VideoError, facts, grey_frames


def plan_videos(source: Path, output: Path, max_frames: int = MAX_FRAMES) -> Plan:
    """What comparing `output` with `source` scores (reads the two headers)."""
    made, given = facts(output), facts(source)
    return plan(given.frames, made.frames, (made.width, made.height), max_frames)


@contextmanager
def scored_frames(source: Path, output: Path, the_plan: Plan, start: int = 0) -> Iterator[Iterator[FrameScores]]:
    """The scores of the plan's frames from its `start`-th on, one frame pair at a time (both videos
    decoded side by side, closed when the block ends); VideoError if either ends early."""
    left = the_plan.indices[start:]
    size = the_plan.size
    with closing(grey_frames(source, left)) as inputs, closing(grey_frames(output, left)) as outputs:
        yield (frame_scores(resized(control, size), resized(made, size))
               for (_, control), (_, made) in zip(inputs, outputs, strict=True))


def score_frames(source: Path, output: Path, the_plan: Plan, tally: Tally | None = None) -> Tally:
    """`tally` (default: none yet) plus the scores of the plan's frames from `tally.frames` on."""
    tally = tally or Tally()
    with scored_frames(source, output, the_plan, tally.frames) as frames:
        for scores in frames:
            tally = tally.add(scores)
    if tally.frames != len(the_plan.indices):
        raise VideoError(f"{output.name} or {source.name} ended before frame {the_plan.indices[-1]}")
    return tally


def score_videos(source: Path, output: Path, max_frames: int = MAX_FRAMES) -> dict[str, float | int]:
    """SPEC.md's `metrics` scores of `output` against `source`."""
    return score_frames(source, output, plan_videos(source, output, max_frames)).scores()
