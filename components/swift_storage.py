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

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from components.catalog import ConfigFile
from components.rendering import render
from components.swift_settings import (
    DEVICES_DIR, HOST_RING_DIR, RECON_CACHE_DIR, RING_DIR, RINGS, RSYNC_MAX_CONNECTIONS, RSYNC_PORT,
    RSYNC_RING_MODULE, STORAGE_PORTS, SwiftTunables,
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

# http: GET /healthcheck on the ring's port; rsync: list the modules; process: the daemon
# (no port of its own) runs as the container's main process, i.e. kolla_start copied its
# files and exec'd it, and it has not exited since (Docker restarts it when it does).
Probe = Literal["http", "rsync", "process"]


@dataclass(frozen=True)
class StorageDaemon:
    """One container on every storage host."""

    container: str
    command: str
    files: tuple[str, ...]  # keys of CONFIG_FILES
    devices: bool = True  # mounts /srv/node read-write
    rings: bool = True  # mounts the ring folder read-only
    recon: bool = True  # writes its stats into the recon cache volume
    probe: Probe = "process"
    ring: str | None = None  # whose port the http probe asks

    @property
    def binary(self) -> str:
        return self.command.split()[0]


def _daemon(ring: str, role: str, probe: Probe = "process") -> StorageDaemon:
    conf = f"{ring}-server.conf"
    # --verbose adds a console handler: every log line reaches `docker logs` (rotated by
    # the json-file log options) as well as syslog (UDP to the host's 127.0.0.1:514,
    # configs/swift/storage-server.j2).
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
        # It serves the ring folder's builders and reads no ring itself: it starts
        # before the rings exist.
        recon=False,
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
        ring_module=RSYNC_RING_MODULE,
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
    if daemon.recon:
        found.append({"path": RECON_CACHE_DIR, "owner": "swift:swift", "recurse": True})
    return found


def daemon_mounts(daemon: StorageDaemon) -> list[tuple[str, str, bool]]:
    """(host path or volume name, container path, read-only) beyond config_files/."""
    mounts: list[tuple[str, str, bool]] = []
    if daemon.devices:
        mounts.append((DEVICES_DIR, DEVICES_DIR, False))
    if daemon.rings:
        mounts.append((HOST_RING_DIR, RING_DIR, True))
    if daemon.recon:
        mounts.append((RECON_VOLUME, RECON_CACHE_DIR, False))
    return mounts


def health_probe(daemon: StorageDaemon, address: str, ports: Mapping[str, int] = STORAGE_PORTS,
                 rsync_port: int = RSYNC_PORT) -> str:
    """A shell command that succeeds only while the daemon serves."""
    if daemon.probe == "http":
        assert daemon.ring is not None
        return f"curl -sf -o /dev/null --max-time 5 http://{address}:{ports[daemon.ring]}/healthcheck"
    if daemon.probe == "rsync":
        # Listing the modules is a real rsync protocol exchange, not just a TCP accept.
        return f"rsync --contimeout=5 rsync://{address}:{rsync_port}/ | grep -qw object"
    # PID 1's command line, NUL-separated: a Swift daemon is a Python script, so it reads
    # "/usr/bin/python3 /usr/bin/<daemon> <conf> --verbose" once kolla_start exec'd it.
    return f"tr '\\0' ' ' < /proc/1/cmdline | grep -q '/{daemon.binary} '"
