"""The commands of judging runs: `star`, `unstar`, `note`, and `sweep show SWEEP_ID [--sort-by SCORE]`
(issue 20.4). Each stands on the API alone; exit 0 ok, 1 failed (one line on stderr)."""

from __future__ import annotations

import argparse
import json
import sys

from cosmos_core.api import STATUSES, CosmosAPI
from cosmos_core.cli.tables import print_table
from cosmos_core.estimates import format_gpu_seconds
from cosmos_core.sweep_view import DEFAULT_SCORE, cell
from cosmos_core.words import count


def cmd_star(api: CosmosAPI, args: argparse.Namespace) -> int:
    """`star RUN_ID` / `unstar RUN_ID`."""
    run = api.mark(args.run_id, starred=args.command == "star")
    print(f"{run['id']}: {'starred' if run['starred'] else 'not starred'}")
    return 0


def cmd_note(api: CosmosAPI, args: argparse.Namespace) -> int:
    """`note RUN_ID TEXT`: one line, at most 200 characters; an empty TEXT clears the note."""
    run = api.mark(args.run_id, note=args.text)
    print(f"{run['id']}: note {json.dumps(run['note'], ensure_ascii=False)}" if run["note"]
          else f"{run['id']}: no note")
    return 0


def cmd_sweep_show(api: CosmosAPI, args: argparse.Namespace) -> int:
    """`sweep show SWEEP_ID [--sort-by SCORE]`: the sweep's runs best first, with the parameters that vary
    across them and their scores; the best marked; then its counts and total GPU time."""
    if len(args.prompt_ids) != 2 or args.prompt_ids[0] != "show":
        print("usage: cosmos sweep show SWEEP_ID [--sort-by SCORE] [--json]", file=sys.stderr)
        return 2
    view = api.sweep_view(args.prompt_ids[1], args.sort_by or DEFAULT_SCORE)
    if args.json:
        print(json.dumps(view, indent=2))
        return 0
    columns = view["columns"]
    titles = [c.upper().replace("GPU_SECONDS", "GPU TIME").replace("STARRED", "★") for c in columns]
    print_table((titles, [[cell(c, row[c]) for c in columns] for row in view["runs"]]))
    counts = view["counts"]
    print(f"sweep {view['sweep_id']}: {count(sum(counts.values()), 'run')}: "
          + " · ".join(f"{s} {counts[s]}" for s in STATUSES if counts.get(s))
          + f" · sorted by {view['sort_by']} · {format_gpu_seconds(view['gpu_seconds']) or '0s GPU'} in all")
    if not any(row["best"] for row in view["runs"]):
        print(f"no run of the sweep has a {view['sort_by']} score yet: the best is marked once one has",
              file=sys.stderr)
    return 0
