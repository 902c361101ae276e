"""What paramiko says on its own stays off the user's stderr (cosmos_core.ssh.host's boundary)."""

from __future__ import annotations

import logging
import time

from cosmos_core.ssh import host


def test_paramiko_logs_nothing_that_python_would_print():
    assert not logging.getLogger("paramiko.transport").isEnabledFor(logging.ERROR)


def test_a_deadline_that_has_passed_still_waits_a_little():
    assert 0 < host._left(time.monotonic() - 5) <= 0.01  # 0 would make paramiko not wait at all
