"""The command line's grammar: `build_parser` (argparse), and the argument types it checks.

It imports only light modules (no config, database or SSH), so `--help` and `completion` start fast."""

from __future__ import annotations

import argparse
import difflib
import re
import shlex
from collections.abc import Callable
from typing import NoReturn

from cosmos_core import sweeps
from cosmos_core.cli.completion import SHELLS
from cosmos_core.lifecycle import STATUSES
from cosmos_core.sweep_view import DEFAULT_SCORE, SCORES
from cosmos_core.upstream.models import DEFAULT_MODEL, MODELS
from cosmos_core.upstream.params import STRENGTHS, ParamError, parse_weights

RUNS_SHOWN = 50  # `runs` without --limit or --all


class _Parser(argparse.ArgumentParser):
    """argparse, suggesting the nearest command or choice to a mistyped one (its subcommands' too)."""

    def error(self, message: str) -> NoReturn:
        super().error(suggest(message))


def suggest(message: str) -> str:
    """argparse's "invalid choice: 'rnus' (choose from 'runs', ...)" with "; did you mean 'runs'?" when
    one choice is close; any other message as it is."""
    found = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)$", message)
    if not found:
        return message
    choices = re.findall(r"'([^']*)'", found.group(2))
    near = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.6)
    if not near:
        return message
    return message[:found.end(1) + 1] + f"; did you mean '{near[0]}'?" + message[found.end(1) + 1:]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cosmos", description="Start and watch Cosmos-Transfer1 and Cosmos-Transfer2.5 runs on GPU hosts."
    )
    parser.add_argument("--config", help="TOML config (default: $COSMOS_CONFIG, else ./cosmos.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug log on stderr (SSH commands, probes, downloads); -vv adds paramiko's")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_hosts(sub)
    _add_prompts(sub)
    _add_starts(sub)
    _add_reads(sub)
    _add_marks(sub)
    _add_run_actions(sub)
    _add_housekeeping(sub)
    add_dashboard_arguments(sub.add_parser("dashboard", help="serve the page (as `python launch.py`)"))
    completion = sub.add_parser("completion", help="print the completion script: eval \"$(cosmos completion bash)\"")
    completion.add_argument("shell", choices=SHELLS)
    _add_config(sub)
    return parser


def _add_hosts(sub: argparse._SubParsersAction) -> None:
    """`hosts`: list, check, add, edit, remove."""
    hosts = sub.add_parser("hosts", help="configured hosts; 'hosts check [NAME]' checks every host, or NAME; "
                                         "'hosts add' adds one")
    hosts.add_argument("--json", action="store_true")
    hosts_sub = hosts.add_subparsers(dest="hosts_command")
    check = hosts_sub.add_parser("check", help="SSH login, docker, image, checkpoints, GPUs")
    check.add_argument("name", nargs="?", help="the host to check (default: every host)")
    check.add_argument("--json", action="store_true")
    add_host = hosts_sub.add_parser("add", help="connect, show the host's key, and once you trust it add the host "
                                                "to the config file and check it")
    add_host.add_argument("name", metavar="NAME", help="what runs call the host, e.g. gpu1")
    add_host.add_argument("address", metavar="USER@ADDRESS", type=_user_at, help="e.g. ubuntu@203.0.113.7")
    add_host.add_argument("--port", default="22")
    add_host.add_argument("--key-file", dest="key_file", default="", metavar="FILE",
                          help="private key to log in with (default ~/.ssh/id_ed25519)")
    add_host.add_argument("--known-hosts", dest="known_hosts", default="", metavar="FILE",
                          help="where trusted host keys are kept (default ~/.ssh/known_hosts)")
    add_host.add_argument("--fingerprint", metavar="SHA256:...",
                          help="trust the host's key only if it has this fingerprint, without asking "
                               "(needed when stdin is not a terminal)")
    _setup_arguments(add_host)
    add_host.add_argument("--json", action="store_true")
    edit_host = hosts_sub.add_parser("edit", help="change a host's image, checkout, models or GPUs in the config "
                                                  "file (its comments kept); '' puts one back to its default")
    edit_host.add_argument("name", metavar="NAME")
    _setup_arguments(edit_host)
    edit_host.add_argument("--num-gpus", dest="num_gpus", type=int, metavar="N", help="GPUs one run takes")
    hosts_sub.add_parser("remove", help="take a host out of the config file (its runs stay in the history)"
                         ).add_argument("name", metavar="NAME")


