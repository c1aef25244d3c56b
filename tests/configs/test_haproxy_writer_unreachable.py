"""A real HAProxy on the rendered config, with a database writer that has stopped
answering while its health check still passed (a host cut off or powered off while a
check waited for its answer: HAProxy sees that check fail only after timeout_check).

A client's connection to that writer fails at connect; HAProxy must mark the writer down
at that first failure, so that the next connection goes to the next node, instead of
retrying the dead writer for every connection until its check times out.
"""
from __future__ import annotations

import pathlib
import socket
import socketserver
import threading
import uuid
from typing import Iterator

import pytest

from components.defaults import PORTS
from components.loadbalancer import galera_section, render_haproxy_cfg
from tests.configs.daemon_support import (
    haproxy_servers_state, loopback_cluster_inventory, port_is_open, running_haproxy, wait_until,
)

VIP = "127.0.0.250"  # the loopback inventories' internal VIP
NODES = {"ctl1": "127.0.0.31", "ctl2": "127.0.0.32", "ctl3": "127.0.0.33"}
DB_PORT = PORTS["mariadb"]


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    name = ""


class _Check(socketserver.StreamRequestHandler):
    """The clustercheck of a Synced node: 200 to anything (ctl1's too: its check passes)."""

    def handle(self) -> None:
        self.rfile.readline()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class _Banner(socketserver.StreamRequestHandler):
    """A live node's database port: says who it is (as MariaDB greets first)."""

    def handle(self) -> None:
        self.wfile.write(f"{self.server.name}\n".encode())


def _serve(server: socketserver.BaseServer) -> socketserver.BaseServer:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def lb(tmp_path_factory) -> Iterator[pathlib.Path]:
    inv = loopback_cluster_inventory(
        NODES,
        groups={"control": ["ctl1"], "database": list(NODES),
                **{g: ["ctl1"] for g in ("messaging", "loadbalancer", "memcached", "storage")}},
        enabled_services=["keystone"],
        # The check passes all along: a long rise keeps ctl1 down through the test.
        haproxy={"maxconn": 2000, "check_rise": 30},
    )
    servers = [_serve(_Server((address, PORTS["galera_clustercheck"]), _Check)) for address in NODES.values()]
    for name in ("ctl2", "ctl3"):
        banner = _Server((NODES[name], DB_PORT), _Banner)
        banner.name = name
        servers.append(_serve(banner))
    # ctl1's database port: a listener whose accept queue is full and which never
    # accepts, so the kernel drops every further SYN -- a connect to it times out, the
    # way one to a host cut off the network does.
    dead = socket.socket()
    dead.bind((NODES["ctl1"], DB_PORT))
    dead.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex((NODES["ctl1"], DB_PORT))
        fillers.append(filler)
    out: pathlib.Path = tmp_path_factory.mktemp("haproxy-writer")
    cfg = render_haproxy_cfg(inv.hosts[0], inv, [galera_section(inv.group("database"))],
                             "st4ts-" + uuid.uuid4().hex[:8])
    try:
        with running_haproxy(cfg, out, "lbwriter") as (proc, log):
            wait_until("haproxy on the VIP", lambda: port_is_open(VIP, DB_PORT), 20, proc, log)
            wait_until("every node up", lambda: set(_states(out).values()) == {"2"}, 30, proc, log)
            yield out
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for sock in (*fillers, dead):
            sock.close()


def _states(out: pathlib.Path) -> dict[str, str]:
    # srv_op_state: 2 running, 0 stopped
    return {name: fields[5] for name, fields in haproxy_servers_state(out / "haproxy.sock", "mariadb").items()}


def _greeting() -> bytes:
    with socket.create_connection((VIP, DB_PORT), timeout=30) as client:
        return client.makefile("rb").readline()


def test_the_first_connection_the_writer_cannot_take_marks_it_down(lb):
    # This connection is cut when ctl1 is marked down (shutdown-sessions, there to cut the
    # sessions hung on a dead writer): its client reconnects, as after any failover.
    _greeting()
    # Marked down by that connection, not by its check, which still passes.
    assert _states(lb)["ctl1"] == "0"
    assert "Server mariadb/ctl1 is DOWN, reason: Health analyze" in (lb / "haproxy.log").read_text()
    # The next connection goes to the next writer (ctl2, the first backup) at once.
    assert _greeting() == b"ctl2\n"
