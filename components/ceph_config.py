"""Ceph as kolla-ha runs it, as data and rendered files: which daemons, which keys with
which capabilities, which pools, and the files each container reads. Pure, like
catalog.py and swift_storage.py; components/ceph.py turns it into resources.

Monitors and managers run on the `database` group (a quorum, like Galera's), one OSD
per device of every `storage` host. Every key is a Pulumi secret, generated once
(Passwords.ceph_key), except each OSD's own key, which the OSD makes at its first start
and registers with the monitors (`osd new`): it lives in the OSD's folder and in the
monitors only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from components.defaults import PORTS
from components.rendering import render
from components.value_formats import size_bytes

IMAGE = "ceph"
MON_VOLUME = ("ceph_mon", "/var/lib/ceph/mon")
OSD_DIR = "/var/lib/ceph/osd"
# Admin sockets: what the health checks ask, without a key or the network.
RUN_DIR = "/var/run/ceph"
CONF_DEST = "/etc/ceph/ceph.conf"


@dataclass(frozen=True)
class CephClient:
    """A cephx entity the program keys: its secret's name and its capabilities."""

    entity: str
    secret: str
    caps: tuple[tuple[str, str], ...]

    @property
    def keyring_name(self) -> str:
        """ceph.<entity>.keyring, where Ceph's tools look for it (ceph.mon.keyring for mon.)."""
        return f"ceph.{self.entity.rstrip('.')}.keyring"

    @property
    def user(self) -> str:
        """The name a client gives (`rbd_user`, `--id`)."""
        return self.entity.removeprefix("client.")


MON = CephClient("mon.", "ceph_mon_key", (("mon", "allow *"),))
ADMIN = CephClient("client.admin", "ceph_admin_key",
                   (("mds", "allow *"), ("mgr", "allow *"), ("mon", "allow *"), ("osd", "allow *")))
BOOTSTRAP_OSD = CephClient("client.bootstrap-osd", "ceph_bootstrap_osd_key", (("mon", "profile bootstrap-osd"),))
# cinder's RBD driver: its own pool only (the mgr profile lets it use rbd_support's
# trash purge and task queue, as Ceph's OpenStack guide sets it).
VOLUMES_POOL = "volumes"
CINDER = CephClient("client.cinder", "ceph_cinder_key",
                    (("mgr", f"profile rbd pool={VOLUMES_POOL}"), ("mon", "profile rbd"),
                     ("osd", f"profile rbd pool={VOLUMES_POOL}")))
# Imported by the setup step: the monitors learn mon. and client.admin at mkfs.
IMPORTED_CLIENTS = (BOOTSTRAP_OSD, CINDER)
POOLS = (VOLUMES_POOL,)
FSID = "ceph_fsid"


def keyring(client: CephClient, key: str) -> str:
    """A keyring file as ceph-authtool writes one. The caps matter where the monitors
    read it (mkfs, `auth import`); a client reading its own key ignores them."""
    lines = [f"[{client.entity}]", f"\tkey = {key}"]
    lines += [f'\tcaps {daemon} = "{cap}"' for daemon, cap in client.caps]
    return "\n".join(lines) + "\n"


def min_size(pool_size: int) -> int:
    """Ceph's own default: writes go on while a majority of the copies is up."""
    return pool_size - pool_size // 2


@dataclass(frozen=True)
class Osd:
    """One OSD on every storage host: its container, its folder's volume, its device."""

    container: str
    volume: str
    device: str | None

    @property
    def store(self) -> str:
        return self.device or "a file in its volume"


def osds(ceph: Mapping[str, Any]) -> tuple[Osd, ...]:
    """The OSDs each storage host runs: one per configured device, or one file-backed."""
    if not ceph["osd_devices"]:
        return (Osd("ceph_osd", "ceph_osd", None),)
    found = []
    for device in ceph["osd_devices"]:
        suffix = re.sub(r"[^A-Za-z0-9_.-]", "_", device.removeprefix("/dev/").replace("/", "_"))
        found.append(Osd(f"ceph_osd_{suffix}", f"ceph_osd_{suffix}", device))
    return tuple(found)


def ceph_context(node: Any, mons: Sequence[Any], network: str, ceph: Mapping[str, Any], fsid: str) -> dict[str, Any]:
    """What the Ceph templates read; `node` and `mons` have .name and .address."""
    settings = dict(ceph)
    settings["osd_memory_target_bytes"] = size_bytes(ceph["osd_memory_target"])
    settings["osd_file_size_bytes"] = size_bytes(ceph["osd_file_size"])
    return dict(node=node, mons=list(mons), first_mon=mons[0], network=network, ceph=settings, fsid=fsid,
                min_size=min_size(ceph["pool_size"]), ports=PORTS, pools=POOLS,
                clients=[c.entity for c in IMPORTED_CLIENTS])


def render_ceph_conf(ctx: Mapping[str, Any]) -> str:
    return render("ceph/ceph.conf.j2", **ctx)


def render_start_script(role: str, ctx: Mapping[str, Any], osd: Osd | None = None) -> str:
    """ceph_mon_start, ceph_mgr_start or ceph_osd_start for this node."""
    return render(f"ceph/ceph_{role}_start.sh.j2", osd=osd, **ctx)


def render_setup_script(ctx: Mapping[str, Any]) -> str:
    return render("ceph/ceph_setup.sh.j2", **ctx)


def mon_probe(name: str) -> str:
    """Healthy: this monitor is in the quorum (leader or peon), asked on its admin socket."""
    return (f"ceph --admin-daemon {RUN_DIR}/ceph-mon.{name}.asok mon_status "
            "| grep -Eq '\"state\": \"(leader|peon)\"'")


def mgr_probe(name: str) -> str:
    """Healthy: the manager runs and answers on its admin socket (one is active, the
    others stand by; the monitors choose)."""
    return f"ceph --admin-daemon {RUN_DIR}/ceph-mgr.{name}.asok status >/dev/null"


def osd_probe() -> str:
    """Healthy: the OSD is up and serving ("active"), asked on its admin socket (one OSD
    per container, whatever its id)."""
    return (f"ceph --admin-daemon \"$(ls {RUN_DIR}/ceph-osd.*.asok)\" status "
            "| grep -q '\"state\": \"active\"'")
