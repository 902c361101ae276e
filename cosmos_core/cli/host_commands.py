"""`hosts`: list, check, add (trusting the host's key only on the user's word), edit and remove hosts."""

from __future__ import annotations

import argparse
import shlex
import sys

from cosmos_core.api import CHECK_ITEMS, CosmosAPI, agreeing, key_check_command
from cosmos_core.cli.output import fail, out, out_table
from cosmos_core.cli.tables import hosts_table

NO_HOSTS = "no hosts configured: add one with `cosmos hosts add NAME USER@ADDRESS` (or Add host in the page)"
SETUP_KEYS = ("image", "remote_dir", "models", "gpus", "run_args")  # how a host runs Cosmos: hosts add and edit


def cmd_hosts(api: CosmosAPI, args: argparse.Namespace) -> int:
    if args.hosts_command == "check":
        return cmd_hosts_check(api, args)
    if args.hosts_command == "add":
        return cmd_hosts_add(api, args)
    if args.hosts_command == "edit":
        changes = {key: getattr(args, key) for key in (*SETUP_KEYS, "num_gpus") if getattr(args, key) is not None}
        if not changes:
            return fail("hosts edit: say what to change (--image, --remote-dir, --models, --gpus, --num-gpus, "
                        "--run-args)")
        api.edit_host(args.name, changes)
        print(f"host {args.name}: " + ", ".join(f"{key} = {_said(key, value)}" for key, value in changes.items()))
        return 0
    if args.hosts_command == "remove":
        api.remove_host(args.name)
        print(f"host {args.name} removed from the config file (its runs stay in the history)")
        return 0
    hosts = api.list_hosts()
    out_table(args, hosts, hosts_table(hosts), NO_HOSTS)
    return 0


def cmd_hosts_check(api: CosmosAPI, args: argparse.Namespace) -> int:
    """One host's report (a JSON object), or, with no NAME, every host's (a JSON list, in the config's
    order); exit 1, saying which, when a host checked is not ready."""
    names = [args.name] if args.name else api.host_names()
    if not names:
        return fail(NO_HOSTS)
    reports = [api.check_host(name) for name in names]
    text = "\n\n".join(_check_text(report) for report in reports)
    out(args, reports[0] if args.name else reports, text)
    not_ready = [report["name"] for report in reports if not report["ok"]]
    if not_ready:
        many = len(not_ready)
        return fail(f"{agreeing(many, 'host')} {', '.join(not_ready)} {agreeing(many, 'is', 'are')} not ready")
    return 0


def _said(key: str, value: object) -> str:
    """An edited value as it is read back: run_args as a shell would take them; '(default)' once taken out."""
    if not value:
        return "(default)"
    return shlex.join(value) if key == "run_args" and isinstance(value, list) else str(value)


def _check_text(report: dict) -> str:
    lines = [f"{key:10} {report[key]['status']:6} {report[key]['detail']}" for key in CHECK_ITEMS if key in report]
    return f"host {report['name']}: {'ready' if report['ok'] else 'NOT READY'}\n" + "\n".join(lines)


def cmd_hosts_add(api: CosmosAPI, args: argparse.Namespace) -> int:
    """Add host from a terminal, in the page's two steps: the key the host presents, then (on a yes, or
    with --fingerprint naming that key) known_hosts and the config file are written and the host checked.
    Exit 0 once the host is added, whatever its check says (`hosts check` tells ready or not)."""
    user, address = args.address
    scanned = api.scan_host_key(args.name, address, args.port, user, args.key_file, args.known_hosts,
                                {key: getattr(args, key) for key in SETUP_KEYS})
    fingerprint = scanned["fingerprint"]
    if args.fingerprint is not None and args.fingerprint.strip() != fingerprint:
        return fail(f"{scanned['name']} presented the {scanned['key_type']} key {fingerprint}, not "
                     f"{args.fingerprint.strip()} (--fingerprint); nothing was written")
    if scanned["trust"] == "unknown" and args.fingerprint is None:
        refused = _trust_asked(scanned)
        if refused is not None:
            return refused
    added = api.add_host(scanned)
    report = api.check_host(added["name"])
    key = f" and its key to {added['known_hosts']}" if added["key_written"] else ""
    out(args, {"added": added, "check": report},
         f"added host {added['name']} to {added['config_file']}{key}\n{_check_text(report)}")
    return 0


def _trust_asked(scanned: dict) -> int | None:
    """None when the user trusts the key shown; else the exit code (2: no terminal to ask on)."""
    fingerprint, where = scanned["fingerprint"], f"{scanned['user']}@{scanned['hostname']}:{scanned['port']}"
    if not sys.stdin.isatty():
        print(f"error: {where} presented the {scanned['key_type']} key {fingerprint}, unknown to "
              f"{scanned['known_hosts']}; stdin is not a terminal to ask on: check the key, then pass "
              f"--fingerprint {fingerprint}", file=sys.stderr)
        return 2
    print(f"{where} presented the {scanned['key_type']} key {fingerprint}, unknown to {scanned['known_hosts']}.\n"
          f"On the host, `{key_check_command(scanned['key_type'])}` prints its own.\n"
          f"Trust this key and add host {scanned['name']} to {scanned['config_file']}? "
          f"[y/N, or paste the fingerprint you checked] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip()
    if answer.lower() in ("y", "yes") or answer == fingerprint:
        return None
    if answer.startswith("SHA256:"):
        return fail(f"{where} presented {fingerprint}, not the {answer} you pasted; nothing was written")
    return fail(f"host {scanned['name']} not added (key not trusted); nothing was written")