def _add_prompts(sub: argparse._SubParsersAction) -> None:
    """`prompt add|delete`, `prompts`."""
    prompt = sub.add_parser("prompt", help="'prompt add TEXT --video FILE' stores a prompt; 'prompt delete ID'")
    prompt_sub = prompt.add_subparsers(dest="prompt_command", required=True)
    add = prompt_sub.add_parser("add", help="store a prompt, print its id")
    add.add_argument("text")
    add.add_argument("--video", required=True)
    add.add_argument("--depth")
    add.add_argument("--seg")
    add.add_argument("--name")
    add.add_argument("--negative", default="")
    add.add_argument("--json", action="store_true")
    prompt_delete = prompt_sub.add_parser("delete", help="delete a prompt no run uses (--with-runs: its runs first)")
    prompt_delete.add_argument("prompt_id")
    prompt_delete.add_argument("--with-runs", action="store_true", dest="with_runs",
                               help="delete its runs too (all must have finished)")
    _add_yes(prompt_delete)

    prompts = sub.add_parser("prompts", help="list prompts")
    prompts.add_argument("--json", action="store_true")


def _add_starts(sub: argparse._SubParsersAction) -> None:
    """the commands that start runs: `run`, `rerun`, `sweep` (and `sweep show`), `upscale`, `enhance`."""
    run = sub.add_parser("run", help="start an inference run, print its id")
    run.add_argument("prompt_id")
    _add_run_options(run, DEFAULT_MODEL, "default: the model's own; see README")
    rerun = sub.add_parser("rerun", help="run a run again: the same inputs, prompt, model, host and parameters, "
                                         "except those given; print the new run's id")
    rerun.add_argument("run_id")
    _add_run_options(rerun, None, "default: the original run's")

    sweep = sub.add_parser("sweep", help="the cross product of parameter lists as runs under one sweep id; "
                                         "'sweep show SWEEP_ID' judges one",
                           usage="cosmos sweep PROMPT_ID... [options] | cosmos sweep show SWEEP_ID [--sort-by SCORE]")
    sweep.add_argument("prompt_ids", nargs="+", metavar="PROMPT_ID", help="or `show SWEEP_ID`: the sweep's runs "
                       "with the parameters that vary across them and their scores, best first, the best marked")
    sweep.add_argument("--sort-by", choices=SCORES, dest="sort_by",
                       help=f"sweep show: the score to sort by, higher first (default {DEFAULT_SCORE})")
    sweep.add_argument("--host")
    sweep.add_argument("--model", choices=list(MODELS), default=DEFAULT_MODEL)
    lists = sweep.add_argument_group("lists (each value once; default: the model's own value)")
    for swept in sweeps.SWEPT:
        lists.add_argument(swept.flag, type=_list(swept.parse), dest=swept.param, metavar="LIST",
                           help=f"e.g. {swept.example}")
    lists.add_argument("--weights", type=_weights, action="append", metavar="VIS,EDGE,DEPTH,SEG",
                       help="control weights VIS,EDGE,DEPTH,SEG; repeat the flag for several")
    _add_fixed_knobs(sweep.add_argument_group("the same for every run"))
    sweep.add_argument("--max-runs", type=int, default=sweeps.MAX_RUNS,
                       help=f"refuse a bigger sweep (default {sweeps.MAX_RUNS})")
    sweep.add_argument("--json", action="store_true")

    upscale = sub.add_parser("upscale", help="4K upscale of a completed inference run")
    upscale.add_argument("run_id")
    upscale.add_argument("--weight", type=float, default=0.5)
    upscale.add_argument("--host")
    upscale.add_argument("--json", action="store_true")

    enhance = sub.add_parser("enhance", help="prompt enhancement run")
    enhance.add_argument("prompt_id")
    enhance.add_argument("--host")
    enhance.add_argument("--json", action="store_true")


