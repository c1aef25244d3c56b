"""The outer Docker engine the lab runs on; started here when nothing answers."""
from __future__ import annotations

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
