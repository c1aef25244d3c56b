"""Memcached pool: one per memcached host, bound to the internal address only.

Memcached has no authentication, so it listens on the internal network and nowhere
else, and never behind the VIP: clients hash keys over the full server list themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi

from components.defaults import PORTS
from components.host import HostNode
from components.kolla import INFRASTRUCTURE_CPU_SHARES, HealthCheck, KollaService, service_container
from components.rolling import roll


@dataclass(frozen=True)
class MemcachedArgs:
    members: Sequence[HostNode]
    settings: Mapping[str, Any]


def memcached_command(address: str, settings: Mapping[str, Any]) -> str:
    # -U 0: no UDP listener (the amplification vector); -l: internal address only.
    return (
        f"memcached -u memcache -l {address} -p {PORTS['memcached']} -U 0 "
        f"-m {settings['memory_mb']} -c {settings['connection_limit']} -t {settings['threads']} -v"
    )


def health_probe(address: str) -> str:
    """Docker health check: memcached answers `version` on its internal address."""
    # Double quotes only: Docker runs the test with `sh -c`, and this is wrapped in
    # bash -c '...' for /dev/tcp.
    script = (
        f"exec 3<>/dev/tcp/{address}/{PORTS['memcached']} && printf \"version\\r\\n\" >&3 "
        "&& read -t 3 -r line <&3 && [ \"${line%% *}\" = VERSION ]"
    )
    return f"bash -c '{script}'"


def server_list(addresses: Sequence[str]) -> str:
    """`memcache_servers` as oslo.cache and keystonemiddleware read it."""
    return ",".join(f"{a}:{PORTS['memcached']}" for a in addresses)


class MemcachedPool(pulumi.ComponentResource):
    def __init__(self, name: str, args: MemcachedArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:memcached:MemcachedPool", name, None, opts)
        self.addresses = [h.spec.address for h in args.members]
        self.servers = server_list(self.addresses)
        self.containers: list[pulumi.Resource] = []

        def member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            address = host.spec.address
            node = service_container(
                host,
                KollaService(
                    name="memcached",
                    image="memcached",
                    command=memcached_command(address, args.settings),
                    healthcheck=HealthCheck(test=health_probe(address)),
                    cpu_shares=INFRASTRUCTURE_CPU_SHARES,
                ),
                parent=self,
                depends_on=waits_on,
            )
            self.containers.append(node)
            return node

        self.ready: pulumi.Resource = roll(args.members, member).ready
        self.register_outputs({"servers": self.servers})