def _add_reads(sub: argparse._SubParsersAction) -> None:
    """`runs`, `show`, `metrics`, `sync`."""
    runs = sub.add_parser("runs", help="list runs (after a lazy sync)")
    runs.add_argument("--status", choices=STATUSES)
    runs.add_argument("--sweep", metavar="SWEEP_ID", help="only this sweep's runs, with its counts by status")
    runs.add_argument("--starred", action="store_true", help="only starred runs")
    runs.add_argument("--note", metavar="TEXT", help="only runs whose note contains TEXT")
    shown = runs.add_mutually_exclusive_group()
    shown.add_argument("--limit", type=_positive, default=RUNS_SHOWN, metavar="N",
                       help=f"the newest N runs (default {RUNS_SHOWN}); also with --json")
    shown.add_argument("--all", action="store_const", const=None, dest="limit", help="every run")
    runs.add_argument("--json", action="store_true")

    show = sub.add_parser("show", help="one run (after a lazy sync)")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")

    metrics = sub.add_parser("metrics", help="(re)compute a completed run's control-fidelity scores here "
                                              "(Blur SSIM, Canny-F1)")
    metrics.add_argument("run_id")
    metrics.add_argument("--json", action="store_true")

    sync = sub.add_parser("sync", help="sync now")
    sync.add_argument("--wait", action="store_true", help="until no run is active and no download is pending")
    sync.add_argument("--timeout", type=float, help="seconds --wait may take (default: no limit)")


def _add_marks(sub: argparse._SubParsersAction) -> None:
    """`star`, `unstar`, `note`."""
    for name, text in (("star", "star a run (`runs --starred` lists them)"), ("unstar", "take a run's star off")):
        sub.add_parser(name, help=text).add_argument("run_id")
    note = sub.add_parser("note", help="a short note on a run: one line, at most 200 characters ('' clears it)")
    note.add_argument("run_id")
    note.add_argument("text")


def _add_run_actions(sub: argparse._SubParsersAction) -> None:
    """what is done to one run: `retry`, `cancel`, `logs`, `delete`."""
    retry = sub.add_parser("retry", help="retry a failed download")
    retry.add_argument("run_id")

    cancel = sub.add_parser("cancel", help="stop a run's container")
    cancel.add_argument("run_id")

    logs = sub.add_parser("logs", help="a run's log")
    logs.add_argument("run_id")
    logs.add_argument("--tail", type=_positive, metavar="N", help="only the last N lines")

    delete = sub.add_parser("delete", help="delete a finished run: its local and remote directories, its record")
    delete.add_argument("run_id")
    _add_yes(delete)


def _add_housekeeping(sub: argparse._SubParsersAction) -> None:
    """`export`, `queue pause|resume|front`, `db migrate`."""
    export = sub.add_parser("export", help="every run with its parameters, from the database (no sync)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--status", choices=STATUSES)
    export.add_argument("--host")

    queue = sub.add_parser("queue", help="a host's GPU queue: 'queue pause|resume HOST', 'queue front RUN_ID'")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True)
    for action, text in (("pause", "hold the runs waiting for GPUs on HOST (running runs go on)"),
                         ("resume", "release the runs waiting for GPUs on HOST")):
        queue_sub.add_parser(action, help=text).add_argument("host")
    queue_sub.add_parser("front", help="move a queued run ahead of every other on its host").add_argument("run_id")

    db = sub.add_parser("db", help="'db migrate --to URL' copies the whole history into another, empty database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_migrate = db_sub.add_parser("migrate", help="copy every table from storage.database to URL")
    db_migrate.add_argument("--to", required=True, metavar="URL", help="sqlite:///PATH or postgresql://...")
    db_migrate.add_argument("--json", action="store_true")


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    """The dashboard's own options (`--config` is the caller's: global in the CLI), for `cosmos dashboard`
    and `python launch.py`."""
    parser.add_argument("--host", help="address to bind (default: ui.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: ui.port, 7860)")
    parser.add_argument("--insecure", action="store_true",
                        help="serve a non-loopback address without ui.auth (a proxy in front does the login)")


def _add_config(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="'config show' prints the effective config; 'config check [FILE]' validates")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="the config after defaults, as TOML, secrets masked")
    show.add_argument("--json", action="store_true")
    check = config_sub.add_parser("check", help="validate FILE (default: the one in use); no host or database touched")
    check.add_argument("file", nargs="?", metavar="FILE")


