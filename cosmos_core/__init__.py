"""Cosmos Run Dashboard core: config, database, SSH, status sync, downloads, API and CLI."""

import sys

# paramiko imports `invoke`, a task runner (70 ms, a seventh of a command's start-up), only to run the
# `Match exec` lines of OpenSSH config files, which this product never reads, and does without it when
# the import fails: a None in sys.modules makes it fail (Python's documented way), before anything of
# ours imports paramiko.
sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]
