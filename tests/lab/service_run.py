"""Start an image on a Docker daemon with a ServiceCheck's config and wait for health."""
from __future__ import annotations

import io
import tarfile
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from images.docker_cli import docker
from service_checks import SRC, ServiceCheck


@dataclass(frozen=True)
class Outcome:
    healthy: bool
    seconds: float
    logs: str


def config_tar(check: ServiceCheck) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        members = {"config.json": check.config_json(),
                   **{name: text for name, (_, _, text) in check.files.items()}}
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def run_check(check: ServiceCheck, image_ref: str, host: Optional[str]) -> Outcome:
    """Create, fill /var/lib/kolla/config_files, start, probe until healthy; always remove."""
    name = f"lab-check-{check.image}-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    docker(["create", "--name", name, *check.run_flags, image_ref], host=host)
    try:
        docker(["cp", "-", f"{name}:{SRC}"], host=host, input=config_tar(check))
        docker(["start", name], host=host)
        deadline = started + check.timeout
        while time.monotonic() < deadline:
            probe = docker(["exec", name, "sh", "-c", check.probe], host=host, check=False)
            if probe.returncode == 0:
                return Outcome(True, time.monotonic() - started, "")
            state = docker(["inspect", "--format", "{{.State.Running}}", name], host=host).stdout
            if state.strip() != b"true":
                break
            time.sleep(1)
        logs = docker(["logs", "--tail", "40", name], host=host, check=False)
        return Outcome(False, time.monotonic() - started,
                       (logs.stdout + logs.stderr).decode(errors="replace"))
    finally:
        docker(["rm", "-f", name], host=host, check=False)
