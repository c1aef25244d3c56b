"""A real memcached started with memcached_command() for 127.0.0.1: it stores and
returns values over TCP, and listens on the given address only, with no UDP."""
from __future__ import annotations

import shlex
import socket
import subprocess
import uuid

import pytest

from components import memcached
from components.defaults import PORTS, TIER_DEFAULTS
from tests.configs.daemon_support import (
    LOOPBACK, end_marked, free_port, listening_sockets, marked_env, port_is_open, start, wait_until,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    marker = f"memcached-{uuid.uuid4()}"
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(memcached, "PORTS", {**PORTS, "memcached": port})
        command = memcached.memcached_command(LOOPBACK, TIER_DEFAULTS["memcached"])
    log = tmp_path_factory.mktemp("memcached") / "memcached.log"
    proc = start(shlex.split(command), marked_env(marker), log)
    try:
        wait_until("memcached listens", lambda: port_is_open(LOOPBACK, port), 20, proc, log)
        yield proc, port, command
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert not end_marked(marker)


def exchange(port: int, request: bytes, until: bytes) -> bytes:
    with socket.create_connection((LOOPBACK, port), timeout=5) as conn:
        conn.sendall(request)
        data = b""
        while not data.endswith(until):
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_command_is_the_rendered_one(server):
    proc, port, command = server
    assert proc.args == shlex.split(command)
    assert f"-l {LOOPBACK} -p {port} -U 0" in command


def test_set_then_get_over_tcp(server):
    _, port, _ = server
    value = uuid.uuid4().hex.encode()
    assert exchange(port, b"set kolla-ha 0 60 %d\r\n%s\r\n" % (len(value), value), b"\r\n") == b"STORED\r\n"
    assert exchange(port, b"get kolla-ha\r\n", b"END\r\n") == b"VALUE kolla-ha 0 %d\r\n%s\r\nEND\r\n" % (len(value), value)


def test_settings_took_effect(server):
    _, port, _ = server
    stats = dict(
        line.split(" ", 2)[1:]
        for line in exchange(port, b"stats settings\r\n", b"END\r\n").decode().splitlines()
        if line.startswith("STAT ")
    )
    settings = TIER_DEFAULTS["memcached"]
    assert stats["maxbytes"] == str(settings["memory_mb"] * 1024 * 1024)
    assert stats["maxconns"] == str(settings["connection_limit"])
    assert stats["num_threads"] == str(settings["threads"])
    assert stats["udpport"] == "0"
    assert stats["tcpport"] == str(port)


def test_listens_on_the_given_address_only(server):
    proc, port, _ = server
    assert listening_sockets([proc.pid]) == [f"{LOOPBACK}:{port}"]
    assert listening_sockets([proc.pid], proto="u") == []
    # another loopback address of this machine is not served
    assert not port_is_open("127.0.0.2", port)


def _run_health_probe(address: str, port: int) -> subprocess.CompletedProcess:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(memcached, "PORTS", {**PORTS, "memcached": port})
        probe = memcached.health_probe(address)
    # Docker runs a CMD-SHELL health check as `sh -c <test>`.
    return subprocess.run(["sh", "-c", probe], capture_output=True, text=True, timeout=20)


def test_health_probe_passes_against_the_running_server(server):
    _, port, _ = server
    result = _run_health_probe(LOOPBACK, port)
    assert result.returncode == 0, result


def test_health_probe_fails_where_nothing_listens(server):
    result = _run_health_probe(LOOPBACK, free_port())
    assert result.returncode != 0
