"""The webhook of `[notify] url` (issue 11, point 5) through the real command line, on the real
stand-in host, posting to a real HTTP server on loopback in the test process.

Four `sync --wait` processes (four installs, one database: a SQLite file, then PostgreSQL) and a
`cancel` race on runs that end before and while they sync: each finished run is posted exactly once,
with its outcome. A receiver that refuses the first post of each run gets each again after the
back-off, from whichever process syncs next, and still accepts each once. With no url, no outbox row.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from cosmos_core.store.tables import Notification
from tests.dbworkspace import Install, SharedDatabase, installs
from tests.hostkit import TestHost, wait_until
from tests.webhookkit import WebhookReceiver, first_post_of_each_run

OUTBOX = Notification._meta.table_name
SYNCERS = ("a", "b", "c", "d")


def notifying(root: Path, host: TestHost, database: str, url: str) -> list[Install]:
    """Four installs sharing one config whose webhook is `url`."""
    machines = installs(root, host, database, SYNCERS)
    config = machines[0].config
    config.write_text(f'{config.read_text()}\n[notify]\nurl = "{url}"\n')
    return machines


def start_run(machine: Install, text: str, video: Path) -> str:
    prompt_id = machine.cli("prompt", "add", text, "--video", str(video), check=True).stdout.strip()
    return machine.cli("run", prompt_id, check=True).stdout.strip()  # no --json: that syncs the host


def ended(machine: Install, text: str, video: Path) -> str:
    """A run whose container has ended on the host, not synced yet: the four syncs race to decide it."""
    run_id = start_run(machine, text, video)
    machine.wait_for_marker(run_id)
    machine.wait_until_exited(run_id)
    return run_id


def all_sync(machines: list[Install], *extra: subprocess.Popen[str]) -> None:
    """`sync --wait` in every install at once (and the `extra` processes): all succeed."""
    processes = [*extra, *(m.start_cli("sync", "--wait", "--timeout", "90") for m in machines)]
    for process in processes:
        _, err = process.communicate(timeout=150)
        assert process.returncode == 0 and "Traceback" not in err, err


def outbox_states(db: SharedDatabase) -> dict[str, str]:
    return dict(db.rows(f"SELECT run_id, state FROM {OUTBOX}"))


def test_four_syncing_processes_post_each_finished_run_exactly_once(tmp_path, gpu_host, database_url,
                                                                    sample_video):
    with WebhookReceiver() as hook:
        machines = notifying(tmp_path, gpu_host, database_url, hook.url)
        a = machines[0]
        outcomes = {ended(a, "done early", sample_video): "completed",
                    ended(a, "done early too", sample_video): "completed",
                    ended(a, "broken [exit=3]", sample_video): "failed",
                    start_run(a, "done while syncing [sleep=3]", sample_video): "completed"}
        long = start_run(a, "cancelled while syncing [sleep=60]", sample_video)
        outcomes[long] = "cancelled"
        assert hook.calls == []  # nothing has ended in the database yet
        all_sync(machines, machines[-1].start_cli("cancel", long))
        # Each process posts what it ended before it exits: every post has arrived.
        assert Counter(hook.run_ids()) == Counter(outcomes.keys()), hook.calls
        for body in hook.calls:
            run = body["run"]
            assert run["status"] == outcomes[run["id"]] and f"`{run['id']}` {run['status']}" in body["text"]
            assert run["host"] == "gpu1" and run["kind"] == "inference" and " on gpu1" in body["text"]
        failed = next(body for body in hook.calls if body["run"]["status"] == "failed")
        assert failed["run"]["exit_code"] == 3 and "Container exited with code 3" in failed["text"]
        assert failed["run"]["prompt_name"] == "broken [exit=3]"
        assert outbox_states(SharedDatabase(database_url)) == dict.fromkeys(outcomes, "sent")
        a.cli("sync", check=True)  # a later sync posts nothing again
        assert len(hook.calls) == len(outcomes)


def test_refused_posts_are_retried_after_the_back_off_by_a_later_sync_and_accepted_once(tmp_path, gpu_host,
                                                                                       sample_video):
    url = f"sqlite:///{tmp_path}/cosmos.db"
    with WebhookReceiver(refuse=first_post_of_each_run()) as hook:
        machines = notifying(tmp_path, gpu_host, url, hook.url)
        a = machines[0]
        run_ids = [ended(a, "first post refused", sample_video), ended(a, "also [exit=2]", sample_video)]
        all_sync(machines)  # each run's first post is refused; its retry may come from these or later syncs
        db = SharedDatabase(url)

        def delivered() -> bool:
            if outbox_states(db) == dict.fromkeys(run_ids, "sent"):
                return True
            machines[1].cli("sync", check=True)
            return False

        wait_until(delivered, 30, "the retried posts", interval=0.5)
        assert Counter(hook.run_ids()) == Counter(run_ids)  # accepted once each
        assert Counter(body["run"]["id"] for body in hook.calls) == Counter(run_ids * 2)  # refused once each
        assert sorted(db.rows(f"SELECT run_id, attempts, last_error FROM {OUTBOX}")) == sorted(
            (run_id, 1, None) for run_id in run_ids)


def test_with_no_url_a_finished_run_leaves_no_outbox_row(tmp_path, gpu_host, sample_video):
    url = f"sqlite:///{tmp_path}/cosmos.db"
    (machine,) = installs(tmp_path, gpu_host, url, ("a",))
    run_id = ended(machine, "quiet", sample_video)
    machine.cli("sync", "--wait", "--timeout", "60", check=True)
    assert machine.cli_json("show", run_id)["status"] == "completed"
    assert SharedDatabase(url).rows(f"SELECT * FROM {OUTBOX}") == []
