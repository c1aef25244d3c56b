"""Ceph for cinder's volumes: monitors and managers on the `database` group, OSDs on the
`storage` group, every daemon a kolla container restarted by Docker after a power cycle.

In the order Pulumi runs it:

1. Per database host, one after the other: `ceph_mon`, then `ceph_mgr`. A monitor's
   store is made once, by its start script, on its empty volume: the first monitor
   forms the cluster when no monitor answers; every other one joins the running
   monitors (their current map), which adds it to the quorum. The next host starts only
   once this monitor is in the quorum and its manager runs.
2. `<first database host>-ceph_setup`, a one-shot step: the client keys with their
   capabilities (`auth import`) and the pools, each tagged for RBD, with the size asked.
   Monitor commands only, idempotent; it runs again when a key, a capability or the pool
   size changes.
3. Per storage host, one after the other: its OSDs. An OSD is made once, by its start
   script, on its empty volume (`osd new` with the bootstrap-osd key, its own key,
   BlueStore's mkfs) and placed in CRUSH under its host's inventory name; the pools keep
   each copy on another host. The next host starts only once this host's OSDs are up.

The tier's ready resource is the last OSD: from then on a client (cinder-volume) can
write to the pools.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi

from components.ceph_config import (
    ADMIN, BOOTSTRAP_OSD, CONF_DEST, IMAGE, IMPORTED_CLIENTS, MON, MON_VOLUME, OSD_DIR, RUN_DIR, CephClient, Osd,
    FSID, ceph_context, keyring, mgr_probe, mon_probe, osd_probe, osds, render_ceph_conf,
    render_setup_script, render_start_script,
)
from components.host import HostNode
from components.kolla import HealthCheck, KollaFile, KollaService, service_container
from components.one_shot import OneShot, one_shot_step
from components.passwords import Passwords
from components.rolling import roll

# A monitor that joins syncs the others' store first; an OSD's first start makes its
# BlueStore. Neither takes long on an empty cluster, but a big store syncs for minutes.
WAIT_TIMEOUT_S = 900
# Ceph daemons flush and leave the cluster cleanly on SIGTERM: give them the time.
STOP_GRACE_S = 60
# ceph-mgr holds no data, and on SIGTERM it waits for its Python modules, which took the
# whole 60 s on every stop in the lab: it gets a short grace.
MGR_STOP_GRACE_S = 10


@dataclass(frozen=True)
class CephArgs:
    mons: Sequence[HostNode]
    storage: Sequence[HostNode]
    settings: Mapping[str, Any]
    passwords: Passwords
    network: str


class CephCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: CephArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:ceph:CephCluster", name, None, opts)
        self.fsid = args.passwords.uuid(FSID)
        self._keys = {c.entity: args.passwords.ceph_key(c.secret) for c in (MON, ADMIN, *IMPORTED_CLIENTS)}
        self._args = args
        mon_specs = [h.spec for h in args.mons]
        admin_keyring = self.keyring_file(ADMIN, owner="ceph", perm="0600")

        def mon_member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            node = host.spec
            ctx = self._context(node)
            mon = service_container(host, KollaService(
                name="ceph_mon",
                image=IMAGE,
                command="/usr/local/bin/ceph_mon_start",
                files=[self.conf_file(node),
                       self.keyring_file(MON, owner="ceph", perm="0600"),
                       admin_keyring,
                       KollaFile("ceph_mon_start", "/usr/local/bin/ceph_mon_start", "root", "0700",
                                 ctx.apply(lambda c: render_start_script("mon", c)))],
                volumes=[MON_VOLUME],
                permissions=[{"path": RUN_DIR, "owner": "ceph:ceph"}, {"path": MON_VOLUME[1], "owner": "ceph:ceph"}],
                healthcheck=HealthCheck(test=mon_probe(node.name), start_period_s=30),
                wait_timeout_s=WAIT_TIMEOUT_S,
                stop_grace_s=STOP_GRACE_S,
            ), parent=self, depends_on=waits_on)
            mgr = service_container(host, KollaService(
                name="ceph_mgr",
                image=IMAGE,
                command="/usr/local/bin/ceph_mgr_start",
                files=[self.conf_file(node), admin_keyring,
                       KollaFile("ceph_mgr_start", "/usr/local/bin/ceph_mgr_start", "root", "0700",
                                 ctx.apply(lambda c: render_start_script("mgr", c)))],
                permissions=[{"path": RUN_DIR, "owner": "ceph:ceph"}],
                healthcheck=HealthCheck(test=mgr_probe(node.name), start_period_s=30),
                wait_timeout_s=WAIT_TIMEOUT_S,
                stop_grace_s=MGR_STOP_GRACE_S,
            ), parent=self, depends_on=[mon])
            return mgr

        monitors = roll(args.mons, mon_member)
        first = args.mons[0]
        clients = pulumi.Output.all(*(self._keys[c.entity] for c in IMPORTED_CLIENTS)).apply(
            lambda keys: "".join(keyring(c, k) for c, k in zip(IMPORTED_CLIENTS, keys)))
        self.setup = one_shot_step(first, OneShot(
            name="ceph_setup",
            image=IMAGE,
            command="/usr/local/bin/ceph_setup",
            files=[self.conf_file(first.spec), admin_keyring,
                   KollaFile("kolla-ha-clients.keyring", "/etc/ceph/kolla-ha-clients.keyring", "root", "0600",
                             pulumi.Output.secret(clients)),
                   KollaFile("ceph_setup", "/usr/local/bin/ceph_setup", "root", "0700",
                             self._context(first.spec).apply(render_setup_script))],
        ), parent=self, depends_on=[monitors.ready])

        def osd_member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            link: list[pulumi.Resource] = waits_on
            for osd in osds(args.settings):
                link = [self._osd_container(host, osd, link)]
            return link[0]

        self.osds = roll(args.storage, osd_member, after=[self.setup])
        self.ready: pulumi.Resource = self.osds.ready
        self.register_outputs({"fsid": self.fsid, "monitors": [m.name for m in mon_specs]})

    def _context(self, node: Any) -> pulumi.Output[dict[str, Any]]:
        args = self._args
        mons = [h.spec for h in args.mons]
        return self.fsid.apply(lambda fsid: ceph_context(node, mons, args.network, args.settings, fsid))

    def conf_file(self, node: Any) -> KollaFile:
        """ceph.conf as `node` reads it (every host's is the same but for its CRUSH host)."""
        return KollaFile("ceph.conf", CONF_DEST, "ceph", "0644", self._context(node).apply(render_ceph_conf))

    def keyring_file(self, client: CephClient, owner: str, perm: str) -> KollaFile:
        """The keyring of `client` for a container whose `owner` reads it."""
        name = client.keyring_name
        return KollaFile(name, f"/etc/ceph/{name}", owner, perm,
                         pulumi.Output.secret(self._keys[client.entity].apply(lambda key: keyring(client, key))))

    def _osd_container(self, host: HostNode, osd: Osd, waits_on: Sequence[pulumi.Resource]) -> pulumi.Resource:
        node = host.spec
        return service_container(host, KollaService(
            name=osd.container,
            image=IMAGE,
            command="/usr/local/bin/ceph_osd_start",
            files=[self.conf_file(node), self.keyring_file(BOOTSTRAP_OSD, owner="ceph", perm="0600"),
                   KollaFile("ceph_osd_start", "/usr/local/bin/ceph_osd_start", "root", "0700",
                             self._context(node).apply(lambda c: render_start_script("osd", c, osd)))],
            volumes=[(osd.volume, OSD_DIR)],
            devices=[osd.device] if osd.device else [],
            permissions=[{"path": RUN_DIR, "owner": "ceph:ceph"}],
            healthcheck=HealthCheck(test=osd_probe(), start_period_s=30),
            wait_timeout_s=WAIT_TIMEOUT_S,
            stop_grace_s=STOP_GRACE_S,
        ), parent=self, depends_on=waits_on)
