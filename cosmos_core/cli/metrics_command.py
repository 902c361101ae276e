"""`cosmos metrics RUN_ID [--json]`: (re)compute a completed run's control-fidelity scores here."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping

from cosmos_core.api import CosmosAPI
from cosmos_core.words import count


def cmd_metrics(api: CosmosAPI, args: argparse.Namespace) -> int:
    """Exit 0 with the scores; 1 with one line when the run cannot be scored or its videos cannot be
    read (the error is then stored with the run's metrics too)."""
    run = api.compute_metrics(args.run_id)
    metrics = run["metrics"] or {}
    if args.json:
        print(json.dumps(metrics, indent=2))
    elif not metrics.get("error"):
        print(scores_line(metrics))
    if metrics.get("error"):
        print(f"error: run {run['id']}: no scores: {metrics['error']}", file=sys.stderr)
        return 1
    return 0


def scores_line(metrics: Mapping) -> str:
    """The scores in one line, as `cosmos metrics` prints them."""
    line = (f"blur_ssim {metrics['blur_ssim']:.4f} · canny_f1 {metrics['canny_f1']:.4f} "
            f"(precision {metrics['canny_precision']:.4f}, recall {metrics['canny_recall']:.4f}) · "
            f"{metrics.get('label') or count(metrics.get('frames') or 0, 'frame')}")
    skipped = metrics.get("not_computed") or {}
    return line + "".join(f"\n{name}: {reason}" for name, reason in skipped.items())
