"""The dev stack, deployed for real into the three-host lab, does what HA promises.

Order matters in this module: the checks of the fresh deployment come first, then the
no-op redeploy, then the scale-out that changes the deployment, and last the guard's
refusal of a queue type switch (a preview: nothing changes).
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import dev_values
from tests.e2e.day2 import guard_plan, guarded_change
from tests.e2e.figures import FIGURES
from tests.e2e.lab_access import VIP, Deployment, host_address, http, keystone_token, memcached_roundtrip, wsrep
from lab.executor.run import run_stack
from offline.program import resolve

HOSTS = ["ctl1", "ctl2", "ctl3"]


def sql_via_vip(dep: Deployment, host: str, statement: str) -> str:
    db = resolve(dep.exports["database"])
    return dep.exec(
        host, "mariadb",
        f"MYSQL_PWD='{db['password']}' mysql -h {VIP} -u root -N -B -e \"{statement}\"",
    ).strip()


def test_galera_has_three_synced_members(deployment: Deployment) -> None:
    for host in HOSTS:
        status = wsrep(deployment, host)
        assert status["wsrep_cluster_size"] == "3", (host, status["wsrep_cluster_size"])
        assert status["wsrep_local_state_comment"] == "Synced", host
        assert status["wsrep_cluster_status"] == "Primary", host


def test_no_node_still_runs_as_bootstrapper(deployment: Deployment) -> None:
    for host in HOSTS:
        cmdline = deployment.exec(host, "mariadb", "tr '\\0' ' ' < /proc/1/cmdline")
        assert "wsrep-new-cluster" not in cmdline, (host, cmdline)


def test_a_row_written_through_the_vip_reads_back_on_every_node(deployment: Deployment) -> None:
    marker = uuid.uuid4().hex
    sql_via_vip(deployment, "ctl2", "CREATE DATABASE IF NOT EXISTS e2e; "
                "CREATE TABLE IF NOT EXISTS e2e.t (id VARCHAR(64) PRIMARY KEY); "
                f"INSERT INTO e2e.t VALUES ('{marker}')")
    for host in HOSTS:
        got = deployment.exec(host, "mariadb", f"mysql -N -B -e \"SELECT id FROM e2e.t WHERE id='{marker}'\"")
        assert got.strip() == marker, host


def test_haproxy_sends_database_traffic_to_one_writer(deployment: Deployment) -> None:
    writers = {sql_via_vip(deployment, host, "SELECT @@wsrep_node_name") for host in HOSTS for _ in range(3)}
    assert writers == {"ctl1"}, writers


def test_rabbitmq_three_nodes_one_cluster(deployment: Deployment) -> None:
    for host in HOSTS:
        status = json.loads(deployment.exec(host, "rabbitmq", "rabbitmqctl -q cluster_status --formatter json"))
        assert sorted(status["running_nodes"]) == ["rabbit@ctl1", "rabbit@ctl2", "rabbit@ctl3"], host


def _rabbit_api(deployment: Deployment, host: str, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    import base64

    auth = base64.b64encode(f"admin:{deployment.secret('rabbitmq_admin_password')}".encode()).decode()
    status, _, payload = http(method, f"http://{host_address(host)}:15672/api{path}", body,
                              {"Authorization": f"Basic {auth}"})
    return status, payload


def test_quorum_queue_message_published_on_one_node_is_consumed_on_another(deployment: Deployment) -> None:
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    status, _ = _rabbit_api(deployment, "ctl1", "PUT", f"/queues/%2F/{queue}",
                            {"durable": True, "arguments": {"x-queue-type": "quorum"}})
    assert status in (201, 204)
    status, payload = _rabbit_api(deployment, "ctl1", "POST", "/exchanges/%2F/amq.default/publish",
                                  {"properties": {}, "routing_key": queue, "payload": "hello", "payload_encoding": "string"})
    assert status == 200 and json.loads(payload)["routed"] is True
    status, payload = _rabbit_api(deployment, "ctl3", "POST", f"/queues/%2F/{queue}/get",
                                  {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"})
    assert status == 200
    messages = json.loads(payload)
    assert [m["payload"] for m in messages] == ["hello"]
    status, payload = _rabbit_api(deployment, "ctl2", "GET", f"/queues/%2F/{queue}")
    info = json.loads(payload)
    assert info["type"] == "quorum"
    assert sorted(info["members"]) == ["rabbit@ctl1", "rabbit@ctl2", "rabbit@ctl3"]


def test_vip_is_held_by_exactly_one_host(lab, deployment: Deployment) -> None:
    import subprocess

    holders = []
    for host in HOSTS:
        out = subprocess.run(["docker", "exec", f"kolla-ha-lab-{host}", "ip", "-4", "-o", "addr", "show"],
                             capture_output=True, text=True, check=True).stdout
        if f" {VIP}/" in out:
            holders.append(host)
    assert len(holders) == 1, holders


def haproxy_stats(deployment: Deployment, host: str) -> list[dict[str, str]]:
    """One HAProxy's stats CSV, a dict per server row (its header's field names)."""
    import base64
    import csv

    auth = base64.b64encode(f"admin:{deployment.secret('haproxy_stats_password')}".encode()).decode()
    status, _, payload = http("GET", f"http://{host_address(host)}:1984/;csv", headers={"Authorization": f"Basic {auth}"})
    assert status == 200
    rows = list(csv.DictReader(payload.decode().removeprefix("# ").splitlines()))
    return [r for r in rows if r["svname"] not in ("FRONTEND", "BACKEND") and r["pxname"] != "stats"]


def haproxy_servers(deployment: Deployment, host: str) -> list[tuple[str, str, str]]:
    """(backend, server, status) rows of one HAProxy's stats."""
    return [(r["pxname"], r["svname"], r["status"]) for r in haproxy_stats(deployment, host)]


