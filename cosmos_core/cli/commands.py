"""The commands of the command line (`cli.py` parses, then calls `run`): each stands on the config,
the database and the hosts. Exit 0 ok, 1 failed (one line on stderr)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields, replace
from typing import Any

from peewee import PeeweeException

from cosmos_core import sweeps
from cosmos_core.api import STATUSES, CosmosAPI, CosmosError, InferenceParams, Refresh
from cosmos_core.cli import config_commands, judging
from cosmos_core.cli.host_commands import cmd_hosts
from cosmos_core.cli.metrics_command import cmd_metrics
from cosmos_core.cli.output import fail, out, out_table, warn_unreachable
from cosmos_core.cli.progress import progress_for
from cosmos_core.cli.serve import run_dashboard
from cosmos_core.cli.tables import prompts_table, runs_table, showing_line
from cosmos_core.config import ConfigError, load_config
from cosmos_core.export import to_csv
from cosmos_core.masking import mask_url
from cosmos_core.ssh.host import RemoteError
from cosmos_core.store import dbcopy
from cosmos_core.store.tables import SchemaError
from cosmos_core.words import count, size

POLL_SECONDS = 0.5  # sync --wait: pause between probes when the config allows faster


def run(args: argparse.Namespace) -> int:
    """Run the parsed command (any but `completion`)."""
    if args.command == "dashboard":
        return run_dashboard(args.config, args.host, args.port, args.insecure)
    if args.command == "config":  # the config alone: no database opened, no host contacted
        try:
            return config_commands.run(args)
        except ConfigError as exc:
            return fail(str(exc))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return fail(str(exc))
    waited = config.storage.busy_timeout_seconds
    try:
        api = CosmosAPI(config)
    except (ConfigError, SchemaError) as exc:
        return fail(str(exc))
    except (PeeweeException, OSError) as exc:
        return fail(_database_locked(exc, waited) or f"cannot open the database: {exc}")
    try:
        return COMMANDS[args.command](api, args)
    except (CosmosError, RemoteError) as exc:
        return fail(str(exc))
    except (PeeweeException, OSError) as exc:
        return fail(_database_locked(exc, waited) or f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        return fail("interrupted")
    finally:
        api.close()


def _database_locked(exc: Exception, waited: float) -> str | None:
    """SQLite's "database is locked" (after `waited` seconds), in words; None for any other error."""
    if not isinstance(exc, PeeweeException) or "locked" not in str(exc):
        return None
    return (f"the database is locked by another process (waited {waited:g} s), so this command "
            f"could not record its work; see `runs` for what was recorded, then try again")


def _out_run(api: CosmosAPI, args: argparse.Namespace, run: dict) -> None:
    """A run just started: its id, or with --json the run once its host says where it stands."""
    out(args, api.placed(run["id"]) if args.json else run, run["id"])


def cmd_prompt(api: CosmosAPI, args: argparse.Namespace) -> int:
    if args.prompt_command == "delete":
        return cmd_prompt_delete(api, args)
    prompt = api.add_prompt(args.text, args.video, name=args.name, negative_prompt=args.negative,
                            depth=args.depth, seg=args.seg)
    out(args, prompt, prompt["id"])
    return 0


def cmd_prompts(api: CosmosAPI, args: argparse.Namespace) -> int:
    prompts = api.list_prompts()
    out_table(args, prompts, prompts_table(prompts), "no prompts yet (add one with `prompt add`)")
    return 0


def cmd_run(api: CosmosAPI, args: argparse.Namespace) -> int:
    params = replace(api.default_params(args.model), **_given_params(args))
    with progress_for(args.json) as progress:
        run = api.start_inference(args.prompt_id, args.host, params, on_progress=progress.start, model_name=args.model)
    _out_run(api, args, run)
    return 0


def cmd_rerun(api: CosmosAPI, args: argparse.Namespace) -> int:
    with progress_for(args.json) as progress:
        run = api.rerun(args.run_id, _given_params(args), args.host, args.model, on_progress=progress.start)
    _out_run(api, args, run)
    return 0


def _given_params(args: argparse.Namespace) -> dict[str, Any]:
    """The run options given on the command line (InferenceParams field -> value)."""
    return {f.name: getattr(args, f.name) for f in fields(InferenceParams) if getattr(args, f.name) is not None}


def cmd_sweep(api: CosmosAPI, args: argparse.Namespace) -> int:
    if args.prompt_ids[0] == "show" or args.sort_by:
        return judging.cmd_sweep_show(api, args)
    names = [f.name for f in fields(InferenceParams)]
    swept = [*(s.param for s in sweeps.SWEPT), "weights"]
    grid = {name: getattr(args, name) for name in swept if getattr(args, name)}
    fixed = {name: getattr(args, name) for name in names if name not in grid and getattr(args, name, None)}
    base = replace(api.default_params(args.model), **fixed)
    with progress_for(args.json) as progress:
        progress.note(f"sweep of {sweeps.describe(len(args.prompt_ids), grid)}")
        started = api.start_sweep(args.prompt_ids, grid, base, args.host, args.model, args.max_runs,
                                  lambda i, total, run: progress.note(f"started {i}/{total}: {run['id']}"),
                                  progress.start)
    out(args, started, started["sweep_id"])
    return 0


