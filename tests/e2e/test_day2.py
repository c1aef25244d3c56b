"""Day-2 changes on the deployed stack, each planned, passed by the HA guard, and run
under a token client: 0 failed requests, and the replacements one host at a time.

Runs after test_ha_stack.py (see conftest's module order): with `--soak` the stack has
four control hosts then (its scale-out), so the dead-host runbook (ctl4 dies) comes
first, then the dead database host's (ctl1 dies, a blank ctl1 takes its place), then
scale-in (ctl4 leaves alive).
"""
from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

import docker
import pytest

from lab.executor.run import run_stack
from tests.e2e.day2 import guarded_change
from tests.e2e.lab_access import VIP, Deployment, host_address, http, keystone_token, wsrep


def _values(deployment: Deployment) -> dict:
    return copy.deepcopy(deployment.values)


def _one_at_a_time(replaced: list[str], suffix: str, hosts: list[str]) -> None:
    assert replaced == [f"{h}{suffix}" for h in hosts], replaced


def _with_ctl4(deployment: Deployment, admin_password: str, label: str) -> dict:
    """The deployed values with ctl4 as a control and memcached host, added if missing
    (the lab's fourth host started first, blank if it was gone)."""
    from lab import Lab

    values = _values(deployment)
    if "ctl4" not in [h["name"] for h in values["hosts"]]:
        assert Lab(hosts=4).up().healthy
        values["hosts"].append({"name": "ctl4", "address": host_address("ctl4"), "interface": "eth0",
                                "ssh": dict(values["hosts"][0]["ssh"])})
        for group in ("control", "memcached"):
            values["groups"][group] = values["groups"][group] + ["ctl4"]
        change = guarded_change(deployment, values, admin_password, label)
        assert change.errors == [], change.errors[:10]
        if "ctl4" not in deployment.hosts:
            deployment.hosts.append("ctl4")
        values = _values(deployment)
    return values


def _without(values: dict, host: str) -> dict:
    values = copy.deepcopy(values)
    values["hosts"] = [h for h in values["hosts"] if h["name"] != host]
    values["groups"] = {g: [m for m in members if m != host] for g, members in values["groups"].items()}
    return values


# Long (minutes): left out of the default run, which CI runs; `python3 -m tests --soak`.
@pytest.mark.soak
def test_a_dead_host_is_replaced_by_the_runbook_without_a_failed_request(lab, deployment: Deployment,
                                                                         admin_password: str) -> None:
    """README "Replace a dead host": its daemon and sshd are gone for good, so nothing of it
    can be deleted; its resources are forgotten, the survivors roll without it, and a new
    machine under its name joins as any new host does."""
    from lab import Lab
    from lab.executor.state_delete import forget_host
    from lab.topology import LabHost

    values = _with_ctl4(deployment, admin_password, "scale out to ctl4 (before it dies)")
    Lab._remove_host(LabHost(4))  # pylint: disable=protected-access  # power and disk gone
    deployment.hosts.remove("ctl4")
    forgotten = forget_host(deployment.state_path, host_address("ctl4"))
    assert any(urn.endswith("::ctl4-keystone") for urn in forgotten), forgotten
    change = guarded_change(deployment, _without(values, "ctl4"), admin_password, "dead ctl4 removed")
    assert change.errors == [], change.errors[:10]
    assert not [name for op, name in change.steps if name.startswith("ctl4-")], change.steps
    for host in ("ctl1", "ctl2", "ctl3"):
        cfg = deployment.exec(host, "haproxy", "cat /etc/haproxy/haproxy.cfg")
        assert f"{host_address('ctl4')}:" not in cfg, host
    # A new machine under the same name: the lab creates it blank, the program adds it.
    _with_ctl4(deployment, admin_password, "a new ctl4 replaces the dead one")
    token, _ = keystone_token(f"http://{host_address('ctl4')}:5000", admin_password)
    assert token


def _quorum_queue_members(deployment: Deployment, host: str) -> dict[str, list[str]]:
    listed = deployment.exec(host, "rabbitmq", "rabbitmqctl -q list_queues name type members --formatter json")
    return {q["name"]: sorted(q["members"]) for q in json.loads(listed) if q["type"] == "quorum"}


