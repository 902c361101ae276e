"""How a run's control-fidelity scores read on the page: plain text from the run's dict (pure).

The figures are those of `metrics` in the run's JSON (SPEC.md); the label says how many frames they
stand on when they were sampled."""

from __future__ import annotations

from collections.abc import Mapping

from cosmos_core.api import count

NOT_COMPUTED_TITLES = {"depth_rmse": "Depth RMSE", "seg_miou": "Seg mIoU"}


def scores_markdown(run: Mapping) -> str:
    """The details panel's line of scores ("" for a run that gets none)."""
    status = run.get("metrics_status") or "none"
    metrics = run.get("metrics") or {}
    if status == "pending":
        return "**Scores:** computing on this machine…"
    if status == "failed" or metrics.get("error"):
        return f"**Scores:** none: {metrics.get('error') or 'the scoring failed'}"
    if status != "done" or metrics.get("blur_ssim") is None:
        return ""
    line = (f"**Scores** ({metrics.get('label') or count(metrics.get('frames') or 0, 'frame')}): "
            f"Blur SSIM **{metrics['blur_ssim']:.3f}** · Canny-F1 **{metrics['canny_f1']:.3f}** "
            f"(precision {metrics['canny_precision']:.3f}, recall {metrics['canny_recall']:.3f})")
    skipped = [NOT_COMPUTED_TITLES.get(name, name) for name in metrics.get("not_computed") or {}]
    if skipped:
        line += f" · not computed: {', '.join(skipped)} (they need a neural network on the output)"
    return line


def scores_caption(run: Mapping) -> str:
    """The scores in a few words, for a Compare caption ("" when there are none)."""
    metrics = run.get("metrics") or {}
    if metrics.get("blur_ssim") is None or metrics.get("canny_f1") is None:
        return ""
    return f"Blur SSIM {metrics['blur_ssim']:.3f} · Canny-F1 {metrics['canny_f1']:.3f}"
