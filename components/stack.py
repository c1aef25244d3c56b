"""The whole HA control plane, composed across the inventory's hosts."""
from __future__ import annotations

from typing import Any, Mapping

import pulumi

from components.api import ApiService, ApiServiceArgs, haproxy_section
from components.catalog import CATALOG, IDENTITY, ApiSpec, deploy_order, replica_hosts
from components.ceph import CephArgs, CephCluster
from components.cinder import CinderVolumes, CinderVolumesArgs
from components.galera import GaleraArgs, GaleraCluster
from components.glance import store_container_step
from components.host import HostNode, HostPrep
from components.inventory import Host, Inventory
from components.loadbalancer import LoadBalancer, LoadBalancerArgs, ProxiedService, galera_section
from components.memcached import MemcachedArgs, MemcachedPool
from components.passwords import Passwords
from components.rabbitmq import RabbitMQArgs, RabbitMQCluster
from components.service_config import ServiceConfig, service_config
from components.swift import SwiftStorage, SwiftStorageArgs, storage_folders
from components.swift_settings import SwiftTunables

SWIFT_PROXY = "swift-proxy-server"
CINDER_API = "cinder-api"


def host_prep(inv: Inventory, name: str) -> HostPrep:
    messaging = inv.group("messaging")
    swift_storage = SWIFT_PROXY in inv.enabled_services and name in inv.groups.get("storage", ())
    return HostPrep(
        nonlocal_bind=name in inv.groups.get("loadbalancer", ()),
        # RabbitMQ node names are rabbit@<host>; every messaging host must resolve them.
        etc_hosts=tuple((h.name, h.address) for h in messaging) if name in inv.groups.get("messaging", ()) else (),
        folders=storage_folders(SwiftTunables.model_validate(dict(inv.tier("swift")))) if swift_storage else (),
    )


def service_hosts(spec: ApiSpec, inv: Inventory) -> list[Host]:
    """The hosts that run a replica of `spec` (and are its HAProxy servers)."""
    return replica_hosts(spec, inv.group(spec.group), inv.tiers)


def proxied_services(inv: Inventory) -> list[ProxiedService]:
    """Every haproxy.cfg section, from what the tiers register."""
    sections = [galera_section(inv.group("database"))]
    for name in deploy_order(inv.enabled_services):
        spec = CATALOG[name]
        sections.append(haproxy_section(spec, service_hosts(spec, inv)))
    return sections


def password_rotations(inv: Inventory) -> dict[str, int]:
    """`passwords.rotations`: secret name -> how many times it has been rotated."""
    return dict(inv.tier("passwords")["rotations"])


def rabbitmq_users(inv: Inventory) -> list[str]:
    return [CATALOG[s].short for s in inv.enabled_services if CATALOG[s].rabbitmq]


