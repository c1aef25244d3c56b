"""Swift's storage node as data: its daemons, the files each reads, what each mounts,
how each is probed, and the rendering of those files. Pure, like catalog.py.

Every storage host runs the same fourteen kolla-style containers of one image
(swift-storage), as kolla-ansible does: the account, container and object servers,
their replicators, auditors and updaters, the account reaper, the object expirer and
the rsync daemon the replicators push through. They all read the same rings (the host
folder HOST_RING_DIR mounted read-only at RING_DIR) and swift.conf (the hash path
prefix and suffix: every node and proxy must agree, or objects are looked for in the
wrong places).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from components.catalog import ConfigFile
from components.rendering import render
from components.swift_settings import (
    DEVICES_DIR, HOST_RING_DIR, RECON_CACHE_DIR, RING_DIR, RINGS, RSYNC_MAX_CONNECTIONS, RSYNC_PORT,
    STORAGE_PORTS, SwiftTunables,
)

IMAGE = "swift-storage"
# Named volume shared by the daemons of one host: each writes its stats into the
# recon cache, and the servers' recon middleware reports them all to swift-recon.
RECON_VOLUME = "swift_recon_cache"

# Every Swift daemon reads swift.conf (the hash path prefix/suffix and the policies).
SWIFT_CONF = ConfigFile("swift/swift.conf.j2", "/etc/swift/swift.conf", "swift", "0640")
CONFIG_FILES: dict[str, ConfigFile] = {
    "account-server.conf": ConfigFile("swift/account-server.conf.j2", "/etc/swift/account-server.conf", "swift", "0640"),
    "container-server.conf": ConfigFile(
        "swift/container-server.conf.j2", "/etc/swift/container-server.conf", "swift", "0640"),
    "object-server.conf": ConfigFile("swift/object-server.conf.j2", "/etc/swift/object-server.conf", "swift", "0640"),
    "object-expirer.conf": ConfigFile("swift/object-expirer.conf.j2", "/etc/swift/object-expirer.conf", "swift", "0640"),
    # rsync reads its config as root, before it drops to the module's uid.
    "rsyncd.conf": ConfigFile("swift/rsyncd.conf.j2", "/etc/rsyncd.conf", "root", "0640"),
    "swift.conf": SWIFT_CONF,
}

Probe = Literal["http", "rsync", "none"]


@dataclass(frozen=True)
class StorageDaemon:
    """One container on every storage host."""

    container: str
    command: str
    files: tuple[str, ...]  # keys of CONFIG_FILES
    devices: bool = True  # mounts /srv/node read-write
    rings: bool = True  # mounts the ring folder read-only
    # http: GET /healthcheck on the ring's port; rsync: list the modules; none: a
    # daemon with no port, restarted by Docker when it exits.
    probe: Probe = "none"
    ring: str | None = None  # whose port the http probe asks


def _daemon(ring: str, role: str, probe: Probe = "none") -> StorageDaemon:
    conf = f"{ring}-server.conf"
    # --verbose adds a console handler: start-up errors reach `docker logs`; request
    # and replication logs go to syslog (/dev/log when the host's is mounted).
    return StorageDaemon(
        container=f"swift_{ring}_{role}",
        command=f"swift-{ring}-{role} {CONFIG_FILES[conf].dest} --verbose",
        files=(conf, "swift.conf"),
        probe=probe,
        ring=ring if probe == "http" else None,
    )


STORAGE_DAEMONS: tuple[StorageDaemon, ...] = (
    _daemon("account", "server", "http"),
    _daemon("account", "replicator"),
    _daemon("account", "auditor"),
    _daemon("account", "reaper"),
    _daemon("container", "server", "http"),
    _daemon("container", "replicator"),
    _daemon("container", "updater"),
    _daemon("container", "auditor"),
    _daemon("object", "server", "http"),
    _daemon("object", "replicator"),
    _daemon("object", "updater"),
    _daemon("object", "auditor"),
    StorageDaemon(
        container="swift_object_expirer",
        command=f"swift-object-expirer {CONFIG_FILES['object-expirer.conf'].dest} --verbose",
        files=("object-expirer.conf", "swift.conf"),
        devices=False,
    ),
    StorageDaemon(
        container="swift_rsyncd",
        command=f"rsync --daemon --no-detach --config={CONFIG_FILES['rsyncd.conf'].dest}",
        files=("rsyncd.conf",),
        rings=False,
        probe="rsync",
    ),
)


def storage_context(
    node: Any, storage_nodes: Sequence[Any], swift: SwiftTunables, memcached_servers: str,
    secrets: Mapping[str, str], ports: Mapping[str, int] = STORAGE_PORTS, rsync_port: int = RSYNC_PORT,
) -> dict[str, Any]:
    """What the storage templates read. `node` and `storage_nodes` have .name and
    .address; `secrets` holds swift_hash_path_prefix and swift_hash_path_suffix."""
    names = [n.name for n in storage_nodes]
    return dict(
        node=node,
        swift=swift,
        ports=dict(ports),
        rsync_port=rsync_port,
        rings=RINGS,
        rsync_max_connections=RSYNC_MAX_CONNECTIONS,
        memcached_servers=memcached_servers,
        # Each expirer takes its own share of the queue (process i of n).
        expirer_processes=len(names),
        expirer_process=names.index(node.name),
        swift_hash_path_prefix=secrets["swift_hash_path_prefix"],
        swift_hash_path_suffix=secrets["swift_hash_path_suffix"],
    )


def render_storage_files(ctx: Mapping[str, Any]) -> dict[str, str]:
    """Every storage config file of one host, keyed by its name in config_files/."""
    return {name: render(cf.template, **ctx) for name, cf in CONFIG_FILES.items()}


def daemon_permissions(daemon: StorageDaemon, swift: SwiftTunables) -> list[dict[str, Any]]:
    """kolla_start's permissions: the swift user owns the device roots and the recon
    cache. Not recursive on the devices: a full disk would take hours to walk, and
    Swift writes everything below a device root as swift already."""
    found: list[dict[str, Any]] = []
    if daemon.devices:
        found.append({"path": DEVICES_DIR, "owner": "swift:swift"})
        found += [{"path": f"{DEVICES_DIR}/{d.name}", "owner": "swift:swift"} for d in swift.devices]
    if daemon.rings:
        found.append({"path": RECON_CACHE_DIR, "owner": "swift:swift", "recurse": True})
    return found


def config_json(daemon: StorageDaemon, swift: SwiftTunables) -> str:
    """The daemon's /var/lib/kolla/config_files/config.json (docs/kolla-contract.md)."""
    return json.dumps({
        "command": daemon.command,
        "config_files": [
            {"source": f"/var/lib/kolla/config_files/{name}", "dest": CONFIG_FILES[name].dest,
             "owner": CONFIG_FILES[name].owner, "perm": CONFIG_FILES[name].perm}
            for name in daemon.files
        ],
        "permissions": daemon_permissions(daemon, swift),
    }, indent=1, sort_keys=True)


def daemon_mounts(daemon: StorageDaemon) -> list[tuple[str, str, bool]]:
    """(host path or volume name, container path, read-only) beyond config_files/."""
    mounts: list[tuple[str, str, bool]] = []
    if daemon.devices:
        mounts.append((DEVICES_DIR, DEVICES_DIR, False))
    if daemon.rings:
        mounts.append((HOST_RING_DIR, RING_DIR, True))
        mounts.append((RECON_VOLUME, RECON_CACHE_DIR, False))
    return mounts


def health_probe(daemon: StorageDaemon, address: str, ports: Mapping[str, int] = STORAGE_PORTS,
                 rsync_port: int = RSYNC_PORT) -> str | None:
    """A shell command that succeeds only while the daemon serves; None for daemons
    without a port."""
    if daemon.probe == "http":
        assert daemon.ring is not None
        return f"curl -sf -o /dev/null --max-time 5 http://{address}:{ports[daemon.ring]}/healthcheck"
    if daemon.probe == "rsync":
        # Listing the modules is a real rsync protocol exchange, not just a TCP accept.
        return f"rsync --contimeout=5 rsync://{address}:{rsync_port}/ | grep -qw object"
    return None
