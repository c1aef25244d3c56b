"""A real mariadbd with wsrep ON, run on the rendered my.cnf of a one-node inventory
(127.0.0.1), brought up by the rendered galera_bootstrap and galera_start scripts and
judged by the rendered galera_clustercheck.

The rendered files name the container's paths (/etc/mysql, /var/lib/mysql,
/run/mysqld) and user (mysql); the copies run here differ only in those, pointing at a
temporary folder and root, so the test needs no access to the host's MariaDB.
"""
from __future__ import annotations

import dataclasses
import http.client
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid

import pytest

from components import galera
from components.defaults import PORTS, HAProxyTunables
from tests.configs.daemon_support import (
    LOOPBACK, end_marked, free_port, listening_sockets, loopback_inventory, marked_env, run, start, tail,
    wait_until,
)

# Passwords with the characters that break naive SQL and shell quoting.
SECRETS = {
    "root_password": "r'oo\"t$HOME`id`\\x",
    "sst_password": "sst-pw_1.x",
    "monitor_password": "mon-itor.pw+1",
}


@dataclasses.dataclass
class Galera:
    base: pathlib.Path
    etc: pathlib.Path
    data: pathlib.Path
    run: pathlib.Path
    ports: dict
    rendered: dict
    bootstrap: subprocess.CompletedProcess
    server: subprocess.Popen
    log: pathlib.Path
    env: dict

    def sql(self, query: str, user: str = "root", password: str | None = None) -> list[list[str]]:
        result = run(
            ["mysql", "--no-defaults", "-h", LOOPBACK, "-P", str(self.ports["mariadb"]), "-u", user,
             f"--password={SECRETS['root_password'] if password is None else password}", "-N", "-B", "-e", query],
            timeout_s=30,
        )
        assert result.returncode == 0, f"{query!r} as {user}: {result.stderr}"
        return [line.split("\t") for line in result.stdout.splitlines()]

    def value(self, query: str) -> str:
        rows = self.sql(query)
        assert len(rows) == 1, rows
        return rows[0][-1]


def localise(text: str, base: pathlib.Path) -> str:
    return (
        text.replace("/var/lib/mysql", str(base / "data"))
        .replace("/etc/mysql", str(base / "etc"))
        .replace("/run/mysqld", str(base / "run"))
        .replace("user = mysql", "user = root")
        .replace("--user=mysql", "--user=root")
    )


def http_check(cmd: list[str], env: dict) -> tuple[int, str]:
    """Exit code and output of a clustercheck, CRLF kept (HAProxy parses it as HTTP)."""
    result = subprocess.run(cmd, env=env, capture_output=True, timeout=30)
    return result.returncode, result.stdout.decode()


