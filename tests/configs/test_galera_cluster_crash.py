"""Three real mariadbd nodes (127.0.0.11-13, this machine's loopback) on the rendered
my.cnf, galera_bootstrap and galera_start of a three-host inventory: a full power loss
(every node SIGKILLed at once) and a start of all three again, as the hosts' restart
policies do after power returns. The cluster must come back by itself (pc.recovery
with the positions galera_start recovers), keep its state UUID, and hold every
committed row — no operator step.
"""
from __future__ import annotations

import pathlib
import subprocess
import time
import uuid

import pytest

from components import galera
from components.defaults import PORTS
from tests.configs.daemon_support import (end_marked, free_port, loopback_cluster_inventory, marked_env, run, start,
                                          tail)
from tests.configs.test_galera_daemon import SECRETS, localise

ADDRESSES = {"db1": "127.0.0.11", "db2": "127.0.0.12", "db3": "127.0.0.13"}
STATUS = ("wsrep_cluster_state_uuid", "wsrep_cluster_size", "wsrep_cluster_status", "wsrep_local_state_comment")


class Node:
    def __init__(self, name: str, base: pathlib.Path, env: dict[str, str]) -> None:
        self.name, self.base, self.env = name, base, env
        self.log = base / "mariadbd.log"
        self.server: subprocess.Popen | None = None

    def start(self) -> None:
        self.server = start(["bash", str(self.base / "etc" / "galera_start")], self.env, self.log)

    def sql(self, query: str) -> str | None:
        done = run(["mysql", "--no-defaults", f"--socket={self.base / 'run' / 'mysqld.sock'}", "-u", "root",
                    "-N", "-B", "-e", query], timeout_s=30)
        return done.stdout.strip() if done.returncode == 0 else None

    def status(self) -> dict[str, str]:
        names = ",".join(f"'{n}'" for n in STATUS)
        rows = self.sql(f"SHOW STATUS WHERE Variable_name IN ({names})") or ""
        return dict(line.split("\t", 1) for line in rows.splitlines())

    def synced(self, size: int = 3) -> bool:
        s = self.status()
        return (s.get("wsrep_local_state_comment"), s.get("wsrep_cluster_status"),
                s.get("wsrep_cluster_size")) == ("Synced", "Primary", str(size))


def _wait(what: str, condition, nodes: list[Node], timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    logs = "\n".join(f"--- {n.name}\n{tail(n.log)}" for n in nodes)
    raise AssertionError(f"{what}: not within {timeout_s}s\n{logs}")


@pytest.fixture()
def cluster(tmp_path: pathlib.Path):  # type: ignore[no-untyped-def]
    marker = f"galera3-{uuid.uuid4()}"
    ports = {**PORTS, **{k: free_port() for k in
                         ("mariadb", "galera_replication", "galera_ist", "galera_sst", "galera_clustercheck")}}
    inv = loopback_cluster_inventory(ADDRESSES, galera={"gcache_size": "32M", "innodb_buffer_pool_size": "64M"})
    members = inv.group("database")
    env = marked_env(marker)
    nodes = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(galera, "PORTS", ports)
        for member in members:
            base = tmp_path / member.name
            for folder in ("etc", "data", "run"):
                (base / folder).mkdir(parents=True)
            for name, text in galera.render_node_files(member, members, inv.tier("galera"), SECRETS).items():
                path = base / "etc" / name
                path.write_text(localise(text, base))
                path.chmod(0o700 if name.startswith("galera_") else 0o600)
            nodes.append(Node(member.name, base, env))
    try:
        done = run(["bash", str(nodes[0].base / "etc" / "galera_bootstrap")], env=env, timeout_s=180)
        assert done.returncode == 0, done.stderr[-2000:]
        # One at a time, as the program rolls them: each later node joins by state transfer.
        for size, node in enumerate(nodes, 1):
            node.start()
            _wait(f"{node.name} Synced", lambda n=node, s=size: n.synced(s), nodes, 180)
        yield nodes
    finally:
        survivors = end_marked(marker)
        assert not survivors, f"processes of the Galera test still running: {survivors}"


def test_a_full_power_loss_recovers_by_itself_with_its_state_and_rows(cluster: list[Node]) -> None:
    first = cluster[0]
    assert first.sql("CREATE DATABASE t; CREATE TABLE t.x (i INT PRIMARY KEY AUTO_INCREMENT, v INT); "
                     "INSERT INTO t.x (v) VALUES (1), (2), (3)") is not None
    state = first.status()["wsrep_cluster_state_uuid"]
    assert state.strip("0-")
    _wait("the rows on every node", lambda: all(n.sql("SELECT COUNT(*) FROM t.x") == "3" for n in cluster),
          cluster, 30)
    for node in cluster:
        assert node.server is not None
        node.server.kill()
    for node in cluster:
        assert node.server is not None
        node.server.wait(30)
        assert "seqno:   -1" in (node.base / "data" / "grastate.dat").read_text()
    for node in cluster:
        node.start()
    _wait("the primary component again, by itself", lambda: all(n.synced() for n in cluster), cluster, 180)
    for node in cluster:
        assert node.status()["wsrep_cluster_state_uuid"] == state, node.name
        assert node.sql("SELECT COUNT(*) FROM t.x") == "3", node.name
        assert "recovered its position" in node.log.read_text(errors="replace"), node.name