def test_haproxy_stats_show_every_backend_up(deployment: Deployment) -> None:
    # The fault tests ran just before: a replica that a check took out while its host's
    # CPU was saturated (or whose host was cut off) must come back in by itself. A
    # minute bounds that; HAProxy's own reason is kept for a replica that does not.
    start = time.monotonic()
    first_down: list[str] = []
    while True:
        down = {host: [(r["pxname"], r["svname"], r["status"], r["check_status"], r["last_chk"])
                       for r in haproxy_stats(deployment, host) if r["status"] != "UP"]
                for host in HOSTS}
        first_down = first_down or [f"{host}:{row[0]}/{row[1]} {row[3]}" for host, rows in down.items() for row in rows]
        if not any(down.values()) or time.monotonic() - start > 60:
            break
        time.sleep(2)
    if first_down:
        FIGURES["backends down after the faults"] = (f"{', '.join(first_down)} at first look; "
                                                     f"{'all up' if not any(down.values()) else 'still down'} "
                                                     f"{time.monotonic() - start:.0f} s later")
    assert not any(down.values()), down
    for host in HOSTS:
        assert {s[0] for s in haproxy_servers(deployment, host)} >= {"mariadb", "keystone", "glance_api", "placement_api"}


def test_memcached_set_get_on_every_member_and_services_know_all(deployment: Deployment) -> None:
    for host in HOSTS:
        reply = memcached_roundtrip(host_address(host), f"e2e-{host}", "v-" + host)
        assert f"VALUE e2e-{host} 0 {len('v-' + host)}\r\nv-{host}\r\nEND" in reply
    expected = ",".join(f"{host_address(h)}:11211" for h in HOSTS)
    assert resolve(deployment.exports["memcached_servers"]) == expected
    for host in HOSTS:
        conf = deployment.exec(host, "keystone", "cat /etc/keystone/keystone.conf")
        assert f"memcache_servers = {expected}" in conf


def test_fernet_token_from_one_replica_validates_on_another(deployment: Deployment, admin_password: str) -> None:
    token, _ = keystone_token(f"http://{host_address('ctl1')}:5000", admin_password)
    for host in ("ctl2", "ctl3"):
        status, _, _ = http("GET", f"http://{host_address(host)}:5000/v3/auth/tokens",
                            headers={"X-Auth-Token": token, "X-Subject-Token": token})
        assert status == 200, host


