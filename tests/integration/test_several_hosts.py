"""Several hosts at once (issue 'Outgrowing one GPU box'): two stand-in Docker hosts, `gpu1` reached
directly and `gpu2` through a link in a network namespace that a test cuts (`ip link set down`:
packets stop, no socket closes). Both are the same stand-in machine (one podman, one checkout),
told apart by the address their SSH sessions come from.

What must hold: runs spread to the host with the fewest active runs; one sync probes every host
at once, so a host that hangs or is cut costs a refresh about one probe timeout, once, and then
nothing while it backs off; the other host's runs complete, download and cancel as usual; nothing
in the database moves backwards; the cut host's runs complete once it is back.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, CosmosError, Refresh
from cosmos_core.executors import docker_cli
from cosmos_core.executors.docker_probe import docker_budget
from cosmos_core.lifecycle import RunStatus
from tests.hostkit import EXEC_SESSION_MARK, CuttableLink, TestHost, wait_until
from tests.workspace import Workspace, write_config

PROBE_TIMEOUT = 3.0  # sync.probe_timeout_seconds in these tests
MARGIN = 3.0  # on top of it: a loaded 2-core machine, a process starting and reading the database

pytestmark = pytest.mark.slow


# -- set-up ------------------------------------------------------------------------------------


def write_two_hosts(root: Path, host: TestHost, link: CuttableLink) -> Path:
    """cosmos.toml with gpu1 (direct) and gpu2 (through `link`), no throttle, a short probe timeout."""
    hosts = host.host_config_toml("gpu1") + "\n" + host.host_config_toml("gpu2", link=link)
    return write_config(root, host, hosts_toml=hosts, lost_after_seconds=60, probe_timeout_seconds=PROBE_TIMEOUT)


@pytest.fixture
def link(gpu_host: TestHost) -> Iterator[CuttableLink]:
    with gpu_host.cuttable_link() as link:
        yield link


@pytest.fixture
def two(tmp_path: Path, gpu_host: TestHost, link: CuttableLink) -> Workspace:
    return Workspace(tmp_path, write_two_hosts(tmp_path, gpu_host, link), gpu_host)


@pytest.fixture
def api(two: Workspace, link: CuttableLink) -> Iterator[CosmosAPI]:
    api = two.api()
    try:
        yield api
    finally:
        link.release_docker()
        # Whatever a test left running (its runs sleep long) goes, on either "host".
        names = [docker_cli.container_name(r["id"]) for r in api.list_runs(refresh=Refresh.NONE)]
        api.close()
        if names:
            two.host.docker("rm", "-f", "-t", "0", *names, check=False)


# -- helpers -----------------------------------------------------------------------------------


def outer_address(link: CuttableLink) -> str:
    """The product's end of the veth pair: SSH sessions through the link come from it."""
    prefix, last = link.address.rsplit(".", 1)
    return f"{prefix}.{int(last) - 1}"


def exec_sessions(host: TestHost, source: str) -> int:
    """Exec channels opened so far on the stand-in's sshd log by clients at `source` (both sshds,
    direct and through the link, write to the same log)."""
    return sum(1 for line in host.sshd_log_text().splitlines()
               if EXEC_SESSION_MARK in line and f" from {source} port " in line)


def start(api: CosmosAPI, text: str, video: Path, host: str | None = None) -> dict:
    return api.start_inference(api.add_prompt(text, video)["id"], host=host)


def settled(run: dict) -> bool:
    terminal = run["status"] in ("completed", "failed", "cancelled")
    return terminal and run["download"]["status"] in ("done", "failed", "none")


def sync_until(api: CosmosAPI, run_id: str, done, timeout: float, what: str,
               refresh: Refresh = Refresh.FORCE) -> dict:
    return wait_until(lambda: (run := api.get_run(run_id, refresh)) and done(run) and run, timeout, what,
                      interval=0.1)


