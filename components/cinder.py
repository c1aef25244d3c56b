"""cinder's scheduler and volume service, beside its API (components/api.py).

- cinder-scheduler on every control host, rolled one host at a time: any of them takes
  a volume request from RabbitMQ.
- cinder-volume on the first storage host only, single active, as cinder wants it
  without a distributed lock manager. Every host that may run it shares one `host` name
  (`cinder.backend_host`), so the volumes it made belong to that name, not to a machine:
  when the first storage host is gone, `pulumi up` with the host out of the storage
  group starts cinder-volume on the next one, which manages the same volumes
  (README, Day-2 operations: cinder-volume failover).

Both read the API's cinder.conf (one rendering, the RBD back-end section included);
cinder-volume also reads Ceph's ceph.conf and client.cinder's keyring.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi

from components.ceph import CephCluster
from components.ceph_config import CINDER
from components.defaults import PORTS
from components.host import HostNode
from components.kolla import HealthCheck, KollaFile, KollaService, service_container
from components.rendering import render
from components.rolling import roll
from components.service_config import ServiceConfig

CONF = "/etc/cinder/cinder.conf"
PROBE = "/usr/local/bin/kolla_ha_connected"
PERMISSIONS = ({"path": "/var/lib/cinder", "owner": "cinder:cinder", "recurse": True},)


def connected_probe(*ports: str) -> str:
    """Healthy: the daemon holds its connections (each of `ports`, `a|b` for either)."""
    return f"{PROBE} " + " ".join(f"'{p}'" for p in ports)


def probe_file() -> KollaFile:
    return KollaFile("kolla_ha_connected", PROBE, "root", "0755", render("openstack/connected_probe.py.j2"))


@dataclass(frozen=True)
class CinderVolumesArgs:
    config: ServiceConfig
    control: Sequence[HostNode]
    storage: Sequence[HostNode]
    ceph: CephCluster
    # cinder-api's tier (its schema and catalogue entry) and RabbitMQ.
    after: Sequence[pulumi.Resource]


class CinderVolumes(pulumi.ComponentResource):
    def __init__(self, name: str, args: CinderVolumesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:cinder:CinderVolumes", name, None, opts)
        config = args.config
        # The scheduler and the volume service hold their RabbitMQ connection all the
        # time; that is what they need to take requests.
        amqp = str(PORTS["rabbitmq"])

        def conf(host: HostNode) -> KollaFile:
            return next(f for f in config.config_files(host.spec) if f.dest == CONF)

        def scheduler(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            return service_container(host, KollaService(
                name="cinder_scheduler",
                image="cinder-scheduler",
                command=f"cinder-scheduler --config-file {CONF}",
                files=[conf(host), probe_file()],
                permissions=PERMISSIONS,
                healthcheck=HealthCheck(test=connected_probe(amqp), start_period_s=20),
            ), parent=self, depends_on=waits_on)

        self.schedulers = roll(args.control, scheduler, after=args.after)
        volume_host = args.storage[0]
        self.volume = service_container(volume_host, KollaService(
            name="cinder_volume",
            image="cinder-volume",
            command=f"cinder-volume --config-file {CONF}",
            files=[conf(volume_host), args.ceph.conf_file(volume_host.spec),
                   args.ceph.keyring_file(CINDER, owner="cinder", perm="0640"), probe_file()],
            permissions=PERMISSIONS,
            healthcheck=HealthCheck(test=connected_probe(amqp), start_period_s=20),
        ), parent=self, depends_on=[self.schedulers.ready, args.ceph.ready])
        self.ready: pulumi.Resource = self.volume
        self.register_outputs({"volume_host": volume_host.spec.name})
