"""A real HAProxy on the rendered config resends a request that a replica accepted and
then closed unanswered (a keystone replica being replaced mid-roll did exactly that:
`SH--`, 502) to the other replica -- including a POST whose body reaches HAProxy in a
second packet, the way Python's http.client (requests, keystoneauth, openstacksdk) sends
every request with a body: headers in one send(), body in the next.

HAProxy keeps a copy for an L7 retry only of a request it has received completely when
it first writes to the server; a POST forwarded on its headers alone is never retried.
"""
from __future__ import annotations

import pathlib
import socket
import socketserver
import threading
import time
import uuid
from typing import Iterator

import pytest

from components.catalog import CATALOG
from components.inventory import Inventory
from components.loadbalancer import render_haproxy_cfg
from components.stack import proxied_services
from tests.configs.daemon_support import (
    haproxy_servers_state, loopback_cluster_inventory, port_is_open, running_haproxy, wait_until,
)

VIP = "127.0.0.250"  # the loopback inventories' internal VIP
# Two loopback addresses of their own, so that the two replicas and the VIP share the
# keystone port as on a real cloud.
REPLICAS = {"ctl1": "127.0.0.21", "ctl2": "127.0.0.22"}
BODY = b'{"auth": {"identity": {"methods": ["password"]}}}'
REQUESTS = 20


def two_replica_inventory() -> Inventory:
    return loopback_cluster_inventory(
        REPLICAS,
        # Two keystone replicas; the quorum tiers on the first host alone (two members
        # could not keep quorum, and the inventory says so).
        groups={"control": list(REPLICAS),
                **{g: ["ctl1"] for g in ("database", "messaging", "loadbalancer", "memcached", "storage")}},
        enabled_services=["keystone"],
        # maxconn sized to the ulimit of a test machine (HAProxy wants 2 x maxconn files).
        haproxy={"maxconn": 2000},
    )


class _Replica(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: str, port: int, drops_posts: bool) -> None:
        self.drops_posts = drops_posts
        self.posts_seen = 0
        super().__init__((address, port), _Handler)


class _Handler(socketserver.StreamRequestHandler):
    """Answers HAProxy's health check; the dropping replica closes on every POST after
    reading it whole, without a byte of answer (what a replica dying mid-request does)."""

    server: _Replica

    def handle(self) -> None:
        request_line = self.rfile.readline()
        length = 0
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        self.rfile.read(length)
        if request_line.startswith(b"POST"):
            self.server.posts_seen += 1
            if self.server.drops_posts:
                return
        self.wfile.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


@pytest.fixture(scope="module")
def lb(tmp_path_factory) -> Iterator[dict[str, _Replica]]:
    inv = two_replica_inventory()
    port = CATALOG["keystone"].port
    replicas = {"ctl1": _Replica(REPLICAS["ctl1"], port, drops_posts=True),
                "ctl2": _Replica(REPLICAS["ctl2"], port, drops_posts=False)}
    for replica in replicas.values():
        threading.Thread(target=replica.serve_forever, daemon=True).start()
    out: pathlib.Path = tmp_path_factory.mktemp("haproxy-retry")
    cfg = render_haproxy_cfg(inv.hosts[0], inv, proxied_services(inv), "st4ts-" + uuid.uuid4().hex[:8])
    try:
        with running_haproxy(cfg, out, "lbretry") as (proc, log):
            wait_until("haproxy on the VIP", lambda: port_is_open(VIP, port), 20, proc, log)
            # Both servers UP (passed their health checks) before any request goes out.
            wait_until("both replicas up", lambda: _both_up(out / "haproxy.sock"), 30, proc, log)
            yield replicas
    finally:
        for replica in replicas.values():
            replica.shutdown()
            replica.server_close()


def _both_up(sock_path: pathlib.Path) -> bool:
    # srv_op_state 2: running (passed its health checks)
    return [f[5] for f in haproxy_servers_state(sock_path, "keystone").values()] == ["2", "2"]


def post_in_two_packets(delay_s: float) -> bytes:
    """A POST as http.client sends one: headers, then the body in a second send()."""
    head = (f"POST /v3/auth/tokens HTTP/1.1\r\nHost: {VIP}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((VIP, CATALOG["keystone"].port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(head)
        time.sleep(delay_s)
        s.sendall(BODY)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("delay_s", [0.0, 0.05])
def test_a_post_a_replica_drops_is_answered_by_the_other(lb, delay_s):
    before = lb["ctl1"].posts_seen
    statuses = [post_in_two_packets(delay_s) for _ in range(REQUESTS)]
    # Round robin offers at least every other POST to the dropping replica first; each of
    # those must have been resent to ctl2 and answered.
    assert lb["ctl1"].posts_seen - before >= REQUESTS // 4, "the dropping replica was never tried"
    failed = [s for s in statuses if not s.startswith(b"HTTP/1.1 201")]
    assert not failed, f"{len(failed)} of {REQUESTS} POSTs failed: {sorted(set(failed))}"