# Long (minutes): left out of the default run, which CI runs; `python3 -m tests --soak`.
@pytest.mark.soak
def test_a_dead_database_host_is_replaced_under_its_name_without_a_failed_request(
        lab, deployment: Deployment, admin_password: str) -> None:
    """README "Replace a dead node", the database and messaging case: the first database
    host (Galera's bootstrapper, the first Ceph monitor, where the one-shot steps run,
    and the VIP holder of a fresh deploy) dies for good and a blank machine takes its
    name and address. The stack's values do not change, so the survivors are not
    touched: only the new machine's resources are made, and each of its members joins
    its running cluster."""
    from lab import Lab
    from lab.executor.state_delete import forget_host
    from lab.topology import LabHost

    values = _values(deployment)
    dead = values["groups"]["database"][0]
    survivor = next(h for h in values["groups"]["database"] if h != dead)
    others = [h for h in deployment.hosts if h != dead]
    hosts_in_lab = len(Lab.existing_hosts())
    Lab._remove_host(LabHost(int(dead.removeprefix("ctl"))))  # pylint: disable=protected-access
    # Runbook step 1: the RabbitMQ cluster forgets the dead node, which also takes it
    # out of every quorum queue; the survivors call it down only once their
    # distribution link to it has timed out.
    deadline = time.monotonic() + 180
    while True:
        try:
            deployment.exec(survivor, "rabbitmq", f"rabbitmqctl forget_cluster_node rabbit@{dead}")
            break
        except AssertionError:
            assert time.monotonic() < deadline, f"rabbit@{dead} was never forgotten"
            time.sleep(5)
    # Step 2: what lived on it is forgotten; step 3: the new machine, blank.
    forgotten = forget_host(deployment.state_path, host_address(dead))
    assert any(urn.endswith(f"::{dead}-mariadb") for urn in forgotten), forgotten
    assert Lab(hosts=hosts_in_lab).up().healthy
    before = {k: v for k, v in deployment.started_at().items() if k[0] in others}
    # Step 4: the unchanged values, through the guard, under the token client.
    change = guarded_change(deployment, values, admin_password, f"dead {dead} replaced under its name")
    assert change.errors == [], change.errors[:10]
    # Nothing of the survivors is replaced or deleted, and none of their containers
    # restarted; besides the new machine's resources, only the first host's commands
    # (made again, each a no-op on a running cluster) and the ring files (rewritten with
    # the same rings) run.
    assert not [s for s in change.steps if s[0] in ("replace", "delete")], change.steps
    elsewhere = {name for op, name in change.steps if name != dead and not name.startswith(f"{dead}-")}
    assert elsewhere <= {"galera-bootstrap-finish", "galera-root-password",
                         *(f"{h}-swift_ring_files" for h in others)}, elsewhere
    after = {k: v for k, v in deployment.started_at().items() if k[0] in others}
    assert after == before
    for host in values["groups"]["database"]:
        galera = wsrep(deployment, host)
        assert (galera["wsrep_cluster_size"], galera["wsrep_local_state_comment"]) == (
            str(len(values["groups"]["database"])), "Synced"), host
    running = json.loads(deployment.exec(dead, "rabbitmq", "rabbitmqctl -q cluster_status --formatter json"))
    assert sorted(running["running_nodes"]) == sorted(f"rabbit@{h}" for h in values["groups"]["messaging"]), running
    # Step 5: the new node becomes a member of every quorum queue again.
    deployment.exec(survivor, "rabbitmq", f"rabbitmq-queues grow rabbit@{dead} all")
    members = _quorum_queue_members(deployment, survivor)
    assert members and all(f"rabbit@{dead}" in m and len(m) == len(running["running_nodes"])
                                for m in members.values()), members
    # Step 6: the dead OSD (down, under the host's name in CRUSH) leaves the cluster;
    # the new one, made on the blank disk, took a new id.
    tree = json.loads(deployment.exec(survivor, "ceph_mon", "ceph osd tree -f json"))
    host_bucket = next(n for n in tree["nodes"] if n["type"] == "host" and n["name"] == dead)
    old = [n["id"] for n in tree["nodes"] if n["id"] in host_bucket["children"] and n.get("status") == "down"]
    assert len(old) == 1, tree
    deployment.exec(survivor, "ceph_mon", f"ceph osd purge {old[0]} --yes-i-really-mean-it")
    ceph = json.loads(deployment.exec(survivor, "ceph_mon", "ceph status -f json"))
    assert sorted(ceph["quorum_names"]) == sorted(values["groups"]["database"]), ceph["quorum_names"]
    osdmap = ceph["osdmap"]
    assert osdmap["num_osds"] == osdmap["num_up_osds"] == len(values["groups"]["storage"]), osdmap
    token, _ = keystone_token(f"http://{host_address(dead)}:5000", admin_password)
    assert token


