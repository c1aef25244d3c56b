"""The database's single writer on real HAProxies started on the rendered config: two
load balancers (peers) in front of three Galera-shaped nodes on 127.0.0.1-3, each a
TCP server that names itself on the database port and a cluster check that answers 200
or 503 as the test says. What is checked is HAProxy's routing: one writer, shared by the
peers, replaced when it fails and never taken back when it returns (no failback, which
would cut every session), moved by the membership script's `maint`, kept by a reload.
The Galera side of the same claims is measured in the lab (tests/e2e/test_faults.py).
"""
from __future__ import annotations

import dataclasses
import pathlib
import signal
import socket
import socketserver
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator

import pytest

from components.defaults import PORTS
from components.lb_membership import drain_script, ready_script
from components.loadbalancer import galera_section, render_haproxy_cfg
from components.inventory import parse_inventory
from ops.faults import STATS_SOCKET, TABLE_MARK, active_writer, stats_script
from tests.configs.daemon_support import end_marked, marked_env, port_is_open, run, start, tail, wait_until
from tests.unit.inventory_fixtures import make_config

PASSWORD = "st4ts-" + uuid.uuid4().hex[:12]
HOSTS = {"ctl1": "127.0.0.1", "ctl2": "127.0.0.2", "ctl3": "127.0.0.3"}
VIP = "127.0.0.250"


class Node:
    """A database node as HAProxy sees it: the database port names the node and keeps the
    session open until either side closes it; the cluster check answers `healthy`."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.healthy = True
        node = self

        class Check(BaseHTTPRequestHandler):
            # HAProxy's `option httpchk` with no URI asks `OPTIONS / HTTP/1.0`.
            def do_OPTIONS(self) -> None:  # noqa: N802 (http.server's name)
                self.send_response(200 if node.healthy else 503)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Database(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.sendall(f"{node.name}\n".encode())
                while self.request.recv(1024):
                    pass

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.check = HTTPServer((address, PORTS["galera_clustercheck"]), Check)
        self.database = socketserver.ThreadingTCPServer((address, PORTS["mariadb"]), Database)
        self.database.daemon_threads = True
        for server in (self.check, self.database):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in (self.check, self.database):
            server.shutdown()
            server.server_close()


@dataclasses.dataclass
class Balancer:
    name: str
    address: str
    port: int  # its database frontend: the VIP's address, a port of its own
    socket_path: pathlib.Path
    proc: object
    log: pathlib.Path

    def ask(self, question: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket_path))
            s.sendall(question.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode()

    def writer(self) -> str | None:
        """What ops.faults reads from a load balancer: its stats, then its table."""
        return active_writer(self.ask("show stat") + "\n" + TABLE_MARK + "\n" + self.ask("show table mariadb"))

    def status(self, server: str) -> str:
        rows = [line.split(",") for line in self.ask("show stat").splitlines()]
        return next(r[17] for r in rows if r[:2] == ["mariadb", server])

    def connect(self) -> tuple[socket.socket, str]:
        """A client session through this load balancer, and the node that answered."""
        conn = socket.create_connection((VIP, self.port), timeout=5)
        return conn, conn.makefile().readline().strip()


def closed_by_peer(conn: socket.socket) -> bool:
    conn.settimeout(0.2)
    try:
        return conn.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


@pytest.fixture(scope="module")
def nodes() -> Iterator[dict[str, Node]]:
    made = {name: Node(name, address) for name, address in HOSTS.items()}
    yield made
    for node in made.values():
        node.close()


@pytest.fixture()
def balancers(nodes: dict[str, Node], tmp_path: pathlib.Path) -> Iterator[list[Balancer]]:
    """ctl1's and ctl2's HAProxy, fresh (empty tables) for every test; ctl3's is down."""
    for node in nodes.values():
        node.healthy = True
    raw, keys = make_config(3, internal_network="127.0.0.0/8", internal_vip=VIP,
                            haproxy={"maxconn": 2000, "check_inter_ms": 300})
    for host in raw["hosts"]:
        host["address"] = HOSTS[host["name"]]
        host["interface"] = "lo"
    inv = parse_inventory(raw, keys)
    assert [h.name for h in inv.group("loadbalancer")] == list(HOSTS)
    marker = f"single-writer-{uuid.uuid4().hex[:8]}"
    started: list[Balancer] = []
    try:
        for index, host in enumerate(inv.group("loadbalancer")[:2]):
            cfg = render_haproxy_cfg(host, inv, [galera_section(inv.group("database"))], PASSWORD)
            # What differs from a kolla host: the runtime socket's folder, and each HAProxy's
            # database port (both bind the VIP's address here, as on hosts that share it).
            sock = tmp_path / f"{host.name}.sock"
            port = 13306 + index
            cfg = cfg.replace(STATS_SOCKET, str(sock)).replace(f"bind {VIP}:{PORTS['mariadb']}", f"bind {VIP}:{port}")
            path = tmp_path / f"{host.name}.cfg"
            path.write_text(cfg)
            assert run(["haproxy", "-c", "-q", "-f", str(path)]).returncode == 0
            log = tmp_path / f"{host.name}.log"
            proc = start(["haproxy", "-W", "-db", "-f", str(path)], marked_env(marker), log)
            balancer = Balancer(host.name, host.address, port, sock, proc, log)
            wait_until(f"haproxy {host.name}", lambda: port_is_open(VIP, port) and sock.exists(), 20, proc, log)
            wait_until(f"{host.name} sees every node UP",
                       lambda: all(balancer.status(n) == "UP" for n in HOSTS), 20, proc, log)
            started.append(balancer)
        yield started
    finally:
        end_marked(marker)
        for balancer in started:
            print(tail(balancer.log))


