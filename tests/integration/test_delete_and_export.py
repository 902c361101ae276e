"""Delete and export on the real stand-in host: issue 'A GPU queue...', point 4.

`delete` removes exactly one finished run's local and remote directories and its row, and
refuses anything else; `prompt delete` takes its runs only with --with-runs; `export` prints
every run with its parameters from the database alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from cosmos_core import words
from cosmos_core.api import CosmosAPI
from cosmos_core.export import RUN_COLUMNS
from tests.hostkit import free_port
from tests.integration.test_sync import running, settled, start, sync_until
from tests.workspace import REPO, Workspace


def local_dir(workspace: Workspace, run_id: str) -> Path:
    return workspace.root / "outputs" / f"run_{run_id}"


def snapshot(*roots: Path) -> dict[str, bytes]:
    """Every file under the roots, by path, with its bytes."""
    return {str(p): p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def finished(api: CosmosAPI, text: str, video: Path, **params) -> dict:
    """A completed inference run of a new prompt, its outputs downloaded."""
    prompt = api.add_prompt(text, video)
    run = api.start_inference(prompt["id"], params=replace(api.default_params(), **params))
    return sync_until(api, run["id"], settled)


def both_dirs(workspace: Workspace, run_id: str) -> tuple[Path, Path]:
    return local_dir(workspace, run_id), workspace.remote_run_dir(run_id)


def set_remote_dir(workspace: Workspace, run_id: str, path: str) -> None:
    with sqlite3.connect(workspace.root / "outputs" / "cosmos.db") as db:
        assert db.execute("UPDATE run SET remote_run_dir = ? WHERE id = ?", (path, run_id)).rowcount == 1


def unreachable_config(workspace: Workspace) -> Path:
    """The workspace's config (same database and outputs) with its host on a port where nothing listens."""
    config = workspace.root / "down.toml"
    config.write_text(re.sub(r"(?m)^port = \d+$", f"port = {free_port()}", workspace.config.read_text()))
    return config