def _add_run_options(parser: argparse.ArgumentParser, model: str | None, defaults: str) -> None:
    """The options of `run`, for `run` and `rerun`: a knob not given is None (then `defaults`)."""
    parser.add_argument("--host", help="default: the least busy host serving the model" if model else defaults)
    parser.add_argument("--model", choices=list(MODELS), default=model, help=f"default: {model}" if model else defaults)
    tuned = parser.add_argument_group(f"parameters ({defaults})")
    tuned.add_argument("--steps", type=int, dest="num_steps")
    tuned.add_argument("--guidance", type=float)
    tuned.add_argument("--seed", type=int)
    tuned.add_argument("--weights", type=_weights, help="control weights VIS,EDGE,DEPTH,SEG")
    tuned.add_argument("--sigma-max", type=float, dest="sigma_max")
    tuned.add_argument("--fps", type=int)
    _add_fixed_knobs(tuned)
    parser.add_argument("--json", action="store_true")


def _add_fixed_knobs(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--blur-strength", choices=STRENGTHS, dest="blur_strength", help="vis control")
    group.add_argument("--canny-threshold", choices=STRENGTHS, dest="canny_threshold", help="edge control")
    group.add_argument("--distilled", action=argparse.BooleanOptionalAction, help="Transfer1's distilled edge model")
    group.add_argument("--upsample-prompt", action=argparse.BooleanOptionalAction, dest="upsample_prompt",
                       help="Transfer1 rewrites the prompt with its upsampler first")


def _list(parse: Callable[[str], list]) -> Callable[[str], list]:
    def parsed(text: str) -> list:
        try:
            return parse(text)
        except ParamError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parsed


def _weights(text: str) -> tuple[float, float, float, float]:
    try:
        return parse_weights(text)
    except ParamError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _setup_arguments(parser: argparse.ArgumentParser) -> None:
    """How a host runs Cosmos, as `hosts add` and `hosts edit` take it (left out: unchanged or the default)."""
    parser.add_argument("--image", help="the Docker image (default: the model's)")
    parser.add_argument("--remote-dir", dest="remote_dir", metavar="DIR",
                        help="the cosmos-transfer1 checkout on the host (default /home/USER/cosmos-transfer1)")
    parser.add_argument("--models", type=lambda text: [m.strip() for m in text.split(",") if m.strip()],
                        metavar="M,M", help=f"the models it serves: some of {', '.join(MODELS)}")
    parser.add_argument("--gpus", type=int, metavar="N", help="GPU slots its runs queue for (default: nvidia-smi's)")
    parser.add_argument("--run-args", dest="run_args", type=_shell_words, metavar="ARGS",
                        help="docker run's arguments, as a shell would split them: --run-args='--gpus all "
                             "--ipc=host' (default: the product's)")


def _shell_words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} in {text!r}") from None


def _user_at(text: str) -> tuple[str, str]:
    """USER@ADDRESS as (user, address)."""
    user, at, address = text.partition("@")
    if not at or not user or not address or "@" in address:
        raise argparse.ArgumentTypeError(f"expected USER@ADDRESS, e.g. ubuntu@203.0.113.7, got {text!r}")
    return user, address


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return number


def _add_yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask first (needed when stdin is not a terminal)")
    parser.add_argument("--json", action="store_true")