# Long (minutes): left out of the default run, which CI runs; `python3 -m tests --soak`.
@pytest.mark.soak
def test_scale_in_removes_a_live_host_without_a_failed_request(deployment: Deployment, admin_password: str) -> None:
    values = _with_ctl4(deployment, admin_password, "scale out to ctl4 (again)")
    change = guarded_change(deployment, _without(values, "ctl4"), admin_password, "scale in (ctl4 removed)")
    assert change.errors == [], change.errors[:10]
    deleted = [name for op, name in change.steps if op == "delete"]
    assert "ctl4-keystone" in deleted and "ctl4-memcached" in deleted
    if "ctl4" in deployment.hosts:
        deployment.hosts.remove("ctl4")


def test_a_tunable_of_every_tier_rolls_without_a_failed_request(deployment: Deployment, admin_password: str) -> None:
    values = _values(deployment)
    values["galera"] = {**values.get("galera", {}), "max_connections": 600}
    values["rabbitmq"] = {**values.get("rabbitmq", {}), "vm_memory_high_watermark": 0.45}
    values["haproxy"] = {**values.get("haproxy", {}), "timeout_client": "2m"}
    values["memcached"] = {**values.get("memcached", {}), "memory_mb": 96}
    values["keepalived"] = {**values.get("keepalived", {}), "check_fall": 3}
    change = guarded_change(deployment, values, admin_password, "a tunable of every tier")
    assert change.errors == [], change.errors[:10]
    hosts = ["ctl1", "ctl2", "ctl3"]
    _one_at_a_time(change.replaced("-mariadb"), "-mariadb", hosts)
    _one_at_a_time(change.replaced("-rabbitmq"), "-rabbitmq", hosts)
    _one_at_a_time(change.replaced("-memcached"), "-memcached", hosts)
    # HAProxy and keepalived take their new config in place: reloaded, never replaced
    # (a replacement on the VIP holder would move the VIP).
    for lb in ("haproxy", "keepalived"):
        assert change.replaced(f"-{lb}") == []
        assert [name for op, name in change.steps if name.endswith(f"-{lb}-config") and op == "update"] == [
            f"{h}-{lb}-config" for h in hosts]


def test_fernet_keys_rotate_and_older_tokens_still_validate(deployment: Deployment, admin_password: str) -> None:
    before, _ = keystone_token(f"http://{VIP}:5000", admin_password)
    values = _values(deployment)
    values["keystone"] = {**values.get("keystone", {}), "fernet_rotation": 1}
    change = guarded_change(deployment, values, admin_password, "Fernet key rotation")
    assert change.errors == [], change.errors[:10]
    assert change.replaced("-keystone")[:3] == ["ctl1-keystone", "ctl2-keystone", "ctl3-keystone"]
    after, _ = keystone_token(f"http://{VIP}:5000", admin_password)
    for token in (before, after):
        for host in ("10.199.0.11", "10.199.0.12", "10.199.0.13"):
            status, _, _ = http("GET", f"http://{host}:5000/v3/auth/tokens",
                                headers={"X-Auth-Token": token, "X-Subject-Token": token})
            assert status == 200, (host, token is before)


class StepKiller(threading.Thread):
    """Kills the container `name` on a host the moment it starts, once: a one-shot step
    that dies midway (out of memory, a host hiccup), as far as `pulumi up` can tell."""

    def __init__(self, client: docker.DockerClient, name: str) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.name = name
        self.killed = False
        self.events: Any = client.api.events(
            decode=True, filters={"type": "container", "event": "start", "container": name})

    def run(self) -> None:
        for event in self.events:
            if event.get("Actor", {}).get("Attributes", {}).get("name") == self.name:
                self.client.api.kill(self.name)
                self.killed = True
                return

    def stop(self) -> None:
        self.events.close()
        self.join(timeout=10)


