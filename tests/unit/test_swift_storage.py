"""Swift's storage node as data: fourteen daemons, what each reads, mounts and is probed by."""
from __future__ import annotations

import json

from components.swift_settings import DEVICES_DIR, HOST_RING_DIR, RECON_CACHE_DIR, RING_DIR, SwiftTunables
from components.swift_storage import (
    CONFIG_FILES, RECON_VOLUME, STORAGE_DAEMONS, config_json, daemon_mounts, daemon_permissions, health_probe,
)


def by_name(name: str):
    return next(d for d in STORAGE_DAEMONS if d.container == name)


def test_the_daemons_kolla_runs_on_a_storage_host():
    assert [d.container for d in STORAGE_DAEMONS] == [
        "swift_account_server", "swift_account_replicator", "swift_account_auditor", "swift_account_reaper",
        "swift_container_server", "swift_container_replicator", "swift_container_updater",
        "swift_container_auditor", "swift_object_server", "swift_object_replicator", "swift_object_updater",
        "swift_object_auditor", "swift_object_expirer", "swift_rsyncd"]


def test_config_json_honours_the_kolla_contract():
    swift = SwiftTunables.model_validate({"devices": [{"name": "sdb"}, {"name": "sdc"}]})
    doc = json.loads(config_json(by_name("swift_object_replicator"), swift))
    assert doc["command"] == "swift-object-replicator /etc/swift/object-server.conf --verbose"
    assert doc["config_files"] == [
        {"source": "/var/lib/kolla/config_files/object-server.conf", "dest": "/etc/swift/object-server.conf",
         "owner": "swift", "perm": "0640"},
        {"source": "/var/lib/kolla/config_files/swift.conf", "dest": "/etc/swift/swift.conf",
         "owner": "swift", "perm": "0640"}]
    assert doc["permissions"] == [
        {"path": DEVICES_DIR, "owner": "swift:swift"},
        {"path": f"{DEVICES_DIR}/sdb", "owner": "swift:swift"},
        {"path": f"{DEVICES_DIR}/sdc", "owner": "swift:swift"},
        {"path": RECON_CACHE_DIR, "owner": "swift:swift", "recurse": True}]


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
    assert daemon_mounts(by_name("swift_rsyncd")) == [(DEVICES_DIR, DEVICES_DIR, False)]
    assert daemon_permissions(by_name("swift_rsyncd"), SwiftTunables())[0] == {"path": DEVICES_DIR, "owner": "swift:swift"}


def test_servers_and_rsyncd_are_probed_on_the_internal_address():
    assert health_probe(by_name("swift_container_server"), "10.0.0.11") == (
        "curl -sf -o /dev/null --max-time 5 http://10.0.0.11:6201/healthcheck")
    assert health_probe(by_name("swift_rsyncd"), "10.0.0.11").startswith("rsync --contimeout=5 rsync://10.0.0.11:10873/")
    assert health_probe(by_name("swift_object_auditor"), "10.0.0.11") is None
