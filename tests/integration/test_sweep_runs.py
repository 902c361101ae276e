"""Sweeps through the real CLI on the stand-in host (issue 'A GPU queue…', point 2)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest

from cosmos_core.api import CosmosError, Refresh
from tests.integration.test_models import model_argv
from tests.integration.test_sync import settled, sync_until


def test_a_sweep_of_two_seeds_by_two_weights_makes_four_runs_with_those_parameters(workspace, sample_video):
    prompt = workspace.cli("prompt", "add", "a sweep", "--video", str(sample_video), check=True).stdout.strip()
    swept = workspace.cli("sweep", prompt, "--seeds", "1-2", "--weights", "0,0.3,0,0", "--weights", "0,0.5,0,0",
                          "--steps", "12", "--json")
    assert swept.returncode == 0, swept.stderr
    assert "sweep of 4 runs: 1 prompt × 2 seeds × 2 weight sets" in swept.stderr and "started 4/4" in swept.stderr
    result = json.loads(swept.stdout)
    sweep_id, runs = result["sweep_id"], result["runs"]
    assert sweep_id.startswith("sw_") and {r["sweep_id"] for r in runs} == {sweep_id}
    seen = set()
    for run in runs:
        argv = model_argv(workspace.wait_for_marker(run["id"]))
        seed = argv[argv.index("--seed") + 1]
        assert argv[argv.index("--num_steps") + 1] == "12"
        spec = json.loads((workspace.remote_run_dir(run["id"]) / "spec.json").read_text())
        seen.add((seed, spec["edge"]["control_weight"]))
    assert seen == {("1", 0.3), ("1", 0.5), ("2", 0.3), ("2", 0.5)}
    synced = workspace.cli("sync", "--wait", "--timeout", "60")
    assert synced.returncode == 0, synced.stderr
    listed = workspace.cli("runs", "--sweep", sweep_id)
    assert listed.returncode == 0 and listed.stdout.strip().endswith(f"sweep {sweep_id}: 4 runs: completed 4")
    assert len(workspace.cli_json("runs", "--sweep", sweep_id)) == 4


def test_a_sweep_over_the_cap_starts_nothing_and_says_how_to_raise_it(workspace, sample_video):
    prompt = workspace.cli("prompt", "add", "too many", "--video", str(sample_video), check=True).stdout.strip()
    refused = workspace.cli("sweep", prompt, "--seeds", "1-30")
    assert refused.returncode == 1 and "30 runs" in refused.stderr and "--max-runs" in refused.stderr
    assert workspace.cli_json("runs") == []
    bad = workspace.cli("sweep", prompt, "--seeds", "3-1")
    assert bad.returncode == 2 and "runs backwards" in bad.stderr
    missing = workspace.cli("runs", "--sweep", "sw_nope")
    assert missing.returncode == 1 and "no sweep with id 'sw_nope'" in missing.stderr


def test_a_sweep_whose_third_start_fails_names_its_sweep_and_the_runs_it_started(api, workspace, sample_video):
    """Injects: the host's checkout is moved away once two runs of a three-run sweep have started. The
    error names the sweep and how many of its runs started, and those stay findable and cancellable."""
    prompt = api.add_prompt("a sweep cut short [sleep=30]", sample_video)["id"]
    checkout = Path(workspace.host.remote_dir)
    moved = checkout.with_name(checkout.name + ".away")

    def after_start(i: int, total: int, run: dict) -> None:
        if i == 2:
            checkout.rename(moved)

    try:
        with pytest.raises(CosmosError) as failed:
            api.start_sweep([prompt], {"seed": [1, 2, 3]}, on_start=after_start)
    finally:
        if moved.exists():
            moved.rename(checkout)
    message = str(failed.value)
    sweep_id = re.search(r"\bsw_\w+", message)
    assert sweep_id and "2 of 3 runs started" in message and "remote_dir" in message, message
    listed = api.list_runs(sweep=sweep_id.group(0), refresh=Refresh.NONE)
    started = [r for r in listed if r["status"] != "failed"]
    assert {r["params"]["seed"] for r in started} == {1, 2} and len(listed) == 3  # the third failed, and says why
    for run in started:
        assert api.cancel(run["id"])["status"] == "cancelled"


def test_a_sweeps_runs_send_their_shared_input_to_the_host_once(api, workspace, sample_video, tmp_path):
    """Three runs of one prompt: the video crosses once, into the host's store of inputs by content, and
    each run's inputs/ links to it; every run completes (each sent its whole video before)."""
    video = tmp_path / "unique.mp4"  # content no other test sent: the host's store is shared
    video.write_bytes(sample_video.read_bytes() + secrets.token_bytes(16))
    prompt = api.add_prompt("one input, three runs", video)["id"]
    store = Path(workspace.host.remote_dir) / "cosmos_runs" / ".inputs"
    before = workspace.host.count_sftp_opens(f"{store}/", "WRITE")
    runs = api.start_sweep([prompt], {"seed": [1, 2, 3]})["runs"]
    assert workspace.host.count_sftp_opens(f"{store}/", "WRITE") - before == 1
    for run in runs:
        linked = workspace.remote_run_dir(run["id"]) / "inputs" / "video.mp4"
        assert linked.is_symlink() and linked.resolve().parent == store.resolve()
        assert linked.read_bytes() == video.read_bytes()
        assert workspace.host.count_sftp_opens(f"{run['id']}/inputs/", "WRITE") == 0
    for run in runs:
        done = sync_until(api, run["id"], settled, what="the run to complete")
        assert done["status"] == "completed", done
