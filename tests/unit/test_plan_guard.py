"""The HA guard for plans: recorded plan documents of the program, and one synthetic plan
per rule. Recorded documents live in tests/unit/plans/ with their expected verdict in
expected.json (record one with `python3 -m tests.unit.plans.record <scenario>`)."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ops.plan_guard import PlanUnreadable, check_document, main, read_stack_file

PLANS = Path(__file__).parent / "plans"
EXPECTED: dict[str, dict[str, Any]] = json.loads((PLANS / "expected.json").read_text())
DEV_STACK = Path(__file__).resolve().parents[2] / "Pulumi.dev.yaml"


@pytest.mark.parametrize("plan", sorted(EXPECTED))
def test_recorded_plans_get_their_expected_verdict(plan: str) -> None:
    expected = EXPECTED[plan]
    document = json.loads((PLANS / plan).read_text())
    violations, summary = check_document(document, read_stack_file(DEV_STACK))
    text = "\n".join(v.message for v in violations)
    if expected["verdict"] == "safe":
        assert violations == [], text
        assert summary.startswith("plan_guard: safe:")
    else:
        assert violations, f"{plan} should be refused: {expected['why']}"
        for fragment in expected.get("mentions", []):
            assert fragment in text, (fragment, text)


def test_every_recorded_plan_has_an_expected_verdict() -> None:
    assert sorted(p.name for p in PLANS.glob("*.json") if p.name != "expected.json") == sorted(EXPECTED)


def test_scale_out_of_main_names_the_service_the_hosts_and_the_step() -> None:
    """Issue 9: the plan the current main produces for scale-out is a full outage of each service."""
    document = json.loads((PLANS / "scale-out.main.json").read_text())
    violations, _ = check_document(document, read_stack_file(DEV_STACK))
    keystone = next(v for v in violations if v.tier == "keystone")
    assert "(ctl1, ctl2, ctl3)" in keystone.message
    step = document["steps"][keystone.step]
    assert step["op"] == "delete-replaced" and f"step {keystone.step} (delete-replaced {step['urn']})" in keystone.message
    assert "delete-before-replace of urn:pulumi:dev::kolla-ha::" in keystone.message


# -- one synthetic plan per rule -----------------------------------------------------------

STACK = """
config:
  kolla-ha:hosts:
    - {name: ctl1, address: 10.0.0.11}
    - {name: ctl2, address: 10.0.0.12}
    - {name: ctl3, address: 10.0.0.13}
  kolla-ha:groups:
    control: [ctl1, ctl2, ctl3]
    database: [ctl1, ctl2, ctl3]
    messaging: [ctl1, ctl2, ctl3]
    loadbalancer: [ctl1, ctl2, ctl3]
    memcached: [ctl1, ctl2]
  kolla-ha:enabled_services: [keystone]
"""
PREFIX = "urn:pulumi:dev::kolla-ha::kolla-ha:stack:ControlPlane$kolla-ha:x:X$"


def container(op: str, host: str, name: str, old: bool = True, new: bool = True) -> dict[str, Any]:
    state = {"type": "docker:index/container:Container", "inputs": {"name": name}}
    step: dict[str, Any] = {"op": op, "urn": f"{PREFIX}docker:index/container:Container::{host}-{name}"}
    if old and op not in ("create",):
        step["oldState"] = state
    if new and op not in ("delete", "delete-replaced"):
        step["newState"] = state
    return step


def member_command(op: str, host: str, service: str) -> dict[str, Any]:
    state = {"type": "command:remote:Command", "inputs": {}}
    step: dict[str, Any] = {"op": op, "urn": f"{PREFIX}command:remote:Command::{host}-{service}-lb-member"}
    step["oldState" if op.startswith("delete") else "newState"] = state
    return step


def dbr(host: str, name: str) -> list[dict[str, Any]]:
    return [container("delete-replaced", host, name), container("replace", host, name),
            container("create-replacement", host, name)]


@pytest.fixture
def inventory(tmp_path: Path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(STACK)
    return read_stack_file(path)


def verdict(steps: list[dict[str, Any]], inventory) -> list[str]:
    violations, _ = check_document({"steps": steps}, inventory)
    return [v.rule for v in violations]


def test_members_replaced_one_after_the_other_are_safe(inventory) -> None:
    assert verdict(dbr("ctl1", "memcached") + dbr("ctl2", "memcached"), inventory) == []


def test_two_members_down_at_once_are_refused(inventory) -> None:
    steps = [container("delete-replaced", "ctl1", "memcached"), container("delete-replaced", "ctl2", "memcached"),
             container("replace", "ctl2", "memcached"), container("create-replacement", "ctl2", "memcached"),
             container("replace", "ctl1", "memcached"), container("create-replacement", "ctl1", "memcached")]
    violations, _ = check_document({"steps": steps}, inventory)
    assert [v.rule for v in violations] == ["several-down"]
    assert "memcached: all 2 memcached servers down at once (ctl1, ctl2)" in violations[0].message
    assert "step 1 (delete-replaced" in violations[0].message


def test_a_drained_replica_counts_as_down(inventory) -> None:
    """An lb-member's delete drains the replica in every HAProxy: out of service until re-created."""
    steps = [member_command("delete-replaced", "ctl1", "keystone"), *dbr("ctl2", "keystone"),
             member_command("create-replacement", "ctl1", "keystone")]
    assert verdict(steps, inventory) == ["several-down"]


