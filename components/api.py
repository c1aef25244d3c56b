"""An OpenStack API service: N replicas behind the VIP, between its one-shot steps.

The steps (components/service_steps.py) run on the first control host: the service's
databases and user and its schema before the replicas; its keystone user and catalogue
endpoints after them. One replica per control host, rolled one at a time: each replica
is started only after the previous one answers its health URL and is back in every
HAProxy. Every replica is wired to the DB
VIP, every RabbitMQ node and every memcached server. What differs between services
(extra secrets, key repositories, the bootstrap script) is data in components/catalog.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pulumi

from components.catalog import ApiSpec
from components.host import HostNode
from components.inventory import Inventory
from components.kolla import HealthCheck, KollaService, service_container
from components.lb_membership import lb_membership, stats_credentials
from components.loadbalancer import Backend, ProxiedService
from components.passwords import Passwords
from components.rolling import roll
from components.service_config import endpoint_urls, service_config
from components.service_steps import after_rollout_steps, before_rollout_steps


def haproxy_section(spec: ApiSpec, members: Sequence[Any]) -> ProxiedService:
    return ProxiedService(
        name=spec.container,
        port=spec.port,
        backend_port=spec.port,
        servers=tuple(Backend(m.name, m.address) for m in members),
        health_path=spec.health_path,
    )


@dataclass(frozen=True)
class ApiServiceArgs:
    spec: ApiSpec
    members: Sequence[HostNode]
    inventory: Inventory
    passwords: Passwords
    memcached_servers: str
    transport_url: pulumi.Output[str] | None
    # What must be ready before the one-shot steps: Galera (root's password set), the VIP.
    infrastructure: Sequence[pulumi.Resource]
    # What must be ready before the replicas: memcached, RabbitMQ.
    runtime: Sequence[pulumi.Resource]
    # keystone's ready resource, for the services that register in its catalogue.
    keystone: pulumi.Resource | None = None
    # Internal addresses of the HAProxy hosts, where replicas are drained before a stop.
    loadbalancers: Sequence[str] = ()


class ApiService(pulumi.ComponentResource):
    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:api:ApiService", name, None, opts)
        spec, inv, pw = args.spec, args.inventory, args.passwords
        config = service_config(spec, inv, pw, args.memcached_servers, args.transport_url)
        first = args.members[0]
        steps = before_rollout_steps(config, first, args.infrastructure, parent=self)
        api = inv.tier("api")
        credentials = stats_credentials(pw.password("haproxy_stats_password"))
        shared_store = config.shared_store()
        self.containers: list[pulumi.Resource] = []

        def member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            container = service_container(
                host,
                KollaService(
                    name=spec.container,
                    image=spec.image,
                    command=spec.command,
                    files=config.config_files(host.spec) + list(config.key_files),
                    volumes=list(spec.volumes),
                    host_dirs=list(spec.host_dirs),
                    data_dirs=[shared_store] if shared_store else [],
                    permissions=config.permissions(),
                    healthcheck=HealthCheck(
                        test=f"curl -sf -o /dev/null --max-time 5 http://{host.spec.address}:{spec.port}{spec.health_path}",
                        interval_s=int(api["healthcheck_interval"]),
                        retries=int(api["healthcheck_retries"]),
                        start_period_s=20,
                    ),
                    wait_timeout_s=int(api["wait_timeout"]),
                ),
                parent=self,
                depends_on=waits_on,
            )
            self.containers.append(container)
            # The next replica is replaced only once this one is back in every HAProxy.
            return lb_membership(host, spec.container, container, args.loadbalancers, credentials, parent=self)

        after = [steps[-1]] if steps else list(args.infrastructure)
        rollout = roll(args.members, member, after=[*after, *args.runtime])
        self.members: list[pulumi.Resource] = list(rollout.links)
        finishing = after_rollout_steps(config, first, rollout.ready, args.keystone, parent=self)
        # The tier is ready when every replica serves and the steps that needed all of
        # them (the catalogue entry, re-encrypting credentials) are done.
        self.ready: pulumi.Resource = finishing[-1] if finishing else rollout.ready
        self.endpoints = endpoint_urls(spec, inv)
        self.register_outputs({"endpoints": self.endpoints})