def wait_running(api: CosmosAPI, *runs: dict) -> None:
    """Until each run's script holds its GPUs (a run starts `queued`, waiting for them)."""
    for run in runs:
        sync_until(api, run["id"], lambda r: r["status"] == "running", 30, f"run {run['id']} to hold its GPUs")


def container_state(host: TestHost, run_id: str) -> str:
    result = host.docker("inspect", "--format", "{{.State.Status}}", docker_cli.container_name(run_id), check=False)
    return result.stdout.strip() if result.returncode == 0 else "gone"


def wait_exited(host: TestHost, run_id: str) -> None:
    wait_until(lambda: container_state(host, run_id) in ("exited", "stopped"), 60,
               f"the container of {run_id} to exit", interval=0.1)


_DOWNLOAD_RANK = {"none": 0, "pending": 1, "downloading": 1, "done": 2, "failed": 2}  # a turn may end mid-file


def snapshot(api: CosmosAPI) -> dict[str, tuple[str, str, int]]:
    """What must never move backwards: each run's status and download progress, as stored."""
    return {r["id"]: (r["status"], r["download"]["status"], r["download"]["bytes_done"])
            for r in api.list_runs(refresh=Refresh.NONE)}


def assert_forward(before: dict[str, tuple[str, str, int]], after: dict[str, tuple[str, str, int]]) -> None:
    """Every run of `before` is still there, its status the same or ahead (a terminal one the same),
    its download the same or further."""
    for run_id, (status, download, done) in before.items():
        now_status, now_download, now_done = after[run_id]
        was = RunStatus(status)
        if was.is_terminal():
            assert now_status == status, (run_id, before[run_id], after[run_id])
        else:
            assert now_status == status or was.can_move_to(RunStatus(now_status)), (run_id, status, now_status)
        assert _DOWNLOAD_RANK[now_download] >= _DOWNLOAD_RANK[download], (run_id, download, now_download)
        if now_download == download:
            assert now_done >= done, (run_id, done, now_done)


def timed(call) -> tuple[float, object]:
    began = time.monotonic()
    value = call()
    return time.monotonic() - began, value


# -- (a) placement -----------------------------------------------------------------------------


def test_runs_spread_to_the_host_with_fewest_active_runs_and_a_named_host_is_honoured(api, two, link,
                                                                                     sample_video):
    """Both hosts checked (`hosts check`: their last contact went well). With no host named, a run
    goes to the host with the fewest active runs (config order breaks a tie): the first to gpu1,
    the second to gpu2. A named host is honoured even where the automatic choice would differ.
    Each run's container is started over its own host's SSH (gpu2's through the link), and one
    sync sees all four running on both hosts."""
    for name in ("gpu1", "gpu2"):
        assert api.check_host(name)["ok"], name
    direct, through_link = "127.0.0.1", outer_address(link)
    prompt = api.add_prompt("spread [sleep=60]", sample_video)
    placed = []
    # The third is named: the automatic choice then (one active run each) would be gpu1.
    for named, expected in ((None, "gpu1"), (None, "gpu2"), ("gpu2", "gpu2"), (None, "gpu1")):
        if named is None:
            assert api.pick_host() == expected, (expected, api.repo.active_runs_by_host())
        sessions = exec_sessions(two.host, direct), exec_sessions(two.host, through_link)
        run = api.start_inference(prompt["id"], host=named)
        assert run["host"] == expected and run["status"] == "queued", (named, run)
        after = exec_sessions(two.host, direct), exec_sessions(two.host, through_link)
        started_over = {"gpu1": after[0] > sessions[0], "gpu2": after[1] > sessions[1]}
        assert started_over == {h: h == expected for h in ("gpu1", "gpu2")}, (expected, sessions, after)
        placed.append(run["id"])
    report = api.sync(Refresh.FORCE)
    assert sorted(report.probed) == ["gpu1", "gpu2"] and not report.unreachable
    wait_running(api, *({"id": r} for r in placed))
    runs = {r["id"]: r for r in api.list_runs(refresh=Refresh.NONE)}
    assert [runs[r]["host"] for r in placed] == ["gpu1", "gpu2", "gpu2", "gpu1"]
    assert all(runs[r]["status"] == "running" for r in placed)
    assert all(container_state(two.host, r) == "running" for r in placed)
    assert api.repo.active_runs_by_host() == {"gpu1": 2, "gpu2": 2}
    with pytest.raises(CosmosError, match="unknown host 'gpu3'"):
        api.start_inference(prompt["id"], host="gpu3")