def shared(balancers: list[Balancer], writer: str) -> bool:
    return all(f"server_key={writer}" in b.ask("show table mariadb") for b in balancers)


def membership(script: str) -> None:
    done = run(["bash", "-c", script], input_text=PASSWORD + "\n")
    assert done.returncode == 0 and "not applied" not in done.stderr, done.stderr


def test_one_writer_named_in_every_load_balancers_table(balancers: list[Balancer]) -> None:
    lb1, lb2 = balancers
    answered = {lb1.connect()[1] for _ in range(5)}
    assert answered == {"ctl1"}
    wait_until("the peers share the writer", lambda: shared(balancers, "ctl1"), 10)
    assert lb1.writer() == lb2.writer() == "ctl1"
    assert lb2.connect()[1] == "ctl1"


def test_a_failed_writer_is_replaced_and_not_taken_back_when_it_returns(
        balancers: list[Balancer], nodes: dict[str, Node]) -> None:
    lb1, lb2 = balancers
    old, name = lb1.connect()
    assert name == "ctl1"
    nodes["ctl1"].healthy = False
    wait_until("ctl1 marked down", lambda: lb1.status("ctl1") == "DOWN", 10)
    # its sessions are cut at once: the client reconnects to the next writer
    assert closed_by_peer(old)
    after, name = lb1.connect()
    assert name == "ctl2"
    wait_until("the peers share the new writer", lambda: shared(balancers, "ctl2"), 10)
    nodes["ctl1"].healthy = True
    wait_until("ctl1 UP again", lambda: lb1.status("ctl1") == "UP" and lb2.status("ctl1") == "UP", 10)
    # no failback: the writer's sessions stay, new ones (on either balancer) go there too
    assert not closed_by_peer(after)
    assert {lb1.connect()[1] for _ in range(5)} | {lb2.connect()[1] for _ in range(5)} == {"ctl2"}
    assert lb1.writer() == lb2.writer() == "ctl2"


def test_maint_moves_the_writer_ready_does_not_move_it_back_and_a_reload_keeps_it(
        balancers: list[Balancer]) -> None:
    lb1, lb2 = balancers
    addresses = [b.address for b in balancers]
    assert lb1.connect()[1] == "ctl1"
    membership(drain_script(addresses, "mariadb", "ctl1", single_writer=True))
    assert lb1.connect()[1] == "ctl2"
    membership(ready_script(addresses, "mariadb", "ctl1"))
    wait_until("ctl1 UP again", lambda: lb1.status("ctl1") == "UP", 10)
    assert lb1.connect()[1] == "ctl2"
    wait_until("the peers share the new writer", lambda: shared(balancers, "ctl2"), 10)
    # A reload (what a config change does) hands the table to the new worker.
    lb1.proc.send_signal(signal.SIGUSR2)
    wait_until("the reloaded worker answers", lambda: "New worker" in lb1.log.read_text()
               and lb1.log.read_text().count("New worker") >= 2, 10)
    assert {lb1.connect()[1] for _ in range(5)} == {"ctl2"}
    assert lb1.writer() == "ctl2"


def test_the_injectors_probe_reads_the_same_answers(balancers: list[Balancer]) -> None:
    """ops.faults asks through `docker exec haproxy python3 -c ...`: the same program, run
    here against a real socket, must find the writer this HAProxy uses."""
    lb1, _ = balancers
    assert lb1.connect()[1] == "ctl1"
    program = stats_script().split(" python3 -c ", 1)[1]
    done = run(["bash", "-c", f"python3 -c {program}".replace(STATS_SOCKET, str(lb1.socket_path))])
    assert done.returncode == 0, done.stderr
    assert TABLE_MARK in done.stdout and "server_key=ctl1" in done.stdout
    assert active_writer(done.stdout) == "ctl1"
