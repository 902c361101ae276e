"""Webhook notifications (`[notify] url`): a Slack-compatible message once per run that finished.

Through an outbox (store/outbox.py): the row is written in the very transaction whose compare-and-set
moves the run to a terminal status, so a run has a row exactly when some process ended it, and
only one process can. That process holds the row's claim from the start and posts it right after
the commit; a failed post is retried by whichever process syncs after the back-off, and given up
after MAX_ATTEMPTS with the reason kept. A process that dies after the commit leaves its row to
anyone once its claim's lease runs out. Delivery is exactly once, except that a process dying
after the receiver got the post and before it marked the row sent means a second post (at least
once under a crash: no webhook receiver can confirm anything else).

Posting never raises into the sync and never holds a refresh for long: each post has a short
timeout, and one call posts at most MAX_PER_CALL rows within DELIVERY_BUDGET_SECONDS.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.error import HTTPError, URLError

import peewee as pw

from cosmos_core.install import install_id
from cosmos_core.store import outbox

POST_TIMEOUT_SECONDS = 3.0
DELIVERY_BUDGET_SECONDS = 3.0  # all the posts of one call together
MAX_PER_CALL = 3
LEASE_SECONDS = 60.0  # a claim not turned into "sent" by then (its process died) may be taken over
MAX_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 2.0  # then 4 times longer each time: 2, 8, 32, 128, 512 s (about 11 min in all)
MAX_ERROR_CHARS = 500
ICONS = {"completed": "✅", "failed": "❌", "cancelled": "⏹️"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """What the message says about a run that reached a terminal status."""

    run_id: str
    status: str
    kind: str
    model: str
    host: str
    prompt_id: str
    prompt_name: str
    exit_code: int | None = None
    error: str | None = None
    completed_at: float | None = None


def message(run: Finished) -> dict:
    """The JSON body to post: Slack's `text` (mrkdwn, escaped as Slack asks) and the facts under `run`."""
    text = (f"{ICONS.get(run.status, '')} Cosmos run `{run.run_id}` {run.status}: "
            f"“{_slack(run.prompt_name)}” ({run.kind}, {run.model}) on {_slack(run.host)}")
    if run.error:
        text += f"\n{_slack(_short(run.error))}"
    completed = datetime.fromtimestamp(run.completed_at, UTC).isoformat(timespec="seconds") if run.completed_at \
        else None
    return {
        "text": text.lstrip(),
        "run": {"id": run.run_id, "status": run.status, "kind": run.kind, "model": run.model, "host": run.host,
                "prompt_id": run.prompt_id, "prompt_name": run.prompt_name, "exit_code": run.exit_code,
                "error": run.error, "completed_at": completed},
    }  # fmt: skip


def retry_delay(attempts: int) -> float | None:
    """Seconds until the next post after `attempts` failed ones; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return FIRST_RETRY_SECONDS * 4 ** (attempts - 1)


def process_token() -> str:
    """Names this process in claims: its install, its pid, and a random part (pids are reused)."""
    return f"{install_id()}/{os.getpid()}/{secrets.token_hex(4)}"


class WebhookError(Exception):
    """A post did not reach the receiver or was refused; the message never contains the URL (it may hold a secret)."""


def post(url: str, payload: dict, timeout: float) -> None:
    """POST `payload` as JSON; a 2xx answer is success."""
    from urllib.request import Request, urlopen  # here: 40 ms of every command's start-up otherwise

    request = Request(url, data=json.dumps(payload).encode(), method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "cosmos-run-dashboard"})
    try:
        with urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) checked by config)
            response.read(4096)
    except HTTPError as exc:
        raise WebhookError(f"the webhook answered HTTP {exc.code} {exc.reason}") from exc
    except URLError as exc:
        raise WebhookError(f"the webhook could not be reached: {exc.reason}") from exc
    except (OSError, ValueError) as exc:  # a timeout while reading, a reset connection, a bad answer
        raise WebhookError(f"the webhook post failed: {type(exc).__name__}: {exc}") from exc


class Notifier:
    """Writes a finished run's outbox row (inside its transition) and posts the rows due."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.clock = clock
        self.token = process_token()

    def record(self, run_id: str) -> None:
        """Inside the transaction that ended the run: its message, claimed by this process."""
        run = outbox.finished_run(run_id)
        finished = Finished(run.id, run.status, run.kind, run.model, run.host, run.prompt.id, run.prompt.name,
                            run.exit_code, run.error, run.completed_at)
        outbox.add(run.id, message(finished), self.token, self.clock(), LEASE_SECONDS)

    def deliver(self) -> int:
        """Post the rows this process holds or may claim (outside any transaction); how many were sent.
        A database error is a warning: the rows stay for a later call."""
        try:
            return self._deliver()
        except pw.PeeweeException as exc:
            log.warning("webhook: notifications not sent now (database: %s)", exc)
            return 0

    def close(self) -> None:
        """As the process ends: post what it still holds (one more call), and hand the rest over at
        once instead of leaving them claimed until the lease runs out."""
        self.deliver()
        try:
            outbox.release(self.token, self.clock())
        except pw.PeeweeException as exc:
            log.warning("webhook: notifications not handed over (database: %s)", exc)

    def _deliver(self) -> int:
        started, sent = time.monotonic(), 0
        for run_id in outbox.due(self.token, self.clock(), MAX_PER_CALL):
            left = DELIVERY_BUDGET_SECONDS - (time.monotonic() - started)
            if left <= 0.1:
                break  # the rest waits for the next call (this process still holds its own)
            row = outbox.claim(run_id, self.token, self.clock(), LEASE_SECONDS)
            if row is None:
                continue  # another process took it first
            try:
                post(self.url, json.loads(row.payload), min(POST_TIMEOUT_SECONDS, left))
            except WebhookError as exc:
                self._failed(row.run_id, row.attempts + 1, str(exc))
                continue
            outbox.mark_sent(row.run_id, self.clock())
            sent += 1
        return sent

    def _failed(self, run_id: str, attempts: int, error: str) -> None:
        delay = retry_delay(attempts)
        outbox.mark_failed(run_id, attempts, error, None if delay is None else self.clock() + delay)
        later = "given up" if delay is None else f"retrying in {delay:g} s"
        log.warning("webhook: notification of run %s failed (attempt %d of %d, %s): %s", run_id, attempts,
                    MAX_ATTEMPTS, later, error)


def _slack(text: str) -> str:
    """Slack's three control characters, escaped as its message formatting asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _short(text: str) -> str:
    """One paragraph of at most MAX_ERROR_CHARS."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_ERROR_CHARS else flat[:MAX_ERROR_CHARS - 1] + "…"