def cli_on_a_terminal(workspace: Workspace, answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with a terminal (a pty) on its stdin, typing `answer` there."""
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "cosmos_core", "--config", str(workspace.config), *args], cwd=workspace.root,
            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        os.write(controller, answer.encode() + b"\n")
        stdout, stderr = process.communicate(timeout=120)
    finally:
        os.close(terminal)
        os.close(controller)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_delete_removes_exactly_one_runs_directories_and_row_and_its_upscale_keeps_its_own(
        api, workspace, sample_video):
    doomed = finished(api, "a red robot", sample_video, seed=11)
    other = finished(api, "a green robot", sample_video, seed=22)
    upscale = sync_until(api, api.start_upscale(doomed["id"], 0.5)["id"], settled)
    assert doomed["status"] == other["status"] == upscale["status"] == "completed"
    for run_id in (doomed["id"], other["id"], upscale["id"]):
        assert all(d.is_dir() for d in both_dirs(workspace, run_id))
    kept = snapshot(*both_dirs(workspace, other["id"]), *both_dirs(workspace, upscale["id"]))
    size = sum(p.stat().st_size for p in local_dir(workspace, doomed["id"]).rglob("*") if p.is_file())

    result = workspace.cli("delete", doomed["id"], "--yes", check=True)
    assert result.stdout == (f"deleted run {doomed['id']}: its local files ({words.size(size)}) and "
                             f"{workspace.remote_run_dir(doomed['id'])} on host gpu1\n")
    assert not any(d.exists() for d in both_dirs(workspace, doomed["id"]))
    assert snapshot(*both_dirs(workspace, other["id"]), *both_dirs(workspace, upscale["id"])) == kept
    assert sorted(r["id"] for r in api.list_runs()) == sorted([other["id"], upscale["id"]])
    gone = workspace.cli("show", doomed["id"])
    assert gone.returncode == 1 and gone.stderr == f"error: no run with id '{doomed['id']}'\n"
    child = workspace.cli_json("show", upscale["id"])
    assert child["parent_run_id"] == doomed["id"] and Path(child["output_path"]).is_file()
    # Deleted is deleted: again, it is not found.
    again = workspace.cli("delete", doomed["id"], "--yes")
    assert again.returncode == 1 and again.stderr == f"error: no run with id '{doomed['id']}'\n"
    deleted = workspace.cli_json("delete", other["id"], "--yes")
    assert deleted["id"] == other["id"] and deleted["remote_dir"] == str(workspace.remote_run_dir(other["id"]))
    assert deleted["local_bytes"] > 0 and deleted["status"] == "completed"


def test_a_running_run_is_refused_until_cancelled(api, workspace, sample_video):
    run = start(api, "long [sleep=60]", sample_video)
    result = workspace.cli("delete", run["id"], "--yes")  # as its host says now: holding the GPU, or about to
    assert result.returncode == 1 and re.fullmatch(f"error: run {run['id']} is (queued|running): cancel it first\n",
                                                   result.stderr), result.stderr
    sync_until(api, run["id"], running)
    result = workspace.cli("delete", run["id"], "--yes")
    assert result.returncode == 1 and result.stderr == f"error: run {run['id']} is running: cancel it first\n"
    assert all(d.is_dir() for d in both_dirs(workspace, run["id"]))
    workspace.cli("cancel", run["id"], check=True)
    sync_until(api, run["id"], settled)
    workspace.cli("delete", run["id"], "--yes", check=True)
    assert not any(d.exists() for d in both_dirs(workspace, run["id"]))


def test_a_recorded_directory_that_is_not_the_runs_own_is_refused_and_nothing_goes(api, workspace, sample_video):
    mine = finished(api, "a red robot", sample_video)
    other = finished(api, "a green robot", sample_video)
    before = snapshot(*both_dirs(workspace, mine["id"]), *both_dirs(workspace, other["id"]))
    others = snapshot(*both_dirs(workspace, other["id"]))
    own = str(workspace.remote_run_dir(mine["id"]))
    checkout = workspace.host.remote_dir
    for injected in (str(workspace.remote_run_dir(other["id"])), f"{own}/../{other['id']}", f"{checkout}/cosmos_runs",
                     checkout, f"/tmp/cosmos_runs/{mine['id']}", "/"):
        set_remote_dir(workspace, mine["id"], injected)
        result = workspace.cli("delete", mine["id"], "--yes")
        assert result.returncode == 1, injected
        assert result.stderr == (f"error: run {mine['id']}: its directory on host gpu1 is recorded as {injected!r}, "
                                 f"not {own!r}: refusing to delete it\n")
        assert snapshot(*both_dirs(workspace, mine["id"]), *both_dirs(workspace, other["id"])) == before
        assert workspace.cli_json("show", mine["id"])["id"] == mine["id"]
    set_remote_dir(workspace, mine["id"], own)
    workspace.cli("delete", mine["id"], "--yes", check=True)
    assert not any(d.exists() for d in both_dirs(workspace, mine["id"]))
    assert snapshot(*both_dirs(workspace, other["id"])) == others != {}


def test_without_a_terminal_it_needs_yes_and_on_a_terminal_it_asks(api, workspace, sample_video):
    run = finished(api, "a red robot", sample_video)
    before = snapshot(*both_dirs(workspace, run["id"]))
    size = sum(p.stat().st_size for p in local_dir(workspace, run["id"]).rglob("*") if p.is_file())
    result = workspace.cli("delete", run["id"])  # stdin is /dev/null
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"error: not deleting run {run['id']} without asking: stdin is not a terminal, pass --yes\n"
    assert snapshot(*both_dirs(workspace, run["id"])) == before

    question = f"Delete run {run['id']}: its local files ({words.size(size)}) and its directory on host gpu1? [y/N] "
    declined = cli_on_a_terminal(workspace, "n", "delete", run["id"])
    assert declined.returncode == 1 and declined.stdout == ""
    assert declined.stderr == f"{question}error: run {run['id']} not deleted (not confirmed)\n"
    assert snapshot(*both_dirs(workspace, run["id"])) == before
    accepted = cli_on_a_terminal(workspace, "y", "delete", run["id"])
    assert accepted.returncode == 0 and accepted.stderr == question
    assert accepted.stdout.startswith(f"deleted run {run['id']}: ")
    assert not any(d.exists() for d in both_dirs(workspace, run["id"]))


def test_an_unreachable_host_deletes_nothing_and_a_retry_later_does_it_all(api, workspace, sample_video):
    run = finished(api, "a red robot", sample_video)
    before = snapshot(*both_dirs(workspace, run["id"]))
    result = workspace.cli("--config", str(unreachable_config(workspace)), "delete", run["id"], "--yes")
    assert result.returncode == 1 and result.stderr.startswith(f"error: run {run['id']} not deleted (nothing was): ")
    assert len(result.stderr.splitlines()) == 1 and "gpu1" in result.stderr
    assert snapshot(*both_dirs(workspace, run["id"])) == before
    assert workspace.cli_json("show", run["id"])["status"] == "completed"
    workspace.cli("delete", run["id"], "--yes", check=True)
    assert not any(d.exists() for d in both_dirs(workspace, run["id"]))


def test_prompt_delete_is_refused_while_runs_use_it_and_with_runs_takes_them_and_its_kept_upload(
        api, workspace, sample_video):
    upload = workspace.root / "outputs" / "inputs" / "0123456789abcdef" / "clip.mp4"
    upload.parent.mkdir(parents=True)
    shutil.copyfile(sample_video, upload)  # as the dashboard keeps an upload
    prompt = api.add_prompt("a red robot", upload)
    runs = [api.start_inference(prompt["id"], params=replace(api.default_params(), seed=s)) for s in (1, 2)]
    runs = [sync_until(api, r["id"], settled) for r in runs]
    other = finished(api, "a green robot", sample_video)
    kept = snapshot(*both_dirs(workspace, other["id"]))

    refused = workspace.cli("prompt", "delete", prompt["id"], "--yes")
    assert refused.returncode == 1
    assert refused.stderr == f"error: 2 runs use prompt {prompt['id']}: delete them first or pass --with-runs\n"
    assert workspace.cli("prompt", "delete", prompt["id"], "--with-runs").returncode == 2
    assert all(d.is_dir() for r in runs for d in both_dirs(workspace, r["id"])) and upload.is_file()

    done = workspace.cli("prompt", "delete", prompt["id"], "--with-runs", "--yes", check=True)
    assert re.fullmatch(rf"deleted prompt {prompt['id']} with 2 runs \(local files \d+(\.\d)? [kMG]?B, "
                        rf"directories on host gpu1\) and 1 input file kept for it\n", done.stdout), done.stdout
    assert not any(d.exists() for r in runs for d in both_dirs(workspace, r["id"]))
    assert not upload.exists() and sample_video.is_file()  # the user's own file stays
    assert [p["id"] for p in workspace.cli_json("prompts")] == [other["prompt_id"]]
    assert [r["id"] for r in workspace.cli_json("runs")] == [other["id"]]
    assert snapshot(*both_dirs(workspace, other["id"])) == kept
    # A prompt no run uses goes at once; its file outside outputs_dir stays.
    workspace.cli("delete", other["id"], "--yes", check=True)
    workspace.cli("prompt", "delete", other["prompt_id"], "--yes", check=True)
    assert workspace.cli_json("prompts") == [] and sample_video.is_file()


def test_export_prints_every_run_with_its_parameters_from_the_database_alone(api, workspace, sample_video):
    first = finished(api, "a red robot, \"quoted\"\non two lines", sample_video, seed=11, num_steps=5)
    second = finished(api, "a green robot", sample_video, seed=22, num_steps=7, weights=(0.5, 0.25, 0, 0))
    upscale = sync_until(api, api.start_upscale(first["id"], 0.75)["id"], settled)
    sessions = workspace.host.count_exec_sessions()

    text = workspace.cli("export", check=True).stdout
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert len(text.splitlines()) == 1 + 3 + 2  # a header, three runs; the first and its upscale share a prompt
    # whose text has a newline (inside its quoted cell)
    assert set(rows) == {first["id"], second["id"], upscale["id"]}
    a, b, up = rows[first["id"]], rows[second["id"]], rows[upscale["id"]]
    assert (a["seed"], a["steps"], a["weight_vis"], a["control_weight"]) == ("11", "5", "0.25", "")
    assert (b["seed"], b["steps"], b["weight_vis"], b["weight_edge"], b["weight_depth"]) == ("22", "7", "0.5", "0.25",
                                                                                              "0")  # as stored
    assert (up["kind"], up["control_weight"], up["parent_run_id"], up["seed"]) == ("upscale", "0.75", first["id"], "")
    assert a["prompt_text"] == "a red robot, \"quoted\"\non two lines" and b["prompt_name"] == "a green robot"
    assert (a["status"], a["exit_code"], a["error"], a["host"], a["model"]) == ("completed", "0", "", "gpu1",
                                                                                "transfer1")
    assert a["output_path"] == first["output_path"] and a["created_at"] == first["created_at"]
    header = text.splitlines()[0].split(",")
    params = header[len(RUN_COLUMNS):]
    assert header[:len(RUN_COLUMNS)] == list(RUN_COLUMNS) and params == sorted(params)
    assert a["queued_at"] == first["queued_at"] and a["started_at"] == first["started_at"]

    listed = json.loads(workspace.cli("export", "--format", "json", check=True).stdout)
    assert [r["id"] for r in listed] == list(rows)  # the same runs in the same order
    for row in listed:
        assert list(row) == header
        assert {k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in row.items()} == rows[row["id"]]
    assert workspace.host.count_exec_sessions() == sessions  # no sync: the host was not asked anything

    filtered = workspace.cli("export", "--status", "completed", "--host", "gpu1", check=True).stdout
    assert filtered == text
    assert workspace.cli("export", "--host", "gpu9", check=True).stdout == ",".join(RUN_COLUMNS) + "\n"
    assert json.loads(workspace.cli("export", "--status", "failed", "--format", "json", check=True).stdout) == []
    down = workspace.cli("--config", str(unreachable_config(workspace)), "export", check=True)
    assert down.stdout == text and down.stderr == ""  # the host's state does not matter