def test_a_newly_configured_host_gets_runs_without_being_named(api, two, sample_video):
    """A fresh workspace, nothing contacted yet: the first run goes to gpu1 (config order), the
    second to gpu2, which has fewer active runs, and the third to gpu1 again."""
    prompt = api.add_prompt("spread, fresh [sleep=60]", sample_video)
    hosts = [api.start_inference(prompt["id"])["host"] for _ in range(3)]
    assert hosts == ["gpu1", "gpu2", "gpu1"], hosts


# -- (b) one host cut mid-run ------------------------------------------------------------------


def test_a_host_cut_mid_run_costs_one_probe_timeout_then_nothing_and_the_other_hosts_runs_complete(
    api, two, link, sample_video
):
    """Injects: gpu2's link goes down while runs are active on each host (one on gpu1 outlasts the
    test, so every refresh asks gpu1 something). The first refresh after the cut takes about the
    probe timeout (not the 120 s command timeout); later refreshes, with gpu2 backing off, take
    about what a refresh took with both hosts up (measured first, in this test), except for the
    few that retry gpu2; gpu1's run completes and its output downloads meanwhile; the API and
    `runs` name gpu2 (only) as unreachable; nothing moves backwards, and gpu2's run stays running
    in the database. Once the link is up, a forced sync completes and downloads gpu2's run too."""
    r1 = start(api, "on gpu1 through the cut [sleep=10]", sample_video, "gpu1")
    start(api, "keeps gpu1 probed [sleep=120]", sample_video, "gpu1")  # every refresh below asks gpu1
    r2 = start(api, "on gpu2 when it is cut [sleep=10]", sample_video, "gpu2")
    wait_running(api, r1, r2)
    baseline = []
    for _ in range(5):
        seconds, _ = timed(api.list_runs)
        assert not api.unreachable, api.unreachable
        baseline.append(seconds)
    healthy = statistics.median(baseline)
    before = snapshot(api)
    assert {before[r1["id"]][0], before[r2["id"]][0]} == {"running"}
    assert container_state(two.host, r1["id"]) == container_state(two.host, r2["id"]) == "running"

    link.down()
    first, _ = timed(api.list_runs)
    assert set(api.unreachable) == {"gpu2"}, api.unreachable
    assert "gpu2" in api.unreachable["gpu2"] and "\n" not in api.unreachable["gpu2"]
    assert first < healthy + PROBE_TIMEOUT + MARGIN, (first, healthy)
    state = api.repo.host_state("gpu2")
    assert state.failures == 1 and state.last_error and state.retry_at > state.last_probe_at
    assert_forward(before, after := snapshot(api))
    before = after

    # Refresh as a dashboard would, until gpu1's run is done and gpu2 has been retried in its back-off.
    later: list[float] = []
    cut_at = time.monotonic()
    deadline = cut_at + 60
    while True:
        seconds, _ = timed(api.list_runs)
        later.append(seconds)
        assert set(api.unreachable) == {"gpu2"}, api.unreachable
        assert api.last_sync.probed == ["gpu1"], api.last_sync  # gpu1 answered every refresh
        assert_forward(before, after := snapshot(api))
        before = after
        done = settled(api.get_run(r1["id"], Refresh.NONE))
        if done and time.monotonic() - cut_at > 6 and len(later) >= 10:
            break
        assert time.monotonic() < deadline, "gpu1's run did not complete while gpu2 was cut"
    retries = api.repo.host_state("gpu2").failures - 1
    slow = [s for s in later if s > max(PROBE_TIMEOUT * 0.8, 3 * healthy + 0.5)]
    print(f"\nrefresh with both hosts up: median {healthy:.3f} s; first after the cut {first:.2f} s; "
          f"{len(later)} later refreshes: median {statistics.median(later):.3f} s, max {max(later):.2f} s, "
          f"{retries} retried gpu2, {len(slow)} took near the probe timeout")
    assert statistics.median(later) < 3 * healthy + 0.5, (later, healthy)
    assert max(later) < healthy + PROBE_TIMEOUT + MARGIN
    assert 1 <= retries < len(later) / 2  # gpu2 was retried, but backing off: in few of the refreshes
    assert len(slow) <= retries  # only a refresh that retried gpu2 waited (about the probe timeout) for it

    done = api.get_run(r1["id"], Refresh.NONE)
    assert done["status"] == "completed" and done["download"]["status"] == "done"
    remote = two.remote_run_dir(r1["id"]) / "outputs" / "output.mp4"
    assert Path(done["output_path"]).read_bytes() == remote.read_bytes()
    assert api.get_run(r2["id"], Refresh.NONE)["status"] == "running"

    listed = two.cli("runs", "--json")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: host gpu2 unreachable, showing stored state: "), lines
    assert_forward(before, {r["id"]: (r["status"], r["download"]["status"], r["download"]["bytes_done"])
                            for r in json.loads(listed.stdout)})

    link.up()
    back = sync_until(api, r2["id"], settled, 60, "gpu2's run to complete once the link is up")
    assert back["status"] == "completed" and back["download"]["status"] == "done"
    remote = two.remote_run_dir(r2["id"]) / "outputs" / "output.mp4"
    assert Path(back["output_path"]).read_bytes() == remote.read_bytes()
    assert not api.unreachable and api.repo.host_state("gpu2").last_error is None
    assert_forward(before, snapshot(api))