def cmd_upscale(api: CosmosAPI, args: argparse.Namespace) -> int:
    with progress_for(args.json) as progress:
        run = api.start_upscale(args.run_id, args.weight, args.host, progress.start)
    _out_run(api, args, run)
    return 0


def cmd_enhance(api: CosmosAPI, args: argparse.Namespace) -> int:
    with progress_for(args.json) as progress:
        run = api.start_enhance(args.prompt_id, args.host, progress.start)
    _out_run(api, args, run)
    return 0


def cmd_runs(api: CosmosAPI, args: argparse.Namespace) -> int:
    runs = api.list_runs(args.status, sweep=args.sweep, limit=None if args.limit is None else args.limit + 1,
                         starred=args.starred, note=args.note)
    warn_unreachable(api)
    counts = api.sweep_summary(args.sweep) if args.sweep else {}
    if args.sweep and not counts:
        return fail(f"no sweep with id {args.sweep!r}")
    if args.limit is not None and len(runs) > args.limit:  # one more than asked for: say how many there are
        runs = runs[:args.limit]
        print(showing_line(args.limit, counts or api.count_by_status(), args.status), file=sys.stderr)
    out_table(args, runs, runs_table(runs), "no runs" + (f" with status {args.status}" if args.status else ""))
    if args.sweep and not args.json:
        print(f"sweep {args.sweep}: {count(sum(counts.values()), 'run')}: "
              + " · ".join(f"{s} {counts[s]}" for s in STATUSES if counts.get(s)))
    return 0


def cmd_show(api: CosmosAPI, args: argparse.Namespace) -> int:
    run = api.get_run(args.run_id)
    warn_unreachable(api)
    out(args, run, "\n".join(_fields(_with_prompt_text(api, run))))
    return 0


def _with_prompt_text(api: CosmosAPI, run: dict) -> dict:
    """The run, with its prompt's text beside the prompt's id (for reading, not in --json)."""
    try:
        text = api.get_prompt(run["prompt_id"])["text"]
    except CosmosError:
        return run
    shown: dict = {}
    for key, value in run.items():
        shown[key] = value
        if key == "prompt_id":
            shown["prompt"] = " ".join(text.split())
    return shown


def _fields(data: dict) -> list[str]:
    """`key  value` lines with every value in one column; a nested record (the download, the parameters)
    indented under its key; a list of numbers (weights, GPUs) on one line, of paths one per line."""
    width = max(len(key) + 2 * depth for key, depth in _keys(data)) + 2
    return _lines(data, "", width)


def _keys(data: dict, depth: int = 0) -> list[tuple[str, int]]:
    keys = [(key, depth) for key in data]
    return keys + [k for value in data.values() if isinstance(value, dict) for k in _keys(value, depth + 1)]


def _lines(data: dict, indent: str, width: int) -> list[str]:
    lines = []
    for key, value in data.items():
        label = f"{indent}{key}".ljust(width)
        if isinstance(value, dict):
            lines += [f"{indent}{key}"] + _lines(value, indent + "  ", width)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            lines += [f"{label if i == 0 else ' ' * width}{item}" for i, item in enumerate(value)]
        elif isinstance(value, list):
            lines.append(f"{label}{', '.join(map(str, value)) or '-'}")
        else:
            lines.append(f"{label}{'-' if value is None else value}")
    return lines


def cmd_sync(api: CosmosAPI, args: argparse.Namespace) -> int:
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    left = 0  # runs still active or downloading when --wait gave up
    with progress_for(False) as progress:
        reports = [api.sync(Refresh.FORCE, deadline=deadline, on_progress=progress.download)]
        while args.wait and (left := api.pending_work()):
            progress.waiting(left)
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(max(api.config.sync.min_interval_seconds, POLL_SECONDS))
            reports.append(api.sync(Refresh.AUTO, deadline=deadline, on_progress=progress.download))
        progress.waiting(left)
    if left:
        return fail(f"sync --wait: {count(left, 'run')} still active or downloading after {args.timeout:g} s")
    warn_unreachable(api)
    changes = sum(r.transitions for r in reports)
    downloads = sum(r.downloads_done for r in reports)
    print(f"synced: {count(changes, 'change')}, {count(downloads, 'download')} done, "
          f"{count(api.pending_work(), 'run')} still active or downloading", file=sys.stderr)
    return 0


def cmd_retry(api: CosmosAPI, args: argparse.Namespace) -> int:
    with progress_for(False, download_lines=False) as progress:
        run = api.retry_download(args.run_id, progress.download)
    print(f"{run['id']}: download {run['download']['status']}")
    return 0


def cmd_cancel(api: CosmosAPI, args: argparse.Namespace) -> int:
    run = api.cancel(args.run_id)
    print(f"{run['id']}: {run['status']}")
    return 0


