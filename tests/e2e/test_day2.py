"""Day-2 changes on the deployed stack, each planned, passed by the HA guard, and run
under a token client: 0 failed requests, and the replacements one host at a time.

Runs after test_ha_stack.py (see conftest's module order): with `--soak` the stack has
four control hosts then (its scale-out), so scale-in is the first change here.
"""
from __future__ import annotations

import copy

import pytest

from tests.e2e.day2 import guarded_change
from tests.e2e.lab_access import VIP, Deployment, http, keystone_token


def _values(deployment: Deployment) -> dict:
    return copy.deepcopy(deployment.values)


def _one_at_a_time(replaced: list[str], suffix: str, hosts: list[str]) -> None:
    assert replaced == [f"{h}{suffix}" for h in hosts], replaced


# Long (minutes): left out of the default run, which CI runs; `python3 -m tests --soak`.
@pytest.mark.soak
def test_scale_in_removes_a_live_host_without_a_failed_request(deployment: Deployment, admin_password: str) -> None:
    values = _values(deployment)
    if "ctl4" not in [h["name"] for h in values["hosts"]]:
        values["hosts"].append({"name": "ctl4", "address": "10.199.0.14", "interface": "eth0",
                                "ssh": dict(values["hosts"][0]["ssh"])})
        for group in ("control", "memcached"):
            values["groups"][group] = values["groups"][group] + ["ctl4"]
        guarded_change(deployment, values, admin_password, "scale out to ctl4 (again)")
        values = _values(deployment)
    values["hosts"] = [h for h in values["hosts"] if h["name"] != "ctl4"]
    values["groups"] = {g: [m for m in members if m != "ctl4"] for g, members in values["groups"].items()}
    change = guarded_change(deployment, values, admin_password, "scale in (ctl4 removed)")
    assert change.errors == [], change.errors[:10]
    deleted = [name for op, name in change.steps if op == "delete"]
    assert "ctl4-keystone" in deleted and "ctl4-memcached" in deleted
    if "ctl4" in deployment.hosts:
        deployment.hosts.remove("ctl4")


def test_a_tunable_of_every_tier_rolls_without_a_failed_request(deployment: Deployment, admin_password: str) -> None:
    # keepalived is left out: its container is replaced on a change, which moves the VIP
    # (1 of 93 token requests timed out in the lab); see README "Rolling updates".
    values = _values(deployment)
    values["galera"] = {**values.get("galera", {}), "max_connections": 600}
    values["rabbitmq"] = {**values.get("rabbitmq", {}), "vm_memory_high_watermark": 0.45}
    values["haproxy"] = {**values.get("haproxy", {}), "timeout_client": "2m"}
    values["memcached"] = {**values.get("memcached", {}), "memory_mb": 96}
    change = guarded_change(deployment, values, admin_password, "a tunable of every tier")
    assert change.errors == [], change.errors[:10]
    hosts = ["ctl1", "ctl2", "ctl3"]
    _one_at_a_time(change.replaced("-mariadb"), "-mariadb", hosts)
    _one_at_a_time(change.replaced("-rabbitmq"), "-rabbitmq", hosts)
    _one_at_a_time(change.replaced("-memcached"), "-memcached", hosts)
    assert change.replaced("-keepalived") == []
    # HAProxy takes its new config in place: reloaded, never replaced.
    assert change.replaced("-haproxy") == []
    assert [name for op, name in change.steps if name.endswith("-haproxy-config") and op == "update"] == [
        f"{h}-haproxy-config" for h in hosts]


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


def test_a_generated_database_password_rotates_without_a_failed_request(deployment: Deployment,
                                                                         admin_password: str) -> None:
    values = _values(deployment)
    values["passwords"] = {"rotations": {**(values.get("passwords") or {}).get("rotations", {}),
                                         "placement_database_password": 1}}
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
