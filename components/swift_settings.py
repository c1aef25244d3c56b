"""The `kolla-ha:swift` tunables and Swift's fixed numbers, in one place.

`SwiftTunables` is `defaults.TIER_MODELS["swift"]`, and the ports are in `defaults.PORTS`
too (as swift_<ring> and swift_rsync); they are defined here, where the storage
templates, the ring step and the proxy's mount read them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

from components.config_model import ConfigModel
from components.value_formats import ConfigToken

# Swift's own defaults since Newton (6200-6202) rather than kolla's 6000-6002: 6000-6063
# are X11's TCP ports, the reason Swift moved; the daemons' built-in bind_port and the
# ring examples in Swift's docs use these, so a ring built by hand agrees with ours.
STORAGE_PORTS: dict[str, int] = {"object": 6200, "container": 6201, "account": 6202}
# kolla's swift_rsync_port: not rsync's 873, so a host's own rsync daemon (backups, a
# mirror) can keep 873 while Swift replicates on the internal address.
RSYNC_PORT = 10873
# The rsync module (read-only, the ring folder) from which the ring step on the first
# storage host copies the other storage hosts' builders.
RSYNC_RING_MODULE = "rings"
RINGS: tuple[str, ...] = ("account", "container", "object")

# Where the pieces live, on the hosts and in the containers.
HOST_RING_DIR = "/etc/kolla-ha/swift"
# A read-only bind mount of HOST_RING_DIR (the folder, never single files: a file bind
# mount pins the old inode, and Swift reloads a ring only when it sees a new file).
RING_DIR = "/etc/swift/rings"
DEVICES_DIR = "/srv/node"
# Swift's recon cache: replicators and auditors write their stats here for swift-recon.
RECON_CACHE_DIR = "/var/cache/swift"
# Swift's sample rsyncd.conf: replication of the big object ring gets the most slots.
RSYNC_MAX_CONNECTIONS: dict[str, int] = {"account": 2, "container": 4, "object": 8}


@dataclass(frozen=True)
class SwiftPaths:
    ring_dir: str = RING_DIR
    devices_dir: str = DEVICES_DIR
    recon_cache_dir: str = RECON_CACHE_DIR


SWIFT_PATHS = SwiftPaths()


class SwiftDevice(ConfigModel):
    name: ConfigToken = Field(description="folder under /srv/node on every storage host (a mounted disk)")
    weight: Annotated[int, Field(ge=1, le=1000000)] = Field(
        100, description="share of partitions relative to the other devices; proportional to capacity")


def _named_once(devices: list[SwiftDevice]) -> list[SwiftDevice]:
    names = [d.name for d in devices]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} twice; name each device once")
    return devices


class SwiftTunables(ConfigModel):
    devices: Annotated[list[SwiftDevice], Field(min_length=1), AfterValidator(_named_once)] = Field(
        default_factory=lambda: [SwiftDevice(name="d1")],
        description="devices every storage host offers, each a disk mounted at /srv/node/<name>")
    # kolla-ansible's swift_part_power / swift_replication_count / swift_min_part_hours.
    part_power: Annotated[int, Field(ge=1, le=32)] = Field(
        10, description="2^part_power partitions per ring; fixed once the rings exist "
                        "(about 100 partitions per device at the cluster's largest size)")
    replicas: Annotated[int, Field(ge=1, le=16)] = Field(
        3, description="copies of every object; rings of fewer devices hold one copy per device")
    min_part_hours: Annotated[int, Field(ge=0, le=8760)] = Field(
        1, description="hours before a partition may move again; a rebalance within it moves only "
                       "the rest and reports the remainder as deferred")
    # Directories stand in for disks in the lab; on a real node an unmounted disk must
    # not be filled through the root file system, which mount_check prevents.
    mount_check: bool = Field(
        True, description="refuse to use a device that is not a mount point; false only where "
                          "devices are plain folders (the lab)")
    workers: Annotated[int, Field(ge=0, le=64)] = Field(
        2, description="worker processes per account/container/object server (0: serve from one process)")