def cmd_queue(api: CosmosAPI, args: argparse.Namespace) -> int:
    if args.queue_command == "front":
        run = api.move_to_front(args.run_id)
        print(f"{run['id']}: {run['status']}, #{run['queue_position'] or '?'} in the queue of {run['host']}")
        return 0
    api.pause_queue(args.host, paused=args.queue_command == "pause")
    print(f"queue of {args.host}: {'paused' if args.queue_command == 'pause' else 'running'}")
    return 0


def cmd_logs(api: CosmosAPI, args: argparse.Namespace) -> int:
    text = api.logs(args.run_id, args.tail)
    if text:
        sys.stdout.write(text)
        return 0
    run = api.get_run(args.run_id, Refresh.NONE)
    print(f"run {run['id']} has no log {_no_log_because(run)}", file=sys.stderr)
    return 0


def _no_log_because(run: dict) -> str:
    """Why a run has no log: it has not started yet, or it never did (and what its status says)."""
    if run["status"] in ("pending", "uploading", "queued"):
        return f"yet: it is {run['status']}"
    return f"({run['status']}{': ' + run['error'] if run['error'] else ''})"


def cmd_db(api: CosmosAPI, args: argparse.Namespace) -> int:
    """`db migrate --to URL`: storage.database's history into an empty database (see dbcopy)."""
    def progress(table: str, done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rcopying {table}: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr)

    try:
        counts = dbcopy.copy_history(api.config.storage.database, args.to, on_progress=progress)
    except dbcopy.CopyError as exc:
        return fail(str(exc))
    out(args, counts, f"copied {dbcopy.summary(counts)} to {mask_url(args.to)}")
    return 0


COMMANDS = {
    "hosts": cmd_hosts, "prompt": cmd_prompt, "prompts": cmd_prompts, "run": cmd_run, "rerun": cmd_rerun,
    "sweep": cmd_sweep, "upscale": cmd_upscale,
    "enhance": cmd_enhance, "runs": cmd_runs, "show": cmd_show, "sync": cmd_sync, "retry": cmd_retry,
    "cancel": cmd_cancel, "logs": cmd_logs, "queue": cmd_queue, "db": cmd_db,
}  # fmt: skip


# -- delete and export ----------------------------------------------------------


def _confirmed(args: argparse.Namespace, what: str, question: str) -> int | None:
    """None when the deletion may go ahead; else the exit code: 2 with no terminal to ask on and no
    --yes, 1 when the answer is not yes."""
    if args.yes:
        return None
    if not sys.stdin.isatty():
        print(f"error: not deleting {what} without asking: stdin is not a terminal, pass --yes", file=sys.stderr)
        return 2
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() in ("y", "yes"):
        return None
    return fail(f"{what} not deleted (not confirmed)")


def cmd_delete(api: CosmosAPI, args: argparse.Namespace) -> int:
    plan = api.run_deletion(args.run_id)
    remote = f" and its directory on host {plan['host']}" if plan["remote_dir"] else ""
    refused = _confirmed(args, f"run {plan['id']}",
                         f"Delete run {plan['id']}: its local files ({size(plan['local_bytes'])}){remote}?")
    if refused is not None:
        return refused
    done = api.delete_run(plan["id"])
    remote = f" and {done['remote_dir']} on host {done['host']}" if done["remote_dir"] else ""
    out(args, done, f"deleted run {done['id']}: its local files ({size(done['local_bytes'])}){remote}")
    return 0


def cmd_prompt_delete(api: CosmosAPI, args: argparse.Namespace) -> int:
    plan = api.prompt_deletion(args.prompt_id, args.with_runs)
    refused = _confirmed(args, f"prompt {plan['id']}", f"Delete prompt {plan['id']} ({plan['name']})"
                         f"{_prompt_parts(plan, ': ')}?")
    if refused is not None:
        return refused
    done = api.delete_prompt(plan["id"], args.with_runs)
    out(args, done, f"deleted prompt {done['id']}{_prompt_parts(done, ' with ')}")
    return 0


def _prompt_parts(plan: dict, lead: str) -> str:
    """What goes with a prompt, in words: its runs and the input files kept for it."""
    parts = []
    if plan["runs"]:
        runs = len(plan["runs"])
        parts.append(f"{count(runs, 'run')} (local files {size(plan['local_bytes'])}, "
                     f"directories on host {', '.join(plan['hosts'])})")
    if plan["files"]:
        parts.append(f"{count(len(plan['files']), 'input file')} kept for it")
    return lead + " and ".join(parts) if parts else ""


def cmd_export(api: CosmosAPI, args: argparse.Namespace) -> int:
    columns, rows = api.export_runs(args.status, args.host)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        sys.stdout.write(to_csv(columns, rows))
    return 0


COMMANDS.update(delete=cmd_delete, export=cmd_export, metrics=cmd_metrics, star=judging.cmd_star,
                unstar=judging.cmd_star, note=judging.cmd_note)