def test_galera_below_quorum_is_refused(inventory) -> None:
    steps = [container("delete-replaced", "ctl1", "mariadb"), container("delete-replaced", "ctl2", "mariadb"),
             container("replace", "ctl2", "mariadb"), container("create-replacement", "ctl2", "mariadb"),
             container("replace", "ctl1", "mariadb"), container("create-replacement", "ctl1", "mariadb")]
    violations, _ = check_document({"steps": steps}, inventory)
    assert sorted(v.rule for v in violations) == ["quorum", "several-down"]
    assert "galera: quorum lost, 1 of 3 Galera nodes up (a majority, 2, is needed)" in \
        next(v.message for v in violations if v.rule == "quorum")


def _broker(op: str, host: str, old_type: str, new_type: str) -> dict[str, Any]:
    step = container(op, host, "rabbitmq")
    for key, queue_type in (("oldState", old_type), ("newState", new_type)):
        if key in step:
            step[key] = {**step[key], "inputs": {"name": "rabbitmq", "labels": [
                {"label": "kolla-ha.rabbitmq-queue-type", "value": queue_type}]}}
    return step


def test_a_queue_type_switch_is_refused_even_one_broker_at_a_time(inventory) -> None:
    steps = [step for host in ("ctl1", "ctl2", "ctl3") for step in (
        _broker("delete-replaced", host, "quorum", "quorum"), _broker("replace", host, "quorum", "mirrored"),
        _broker("create-replacement", host, "quorum", "mirrored"))]
    violations, _ = check_document({"steps": steps}, inventory)
    assert [v.rule for v in violations] == ["queue-type-change"]
    assert "rabbitmq.queue_type changes from quorum to mirrored" in violations[0].message
    assert "keep queue_type: quorum" in violations[0].message


def test_brokers_rolled_with_the_same_queue_type_are_safe(inventory) -> None:
    steps = [step for host in ("ctl1", "ctl2", "ctl3") for step in (
        _broker("delete-replaced", host, "quorum", "quorum"), _broker("replace", host, "quorum", "quorum"),
        _broker("create-replacement", host, "quorum", "quorum"))]
    assert verdict(steps, inventory) == []


def test_replacing_haproxy_is_refused_even_alone(inventory) -> None:
    violations, _ = check_document({"steps": dbr("ctl2", "haproxy")}, inventory)
    assert [v.rule for v in violations] == ["haproxy-replaced"]
    assert "HAProxy on ctl2 is replaced" in violations[0].message


def test_haproxy_and_keepalived_of_two_hosts_down_together_are_refused(inventory) -> None:
    steps = [container("delete-replaced", "ctl1", "keepalived"), container("delete", "ctl2", "keepalived"),
             container("replace", "ctl1", "keepalived"), container("create-replacement", "ctl1", "keepalived"),
             container("create", "ctl2", "keepalived", old=False)]
    assert verdict(steps, inventory) == ["several-down"]


def test_a_new_member_is_not_down_before_it_exists(inventory) -> None:
    steps = [container("create", "ctl3", "memcached", old=False), *dbr("ctl1", "memcached")]
    assert verdict(steps, inventory) == []


def test_a_member_left_stopped_is_refused_unless_its_host_left_the_group(inventory) -> None:
    assert verdict([container("delete", "ctl1", "memcached")], inventory) == ["left-down"]
    # ctl3 is not in the memcached group any more: scaling in is fine.
    assert verdict([container("delete", "ctl3", "memcached")], inventory) == []