def mysqladmin(socket: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return run(["mysqladmin", "--no-defaults", f"--socket={socket}", "-u", "root", *args], timeout_s=60)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    marker = f"galera-{uuid.uuid4()}"
    base = tmp_path_factory.mktemp("galera")
    etc, data, rundir = base / "etc", base / "data", base / "run"
    for d in (etc, data, rundir):
        d.mkdir()
    ports = {**PORTS, **{k: free_port() for k in ("mariadb", "galera_replication", "galera_ist", "galera_sst", "galera_clustercheck")}}
    # gcache and buffer pool are sized for a lab: the defaults allocate 1G each.
    inv = loopback_inventory("db1", galera={"gcache_size": "32M", "innodb_buffer_pool_size": "64M"})
    members = inv.group("database")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(galera, "PORTS", ports)
        rendered = galera.render_node_files(members[0], members, inv.tier("galera"), SECRETS)
    for name, text in rendered.items():
        path = etc / name
        path.write_text(localise(text, base))
        path.chmod(0o700 if name.startswith("galera_") else 0o600)
    env = marked_env(marker)
    log = base / "mariadbd.log"
    server = None
    try:
        bootstrap = run(["bash", str(etc / "galera_bootstrap")], env=env, timeout_s=180)
        assert bootstrap.returncode == 0, f"galera_bootstrap failed:\n{bootstrap.stdout}\n{bootstrap.stderr}"
        server = start(["bash", str(etc / "galera_start")], env, log)
        socket = rundir / "mysqld.sock"
        wait_until("mariadbd answers", lambda: mysqladmin(socket, "ping").returncode == 0, 90, server, log)
        g = Galera(base, etc, data, rundir, ports, rendered, bootstrap, server, log, env)
        wait_until("wsrep Synced", lambda: g.value("SHOW STATUS LIKE 'wsrep_local_state_comment'") == "Synced", 60, server, log)
        yield g
    finally:
        if server is not None and server.poll() is None:
            mysqladmin(rundir / "mysqld.sock", "shutdown")
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                pass
        survivors = end_marked(marker)
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        assert not survivors, f"processes of the Galera test still running: {survivors}"


def test_bootstrap_initialised_the_node_and_start_formed_the_cluster(db):
    assert "db1 initialised; its first start forms the cluster" in db.bootstrap.stdout
    # galera_start consumed the marker, so a restart joins instead of splitting
    assert not (db.data / "kolla-ha-new-cluster").exists()
    log = db.log.read_text(errors="replace")
    assert "bootstrapping a new Galera cluster on db1" in log
    assert "[ERROR]" not in log, tail(db.log)


def test_single_member_cluster_is_synced_and_primary(db):
    assert db.value("SHOW STATUS LIKE 'wsrep_cluster_size'") == "1"
    assert db.value("SHOW STATUS LIKE 'wsrep_local_state_comment'") == "Synced"
    assert db.value("SHOW STATUS LIKE 'wsrep_cluster_status'") == "Primary"
    assert db.value("SHOW STATUS LIKE 'wsrep_ready'") == "ON"


def test_rendered_server_settings_took_effect(db):
    assert db.value("SELECT @@wsrep_on") == "1"
    assert db.value("SELECT @@binlog_format") == "ROW"
    assert db.value("SELECT @@innodb_autoinc_lock_mode") == "2"
    assert db.value("SELECT @@wsrep_cluster_name") == "kolla-ha"
    assert db.value("SELECT @@wsrep_node_name") == "db1"
    assert db.value("SELECT @@wsrep_sst_method") == "mariabackup"
    assert db.value("SELECT @@bind_address") == LOOPBACK
    assert db.value("SELECT @@port") == str(db.ports["mariadb"])
    assert db.value("SELECT @@max_connections") == "10000"
    assert f"gmcast.listen_addr = tcp://{LOOPBACK}:{db.ports['galera_replication']}" in db.value("SELECT @@wsrep_provider_options")


def test_bootstrap_created_its_users(db):
    # root@% logged in over TCP with a password full of quotes, $ and backticks
    assert db.value("SELECT CURRENT_USER()") == "root@%"
    grants = " ".join(r[0] for r in db.sql("SHOW GRANTS FOR 'sst'@'localhost'"))
    for privilege in ("RELOAD", "PROCESS", "LOCK TABLES", "BINLOG MONITOR"):
        assert privilege in grants
    assert db.sql("SELECT CURRENT_USER()", user="monitor", password=SECRETS["monitor_password"]) == [["monitor@%"]]
    assert db.value("SELECT COUNT(*) FROM mysql.user WHERE user = ''") == "0"


def test_server_listens_on_the_node_address_only(db):
    # galera_start execs mariadbd, so the started process is the server itself
    assert pathlib.Path(f"/proc/{db.server.pid}/exe").resolve().name == "mariadbd"
    sockets = listening_sockets([db.server.pid])
    assert sorted(sockets) == sorted([f"{LOOPBACK}:{db.ports['mariadb']}", f"{LOOPBACK}:{db.ports['galera_replication']}"])


def test_clustercheck_answers_200_while_synced(db):
    code, out = http_check([sys.executable, str(db.etc / "galera_clustercheck")], db.env)
    assert code == 0, out
    head, body = out.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    assert f"Content-Length: {len(body.encode())}" in head
    assert "Galera node db1 is synced." in body


def test_clustercheck_answers_alike_on_an_image_without_pymysql(db):
    # python -S: no site-packages, so no pymysql; the check runs the mysql client.
    assert http_check([sys.executable, str(db.etc / "galera_clustercheck")], db.env) == \
        http_check([sys.executable, "-S", str(db.etc / "galera_clustercheck")], db.env)


def test_clustercheck_answers_503_when_the_node_is_unreachable(db, tmp_path):
    cnf = tmp_path / "clustercheck.cnf"
    cnf.write_text((db.etc / "clustercheck.cnf").read_text().replace(f"port = {db.ports['mariadb']}", f"port = {free_port()}"))
    script = (db.etc / "galera_clustercheck").read_text().replace(str(db.etc / "clustercheck.cnf"), str(cnf))
    code, out = http_check([sys.executable, "-c", script], db.env)
    # The same answer without pymysql (the mysql client's path).
    assert http_check([sys.executable, "-S", "-c", script], db.env) == (code, out)
    assert code == 1
    head, body = out.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 503 Service Unavailable\r\n")
    assert f"Content-Length: {len(body.encode())}" in head
    assert "state=down cluster=down" in body


def test_the_served_check_answers_haproxys_request_and_a_frozen_server_with_503(db):
    port = free_port()
    log = db.base / "clustercheck-serve.log"
    server = start([sys.executable, str(db.etc / "galera_clustercheck"), "--serve", LOOPBACK, str(port)], db.env, log)
    try:
        def ask() -> tuple[int, str]:
            # What `option httpchk` sends: OPTIONS / over HTTP/1.0.
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=15)
            conn._http_vsn_str = "HTTP/1.0"
            try:
                conn.request("OPTIONS", "/")
                answer = conn.getresponse()
                return answer.status, answer.read().decode()
            finally:
                conn.close()

        wait_until("the check listens", lambda: f"{LOOPBACK}:{port}" in listening_sockets([server.pid]), 30, server, log)
        assert ask() == (200, "Galera node db1 is synced.\r\n")
        # A frozen mariadbd still has its socket: the kernel accepts, nobody answers.
        os.kill(db.server.pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            code, body = ask()
            waited = time.monotonic() - began
        finally:
            os.kill(db.server.pid, signal.SIGCONT)
        assert code == 503 and "state=down cluster=down" in body, body
        # Answered (after the script's 5 s) before HAProxy's default timeout_check would
        # give up on the check and count a failure without any answer.
        assert HAProxyTunables().timeout_check == "10s"
        assert waited < 10, waited
        assert ask()[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def clustercheck_for(db, sst_method: str) -> str:
    """The node's clustercheck as the program renders it for `sst_method`, localised."""
    inv = loopback_inventory("db1", galera={"gcache_size": "32M", "innodb_buffer_pool_size": "64M",
                                            "sst_method": sst_method})
    members = inv.group("database")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(galera, "PORTS", db.ports)
        text = galera.render_node_files(members[0], members, inv.tier("galera"), SECRETS)["galera_clustercheck"]
    return localise(text, db.base)


def test_a_donor_still_serves_with_mariabackup_and_not_with_rsync(db):
    # wsrep_desync puts the node in the state a donor is in (2, Donor/Desynced).
    db.sql("SET GLOBAL wsrep_desync = ON")
    try:
        wait_until("Donor/Desynced", lambda: db.value("SHOW STATUS LIKE 'wsrep_local_state'") == "2", 30)
        code, out = http_check([sys.executable, "-c", clustercheck_for(db, "mariabackup")], db.env)
        assert code == 0 and out.startswith("HTTP/1.1 200 OK\r\n"), out
        assert "Galera node db1 is a donor and still serves" in out
        code, out = http_check([sys.executable, "-c", clustercheck_for(db, "rsync")], db.env)
        assert code == 1 and out.startswith("HTTP/1.1 503 Service Unavailable\r\n"), out
        assert "state=2 cluster=Primary" in out
    finally:
        db.sql("SET GLOBAL wsrep_desync = OFF")
    wait_until("Synced again", lambda: db.value("SHOW STATUS LIKE 'wsrep_local_state'") == "4", 30)


def test_bootstrap_does_nothing_on_an_initialised_datadir(db):
    again = run(["bash", str(db.etc / "galera_bootstrap")], env=db.env, timeout_s=60)
    assert again.returncode == 0, again.stderr
    assert "belongs to a Galera node already; no bootstrap needed" in again.stdout
    assert not (db.data / "kolla-ha-new-cluster").exists()
    assert db.value("SHOW STATUS LIKE 'wsrep_cluster_size'") == "1"


def test_a_node_that_crashed_starts_from_its_recovered_position(db):
    # Last in this module: it crashes the server and starts it again. A crash leaves
    # seqno -1 in grastate.dat; galera_start must recover the real position, or the
    # cluster the node forms again has no state UUID and no joiner can ever sync from it.
    cluster = db.value("SHOW STATUS LIKE 'wsrep_cluster_state_uuid'")
    committed = int(db.value("SHOW STATUS LIKE 'wsrep_last_committed'"))
    assert cluster and cluster != "00000000-0000-0000-0000-000000000000"
    db.server.kill()
    db.server.wait(30)
    assert "seqno:   -1" in (db.data / "grastate.dat").read_text()
    db.server = start(["bash", str(db.etc / "galera_start")], db.env, db.log)
    wait_until("mariadbd answers", lambda: mysqladmin(db.run / "mysqld.sock", "ping").returncode == 0, 120,
               db.server, db.log)
    wait_until("wsrep Synced", lambda: db.value("SHOW STATUS LIKE 'wsrep_local_state_comment'") == "Synced", 60,
               db.server, db.log)
    assert "recovered its position" in db.log.read_text()
    assert db.value("SHOW STATUS LIKE 'wsrep_cluster_state_uuid'") == cluster
    assert int(db.value("SHOW STATUS LIKE 'wsrep_last_committed'")) >= committed
