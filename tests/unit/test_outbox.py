"""The webhook's outbox on a real SQLite file, posting to a real HTTP server on loopback: a row per
terminal transition written in its transaction, compare-and-set claims with a lease, back-off and
giving up. Two `Notifier`s stand for two processes (each has its own claim token)."""

from __future__ import annotations

import json

import pytest

from cosmos_core import notify
from cosmos_core.config import SyncConfig
from cosmos_core.lifecycle import RunStatus
from cosmos_core.notify import Notifier
from cosmos_core.repository import DataRepository
from cosmos_core.store import outbox, tables
from cosmos_core.store.tables import Notification
from tests.webhookkit import WebhookReceiver, first_post_of_each_run

SYNC = SyncConfig(min_interval_seconds=2, lost_after_seconds=120, download_budget_seconds=3)
UNFINISHED = [RunStatus.PENDING, RunStatus.UPLOADING, RunStatus.QUEUED, RunStatus.RUNNING]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def db(tmp_path):
    db = tables.connect(f"sqlite:///{tmp_path}/cosmos.db")
    yield db
    db.close()


def make_repo(tmp_path, clock, notifier: Notifier | None) -> DataRepository:
    return DataRepository(tmp_path / "outputs", SYNC, clock=clock, notifier=notifier)


def running_run(repo: DataRepository, tmp_path, run_id: str) -> str:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00")
    prompt = repo.create_prompt(f"prompt of {run_id}", video, name=f"name of {run_id}")
    repo.create_run(run_id, prompt.id, "inference", "gpu1", {})
    assert repo.transition(run_id, RunStatus.PENDING, status="running")
    return run_id


def rows() -> dict[str, Notification]:
    return {row.run_id: row for row in Notification.select()}


def end(repo: DataRepository, run_id: str, status: str = "completed", **fields: object) -> bool:
    """Inside an outer transaction (as a sync applies its transitions): written, not posted yet."""
    with tables.database.atomic():
        return repo.transition(run_id, UNFINISHED, status=status, completed_at=repo.clock(), **fields)


def test_without_a_notifier_a_finished_run_writes_no_row(db, tmp_path, clock):
    repo = make_repo(tmp_path, clock, None)
    assert repo.transition(running_run(repo, tmp_path, "rs_1"), RunStatus.RUNNING, status="failed")
    assert rows() == {}


def test_the_row_is_written_by_the_terminal_transition_only_and_claimed_by_its_process(db, tmp_path, clock, hook):
    notifier = Notifier(hook.url, clock)
    repo = make_repo(tmp_path, clock, notifier)
    run_id = running_run(repo, tmp_path, "rs_1")
    assert rows() == {}  # pending -> running is no news
    assert end(repo, run_id, "failed", exit_code=3, error="Container exited with code 3")
    assert not end(repo, run_id, "cancelled")  # the compare-and-set lost: no second row either
    row = rows()[run_id]
    assert (row.state, row.claimed_by, row.due_at, row.attempts) == ("pending", notifier.token, 1060.0, 0)
    body = json.loads(row.payload)
    assert body["run"] | {"completed_at": None} == {
        "id": run_id, "status": "failed", "kind": "inference", "model": "transfer1", "host": "gpu1",
        "prompt_id": repo.get_run(run_id).prompt_id, "prompt_name": "name of rs_1", "exit_code": 3,
        "error": "Container exited with code 3", "completed_at": None}
    assert hook.calls == []  # nothing posted inside a transaction


def test_a_rolled_back_transition_leaves_no_row(db, tmp_path, clock, hook):
    repo = make_repo(tmp_path, clock, Notifier(hook.url, clock))
    run_id = running_run(repo, tmp_path, "rs_1")
    with pytest.raises(RuntimeError), tables.database.atomic():
        repo.transition(run_id, RunStatus.RUNNING, status="completed")
        raise RuntimeError("the sync's transaction failed")
    assert rows() == {} and repo.get_run(run_id).status == "running" and hook.calls == []


def test_a_transition_outside_a_transaction_is_posted_at_once_and_marked_sent(db, tmp_path, clock, hook):
    repo = make_repo(tmp_path, clock, Notifier(hook.url, clock))
    run_id = running_run(repo, tmp_path, "rs_1")
    assert repo.transition(run_id, UNFINISHED, status="cancelled", error="Cancelled by the user")  # as api.cancel
    assert hook.run_ids() == [run_id] and "cancelled" in hook.calls[0]["text"]
    row = rows()[run_id]
    assert (row.state, row.sent_at, row.claimed_by) == ("sent", 1000.0, None)
    assert repo.notifier.deliver() == 0 and len(hook.calls) == 1


