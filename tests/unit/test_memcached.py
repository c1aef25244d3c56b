"""components/memcached.py under mocks: one server per memcached host, every client sees all."""
from __future__ import annotations

from offline.program import unwrap, resolve
from tests.unit.inventory_fixtures import make_config
from tests.unit.layouts import layout_run, quick_run
from tests.unit.program_checks import (
    address, assert_kolla_container, assert_rolling_chain, changed_containers, config_json, containers, group,
    one_shots,
)

API_CONTAINERS = ("keystone", "glance_api", "placement_api", "nova_api", "neutron_server", "cinder_api", "horizon")


def test_memcached_on_every_memcached_host_only(run):
    found = containers(run, "memcached")
    assert sorted(found) == sorted(group(run, "memcached"))
    for host, reg in found.items():
        assert_kolla_container(run, reg, host, "memcached")
        cmd = config_json(reg)["command"].split()
        # bound to the host's internal address only, never 0.0.0.0, and no UDP
        assert cmd[cmd.index("-l") + 1] == address(run, host)
        assert cmd[cmd.index("-p") + 1] == "11211"
        assert cmd[cmd.index("-U") + 1] == "0"
        assert cmd[cmd.index("-m") + 1] == "1024"


def test_memcached_rolls_one_host_at_a_time_and_is_ready_with_its_last_host(run):
    hosts = group(run, "memcached")
    assert_rolling_chain(run, "memcached", hosts)
    assert containers(run, "memcached")[hosts[0]].depends_on() == []
    assert run.namespace["plane"].memcached.ready._name == f"{hosts[-1]}-memcached"  # pylint: disable=protected-access


def test_server_list_is_complete_and_exported(run):
    expected = ",".join(f"{address(run, h)}:11211" for h in group(run, "memcached"))
    assert run.namespace["plane"].memcached.servers == expected
    assert resolve(run.exports["memcached_servers"]) == expected
    assert expected.count(":11211") == len(group(run, "memcached")) >= 3


def test_memory_change_replaces_only_memcached():
    before = layout_run("3-hosts")
    raw, keys = make_config(3, memcached={"memory_mb": 2048})
    after = quick_run(raw, keys)
    assert changed_containers(before, after) == {"ctl1-memcached", "ctl2-memcached", "ctl3-memcached"}
    for host in ("ctl1", "ctl2", "ctl3"):
        assert "-m 2048 " in config_json(after.named(f"{host}-memcached"))["command"]


def test_a_fourth_memcached_host_changes_its_consumers_not_galera_or_rabbitmq():
    before = layout_run("3-hosts")
    raw, keys = make_config(4)
    for g in ("database", "messaging", "loadbalancer"):
        raw["groups"][g] = ["ctl1", "ctl2", "ctl3"]
    after = quick_run(raw, keys)
    changed = changed_containers(before, after)
    hosts = ("ctl1", "ctl2", "ctl3")
    # By design: every API config lists every memcached server, so every replica changes.
    assert {f"{h}-{c}" for h in hosts for c in API_CONTAINERS} <= changed
    # HAProxy gains ctl4 as a backend of every API: a new haproxy.cfg, reloaded in
    # place, so the haproxy containers themselves are not replaced.
    assert not {f"{h}-haproxy" for h in hosts} & changed
    for h in hosts:
        assert unwrap(before.named(f"{h}-haproxy-config").inputs["stdin"]) != unwrap(
            after.named(f"{h}-haproxy-config").inputs["stdin"])
    for h in hosts:
        for untouched in ("mariadb", "mariadb_clustercheck", "rabbitmq", "memcached", "keepalived",
                          "ceph_mon", "ceph_mgr", "ceph_osd"):
            assert f"{h}-{untouched}" not in changed
    # cinder's scheduler and volume service read cinder.conf, whose [cache] lists them.
    cinder = {f"{h}-cinder_scheduler" for h in hosts} | {"ctl1-cinder_volume"}
    assert changed == {f"{h}-{c}" for h in hosts for c in API_CONTAINERS} | cinder
    # The db-sync steps carry the service config too, so they run again (an update of
    # their command, idempotent); db_create and register steps do not read memcached.
    for step in ("keystone", "glance", "placement", "nova", "neutron", "cinder"):
        assert unwrap(one_shots(after, f"{step}_bootstrap")["ctl1"].inputs["stdin"]) != unwrap(
            one_shots(before, f"{step}_bootstrap")["ctl1"].inputs["stdin"])
        assert unwrap(one_shots(after, f"{step}_db_create")["ctl1"].inputs) == unwrap(
            one_shots(before, f"{step}_db_create")["ctl1"].inputs)
    assert unwrap(one_shots(after, "mariadb_bootstrap")["ctl1"].inputs) == unwrap(
        one_shots(before, "mariadb_bootstrap")["ctl1"].inputs)
    assert set(containers(after, "memcached")) == {"ctl1", "ctl2", "ctl3", "ctl4"}
    assert after.namespace["plane"].memcached.servers.endswith(",10.0.0.14:11211")
