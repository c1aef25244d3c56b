"""Day-2 changes of the storage tier as the engine would run them: the program with every
service deployed by the offline executor into in-memory daemons, then each change
previewed (`--show-replacement-steps`) and checked by the HA guard the README puts in
front of `pulumi up`. The guard plays the steps in order; these tests also read the order
of the replacements from the same plan."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from lab.executor.preview_json import preview_digest
from lab.executor.run import run_stack
from ops.plan_guard import Inventory as GuardInventory
from ops.plan_guard import check_document
from tests.unit.executor_fakes import FakeWorld
from tests.unit.layouts import storage_config

SECRETS = {"keystone_admin_password": "correct-horse-battery-staple"}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> tuple[Path, FakeWorld, dict[str, Any]]:
    raw, _ = storage_config(3)
    raw.pop("keystone_admin_password")
    raw["swift"] = {"mount_check": False, "workers": 1}
    state = tmp_path_factory.mktemp("storage") / "state.json"
    world = FakeWorld()
    run_stack("test", values=raw, state_path=state, log=lambda _l: None, actions=world, secrets_given=SECRETS)
    return state, world, raw


def plan(deployed, change) -> tuple[list[tuple[str, str]], list[str]]:
    """(op, name) of every step that is not `same`, and the guard's refusals."""
    state, world, raw = deployed
    values = change(copy.deepcopy(raw))
    engine, _ = run_stack("test", preview=True, values=values, state_path=state, log=lambda _l: None,
                          actions=world, secrets_given=SECRETS)
    document = preview_digest(engine.plan, {}, 0, engine.diagnostics, show_replacement_steps=True)
    inventory = GuardInventory(tuple(h["name"] for h in values["hosts"]),
                               {g: tuple(m) for g, m in values["groups"].items()}, tuple(values["enabled_services"]))
    violations, _ = check_document(document, inventory)
    steps = [(s.op, s.name) for s in engine.plan if s.op != "same"]
    return steps, [v.message for v in violations]


def replaced(steps: list[tuple[str, str]], suffix: str) -> list[str]:
    return [name for op, name in steps if op == "create-replacement" and name.endswith(suffix)]


def test_a_swift_tunable_rolls_the_storage_hosts_one_after_the_other_and_leaves_the_rings(deployed):
    def change(values):
        values["swift"] = {**values["swift"], "workers": 2}
        return values

    steps, refused = plan(deployed, change)
    assert refused == []
    servers = replaced(steps, "-swift_object_server")
    assert servers == ["ctl1-swift_object_server", "ctl2-swift_object_server", "ctl3-swift_object_server"]
    # every daemon of ctl1 is back before any of ctl2's goes
    names = [name for op, name in steps if op in ("delete-replaced", "create-replacement")]
    last_ctl1 = max(i for i, n in enumerate(names) if n.startswith("ctl1-swift"))
    first_ctl2 = min(i for i, n in enumerate(names) if n.startswith("ctl2-swift"))
    assert last_ctl1 < first_ctl2
    assert not [n for op, n in steps if "swift_ring" in n or n.endswith("swift_rsyncd")]


def test_a_fourth_storage_host_updates_the_rings_and_rolls_only_the_expirers(deployed):
    def change(values):
        values["hosts"].append({"name": "ctl4", "address": "10.0.0.14", "interface": "eth0", "ssh": {"user": "root"}})
        values["groups"]["storage"] = values["groups"]["storage"] + ["ctl4"]
        return values

    steps, refused = plan(deployed, change)
    assert refused == []
    assert ("update", "ctl1-swift_rings") in steps
    assert {n for op, n in steps if op == "update" and n.endswith("-swift_ring_files")} == {
        "ctl1-swift_ring_files", "ctl2-swift_ring_files", "ctl3-swift_ring_files"}
    assert {n for op, n in steps if op == "create" and n.startswith("ctl4-") and "swift" in n} >= {
        "ctl4-swift_rsyncd", "ctl4-swift_object_server", "ctl4-swift_ring_files"}
    assert ("create", "ctl4-ceph_osd") in steps
    swift_replaced = sorted({n for op, n in steps if op == "create-replacement" and "swift" in n})
    assert swift_replaced == ["ctl1-swift_object_expirer", "ctl2-swift_object_expirer", "ctl3-swift_object_expirer"]


def test_an_osd_memory_target_rolls_the_osds_one_host_at_a_time(deployed):
    def change(values):
        values["ceph"] = {"osd_memory_target": "1G"}
        return values

    steps, refused = plan(deployed, change)
    assert refused == []
    assert replaced(steps, "-ceph_osd") == ["ctl1-ceph_osd", "ctl2-ceph_osd", "ctl3-ceph_osd"]
    # monitors, managers, cinder and Swift do not read the OSD section... but they read
    # the one ceph.conf: they roll too, each tier one host at a time.
    assert replaced(steps, "-ceph_mon") == ["ctl1-ceph_mon", "ctl2-ceph_mon", "ctl3-ceph_mon"]
    assert not [n for op, n in steps if "swift" in n]


def test_removing_the_first_storage_host_moves_cinder_volume_and_keeps_the_rings(deployed):
    def change(values):
        values["groups"]["storage"] = ["ctl2", "ctl3"]
        values["ceph"] = {"pool_size": 2}
        return values

    steps, refused = plan(deployed, change)
    assert refused == []
    assert ("create", "ctl2-swift_rings") in steps and ("delete", "ctl1-swift_rings") in steps
    assert ("create", "ctl2-cinder_volume") in steps and ("delete", "ctl1-cinder_volume") in steps
    # ctl1 still runs a proxy: its ring files stay, without the builders
    assert ("update", "ctl1-swift_ring_files") in steps
    assert ("delete", "ctl1-swift_object_server") in steps and ("delete", "ctl1-ceph_osd") in steps