def test_another_process_waits_out_the_lease_of_the_one_that_ended_the_run(db, tmp_path, clock, hook):
    ender, other = Notifier(hook.url, clock), Notifier(hook.url, clock)
    repo = make_repo(tmp_path, clock, ender)
    run_id = running_run(repo, tmp_path, "rs_1")
    end(repo, run_id)  # and then the ending process dies before posting
    assert other.deliver() == 0 and hook.calls == []
    clock.now += notify.LEASE_SECONDS - 1
    assert other.deliver() == 0
    clock.now += 1  # the lease ran out: anyone may claim it
    assert outbox.claim(run_id, other.token, clock(), notify.LEASE_SECONDS) is not None
    assert outbox.claim(run_id, ender.token, clock(), notify.LEASE_SECONDS) is None  # the first lost its claim
    assert ender.deliver() == 0 and other.deliver() == 1
    assert hook.run_ids() == [run_id] and rows()[run_id].state == "sent"


def test_a_refused_post_backs_off_is_retried_by_anyone_then_is_sent_once(db, tmp_path, clock):
    with WebhookReceiver(refuse=first_post_of_each_run()) as hook:
        ender, other = Notifier(hook.url, clock), Notifier(hook.url, clock)
        repo = make_repo(tmp_path, clock, ender)
        run_id = running_run(repo, tmp_path, "rs_1")
        end(repo, run_id)
        assert ender.deliver() == 0
        row = rows()[run_id]
        assert (row.state, row.attempts, row.claimed_by, row.due_at) == ("pending", 1, None, 1002.0)
        assert "HTTP 500" in row.last_error and hook.url not in row.last_error
        clock.now += 1.9
        assert ender.deliver() == 0 and other.deliver() == 0 and len(hook.calls) == 1  # backing off
        clock.now += 0.1
        assert other.deliver() == 1
        assert len(hook.calls) == 2 and hook.run_ids() == [run_id] and rows()[run_id].state == "sent"


def test_after_the_last_attempt_it_gives_up_and_keeps_the_reason(db, tmp_path, clock):
    with WebhookReceiver(refuse=lambda body: True) as hook:
        notifier = Notifier(hook.url, clock)
        repo = make_repo(tmp_path, clock, notifier)
        end(repo, running_run(repo, tmp_path, "rs_1"))
        for _ in range(notify.MAX_ATTEMPTS):
            assert notifier.deliver() == 0
            clock.now += 1000
        row = rows()["rs_1"]
        assert (row.state, row.attempts) == ("gave_up", notify.MAX_ATTEMPTS) and "HTTP 500" in row.last_error
        assert notifier.deliver() == 0 and len(hook.calls) == notify.MAX_ATTEMPTS


def test_an_unreachable_receiver_is_a_warning_not_an_error(db, tmp_path, clock, caplog):
    with WebhookReceiver() as hook:
        url = hook.url  # nothing listens there once the receiver is closed
    notifier = Notifier(url, clock)
    repo = make_repo(tmp_path, clock, notifier)
    assert repo.transition(running_run(repo, tmp_path, "rs_1"), RunStatus.RUNNING, status="completed")
    assert rows()["rs_1"].attempts == 1 and "could not be reached" in rows()["rs_1"].last_error
    (warning,) = [r for r in caplog.records if r.name == "cosmos_core.notify"]
    assert warning.levelname == "WARNING" and "rs_1" in warning.getMessage() and "\n" not in warning.getMessage()
    assert url not in warning.getMessage()


def test_one_call_posts_at_most_a_few_oldest_first(db, tmp_path, clock, hook):
    notifier = Notifier(hook.url, clock)
    repo = make_repo(tmp_path, clock, notifier)
    ids = [running_run(repo, tmp_path, f"rs_{i}") for i in range(notify.MAX_PER_CALL + 2)]
    for run_id in ids:
        end(repo, run_id)
        clock.now += 1
    assert notifier.deliver() == notify.MAX_PER_CALL and hook.run_ids() == ids[:notify.MAX_PER_CALL]
    assert notifier.deliver() == 2 and hook.run_ids() == ids


def test_a_process_that_ends_posts_what_it_can_and_hands_the_rest_over(db, tmp_path, clock, hook):
    ender, other = Notifier(hook.url, clock), Notifier(hook.url, clock)
    repo = make_repo(tmp_path, clock, ender)
    ids = [running_run(repo, tmp_path, f"rs_{i}") for i in range(notify.MAX_PER_CALL + 2)]
    for run_id in ids:
        end(repo, run_id)
    ender.close()
    assert hook.run_ids() == ids[:notify.MAX_PER_CALL]
    assert {r.run_id: (r.claimed_by, r.due_at) for r in rows().values() if r.state == "pending"} == {
        run_id: (None, clock.now) for run_id in ids[notify.MAX_PER_CALL:]}
    assert other.deliver() == 2 and sorted(hook.run_ids()) == sorted(ids)  # at once: no lease to wait out
