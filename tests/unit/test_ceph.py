"""components/ceph.py under mocks: monitors and managers on the database hosts, the setup
step, OSDs on the storage hosts, keys where they belong and nowhere else."""
from __future__ import annotations

import configparser
import json
import re

import pytest

from components.ceph_config import ADMIN, BOOTSTRAP_OSD, CINDER, MON, POOLS, keyring, min_size, osds
from components.passwords import is_ceph_key
from offline.program import is_secret_input, resolve, unwrap
from tests.unit.inventory_fixtures import make_config
from tests.unit.layouts import layout_run, quick_run
from tests.unit.program_checks import (
    address, assert_kolla_container, assert_one_shot, containers, group, one_shots, step_file, upload, uploads,
    waits_for,
)

CEPH_CONTAINERS = ("ceph_mon", "ceph_mgr", "ceph_osd")


def ceph_conf(text: str) -> configparser.ConfigParser:
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(text)
    return conf


def keys_of(run) -> dict[str, str]:
    store = run.namespace["plane"].passwords
    return {c.entity: resolve(store.ceph_key(c.secret)) for c in (MON, ADMIN, BOOTSTRAP_OSD, CINDER)}


def test_monitors_and_managers_on_the_database_hosts_osds_on_the_storage_hosts(run):
    database, storage = group(run, "database"), group(run, "storage")
    assert sorted(containers(run, "ceph_mon")) == sorted(database)
    assert sorted(containers(run, "ceph_mgr")) == sorted(database)
    assert sorted(containers(run, "ceph_osd")) == sorted(storage)
    for name in CEPH_CONTAINERS:
        for host, reg in containers(run, name).items():
            assert_kolla_container(run, reg, host, "ceph")
            # Docker brings every Ceph daemon back after a power cycle.
            assert reg.inputs["restart"] == "unless-stopped"


def test_the_monitors_roll_one_host_at_a_time_each_with_its_manager(run):
    database = group(run, "database")
    for prev, host in zip(database, database[1:]):
        assert waits_for(run, f"{host}-ceph_mon") >= {f"{prev}-ceph_mgr"}
    for host in database:
        assert f"{host}-ceph_mon" in waits_for(run, f"{host}-ceph_mgr")


def test_the_setup_step_after_the_monitors_and_the_osds_after_it(run):
    database, storage = group(run, "database"), group(run, "storage")
    setup = one_shots(run, "ceph_setup")
    assert list(setup) == [database[0]]
    assert_one_shot(run, setup[database[0]], database[0], "ceph")
    assert f"{database[-1]}-ceph_mgr" in waits_for(run, setup[database[0]].name)
    assert setup[database[0]].name in waits_for(run, f"{storage[0]}-ceph_osd")
    for prev, host in zip(storage, storage[1:]):
        assert f"{prev}-ceph_osd" in waits_for(run, f"{host}-ceph_osd")


def test_one_fsid_and_one_monitor_list_in_every_ceph_conf(run):
    database = group(run, "database")
    mon_host = ",".join(f"[v2:{address(run, h)}:3300,v1:{address(run, h)}:6789]" for h in database)
    fsids = set()
    for name in CEPH_CONTAINERS:
        for host, reg in containers(run, name).items():
            conf = ceph_conf(upload(reg, "ceph.conf"))
            fsids.add(conf["global"]["fsid"])
            assert conf["global"]["mon_host"] == mon_host
            assert conf["osd"]["crush_location"] == f"root=default host={host}"
            assert conf["global"]["osd_pool_default_size"] == "3" and conf["global"]["osd_pool_default_min_size"] == "2"
    (fsid,) = fsids
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", fsid)


def test_keys_are_valid_secret_and_only_where_they_are_used(run):
    keys = keys_of(run)
    assert all(is_ceph_key(k) for k in keys.values()) and len(set(keys.values())) == 4
    where: dict[str, set[str]] = {entity: set() for entity in keys}
    for reg in run.containers():
        text = json.dumps(unwrap(reg.inputs["uploads"]))
        for entity, key in keys.items():
            if key in text:
                where[entity].add(reg.name.split("-", 1)[1])
                assert is_secret_input(reg.inputs["uploads"]), reg.name
    assert where == {"mon.": {"ceph_mon"}, "client.admin": {"ceph_mon", "ceph_mgr"},
                     "client.bootstrap-osd": {"ceph_osd"}, "client.cinder": {"cinder_volume"}}
    # The setup step imports the clients' keys (and holds the admin key to do it).
    files = {name: step_file(reg, name) for reg in one_shots(run, "ceph_setup").values()
             for name in ("kolla-ha-clients.keyring", "ceph.client.admin.keyring")}
    assert files["kolla-ha-clients.keyring"] == keyring(BOOTSTRAP_OSD, keys["client.bootstrap-osd"]) + keyring(
        CINDER, keys["client.cinder"])
    assert keys["mon."] not in json.dumps(files)


