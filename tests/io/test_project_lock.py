"""The project lock: one writer per project file, and a killed holder never blocks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from sam_annotator.io.project_lock import ProjectLock, ProjectLockedError, lock_path_for
from tests.conftest import REPO_ROOT


def start_holder(project):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.io.lock_holder", str(project)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return process, process.stdout.readline().strip()


def test_a_second_process_finds_the_project_locked_and_learns_by_whom(tmp_path):
    project = tmp_path / "p.json"
    holder, line = start_holder(project)
    try:
        assert line == "locked"
        with pytest.raises(ProjectLockedError) as caught:
            ProjectLock(project).acquire()
        assert caught.value.holder.pid == holder.pid
        assert caught.value.holder.hostname == socket.gethostname()
        assert f"process {holder.pid}" in str(caught.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with ProjectLock(project) as lock:  # released on exit: free again
        assert lock.held
        assert json.loads(lock_path_for(project).read_text())["pid"] == os.getpid()


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    project = tmp_path / "p.json"
    holder, line = start_holder(project)
    assert line == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert json.loads(lock_path_for(project).read_text())["pid"] == holder.pid  # stale note
    lock = ProjectLock(project)
    lock.acquire()
    try:
        assert json.loads(lock_path_for(project).read_text())["pid"] == os.getpid()
        other, line = start_holder(project)  # and now we are the live holder
        assert line.startswith("busy") and f"process {os.getpid()}" in line
        other.wait(timeout=30)
    finally:
        lock.release()


def test_two_locks_in_one_process_exclude_each_other(tmp_path):
    """Two windows of one process (as the app tests make) are two holders too."""
    project = tmp_path / "p.json"
    with ProjectLock(project), pytest.raises(ProjectLockedError):
        ProjectLock(project).acquire()