def test_services_answer_through_the_vip_and_are_in_the_catalogue(deployment: Deployment, admin_password: str) -> None:
    token, body = keystone_token(f"http://{VIP}:5000", admin_password)
    catalogue = {entry["type"]: entry for entry in body["catalog"]}
    assert {"identity", "image", "placement"} <= set(catalogue)
    for service_type, port in (("image", 9292), ("placement", 8778)):
        urls = {e["interface"]: e["url"] for e in catalogue[service_type]["endpoints"]}
        assert urls["internal"].startswith(f"http://{VIP}:{port}")
        status, _, _ = http("GET", urls["internal"] + ("/v2/images" if service_type == "image" else "/resource_providers"),
                            headers={"X-Auth-Token": token,
                                     "OpenStack-API-Version": "placement 1.0"})
        assert status == 200, (service_type, status)


def test_redeploy_without_change_plans_nothing_and_restarts_nothing(deployment: Deployment, admin_password: str) -> None:
    before = deployment.started_at()
    start = time.monotonic()
    executor, _ = run_stack("dev", values=dev_values(), state_path=deployment.state_path,
                            secrets_given={"keystone_admin_password": admin_password})
    FIGURES["no-op redeploy (s)"] = round(time.monotonic() - start, 1)
    changes = [(s.op, s.name) for s in executor.plan if s.op != "same"]
    assert changes == []
    assert deployment.started_at() == before


# Long (minutes): left out of the default run, which CI runs; `python3 -m tests --soak`.
@pytest.mark.soak
def test_scale_out_to_a_fourth_host_while_clients_keep_working(lab, deployment: Deployment, admin_password: str) -> None:
    from lab import Lab

    assert Lab(hosts=4).up().healthy
    values = dev_values()
    values["hosts"] = values["hosts"] + [{
        "name": "ctl4", "address": host_address("ctl4"), "interface": "eth0",
        "ssh": dict(values["hosts"][0]["ssh"]),
    }]
    for group in ("control", "memcached"):
        values["groups"][group] = values["groups"][group] + ["ctl4"]
    before = deployment.started_at()
    change = guarded_change(deployment, values, admin_password, "scale out to ctl4")
    exports = change.exports
    deployment.hosts.append("ctl4")
    created = sorted(name for op, name in change.steps if op == "create")
    # The new member serves...
    assert "ctl4-keystone" in created and "ctl4-memcached" in created
    token, _ = keystone_token(f"http://{host_address('ctl4')}:5000", admin_password)
    assert token
    assert "10.199.0.14:11211" in resolve(exports["memcached_servers"])
    # ...infrastructure that does not consume the changed lists is untouched...
    after = deployment.started_at()
    for host in HOSTS:
        for name in ("mariadb", "rabbitmq", "keepalived", "memcached", "haproxy"):
            assert after[(host, name)] == before[(host, name)], f"{name} on {host} was restarted"
    # HAProxy learnt the new backends by reloading in place, one host after the other.
    reloads = [name for op, name in change.steps if name.endswith("-haproxy-config") and op == "update"]
    assert reloads == ["ctl1-haproxy-config", "ctl2-haproxy-config", "ctl3-haproxy-config"]
    for host in HOSTS:
        servers = haproxy_servers(deployment, host)
        assert ("keystone", "ctl4", "UP") in servers, (host, servers)
    # ...and the config consumers were replaced one host at a time, in host order.
    assert change.replaced("-keystone") == ["ctl1-keystone", "ctl2-keystone", "ctl3-keystone"]
    assert change.ok > 0
    assert change.errors == [], change.errors[:10]


def test_the_guard_refuses_a_queue_type_switch_of_the_running_cloud(deployment: Deployment,
                                                                      admin_password: str) -> None:
    # Found here: switched for real, the brokers rolled and then cinder-scheduler, restarted
    # with the new settings, crash-looped on a 406 from the exchange its predecessor made.
    values = dict(deployment.values)
    values["rabbitmq"] = {**values.get("rabbitmq", {}), "queue_type": "mirrored"}
    violations, _ = guard_plan(deployment, values, admin_password)
    assert [v.rule for v in violations] == ["queue-type-change"], violations
    assert "from quorum to mirrored" in violations[0].message