# -- (c) the hosts are probed at once ------------------------------------------------------------


def test_one_sync_probes_both_hosts_at_once_so_a_hung_docker_costs_one_docker_budget(api, two, link, sample_video):
    """Injects: gpu2's docker hangs (every docker command through the link waits at a gate) while
    gpu1's run has just finished. One forced sync returns within about one probe timeout, with gpu2
    answering that its docker is slow (its probe's docker budget ran out: its run unknown, unchanged;
    the host not unreachable) and gpu1's run completed and downloaded by that same sync; the two
    probes overlapped in time (each probe's start and end are recorded around the checker's call).
    gpu2's run was started first, so a sync that probed one host after the other would have waited
    for gpu2 first."""
    r2 = start(api, "on gpu2, hung [sleep=60]", sample_video, "gpu2")
    r1 = start(api, "on gpu1, quick", sample_video, "gpu1")
    two.wait_for_marker(r1["id"])
    wait_exited(two.host, r1["id"])
    assert api.get_run(r1["id"], Refresh.NONE)["status"] == "queued"  # nothing has looked since

    checker = api.repo.syncer.checker
    spans: dict[str, tuple[float, float]] = {}
    probe = checker.probe

    def timed_probe(host, targets, cleanup=()):
        began = time.monotonic()
        try:
            return probe(host, targets, cleanup)
        finally:
            spans[host] = (began, time.monotonic())

    checker.probe = timed_probe  # instance attribute: the sync's thread pool calls this one
    link.hold_docker()
    try:
        seconds, report = timed(lambda: api.sync(Refresh.FORCE))
    finally:
        link.release_docker()
        del checker.probe
    print(f"\nsync with gpu2's docker hung: {seconds:.2f} s; probes: "
          + ", ".join(f"{h} {end - began:.2f} s" for h, (began, end) in sorted(spans.items())))
    assert seconds < PROBE_TIMEOUT + MARGIN
    assert sorted(report.probed) == ["gpu1", "gpu2"] and not report.unreachable, report
    assert set(report.slow) == {"gpu2"} and "docker is slow" in report.slow["gpu2"], report
    (g1_start, g1_end), (g2_start, g2_end) = spans["gpu1"], spans["gpu2"]
    assert g2_start < g1_end and g1_start < g2_end, spans  # the two probes overlapped
    assert g2_end - g2_start >= docker_budget(PROBE_TIMEOUT) * 0.9  # gpu2's waited out its docker budget
    assert report.transitions >= 1 and report.downloads_done == 1
    done = api.get_run(r1["id"], Refresh.NONE)
    assert done["status"] == "completed" and done["download"]["status"] == "done"
    assert api.get_run(r2["id"], Refresh.NONE)["status"] == "queued"  # gpu2's docker has not answered yet

    released = api.sync(Refresh.FORCE)
    assert sorted(released.probed) == ["gpu1", "gpu2"] and not released.unreachable, released
    assert api.get_run(r2["id"], Refresh.NONE)["status"] == "running"


