"""components/swift.py under mocks: the storage daemons per storage host, the ring step on
the first one, the rings on every storage and proxy host, the order they roll in."""
from __future__ import annotations

import base64
import configparser
import hashlib
import subprocess

import pytest

from components.swift import ring_files_input, write_ring_files_script
from components.swift_rings import request_of
from components.swift_settings import DEVICES_DIR, HOST_RING_DIR, RING_DIR, RINGS, STORAGE_PORTS
from components.swift_storage import STORAGE_DAEMONS
from offline.program import is_secret_input, resolve, unwrap
from tests.unit.layouts import layout_run, quick_run, storage_config
from tests.unit.program_checks import (
    COMMAND, address, assert_kolla_container, containers, group, image_id, input_sources, passwords, plain_text,
    upload, waits_for,
)

DAEMONS = [d.container for d in STORAGE_DAEMONS]
RING_READERS = [d for d in DAEMONS if d != "swift_rsyncd"]


def mounts(reg) -> dict[str, tuple[str, bool]]:
    """Container path -> (host path or volume, read-only)."""
    return {v["containerPath"]: (v.get("hostPath") or v.get("volumeName"), bool(v.get("readOnly")))
            for v in unwrap(reg.inputs["volumes"])}


def test_fourteen_daemons_on_every_storage_host_and_nowhere_else(storage_run):
    storage = group(storage_run, "storage")
    for daemon in DAEMONS:
        found = containers(storage_run, daemon)
        assert sorted(found) == sorted(storage), daemon
        for host, reg in found.items():
            assert_kolla_container(storage_run, reg, host, "swift-storage")


def test_devices_read_write_rings_read_only_recon_cache_a_volume(storage_run):
    for host, reg in containers(storage_run, "swift_object_replicator").items():
        assert mounts(reg) == {DEVICES_DIR: (DEVICES_DIR, False), RING_DIR: (HOST_RING_DIR, True),
                               "/var/cache/swift": ("swift_recon_cache", False)}
    for host, reg in containers(storage_run, "swift_rsyncd").items():
        assert mounts(reg) == {DEVICES_DIR: (DEVICES_DIR, False), RING_DIR: (HOST_RING_DIR, True)}


def test_storage_config_files_are_swifts_own_and_secret(storage_run):
    prefix = resolve(storage_run.namespace["plane"].passwords.password("swift_hash_path_prefix"))
    for host, reg in containers(storage_run, "swift_object_server").items():
        assert is_secret_input(reg.inputs["uploads"])
        conf = configparser.ConfigParser(interpolation=None)
        conf.read_string(upload(reg, "object-server.conf"))
        assert conf["DEFAULT"]["bind_ip"] == address(storage_run, host)
        assert conf["DEFAULT"]["swift_dir"] == RING_DIR
        assert f"swift_hash_path_prefix = {prefix}" in upload(reg, "swift.conf")
    # Every node and every proxy hashes object paths with the same prefix and suffix.
    swift_confs = {upload(r, "swift.conf") for d in ("swift_object_server", "swift_proxy_server")
                   for r in containers(storage_run, d).values()}
    assert len(swift_confs) == 1


def test_the_expirers_share_the_queue_between_the_storage_hosts(storage_run):
    storage = group(storage_run, "storage")
    for host, reg in containers(storage_run, "swift_object_expirer").items():
        conf = configparser.ConfigParser(interpolation=None)
        conf.read_string(upload(reg, "object-expirer.conf"))
        assert (conf["object-expirer"]["processes"], conf["object-expirer"]["process"]) == (
            str(len(storage)), str(storage.index(host)))


def test_the_ring_step_runs_on_the_first_storage_host_after_every_rsync_daemon(storage_run):
    storage = group(storage_run, "storage")
    step = storage_run.named(f"{storage[0]}-swift_rings")
    assert step.type == COMMAND
    assert unwrap(step.inputs["connection"])["host"] == address(storage_run, storage[0])
    assert image_id(storage_run, storage[0], "swift-storage") in step.inputs["create"]
    assert "--entrypoint python3" in step.inputs["create"] and f"{HOST_RING_DIR}:{HOST_RING_DIR}" in step.inputs["create"]
    # rsyncd serves the builders the step may need, so every storage host's runs first:
    # the step waits for the end of their chain (the chain itself is checked below).
    assert f"{storage[-1]}-swift_rsyncd" in waits_for(storage_run, step.name)
    request = request_of(unwrap(step.inputs["stdin"]))
    for ring in RINGS:
        assert sorted(d["ip"] for d in request["rings"][ring]) == sorted(address(storage_run, h) for h in storage)
        assert {d["port"] for d in request["rings"][ring]} == {STORAGE_PORTS[ring]}
    assert request["peers"] == [address(storage_run, h) for h in storage[1:]]
    # No secret in it, so it is neither secret nor printed: the summary is kept in state.
    assert not is_secret_input(step.inputs["stdin"]) and step.inputs["logging"] == "stderr"
    assert not [s for s in passwords(storage_run) if s in plain_text(step.inputs)]


