"""The whole program with every service and the storage tier: the stack-wide rules of
test_stack.py hold for Swift, Ceph, cinder's volume service and glance's store too."""
from __future__ import annotations

from offline.program import unwrap
from tests.unit import test_stack
from tests.unit.layouts import layout_run, quick_run, storage_config
from tests.unit.program_checks import COMMAND, containers, passwords


def test_no_input_comes_from_a_delete_before_replace_resource_but_the_lb_member_triggers(storage_run):
    test_stack.test_no_input_comes_from_a_delete_before_replace_resource_but_the_lb_member_triggers(storage_run)


def test_every_container_replaces_delete_first_and_on_healthcheck_changes(storage_run):
    test_stack.test_every_container_replaces_delete_first_and_on_healthcheck_changes(storage_run)


def test_no_password_in_plain_inputs_labels_envs_or_command_lines(storage_run):
    test_stack.test_no_password_in_plain_inputs_or_plain_exports(storage_run)
    test_stack.test_labels_envs_and_commands_never_hold_a_password(storage_run)


def test_every_upload_holding_a_secret_is_secret(storage_run):
    secrets = passwords(storage_run)
    # cephx keys and the Swift hash path are generated secrets as well
    assert {"swift_hash_path_prefix", "ceph_admin_key", "ceph_cinder_key"} <= {
        r.name for r in storage_run.registrations if r.type.startswith("random:")}
    for reg in storage_run.containers():
        text = str(unwrap(reg.inputs["uploads"]))
        if any(s in text for s in secrets):
            assert test_stack.is_secret_input(reg.inputs["uploads"]), reg.name
    for name in ("swift_object_server", "ceph_mon", "ceph_osd", "cinder_volume"):
        for reg in containers(storage_run, name).values():
            assert test_stack.is_secret_input(reg.inputs["uploads"]), reg.name


def test_no_container_input_comes_from_a_command(storage_run):
    commands = {r.name for r in storage_run.of_type(COMMAND)}
    for reg in storage_run.containers():
        sources = {s for urns in reg.property_dependencies.values() for s in urns}
        assert not {s.rsplit("::", 1)[-1] for s in sources} & commands, reg.name


def test_a_second_run_of_the_same_config_changes_no_input():
    first, second = layout_run("3-hosts-storage"), quick_run(*storage_config(3))
    a = {r.name: unwrap(r.inputs) for r in first.registrations}
    b = {r.name: unwrap(r.inputs) for r in second.registrations}
    assert a.keys() == b.keys()
    assert [n for n in a if a[n] != b[n]] == []
