"""How the end-to-end tests look at the lab: Docker over tcp://, HTTP to addresses on
the lab network (10.199.0.0/24, created by this run), secrets from the executor state."""
from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from lab.deployment import generated_secret

VIP = "10.199.0.250"


def host_address(name: str) -> str:
    return f"10.199.0.{10 + int(name.removeprefix('ctl'))}"


@dataclass
class Deployment:
    state_path: Path
    exports: dict[str, Any]
    hosts: list[str]
    figures: dict[str, Any] = field(default_factory=dict)
    # The stack values last deployed: a test that changes the stack builds on them.
    values: dict[str, Any] = field(default_factory=dict)
    _clients: dict[str, docker.DockerClient] = field(default_factory=dict)

    def docker(self, host: str) -> docker.DockerClient:
        if host not in self._clients:
            self._clients[host] = docker.DockerClient(base_url=f"tcp://{host_address(host)}:2375", timeout=120)
        return self._clients[host]

    def exec(self, host: str, container: str, command: str) -> str:
        result = self.docker(host).containers.get(container).exec_run(["bash", "-c", command])
        output = result.output.decode(errors="replace")
        assert result.exit_code == 0, f"{container}@{host}: {command!r} exited {result.exit_code}: {output}"
        return output

    def secret(self, name: str) -> str:
        """A generated secret (RandomPassword result) from the executor's state."""
        return generated_secret(name, state=self.state_path)

    def started_at(self) -> dict[tuple[str, str], str]:
        """(host, container) -> StartedAt, for every kolla-ha container in the lab."""
        started = {}
        for host in self.hosts:
            for c in self.docker(host).containers.list(all=True, filters={"label": "kolla-ha.service"}):
                started[(host, c.name)] = c.attrs["State"]["StartedAt"]
        return started

    def haproxy_5xx(self, since: float) -> list[str]:
        """HAProxy's log lines of 5xx answers since `since` (epoch seconds), on every host:
        the termination state and the server they name say which side cut a request."""
        lines = []
        for host in self.hosts:
            try:
                logs = self.docker(host).containers.get("haproxy").logs(since=int(since)).decode(errors="replace")
            except docker.errors.NotFound:
                continue
            lines += [f"haproxy@{host}: {line}" for line in logs.splitlines() if _HTTP_5XX.search(line)]
        return lines


# httplog: "... Tq/Tw/Tc/Tr/Ta status bytes ..." (timers may be -1 for an aborted step).
_HTTP_5XX = re.compile(r" -?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+ 5\d\d ")


def wsrep(dep: Deployment, host: str) -> dict[str, str]:
    """The Galera status variables of the node on `host`."""
    out = dep.exec(host, "mariadb", "mysql -N -B -e \"SHOW GLOBAL STATUS LIKE 'wsrep_%'\"")
    return dict(line.split("\t", 1) for line in out.strip().splitlines())


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _lowered(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, _lowered(err.headers), err.read()


def _lowered(headers: Any) -> dict[str, str]:
    # HTTP header names are case-insensitive, and HAProxy sends them lower-cased.
    return {k.lower(): v for k, v in headers.items()}


def keystone_token(base: str, password: str) -> tuple[str, dict[str, Any]]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    status, headers, payload = http("POST", f"{base}/v3/auth/tokens", body)
    assert status == 201, f"token request to {base}: {status} {payload[:300]!r}"
    return headers["x-subject-token"], json.loads(payload)["token"]


def memcached_roundtrip(address: str, key: str, value: str) -> str:
    with socket.create_connection((address, 11211), timeout=5) as sock:
        sock.sendall(f"set {key} 0 60 {len(value)}\r\n{value}\r\nget {key}\r\n".encode())
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode()
