"""The rendered db_create.sh run against a real MariaDB: a service's databases and user,
and a rotated password as a new user while the previous one keeps working.

The server listens on a unix socket only (no TCP port), so it can run beside anything.
"""
from __future__ import annotations

import pathlib
import shutil
import uuid
from typing import Iterator

import pytest

from components.passwords import database_user
from components.rendering import render
from tests.configs.daemon_support import end_marked, marked_env, run, start, wait_until

pytestmark = pytest.mark.skipif(shutil.which("mariadbd") is None, reason="needs mariadb-server")

DATABASES = ("nova", "nova_api", "nova_cell0")


class Server:
    def __init__(self, base: pathlib.Path) -> None:
        self.socket = base / "mysqld.sock"
        self.root_cnf = base / "root.cnf"
        self.root_cnf.write_text(f"[client]\nuser = root\nsocket = {self.socket}\n")

    def sql(self, statement: str, user: str = "root", password: str | None = None) -> str:
        login = ["--no-defaults", f"--socket={self.socket}", "-u", user] + ([f"-p{password}"] if password else [])
        if user == "root":
            login = [f"--defaults-file={self.root_cnf}"]
        done = run(["mysql", *login, "-N", "-B", "-e", statement])
        assert done.returncode == 0, done.stderr
        return done.stdout

    def users(self) -> list[str]:
        return self.sql("SELECT User FROM mysql.user WHERE Host = '%' ORDER BY User").split()

    def db_create(self, generation: int, password: str) -> str:
        user = database_user("nova", generation)
        kept = [user] + ([database_user("nova", generation - 1)] if generation else [])
        script = render("openstack/db_create.sh.j2", databases=DATABASES, db_user=user, db_user_base="nova",
                        db_users_kept=kept, db_password=password, service="nova-api")
        done = run(["bash", "-c", script.replace("/etc/kolla-ha/db_root.cnf", str(self.root_cnf))])
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("mariadb")
    (base / "data").mkdir()
    marker = f"db-create-{uuid.uuid4().hex}"
    env = marked_env(marker)
    init = run(["mysql_install_db", "--no-defaults", "--user=root", f"--datadir={base / 'data'}",
                "--skip-test-db", "--auth-root-authentication-method=socket"], env=env, timeout_s=120)
    assert init.returncode == 0, init.stderr
    log = base / "mariadbd.log"
    proc = start(["mariadbd", "--no-defaults", "--user=root", f"--datadir={base / 'data'}", "--skip-networking",
                  f"--socket={base / 'mysqld.sock'}", f"--pid-file={base / 'mysqld.pid'}"], env, log)
    server = Server(base)
    try:
        wait_until("mariadbd answers", lambda: run(["mysqladmin", f"--defaults-file={server.root_cnf}", "ping"]
                                                   ).returncode == 0, 60, proc, log)
        yield server
    finally:
        assert end_marked(marker) == []


def test_databases_and_user_are_made_and_a_second_run_changes_nothing(server: Server) -> None:
    server.sql("CREATE USER IF NOT EXISTS 'glance'@'%' IDENTIFIED BY 'other'")
    server.db_create(0, "first'pass")
    server.db_create(0, "first'pass")
    assert set(DATABASES) <= set(server.sql("SHOW DATABASES").split())
    assert {"nova", "glance"} <= set(server.users())
    assert server.sql("SELECT 1", user="nova", password="first'pass").strip() == "1"


def test_a_rotation_adds_a_user_keeps_the_previous_and_drops_older_ones(server: Server) -> None:
    server.db_create(0, "first'pass")
    server.db_create(1, "second")
    # replicas not yet rolled still log in with the first password
    assert server.sql("SELECT 1", user="nova", password="first'pass").strip() == "1"
    assert server.sql("SELECT 1", user="nova_r1", password="second").strip() == "1"
    assert server.sql("SHOW GRANTS FOR 'nova_r1'@'%'").count("ALL PRIVILEGES") == len(DATABASES)
    out = server.db_create(2, "third")
    assert "dropping nova," in out
    users = server.users()
    assert "nova" not in users and {"nova_r1", "nova_r2", "glance"} <= set(users)
    server.db_create(3, "fourth")
    assert [u for u in server.users() if u.startswith("nova")] == ["nova_r2", "nova_r3"]
    assert server.sql("SELECT 1", user="nova_r3", password="fourth").strip() == "1"
