"""Reaching the Docker daemons a docker.Provider names, the way pulumi-docker does.

`ssh://user@host:port` runs the local ssh binary with the provider's `ssh_opts`; here
one long-lived `ssh -L` forwards the remote daemon's socket to a local one, so every
API call of a deployment shares one SSH connection per host. `tcp://` and `unix://`
are used directly.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Sequence

import docker

REMOTE_SOCKET = "/var/run/docker.sock"


@dataclass
class DaemonPool:
    _clients: dict[tuple[str, tuple[str, ...]], docker.DockerClient] = field(default_factory=dict)
    _tunnels: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="kolla-ha-engine-"))

    def __post_init__(self) -> None:
        atexit.register(self.close)

    def client(self, url: str, ssh_opts: Sequence[str] = ()) -> docker.DockerClient:
        key = (url, tuple(ssh_opts))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._connect(url, list(ssh_opts))
            return self._clients[key]

    def _connect(self, url: str, ssh_opts: list[str]) -> docker.DockerClient:
        if not url.startswith("ssh://"):
            return docker.DockerClient(base_url=url, timeout=300)
        parsed = urllib.parse.urlparse(url)
        local = os.path.join(self._dir, f"{parsed.hostname}-{len(self._tunnels)}.sock")
        target = f"{parsed.username}@{parsed.hostname}" if parsed.username else str(parsed.hostname)
        port = ["-p", str(parsed.port)] if parsed.port else []
        tunnel = subprocess.Popen(
            ["ssh", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", *port, *ssh_opts,
             "-L", f"{local}:{REMOTE_SOCKET}", target],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._tunnels.append(tunnel)
        for _ in range(100):
            if os.path.exists(local):
                break
            if tunnel.poll() is not None:
                err = tunnel.stderr.read().decode() if tunnel.stderr else ""
                raise ConnectionError(f"ssh to {url} failed: {err.strip()}")
            time.sleep(0.1)
        else:
            raise ConnectionError(f"ssh to {url}: no forwarded Docker socket after 10 s")
        return docker.DockerClient(base_url=f"unix://{local}", timeout=300)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for tunnel in self._tunnels:
            tunnel.terminate()
            try:
                tunnel.wait(timeout=5)
            except subprocess.TimeoutExpired:
                tunnel.kill()
        self._tunnels.clear()
