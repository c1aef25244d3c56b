"""What the real-daemon config tests share: loopback inventories, free ports, and
starting/stopping daemons so that nothing they spawned outlives the test module.

Every daemon is started with a marker variable in its environment; the children it
forks (epmd, erl_child_setup, mysqld helpers) inherit it, so teardown can find and
end exactly those processes by pid, and no others.
"""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

from components.inventory import Inventory, parse_inventory
from tests.unit.inventory_fixtures import make_config

MARKER = "KOLLA_HA_CONFIG_TEST"
LOOPBACK = "127.0.0.1"
GROUPS = ("control", "database", "messaging", "loadbalancer", "memcached", "storage")


def loopback_inventory(host_name: str, **overrides: Any) -> Inventory:
    """A one-host inventory whose only host is this machine's loopback address.

    It is also the only storage host, so Ceph keeps one copy (cinder-api is enabled by
    default and its volumes need a storage group that can hold the pool)."""
    return loopback_cluster_inventory({host_name: LOOPBACK}, **overrides)


def loopback_cluster_inventory(addresses: Mapping[str, str], **overrides: Any) -> Inventory:
    """An inventory of hosts on loopback addresses of their own (name -> 127.x.y.z), each
    in every group unless `groups` is overridden; Ceph keeps one copy."""
    overrides.setdefault("ceph", {"pool_size": 1})
    overrides.setdefault("groups", {group: list(addresses) for group in GROUPS})
    raw, secret_keys = make_config(
        len(addresses),
        hosts=[{"name": name, "address": address, "interface": "lo", "ssh": {"user": "root"}}
               for name, address in addresses.items()],
        internal_network="127.0.0.0/8",
        internal_vip="127.0.0.250",
        **overrides,
    )
    return parse_inventory(raw, secret_keys)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_is_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float, proc: subprocess.Popen | None = None,
               log: pathlib.Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the daemon exited with {proc.returncode}\n{tail(log)}")
        time.sleep(0.3)
    raise AssertionError(f"{what}: not reached within {timeout_s}s\n{tail(log)}")


def tail(log: pathlib.Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def run(cmd: Sequence[str], env: Mapping[str, str] | None = None, timeout_s: float = 60,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), env=dict(env) if env is not None else None, input=input_text,
        capture_output=True, text=True, timeout=timeout_s,
    )


def marked_env(marker: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **(extra or {}), MARKER: marker}


def start(cmd: Sequence[str], env: Mapping[str, str], log: pathlib.Path, cwd: pathlib.Path | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            list(cmd), env=dict(env), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, start_new_session=True,
        )


def marked_pids(marker: str) -> list[int]:
    needle = f"{MARKER}={marker}".encode()
    pids = []
    for environ in pathlib.Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return [p for p in pids if p != os.getpid()]


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def end_marked(marker: str, grace_s: float = 10) -> list[int]:
    """SIGTERM, then SIGKILL, every live process carrying `marker`; returns survivors."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [p for p in marked_pids(marker) if _alive(p)]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
    return [p for p in marked_pids(marker) if _alive(p)]


def listening_sockets(pids: Sequence[int], proto: str = "t") -> list[str]:
    """Local addresses (ip:port) the given processes listen on, from `ss`."""
    out = run(["ss", f"-l{proto}npH"]).stdout
    found = []
    for line in out.splitlines():
        if any(f"pid={p}," in line for p in pids):
            found.append(line.split()[3])
    return found


@contextmanager
def running_haproxy(cfg: str, out: pathlib.Path, name: str) -> Iterator[tuple[subprocess.Popen, pathlib.Path]]:
    """A real HAProxy on a rendered haproxy.cfg, checked by `haproxy -c` first; yields the
    process and its log, and ends it (with its log's tail printed) afterwards. The
    runtime socket is `out/haproxy.sock`: only its folder differs from a kolla host
    (no /var/lib/kolla here)."""
    path = out / "haproxy.cfg"
    path.write_text(cfg.replace("/var/lib/kolla/haproxy/haproxy.sock", str(out / "haproxy.sock")))
    assert run(["haproxy", "-c", "-q", "-f", str(path)]).returncode == 0
    marker = f"{name}-{uuid.uuid4().hex[:8]}"
    log = out / "haproxy.log"
    proc = start(["haproxy", "-db", "-f", str(path)], marked_env(marker), log)
    try:
        yield proc, log
    finally:
        end_marked(marker)
        print(tail(log))


def haproxy_servers_state(socket_path: pathlib.Path, backend: str) -> dict[str, list[str]]:
    """server name -> its `show servers state` fields, from HAProxy's runtime socket.

    Fields: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ..."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(socket_path))
        s.sendall(f"show servers state {backend}\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    rows = [line.split() for line in data.decode().splitlines()]
    return {fields[3]: fields for fields in rows if len(fields) > 6 and fields[1] == backend}
