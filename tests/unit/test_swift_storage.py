"""Swift's storage node as data: fourteen daemons, what each reads, mounts and is probed by."""
from __future__ import annotations

import subprocess

import pytest

from components.swift_settings import DEVICES_DIR, HOST_RING_DIR, RECON_CACHE_DIR, RING_DIR, SwiftTunables
from components.swift_storage import (
    CONFIG_FILES, RECON_VOLUME, STORAGE_DAEMONS, daemon_mounts, daemon_permissions, health_probe,
)


def by_name(name: str):
    return next(d for d in STORAGE_DAEMONS if d.container == name)


def test_the_daemons_kolla_runs_on_a_storage_host():
    assert [d.container for d in STORAGE_DAEMONS] == [
        "swift_account_server", "swift_account_replicator", "swift_account_auditor", "swift_account_reaper",
        "swift_container_server", "swift_container_replicator", "swift_container_updater",
        "swift_container_auditor", "swift_object_server", "swift_object_replicator", "swift_object_updater",
        "swift_object_auditor", "swift_object_expirer", "swift_rsyncd"]
    assert by_name("swift_object_replicator").command == "swift-object-replicator /etc/swift/object-server.conf --verbose"
    assert by_name("swift_object_replicator").files == ("object-server.conf", "swift.conf")


def test_permissions_own_the_device_roots_but_never_walk_a_disk():
    swift = SwiftTunables.model_validate({"devices": [{"name": "sdb"}, {"name": "sdc"}]})
    assert daemon_permissions(by_name("swift_object_replicator"), swift) == [
        {"path": DEVICES_DIR, "owner": "swift:swift"},
        {"path": f"{DEVICES_DIR}/sdb", "owner": "swift:swift"},
        {"path": f"{DEVICES_DIR}/sdc", "owner": "swift:swift"},
        {"path": RECON_CACHE_DIR, "owner": "swift:swift", "recurse": True}]
    assert daemon_permissions(by_name("swift_rsyncd"), swift)[0] == {"path": DEVICES_DIR, "owner": "swift:swift"}
    assert all(not p.get("recurse") for d in STORAGE_DAEMONS for p in daemon_permissions(d, swift)
               if p["path"].startswith(DEVICES_DIR))


def test_secrets_land_only_in_files_closed_to_others():
    # swift.conf holds the hash path prefix and suffix.
    for cf in CONFIG_FILES.values():
        assert cf.perm in ("0600", "0640")
    for daemon in STORAGE_DAEMONS:
        assert "hash" not in daemon.command


def test_rings_mounted_read_only_devices_read_write():
    assert daemon_mounts(by_name("swift_object_server")) == [
        (DEVICES_DIR, DEVICES_DIR, False), (HOST_RING_DIR, RING_DIR, True), (RECON_VOLUME, RECON_CACHE_DIR, False)]
    assert daemon_mounts(by_name("swift_object_expirer")) == [(HOST_RING_DIR, RING_DIR, True),
                                                              (RECON_VOLUME, RECON_CACHE_DIR, False)]
    # rsyncd serves the ring folder's builders (read-only) and writes no recon stats.
    assert daemon_mounts(by_name("swift_rsyncd")) == [(DEVICES_DIR, DEVICES_DIR, False), (HOST_RING_DIR, RING_DIR, True)]


def test_servers_and_rsyncd_are_probed_on_the_internal_address():
    assert health_probe(by_name("swift_container_server"), "10.0.0.11") == (
        "curl -sf -o /dev/null --max-time 5 http://10.0.0.11:6201/healthcheck")
    assert health_probe(by_name("swift_rsyncd"), "10.0.0.11").startswith("rsync --contimeout=5 rsync://10.0.0.11:10873/")


@pytest.mark.parametrize("daemon", [d for d in STORAGE_DAEMONS if d.probe == "process"], ids=lambda d: d.container)
def test_a_daemon_without_a_port_is_healthy_once_it_is_the_containers_main_process(daemon, tmp_path):
    probe = health_probe(daemon, "10.0.0.11")
    # The probe reads /proc/1/cmdline; here a file stands in for it.
    def passes(cmdline: bytes) -> bool:
        fake = tmp_path / "cmdline"
        fake.write_bytes(cmdline)
        return subprocess.run(["sh", "-c", probe.replace("/proc/1/cmdline", str(fake))]).returncode == 0

    conf = CONFIG_FILES[daemon.files[0]].dest
    # what the kernel shows once kolla_start exec'd the Python script
    assert passes(b"/usr/bin/python3\0/usr/bin/" + daemon.binary.encode() + b"\0" + conf.encode() + b"\0--verbose\0")
    # kolla_start itself, still copying the config files
    assert not passes(b"/usr/bin/python3\0/usr/local/bin/kolla_start\0")
    # another daemon of the same ring
    other = next(d for d in STORAGE_DAEMONS if d.probe == "process" and d is not daemon)
    assert not passes(b"/usr/bin/python3\0/usr/bin/" + other.binary.encode() + b"\0" + conf.encode() + b"\0")