# -- (d) cancel while the other host is cut ---------------------------------------------------


def test_cancel_on_gpu1_is_prompt_while_gpu2_is_cut(api, two, link, sample_video):
    """Injects: gpu2's link goes down. Cancelling a run on gpu1 takes about what it took with both
    hosts up (a baseline cancelled first), its container stops; new runs avoid the unreachable gpu2
    even though it has fewer active runs. Cancelling gpu2's run fails within about the connect
    timeout saying its job could not be stopped, the run is cancelled all the same, and the first
    forced sync after the link is back removes its container."""
    baseline_run = start(api, "baseline cancel [sleep=60]", sample_video, "gpu1")
    r1 = start(api, "cancelled while gpu2 is cut [sleep=60]", sample_video, "gpu1")
    other = start(api, "keeps gpu1 busy [sleep=60]", sample_video, "gpu1")
    r2 = start(api, "on gpu2 [sleep=60]", sample_video, "gpu2")
    wait_running(api, other)
    healthy, _ = timed(lambda: api.cancel(baseline_run["id"]))
    assert api.pick_host() == "gpu2"  # gpu1 has two active runs, gpu2 one

    link.down()
    api.list_runs()
    assert set(api.unreachable) == {"gpu2"}, api.unreachable
    assert api.pick_host() == "gpu1"  # gpu2's last contact failed: it goes last
    before = snapshot(api)

    gpu2 = api.executors["gpu2"]
    touched: list[str] = []
    for name in ("probe", "cancel", "cleanup", "read_log", "file_facts", "download"):
        setattr(gpu2, name, lambda *args, name=name, **kwargs: touched.append(name))
    try:
        seconds, cancelled = timed(lambda: api.cancel(r1["id"]))
    finally:
        for name in ("probe", "cancel", "cleanup", "read_log", "file_facts", "download"):
            delattr(gpu2, name)
    print(f"\ncancel on gpu1: {healthy:.2f} s with both hosts up, {seconds:.2f} s with gpu2 cut")
    assert cancelled["status"] == "cancelled" and cancelled["error"] == "Cancelled by the user"
    assert not touched  # gpu2's executor was not asked anything
    assert seconds < 3 * healthy + 2.0, (seconds, healthy)
    wait_until(lambda: container_state(two.host, r1["id"]) in ("exited", "stopped", "gone"), 30,
               "the cancelled container to stop")
    assert container_state(two.host, other["id"]) == "running"

    began = time.monotonic()
    with pytest.raises(CosmosError, match=r"is cancelled, but its job could not be stopped now.*gpu2"):
        api.cancel(r2["id"])
    assert time.monotonic() - began < 2 * PROBE_TIMEOUT + MARGIN
    assert api.get_run(r2["id"], Refresh.NONE)["status"] == "cancelled"
    assert container_state(two.host, r2["id"]) == "running"  # the host could not be told
    after = snapshot(api)
    assert_forward(before, after)
    assert after[other["id"]][0] == "running"

    link.up()
    wait_until(lambda: "gpu2" in api.sync(Refresh.FORCE).probed, 30, "a sync to reach gpu2 again", interval=0.2)
    assert container_state(two.host, r2["id"]) == "gone"  # that sync removed the cancelled run's container
    assert api.repo.stored_run(r2["id"]).container_removed
    assert api.get_run(r2["id"], Refresh.FORCE)["status"] == "cancelled"
    assert_forward(after, snapshot(api))


