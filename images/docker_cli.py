"""Thin wrapper over the docker CLI, shared by the image builder and the lab.

The CLI (not an SDK) is used on purpose: the lab must prove that the same ssh:// and
tcp:// DOCKER_HOST values the program uses work with the stock client.
"""
from __future__ import annotations

import os
import subprocess
from typing import Optional, Sequence


class DockerError(RuntimeError):
    pass


def docker(args: Sequence[str], *, host: Optional[str] = None, input: Optional[bytes] = None,
           check: bool = True, capture: bool = True, timeout: Optional[float] = None,
           ) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    # The legacy builder needs no buildx plugin, which Debian's docker.io lacks.
    env["DOCKER_BUILDKIT"] = "0"
    if host is not None:
        env["DOCKER_HOST"] = host
    result = subprocess.run(["docker", *args], input=input, env=env, timeout=timeout,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    if check and result.returncode != 0:
        err = (result.stderr or b"").decode(errors="replace").strip()
        raise DockerError(f"docker {' '.join(args)} failed ({result.returncode}): {err}")
    return result


def output(args: Sequence[str], **kwargs: object) -> str:
    return docker(args, **kwargs).stdout.decode().strip()  # type: ignore[arg-type]


def exists(kind: str, name: str, host: Optional[str] = None) -> bool:
    """kind is image, container, volume or network."""
    return docker([kind, "inspect", name], host=host, check=False).returncode == 0