def test_a_killed_one_shot_step_runs_again_on_the_next_up(deployment: Deployment, admin_password: str) -> None:
    """README "A one-shot step failed": no --replace, no state surgery, the next `up` runs it."""
    values = _values(deployment)
    passwords = dict(values.get("passwords") or {})
    rotations = dict(passwords.get("rotations") or {})
    rotations["placement_database_password"] = rotations.get("placement_database_password", 0) + 1
    values["passwords"] = {**passwords, "rotations": rotations}
    before = deployment.started_at()
    killer = StepKiller(deployment.docker("ctl1"), "placement_bootstrap")
    killer.start()
    try:
        with pytest.raises(Exception) as failed:
            run_stack("dev", values=values, state_path=deployment.state_path,
                      secrets_given={"keystone_admin_password": admin_password})
    finally:
        killer.stop()
    assert killer.killed
    assert "one-shot step placement_bootstrap on ctl1 exited with 137" in str(failed.value), failed.value
    # Nothing that waits for the step was touched: every placement replica still runs.
    after = deployment.started_at()
    assert {k: v for k, v in after.items() if k[1] == "placement_api"} == {
        k: v for k, v in before.items() if k[1] == "placement_api"}
    # The same values again: the step runs again and the rotation finishes.
    change = guarded_change(deployment, values, admin_password, "placement password rotation after a killed step")
    assert change.errors == [], change.errors[:10]
    assert ("update", "ctl1-placement_bootstrap") in change.steps, change.steps
    _one_at_a_time(change.replaced("-placement_api"), "-placement_api", ["ctl1", "ctl2", "ctl3"])


def test_a_generated_database_password_rotates_without_a_failed_request(deployment: Deployment,
                                                                         admin_password: str) -> None:
    values = _values(deployment)
    rotations = dict((values.get("passwords") or {}).get("rotations", {}))
    rotations["placement_database_password"] = rotations.get("placement_database_password", 0) + 1
    values["passwords"] = {**(values.get("passwords") or {}), "rotations": rotations}
    change = guarded_change(deployment, values, admin_password, "placement database password rotation")
    assert change.errors == [], change.errors[:10]
    _one_at_a_time(change.replaced("-placement_api"), "-placement_api", ["ctl1", "ctl2", "ctl3"])
    token, _ = keystone_token(f"http://{VIP}:5000", admin_password)
    status, _, _ = http("GET", f"http://{VIP}:8778/resource_providers",
                        headers={"X-Auth-Token": token, "OpenStack-API-Version": "placement 1.0"})
    assert status == 200


# Long (minutes): left out of the default run, which CI runs; `python3 -m tests --soak`.
@pytest.mark.soak
def test_an_image_upgrade_of_one_service_rolls_it_alone(lab, deployment: Deployment, admin_password: str) -> None:
    # A new build of glance-api (its own layer on top of the deployed one), pushed under
    # a new tag, as a release upgrade would arrive.
    from images.docker_cli import docker

    local = "kolla-ha/glance-api:zed"
    bumped = "kolla-ha/glance-api:zed-e2e-upgrade"
    docker(["build", "-t", bumped, "--label", "org.kolla-ha.e2e=upgrade", "-"],
           input=f"FROM {local}\nLABEL org.kolla-ha.e2e-upgrade=1\n".encode())
    docker(["tag", bumped, f"{lab.push_registry}/{bumped}"])
    docker(["push", f"{lab.push_registry}/{bumped}"])
    values = _values(deployment)
    images = dict(values.get("images") or {})
    images["overrides"] = {**images.get("overrides", {}), "glance-api": f"{lab.registry}/{bumped}"}
    values["images"] = images
    change = guarded_change(deployment, values, admin_password, "glance-api image upgrade")
    assert change.errors == [], change.errors[:10]
    _one_at_a_time(change.replaced("-glance_api"), "-glance_api", ["ctl1", "ctl2", "ctl3"])
    # Nothing else runs the new image: no other service was touched.
    others = [name for name in change.replaced("") if not name.endswith(("-glance_api", "-glance_api-lb-member"))
              and not name.endswith("-image-glance-api")]
    assert others == [], others
