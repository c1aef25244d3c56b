"""lab.docker_engine.stop_engine ends the daemon it started, also when that daemon is a child
of the calling process (the test session), which stays a zombie until reaped."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from lab.docker_engine import stop_engine


def test_stops_a_child_it_started_and_reaps_it(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "300"])
    (tmp_path / "dockerd.pid").write_text(f"{child.pid}\n")
    start = time.monotonic()
    stop_engine(tmp_path, timeout=20)
    assert time.monotonic() - start < 10
    assert not (tmp_path / "dockerd.pid").exists()
    assert not Path(f"/proc/{child.pid}").exists()


def test_without_a_pid_file_nothing_is_stopped(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "300"])
    try:
        stop_engine(tmp_path)
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()
