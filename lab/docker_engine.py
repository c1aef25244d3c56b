"""The outer Docker engine the lab runs on; started here when nothing answers."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from images.docker_cli import docker


def engine_answers() -> bool:
    return docker(["version", "--format", "{{.Server.Version}}"], check=False,
                  timeout=20).returncode == 0


def ensure_engine(state_dir: Path, timeout: float = 60.0) -> bool:
    """Start dockerd in the background unless one answers; True when started here.

    No systemd on these machines, so the daemon is a plain background process with
    its log in the lab's state folder.
    """
    if engine_answers():
        return False
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir / "dockerd.log", "ab")
    process = subprocess.Popen(["dockerd", "--tls=false"], stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    (state_dir / "dockerd.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dockerd exited ({process.returncode}); see {log.name}")
        if engine_answers():
            return True
        time.sleep(0.5)
    raise RuntimeError(f"dockerd did not answer within {timeout:.0f}s; see {log.name}")


def stop_engine(state_dir: Path, timeout: float = 60.0) -> None:
    """Stop the dockerd that ensure_engine started (its pid file says which); a daemon
    started by someone else is left alone."""
    pid_file = state_dir / "dockerd.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _exited(pid):
            return
        time.sleep(0.5)
    raise RuntimeError(f"dockerd (pid {pid}) still running {timeout:.0f}s after SIGTERM")


def _exited(pid: int) -> bool:
    # Started by this very process (the test session), dockerd stays a zombie until
    # reaped, and a zombie still answers kill(pid, 0): reap it when it is our child.
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        return reaped == pid
    except ChildProcessError:
        pass  # not our child: its parent reaps it; a zombie of another parent counts as gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