def test_keyrings_belong_to_who_reads_them_where_they_look(run):
    for name, keyring_name, owner in (("ceph_mon", "ceph.mon.keyring", "ceph"),
                                       ("ceph_mon", "ceph.client.admin.keyring", "ceph"),
                                       ("ceph_mgr", "ceph.client.admin.keyring", "ceph"),
                                       ("ceph_osd", "ceph.client.bootstrap-osd.keyring", "ceph"),
                                       ("cinder_volume", "ceph.client.cinder.keyring", "cinder")):
        for reg in containers(run, name).values():
            config = json.loads(upload(reg, "config.json"))
            entry = next(f for f in config["config_files"] if f["dest"] == f"/etc/ceph/{keyring_name}")
            assert entry["owner"] == owner and entry["perm"] in ("0600", "0640")
            # Ceph's default keyring search path holds /etc/ceph/$cluster.$name.keyring;
            # the start scripts name the files they read explicitly.
            script = next((upload(reg, f"{name}_start") for _ in [0] if name.startswith("ceph_")), "")
            if name in ("ceph_mon", "ceph_osd") and keyring_name != "ceph.client.admin.keyring":
                assert f"/etc/ceph/{keyring_name}" in script


def test_the_cinder_client_may_only_use_its_pool(run):
    keys = keys_of(run)
    clients = step_file(next(iter(one_shots(run, "ceph_setup").values())), "kolla-ha-clients.keyring")
    assert '[client.cinder]' in clients
    assert '\tcaps osd = "profile rbd pool=volumes"' in clients and '\tcaps mon = "profile rbd"' in clients
    assert keyring(CINDER, keys["client.cinder"]) in clients
    setup = step_file(next(iter(one_shots(run, "ceph_setup").values())), "ceph_setup")
    assert POOLS == ("volumes",)
    assert "ceph osd pool create volumes" in setup and "ceph osd pool application enable volumes rbd" in setup
    assert "ceph osd pool set volumes size 3" in setup and "ceph osd pool set volumes min_size 2" in setup


def test_only_the_first_monitor_may_form_a_cluster(run):
    database = group(run, "database")
    for host, reg in containers(run, "ceph_mon").items():
        script = upload(reg, "ceph_mon_start")
        assert ("monmaptool --create" in script) == (host == database[0])
        assert f"--public-addr {address(run, host)}" in script
        assert "mon getmap" in script


def test_probes_ask_each_daemon_on_its_admin_socket(run):
    for host, reg in containers(run, "ceph_mon").items():
        assert f"/var/run/ceph/ceph-mon.{host}.asok mon_status" in reg.inputs["healthcheck"]["tests"][1]
    for reg in containers(run, "ceph_osd").values():
        assert '"state": "active"' in reg.inputs["healthcheck"]["tests"][1]
        assert uploads(reg)  # config.json among them
        assert {"path": "/var/run/ceph", "owner": "ceph:ceph"} in json.loads(upload(reg, "config.json"))["permissions"]


@pytest.mark.parametrize(("pool_size", "expected"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3)])
def test_writes_go_on_while_a_majority_of_the_copies_is_up(pool_size, expected):
    assert min_size(pool_size) == expected


def test_a_one_host_lab_keeps_one_copy_and_says_so():
    raw, keys = make_config(1, ceph={"pool_size": 1}, glance={"backend": "file"})
    run = quick_run(raw, keys)
    conf = ceph_conf(upload(containers(run, "ceph_mon")["ctl1"], "ceph.conf"))
    assert conf["global"]["mon_allow_pool_size_one"] == "true"
    setup = step_file(one_shots(run, "ceph_setup")["ctl1"], "ceph_setup")
    assert "size 1 --yes-i-really-mean-it" in setup


def test_osd_devices_give_one_osd_container_each_with_its_device():
    settings = {"osd_devices": ["/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "/dev/sdc"]}
    assert [(o.container, o.volume, o.device) for o in osds(settings)] == [
        ("ceph_osd_disk_by-id_wwn-0x5000c500a1b2c3d4", "ceph_osd_disk_by-id_wwn-0x5000c500a1b2c3d4",
         "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"),
        ("ceph_osd_sdc", "ceph_osd_sdc", "/dev/sdc")]
    raw, keys = make_config(3, ceph={"osd_devices": settings["osd_devices"]})
    run = quick_run(raw, keys)
    for host in group(run, "storage"):
        sdc = run.named(f"{host}-ceph_osd_sdc")
        assert unwrap(sdc.inputs["devices"]) == [
            {"hostPath": "/dev/sdc", "containerPath": "/dev/sdc", "permissions": "rwm"}]
        assert 'ln -sfn /dev/sdc "$data/block"' in upload(sdc, "ceph_osd_start")
        assert "bluestore_block_create" not in upload(sdc, "ceph.conf")
        # the host's OSDs start one after the other
        assert f"{host}-ceph_osd_disk_by-id_wwn-0x5000c500a1b2c3d4" in waits_for(run, sdc.name)


def test_a_new_database_host_rolls_every_ceph_daemon_for_the_new_monitor_list():
    before = layout_run("3-hosts")
    raw, keys = make_config(5)
    raw["groups"] = {**raw["groups"], "control": ["ctl1", "ctl2", "ctl3"], "messaging": ["ctl1", "ctl2", "ctl3"],
                     "loadbalancer": ["ctl1", "ctl2", "ctl3"], "memcached": ["ctl1", "ctl2", "ctl3"],
                     "storage": ["ctl1", "ctl2", "ctl3"], "database": ["ctl1", "ctl2", "ctl3", "ctl4", "ctl5"]}
    after = quick_run(raw, keys)
    assert set(containers(after, "ceph_mon")) == {"ctl1", "ctl2", "ctl3", "ctl4", "ctl5"}
    for name in CEPH_CONTAINERS:
        for host in ("ctl1", "ctl2", "ctl3"):
            assert upload(after.named(f"{host}-{name}"), "ceph.conf") != upload(before.named(f"{host}-{name}"), "ceph.conf")