class ControlPlane(pulumi.ComponentResource):
    """kolla-ha's stack: hosts, infrastructure tiers, then the API services."""

    def __init__(
        self,
        name: str,
        inv: Inventory,
        given_secrets: Mapping[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kolla-ha:stack:ControlPlane", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.passwords = Passwords("passwords", given_secrets, password_rotations(inv), opts=child)
        self.hosts = {
            h.name: HostNode(h, inv.images, host_prep(inv, h.name), opts=child) for h in inv.hosts
        }

        def members(group: str) -> list[HostNode]:
            return [self.hosts[n] for n in inv.groups.get(group, ())]

        self.loadbalancer = LoadBalancer(
            "loadbalancer",
            LoadBalancerArgs(members("loadbalancer"), inv, proxied_services(inv), self.passwords),
            opts=child,
        )
        self.database = GaleraCluster(
            "galera",
            GaleraArgs(members("database"), inv.tier("galera"), self.passwords, inv.internal_vip,
                       loadbalancers=[h.spec.address for h in members("loadbalancer")]),
            opts=child,
        )
        self.messaging = RabbitMQCluster(
            "rabbitmq",
            RabbitMQArgs(members("messaging"), inv.tier("rabbitmq"), self.passwords, rabbitmq_users(inv)),
            opts=child,
        )
        self.memcached = MemcachedPool("memcached", MemcachedArgs(members("memcached"), inv.tier("memcached")), opts=child)
        enabled = inv.enabled_services
        # Storage first: it needs only the hosts, and the services wait for it.
        self.ceph: CephCluster | None = None
        if CINDER_API in enabled:
            self.ceph = CephCluster(
                "ceph",
                CephArgs(members("database"), members("storage"), inv.tier("ceph"), self.passwords,
                         str(inv.internal_network)),
                opts=child,
            )
        self.swift: SwiftStorage | None = None
        if SWIFT_PROXY in enabled:
            self.swift = SwiftStorage(
                "swift",
                SwiftStorageArgs(members("storage"), members(CATALOG[SWIFT_PROXY].group), inv.tier("swift"),
                                 self.passwords, self.memcached.servers),
                opts=child,
            )
        self.services: dict[str, ApiService] = {}
        # One ready resource per tier: each is the end of its tier's rolling chain.
        infrastructure = [self.database.ready, self.loadbalancer.ready]
        for name in deploy_order(enabled):
            spec = CATALOG[name]
            keystone = self.services.get(IDENTITY)
            runtime = [self.memcached.ready, *([self.messaging.ready] if spec.rabbitmq else [])]
            if name == SWIFT_PROXY and self.swift is not None:
                # Each proxy reads the rings from its host's folder.
                runtime += [self.swift.ring_files[h.name] for h in service_hosts(spec, inv)]
            self.services[name] = ApiService(
                name,
                ApiServiceArgs(
                    spec=spec,
                    members=[self.hosts[h.name] for h in service_hosts(spec, inv)],
                    inventory=inv,
                    passwords=self.passwords,
                    memcached_servers=self.memcached.servers,
                    transport_url=self.messaging.transport_url(spec.short) if spec.rabbitmq else None,
                    infrastructure=infrastructure,
                    runtime=runtime,
                    keystone=keystone.ready if keystone else None,
                    loadbalancers=[h.spec.address for h in members("loadbalancer")],
                ),
                opts=child,
            )
        self.store_container: pulumi.Resource | None = None
        glance = CATALOG["glance-api"]
        if glance.name in enabled and inv.tier("glance")["backend"] == "swift":
            # The swift back-end needs swift-proxy-server enabled (validated).
            self.store_container = store_container_step(
                self._config(glance, inv),
                self.hosts[service_hosts(glance, inv)[0].name],
                after=[self.services[glance.name].ready, self.services[SWIFT_PROXY].ready],
                parent=self,
            )
        self.cinder: CinderVolumes | None = None
        if self.ceph is not None:
            cinder = CATALOG[CINDER_API]
            self.cinder = CinderVolumes(
                "cinder",
                CinderVolumesArgs(
                    config=self._config(cinder, inv),
                    control=[self.hosts[h.name] for h in service_hosts(cinder, inv)],
                    storage=members("storage"),
                    ceph=self.ceph,
                    after=[self.services[CINDER_API].ready, self.messaging.ready],
                ),
                opts=child,
            )
        self.register_outputs({"endpoints": self.endpoints()})

    def _config(self, spec: ApiSpec, inv: Inventory) -> ServiceConfig:
        """A service's config as its API replicas get it (the same secrets, context and
        files), for the steps and daemons beside them (glance's store, cinder's volumes)."""
        return service_config(spec, inv, self.passwords, self.memcached.servers,
                              self.messaging.transport_url(spec.short) if spec.rabbitmq else None)

    def endpoints(self) -> dict[str, dict[str, str]]:
        return {name: svc.endpoints for name, svc in self.services.items()}

    def connection_data(self, inv: Inventory) -> dict[str, Any]:
        """Database and messaging connection data, as secrets."""
        return {
            "database": pulumi.Output.secret(
                self.passwords.password("database_password").apply(
                    lambda pw: {"host": inv.internal_vip, "port": 3306, "user": "root", "password": pw}
                )
            ),
            "transport_urls": {
                user: self.messaging.transport_url(user) for user in rabbitmq_users(inv)
            },
        }