def test_rings_reach_every_storage_and_proxy_host_builders_only_the_storage_hosts(storage_run):
    storage = group(storage_run, "storage")
    readers = set(storage) | set(group(storage_run, "control"))
    files = {r.name.split("-")[0]: r for r in storage_run.of_type(COMMAND) if r.name.endswith("-swift_ring_files")}
    assert set(files) == readers
    step = storage_run.named(f"{storage[0]}-swift_rings")
    summary = resolve(storage_run.namespace["plane"].swift.ring_step.stdout)
    for host, reg in files.items():
        assert input_sources(reg)["stdin"] == {step.name}
        assert unwrap(reg.inputs["stdin"]) == ring_files_input(summary, builders=host in storage)
        names = [line.split()[0] for line in unwrap(reg.inputs["stdin"]).splitlines()]
        wanted = [f"{r}.ring.gz" for r in RINGS] + ([f"{r}.builder" for r in RINGS] if host in storage else [])
        assert sorted(names) == sorted(wanted)
        assert reg.inputs["create"] == write_ring_files_script()
        assert reg.inputs["delete"] == f"rm -rf {HOST_RING_DIR}\n"


def test_a_hosts_daemons_wait_for_its_rings_and_the_previous_host(storage_run):
    storage = group(storage_run, "storage")
    for i, host in enumerate(storage):
        for daemon in RING_READERS:
            waited = waits_for(storage_run, f"{host}-{daemon}")
            assert f"{host}-swift_ring_files" in waited
            if i:
                # every daemon of the previous host, healthy (a component link waits for all)
                assert {f"{storage[i - 1]}-{d}" for d in RING_READERS} <= waited
            assert not {f"{h}-{d}" for h in storage[i + 1:] for d in RING_READERS} & waited
    rsync = [f"{h}-swift_rsyncd" for h in storage]
    for prev, current in zip(rsync, rsync[1:]):
        assert prev in waits_for(storage_run, current)


def test_proxies_read_the_same_ring_folder_once_their_host_has_the_rings(storage_run):
    control = group(storage_run, "control")
    proxies = containers(storage_run, "swift_proxy_server")
    assert sorted(proxies) == sorted(control)
    for host, reg in proxies.items():
        assert mounts(reg)[RING_DIR] == (HOST_RING_DIR, True)
        assert "swift_dir = /etc/swift/rings" in upload(reg, "proxy-server.conf")
    first = proxies[control[0]]
    assert {f"{h}-swift_ring_files" for h in control} <= waits_for(storage_run, first.name)


def test_storage_hosts_get_their_device_and_ring_folders():
    run = layout_run("3-hosts-storage")
    for host in group(run, "storage"):
        script = run.named(f"{host}-prepare").inputs["create"]
        assert f"install -d -m 0755 {DEVICES_DIR}/d1 {HOST_RING_DIR}" in script
        assert f"{DEVICES_DIR}" not in run.named(f"{host}-prepare").inputs["delete"]


def test_a_fourth_storage_host_changes_the_rings_and_the_expirers_not_the_servers():
    before = layout_run("3-hosts-storage")
    raw, keys = storage_config(4)
    for g in ("control", "database", "messaging", "loadbalancer", "memcached"):
        raw["groups"][g] = ["ctl1", "ctl2", "ctl3"]
    after = quick_run(raw, keys)
    assert set(containers(after, "swift_object_server")) == {"ctl1", "ctl2", "ctl3", "ctl4"}
    request = request_of(unwrap(after.named("ctl1-swift_rings").inputs["stdin"]))
    assert "10.0.0.14" in {d["ip"] for d in request["rings"]["object"]} and "10.0.0.14" in request["peers"]
    for host in ("ctl1", "ctl2", "ctl3"):
        assert unwrap(after.named(f"{host}-swift_ring_files").inputs["stdin"]) != unwrap(
            before.named(f"{host}-swift_ring_files").inputs["stdin"])
        for daemon in RING_READERS:
            changed = unwrap(after.named(f"{host}-{daemon}").inputs) != unwrap(before.named(f"{host}-{daemon}").inputs)
            # Servers reload the new rings by themselves; the expirers' share of the queue changes.
            assert changed == (daemon == "swift_object_expirer"), (host, daemon)


def test_the_ring_files_script_writes_what_it_is_given_and_leaves_equal_files_alone(tmp_path):
    ring = b"\x1f\x8b ring bytes"
    line = f"object.ring.gz {hashlib.md5(ring).hexdigest()} {base64.b64encode(ring).decode()}\n"
    script = write_ring_files_script().replace(HOST_RING_DIR, str(tmp_path / "rings"))
    done = subprocess.run(["bash", "-c", script], input=line, capture_output=True, text=True, check=True)
    written = tmp_path / "rings" / "object.ring.gz"
    assert written.read_bytes() == ring and oct(written.stat().st_mode & 0o777) == "0o644"
    assert "written" in done.stdout
    mtime = written.stat().st_mtime_ns
    again = subprocess.run(["bash", "-c", script], input=line, capture_output=True, text=True, check=True)
    assert again.stdout == "" and written.stat().st_mtime_ns == mtime
    # A file that does not match its md5 is refused and the ring in place stays.
    bad = line.replace(hashlib.md5(ring).hexdigest(), "0" * 32)
    refused = subprocess.run(["bash", "-c", script], input=bad, capture_output=True, text=True)
    assert refused.returncode != 0 and written.read_bytes() == ring


@pytest.mark.parametrize("deferred", [False, True])
def test_a_deferred_rebalance_is_told_with_the_command_that_finishes_it(deferred):
    import json

    from components.swift import deferred_warnings

    summary = json.dumps({"rings": {r: {"deferred": deferred and r == "object", "deferred_parts": 192,
                                        "retry_after_s": 3000} for r in RINGS}})
    warnings = deferred_warnings(summary, "urn:pulumi:dev::kolla-ha::command:remote:Command::ctl1-swift_rings")
    if not deferred:
        assert warnings == []
    else:
        assert len(warnings) == 1 and "object ring holds back 192" in warnings[0]
        assert "once 3000 s have passed" in warnings[0] and "pulumi up --replace" in warnings[0]
