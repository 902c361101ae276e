"""Whether a finished run's files are downloaded at all (sync.download_refusal, pure), every case."""

from __future__ import annotations

import pytest

from cosmos_core.executors.base import FileFacts
from cosmos_core.sync import download_refusal

VIDEO, LOG = "outputs/output.mp4", "run.log"
FILE, LINK = FileFacts(10), FileFacts(0, symlink_to="/etc/passwd")


@pytest.mark.parametrize(("facts", "completed", "refused"), [
    ({VIDEO: FILE, LOG: FILE}, True, None),
    ({LOG: FILE}, False, None),  # a failed run: its log alone
    ({}, False, None),  # a failed run that wrote no log: nothing to fetch, nothing to refuse
    ({LOG: FILE}, True, "outputs/output.mp4 not found on host gpu1"),
    ({}, True, "outputs/output.mp4, run.log not found on host gpu1"),
    ({VIDEO: LINK, LOG: FILE}, True,
     "outputs/output.mp4 is a symlink to /etc/passwd, not a file the run wrote (on host gpu1)"),
    ({LOG: LINK}, False, "run.log is a symlink to /etc/passwd, not a file the run wrote (on host gpu1)"),
    ({VIDEO: LINK, LOG: LINK}, True, "outputs/output.mp4 is a symlink to /etc/passwd, not a file the run wrote; "
                                     "run.log is a symlink to /etc/passwd, not a file the run wrote (on host gpu1)"),
    ({LOG: LINK}, True, "run.log is a symlink to /etc/passwd, not a file the run wrote (on host gpu1)"),  # first
])
def test_a_finished_runs_files_are_refused_only_for_a_link_or_a_completed_runs_missing_file(facts, completed,
                                                                                           refused):
    assert download_refusal(facts, (VIDEO, LOG), completed, "gpu1") == refused
