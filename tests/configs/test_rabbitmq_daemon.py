"""A real rabbitmq-server on the rendered rabbitmq.conf, rabbitmq-env.conf,
definitions.json and Erlang cookie of a one-node inventory (rabbit@localhost on
127.0.0.1), with classic mirrored queues so the HA policy is imported too.

The server runs from a temporary folder through RabbitMQ's own environment variables;
the only edit to the rendered files is the definitions path (/etc/rabbitmq/...).
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import uuid

import pytest

from components import rabbitmq
from components.defaults import PORTS
from components.stack import rabbitmq_users
from tests.configs.daemon_support import (
    LOOPBACK, end_marked, free_port, listening_sockets, loopback_inventory, marked_env, marked_pids, run, start,
    tail, wait_until,
)

RABBITMQ_BIN = pathlib.Path("/usr/lib/rabbitmq/bin")
NODE = "rabbit@localhost"
ADMIN_PASSWORD = "admin-pw.1"
COOKIE = "KOLLAHACONFIGTESTCOOKIE0123456789abcdef"


@dataclasses.dataclass
class Rabbit:
    base: pathlib.Path
    env: dict
    ports: dict
    users: dict
    rendered: dict
    server: subprocess.Popen
    log: pathlib.Path
    marker: str

    def ctl(self, *args: str, tool: str = "rabbitmqctl", check: bool = True) -> subprocess.CompletedProcess:
        result = run([str(RABBITMQ_BIN / tool), "-n", NODE, *args], env=self.env, timeout_s=60)
        if check:
            assert result.returncode == 0, f"{tool} {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def json(self, *args: str):
        return json.loads(self.ctl(*args, "--formatter", "json", "-q").stdout)

    def eval(self, expression: str) -> str:
        return self.ctl("eval", expression, "-q").stdout.strip()


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    marker = f"rabbitmq-{uuid.uuid4()}"
    base = tmp_path_factory.mktemp("rabbitmq")
    etc, home, mnesia, logs = (base / d for d in ("etc", "home", "mnesia", "log"))
    for d in (etc, home, mnesia, logs):
        d.mkdir()
    ports = {**PORTS, **{k: free_port() for k in ("rabbitmq", "rabbitmq_management", "rabbitmq_dist")}}
    inv = loopback_inventory("localhost", rabbitmq={"queue_type": "mirrored"})
    members = inv.group("messaging")
    users = {u: f"{u}-pw.{i}" for i, u in enumerate(rabbitmq_users(inv))}
    secrets = {"admin_password": ADMIN_PASSWORD, "erlang_cookie": COOKIE, "users": users}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rabbitmq, "PORTS", ports)
        rendered = rabbitmq.render_node_files(members[0], members, inv.tier("rabbitmq"), secrets)
    assert "definitions.local.path = /etc/rabbitmq/definitions.json" in rendered["rabbitmq.conf"]
    for name in ("rabbitmq.conf", "rabbitmq-env.conf", "definitions.json"):
        (etc / name).write_text(rendered[name].replace("/etc/rabbitmq/", f"{etc}/"))
    cookie = home / ".erlang.cookie"
    cookie.write_text(rendered["erlang.cookie"])
    cookie.chmod(0o400)
    # The rendered plugin list: the management API must come up on the node address.
    (etc / "enabled_plugins").write_text(rendered["enabled_plugins"])
    env = marked_env(marker, {
        "HOME": str(home),
        "RABBITMQ_CONFIG_FILE": str(etc / "rabbitmq.conf"),
        "RABBITMQ_CONF_ENV_FILE": str(etc / "rabbitmq-env.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(etc / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(etc / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(mnesia),
        "RABBITMQ_LOG_BASE": str(logs),
        # a private epmd, so the test neither needs nor disturbs one on 4369
        "ERL_EPMD_PORT": str(free_port()),
    })
    log = base / "rabbitmq-server.log"
    server = start([str(RABBITMQ_BIN / "rabbitmq-server")], env, log, cwd=base)
    node = Rabbit(base, env, ports, users, rendered, server, log, marker)
    try:
        wait_until(
            "rabbitmq-server started",
            lambda: node.ctl("-q", "await_startup", "--timeout", "5", check=False).returncode == 0,
            90, server, log,
        )
        yield node
    finally:
        if server.poll() is None:
            node.ctl("shutdown", check=False)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                pass
        # epmd outlives the node by design; it, and anything else this test started, ends here.
        survivors = end_marked(marker)
        if server.poll() is None:
            server.kill()
            server.wait()
        assert not survivors, f"processes of the RabbitMQ test still running: {survivors}"


def test_server_started_cleanly(rabbit):
    assert rabbit.server.poll() is None, tail(rabbit.log)
    assert rabbit.eval("node().") == NODE
    assert "[error]" not in rabbit.log.read_text(errors="replace"), tail(rabbit.log)


def test_definitions_imported_users_and_no_guest(rabbit):
    users = {u["user"]: u["tags"] for u in rabbit.json("list_users")}
    assert set(users) == {"admin", *rabbit.users}
    assert "guest" not in users
    assert users["admin"] == ["administrator"]
    assert all(users[u] == [] for u in rabbit.users)
    permissions = {p["user"]: p for p in rabbit.json("list_permissions", "-p", "/")}
    assert set(permissions) == set(users)
    assert all((p["configure"], p["write"], p["read"]) == (".*", ".*", ".*") for p in permissions.values())


def test_service_users_authenticate_with_their_passwords(rabbit):
    for user, password in {**rabbit.users, "admin": ADMIN_PASSWORD}.items():
        assert rabbit.ctl("authenticate_user", user, password, check=False).returncode == 0, user
    wrong = rabbit.ctl("authenticate_user", "nova", "not-the-password", check=False)
    assert wrong.returncode != 0


def test_mirrored_queue_policy_is_ha_all_automatic_sync(rabbit):
    policies = rabbit.json("list_policies", "-p", "/")
    assert [p["name"] for p in policies] == ["ha-all"]
    policy = policies[0]
    definition = policy["definition"]
    if isinstance(definition, str):
        definition = json.loads(definition)
    assert definition == {"ha-mode": "all", "ha-sync-mode": "automatic"}
    assert policy["pattern"] == rabbitmq.MIRROR_PATTERN
    assert policy["apply-to"] == "queues"


def test_rendered_settings_took_effect(rabbit):
    assert rabbit.eval("application:get_env(rabbit, cluster_partition_handling).") == "{ok,pause_minority}"
    assert rabbit.eval("application:get_env(rabbit, vm_memory_high_watermark).") == "{ok,0.4}"
    assert rabbit.eval("application:get_env(rabbit, loopback_users).") == "{ok,[]}"
    environment = rabbit.ctl("environment", "-q").stdout
    assert "{cluster_partition_handling,pause_minority}" in environment
    status = rabbit.ctl("status", tool="rabbitmq-diagnostics").stdout
    assert str(rabbit.base / "etc" / "rabbitmq.conf") in status
    peers = rabbit.eval("application:get_env(rabbit, cluster_nodes).")
    assert NODE in peers


def beam_pids(rabbit) -> list:
    return [p for p in marked_pids(rabbit.marker)
            if pathlib.Path(f"/proc/{p}/exe").exists() and pathlib.Path(f"/proc/{p}/exe").resolve().name == "beam.smp"]


def test_listens_on_the_node_address_only(rabbit):
    listeners = rabbit.ctl("listeners", "-q", tool="rabbitmq-diagnostics").stdout
    assert f"Interface: {LOOPBACK}, port: {rabbit.ports['rabbitmq']}, protocol: amqp" in listeners
    assert f"Interface: {LOOPBACK}, port: {rabbit.ports['rabbitmq_dist']}, protocol: clustering" in listeners
    beams = beam_pids(rabbit)
    assert len(beams) == 1
    assert sorted(listening_sockets(beams)) == sorted(
        [
            f"{LOOPBACK}:{rabbit.ports['rabbitmq']}",
            f"{LOOPBACK}:{rabbit.ports['rabbitmq_dist']}",
            f"{LOOPBACK}:{rabbit.ports['rabbitmq_management']}",
        ]
    )


def test_management_api_listens_on_the_node_address_only(rabbit):
    import base64
    import urllib.request

    port = rabbit.ports["rabbitmq_management"]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/overview")
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert b"cluster_name" in response.read()
    # The socket itself, not `rabbitmqctl status`: RabbitMQ 3.10 reports plugin
    # listeners as [::] whatever they are bound to (rabbitmq-server issue 8242).
    assert f"{LOOPBACK}:{port}" in listening_sockets(beam_pids(rabbit))


def test_health_check_follows_the_rabbit_application(rabbit, monkeypatch):
    """The container's health check, as Docker runs it (`/bin/sh -c`): it passes while
    the node serves, fails once the rabbit application stops (what pause_minority does
    on the minority side), and passes again after it starts; and it leaves no log line.
    Last in this module: it stops and starts the shared node."""
    monkeypatch.setattr(rabbitmq, "PORTS", rabbit.ports)
    probe = rabbitmq.health_probe(LOOPBACK)

    def healthy() -> bool:
        return run(["/bin/sh", "-c", probe], timeout_s=30).returncode == 0

    lines_before = len(rabbit.log.read_text(errors="replace").splitlines())
    assert healthy()
    rabbit.ctl("stop_app")
    try:
        assert not healthy()
    finally:
        rabbit.ctl("start_app")
    rabbit.ctl("-q", "await_startup", "--timeout", "60")
    assert healthy()
    probe_lines = [line for line in rabbit.log.read_text(errors="replace").splitlines()[lines_before:]
                   if "AMQP connection" in line]
    assert probe_lines == []