# -- (e) a download pending on the cut host --------------------------------------------------------

def test_a_download_pending_on_a_cut_host_backs_off_like_its_probe(api, two, link, sample_video):
    """Injects: gpu2's run has completed, its download still to do, when gpu2's link goes down; a
    run is active on gpu1. Expected as for a probe (see the test above): each refresh names gpu2
    unreachable, the first costs about the probe timeout, later ones about a refresh with gpu2 up
    (gpu2 backing off) but for the few that retry it; gpu1's run completes and downloads meanwhile;
    once the link is up gpu2's output arrives (after a retry at most)."""
    r1 = start(api, "on gpu1 through the cut [sleep=10]", sample_video, "gpu1")
    start(api, "keeps gpu1 probed [sleep=120]", sample_video, "gpu1")  # every refresh below asks gpu1
    r2 = start(api, "on gpu2, done before the cut", sample_video, "gpu2")
    two.wait_for_marker(r2["id"])
    wait_exited(two.host, r2["id"])
    baseline = []
    for _ in range(5):  # a refresh with no time to download: gpu2's download stays due
        seconds, report = timed(lambda: api.sync(Refresh.AUTO, deadline=time.monotonic()))
        assert not report.unreachable, report
        baseline.append(seconds)
    healthy = statistics.median(baseline)
    stored = api.get_run(r2["id"], Refresh.NONE)
    assert stored["status"] == "completed" and stored["download"]["status"] == "pending"
    before = snapshot(api)

    link.down()
    first, _ = timed(api.list_runs)
    print(f"\nrefresh with both hosts up: median {healthy:.3f} s; first after the cut {first:.2f} s, "
          f"unreachable: {api.unreachable}")
    assert set(api.unreachable) == {"gpu2"}, api.unreachable  # the refresh tried gpu2 and could not reach it
    assert first < healthy + PROBE_TIMEOUT + MARGIN, (first, healthy)
    assert_forward(before, before := snapshot(api))

    later: list[float] = []
    cut_at = time.monotonic()
    while True:
        seconds, _ = timed(api.list_runs)
        later.append(seconds)
        gave_up = api.get_run(r2["id"], Refresh.NONE)["download"]["status"] == "failed"
        # gpu2 is named while something needs it; once its download has given up, nothing asks it
        assert set(api.unreachable) == ({"gpu2"} if not gave_up else set(api.unreachable) & {"gpu2"}), (
            api.unreachable)
        assert_forward(before, before := snapshot(api))
        if settled(api.get_run(r1["id"], Refresh.NONE)) and time.monotonic() - cut_at > 6 and len(later) >= 10:
            break
        assert time.monotonic() < cut_at + 60, "gpu1's run did not complete while gpu2 was cut"
    retries = api.repo.host_state("gpu2").failures - 1
    slow = [s for s in later if s > max(PROBE_TIMEOUT * 0.8, 3 * healthy + 0.5)]
    print(f"later refreshes: {' '.join(f'{s:.2f}' for s in later)}; {retries} retried gpu2")
    assert statistics.median(later) < 3 * healthy + 0.5, (later, healthy)
    assert len(slow) <= max(retries, 0), (later, retries)
    done = api.get_run(r1["id"], Refresh.NONE)
    assert done["status"] == "completed" and done["download"]["status"] == "done"

    link.up()
    if api.get_run(r2["id"], Refresh.NONE)["download"]["status"] == "failed":
        api.retry_download(r2["id"])
    back = sync_until(api, r2["id"], settled, 60, "gpu2's download once the link is up")
    assert back["status"] == "completed" and back["download"]["status"] == "done"
    remote = two.remote_run_dir(r2["id"]) / "outputs" / "output.mp4"
    assert Path(back["output_path"]).read_bytes() == remote.read_bytes()
