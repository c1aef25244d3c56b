"""components/cinder.py under mocks: schedulers on the control hosts, one cinder-volume on
the first storage host, both on the API's cinder.conf with the RBD back-end."""
from __future__ import annotations

import configparser
import subprocess
import sys

from offline.program import unwrap
from tests.unit.inventory_fixtures import make_config
from tests.unit.layouts import layout_run, quick_run
from tests.unit.program_checks import assert_kolla_container, containers, group, upload, waits_for


def cinder_conf(text: str) -> configparser.ConfigParser:
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(text)
    return conf


def test_a_scheduler_on_every_control_host_rolled_in_order(run):
    control = group(run, "control")
    schedulers = containers(run, "cinder_scheduler")
    assert sorted(schedulers) == sorted(control)
    for host, reg in schedulers.items():
        assert_kolla_container(run, reg, host, "cinder-scheduler")
    for prev, host in zip(control, control[1:]):
        assert f"{prev}-cinder_scheduler" in waits_for(run, f"{host}-cinder_scheduler")
    # after cinder's schema and catalogue entry, and RabbitMQ
    first = waits_for(run, f"{control[0]}-cinder_scheduler")
    assert f"{control[0]}-cinder_register" in first
    assert f"{group(run, 'messaging')[-1]}-rabbitmq" in first


def test_one_cinder_volume_on_the_first_storage_host_after_ceph_and_the_schedulers(run):
    storage, control = group(run, "storage"), group(run, "control")
    volumes = containers(run, "cinder_volume")
    assert list(volumes) == [storage[0]]
    reg = volumes[storage[0]]
    assert_kolla_container(run, reg, storage[0], "cinder-volume")
    waited = waits_for(run, reg.name)
    assert f"{storage[-1]}-ceph_osd" in waited and f"{control[-1]}-cinder_scheduler" in waited


def test_every_cinder_daemon_shares_one_backend_host_and_the_rbd_back_end(run):
    confs = [upload(r, "cinder.conf") for name in ("cinder_api", "cinder_scheduler", "cinder_volume")
             for r in containers(run, name).values()]
    for text in confs:
        conf = cinder_conf(text)
        assert conf["DEFAULT"]["host"] == "cinder-volumes"
        assert conf["DEFAULT"]["enabled_backends"] == "rbd-1"
        rbd = conf["rbd-1"]
        assert rbd["volume_driver"] == "cinder.volume.drivers.rbd.RBDDriver"
        assert (rbd["rbd_pool"], rbd["rbd_user"], rbd["rbd_ceph_conf"]) == ("volumes", "cinder", "/etc/ceph/ceph.conf")
    volume = next(iter(containers(run, "cinder_volume").values()))
    assert "[client.cinder]" in upload(volume, "ceph.client.cinder.keyring")
    assert upload(volume, "ceph.conf").startswith("# Ceph's configuration")


def test_a_shared_backend_host_name_moves_with_the_setting():
    raw, keys = make_config(3, cinder={"backend_host": "rbd-volumes"})
    run = quick_run(raw, keys)
    for name in ("cinder_api", "cinder_scheduler", "cinder_volume"):
        for reg in containers(run, name).values():
            assert cinder_conf(upload(reg, "cinder.conf"))["DEFAULT"]["host"] == "rbd-volumes"


def test_removing_the_first_storage_host_moves_cinder_volume_to_the_next():
    before = layout_run("3-hosts")
    raw, keys = make_config(3)
    raw["groups"]["storage"] = ["ctl2", "ctl3"]
    raw["ceph"] = {"pool_size": 2}
    after = quick_run(raw, keys)
    assert list(containers(before, "cinder_volume")) == ["ctl1"]
    assert list(containers(after, "cinder_volume")) == ["ctl2"]


PROBE_CHECK = r"""
import os, socket, subprocess, sys
# A listener and a client connected to it: the probe, run with this process's
# /proc, finds the established connection to the listener's port.
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
port = server.getsockname()[1]
client = socket.create_connection(("127.0.0.1", port))
closed = socket.socket(); closed.bind(("127.0.0.1", 0)); free = closed.getsockname()[1]; closed.close()
probe = sys.argv[1]
def ok(*ports):
    return subprocess.run([sys.executable, "-c", probe, *ports]).returncode == 0
print(ok(str(port)), ok(f"{free}|{port}"), ok(str(free)), ok(str(port), str(free)))
"""


def test_the_connection_probe_needs_an_established_connection_to_each_port_group():
    from components.rendering import render

    probe = render("openstack/connected_probe.py.j2")
    # The probe reads every process's fds: run it where the connection is this test's.
    done = subprocess.run([sys.executable, "-c", PROBE_CHECK, probe], capture_output=True, text=True, check=True,
                          timeout=60)
    assert done.stdout.split() == ["True", "True", "False", "False"]


def test_the_probes_ask_for_the_rabbitmq_connection(run):
    for name in ("cinder_scheduler", "cinder_volume"):
        for reg in containers(run, name).values():
            assert unwrap(reg.inputs["healthcheck"])["tests"][1] == "/usr/local/bin/kolla_ha_connected '5672'"