def test_a_plan_without_replacement_steps_cannot_be_checked(inventory) -> None:
    with pytest.raises(PlanUnreadable, match="--show-replacement-steps"):
        check_document({"steps": [container("replace", "ctl1", "memcached")]}, inventory)


def test_command_line_exit_codes_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "Pulumi.test.yaml"
    stack.write_text(STACK)
    safe = json.dumps({"steps": dbr("ctl1", "memcached")})
    assert main(["--stack-file", str(stack)], stdin=io.StringIO(safe)) == 0
    assert capsys.readouterr().out.startswith("plan_guard: safe: 3 steps")
    bad = json.dumps({"steps": dbr("ctl1", "haproxy")})
    assert main(["--stack-file", str(stack)], stdin=io.StringIO(bad)) == 1
    assert "REFUSED" in capsys.readouterr().err
    assert main(["--stack-file", str(stack)], stdin=io.StringIO("not json")) == 2
    plan = tmp_path / "plan.json"
    plan.write_text(safe)
    assert main(["--stack-file", str(stack), str(plan)]) == 0


STORAGE_STACK = STACK.replace("    memcached: [ctl1, ctl2]\n", "    memcached: [ctl1, ctl2]\n    storage: [ctl1, ctl2, ctl3]\n").replace(
    "kolla-ha:enabled_services: [keystone]", "kolla-ha:enabled_services: [keystone, cinder-api, swift-proxy-server]")


@pytest.fixture
def storage_inventory(tmp_path: Path):
    path = tmp_path / "Pulumi.storage.yaml"
    path.write_text(STORAGE_STACK + "  kolla-ha:ceph: {osd_devices: [/dev/sdb, /dev/sdc]}\n")
    return read_stack_file(path)


def test_a_storage_hosts_swift_daemons_are_one_member(storage_inventory) -> None:
    # every daemon of one host replaced together, then the next host: safe
    one_host = [step for d in ("swift_object_server", "swift_object_replicator") for step in dbr("ctl1", d)]
    assert verdict(one_host + [s for d in ("swift_object_server",) for s in dbr("ctl2", d)], storage_inventory) == []
    # the object servers of two storage hosts down at once: refused
    steps = [container("delete-replaced", "ctl1", "swift_object_server"),
             container("delete-replaced", "ctl2", "swift_object_replicator"),
             container("replace", "ctl1", "swift_object_server"),
             container("create-replacement", "ctl1", "swift_object_server"),
             container("replace", "ctl2", "swift_object_replicator"),
             container("create-replacement", "ctl2", "swift_object_replicator")]
    violations, _ = check_document({"steps": steps}, storage_inventory)
    assert [v.rule for v in violations] == ["several-down"]
    assert "swift-storage: 2 of 3 Swift storage hosts down at once (ctl1, ctl2)" in violations[0].message


def test_ceph_monitors_keep_their_quorum_and_osds_their_copies(storage_inventory) -> None:
    assert verdict(dbr("ctl1", "ceph_mon") + dbr("ctl2", "ceph_mon"), storage_inventory) == []
    steps = [container("delete-replaced", "ctl1", "ceph_mon"), container("delete-replaced", "ctl2", "ceph_mon"),
             container("replace", "ctl2", "ceph_mon"), container("create-replacement", "ctl2", "ceph_mon"),
             container("replace", "ctl1", "ceph_mon"), container("create-replacement", "ctl1", "ceph_mon")]
    assert sorted(verdict(steps, storage_inventory)) == ["quorum", "several-down"]
    # OSDs are named after the stack's devices
    steps = [container("delete-replaced", "ctl1", "ceph_osd_sdb"), container("delete-replaced", "ctl3", "ceph_osd_sdc"),
             container("replace", "ctl1", "ceph_osd_sdb"), container("create-replacement", "ctl1", "ceph_osd_sdb"),
             container("replace", "ctl3", "ceph_osd_sdc"), container("create-replacement", "ctl3", "ceph_osd_sdc")]
    violations, _ = check_document({"steps": steps}, storage_inventory)
    assert [v.rule for v in violations] == ["several-down"]
    assert "ceph-osd: 2 of 3 Ceph OSD hosts down at once (ctl1, ctl3)" in violations[0].message
