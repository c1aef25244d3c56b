"""HAProxy + Keepalived: the VRRP virtual IP in front of every API and the database.

Keepalived moves the VIP (and the optional external VIP, in the same VRRP instance so
both move together) to a host whose HAProxy answers; HAProxy sends each API to all its
healthy replicas and the database to exactly one Galera node at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_command as command

from components.defaults import PORTS
from components.host import HostNode
from components.inventory import Inventory
from components.kolla import HealthCheck, KollaFile, KollaService, service_container
from components.passwords import Passwords
from components.rendering import render
from components.rolling import roll

# Kernel capabilities keepalived needs for VRRP: raw sockets and adding the VIP.
KEEPALIVED_CAPS = ("NET_ADMIN", "NET_BROADCAST", "NET_RAW")
# haproxy.cfg lives on the host, mounted read-only into the container: a new config is
# validated and loaded by HAProxy's master process (SIGUSR2, hitless) instead of
# replacing the container, which would drop the VIP for seconds on its holder.
HOST_CONFIG_DIR = "/etc/kolla-ha/haproxy"
MOUNTED_CONFIG_DIR = "/var/lib/kolla/haproxy-config"


def write_config_script() -> str:
    """First write of haproxy.cfg (from stdin), before the container exists."""
    return "\n".join([
        "set -eu",
        f"install -d -m 0700 {HOST_CONFIG_DIR}",
        "umask 077",
        f"cat > {HOST_CONFIG_DIR}/haproxy.cfg.new",
        f"mv {HOST_CONFIG_DIR}/haproxy.cfg.new {HOST_CONFIG_DIR}/haproxy.cfg",
    ]) + "\n"


def reload_config_script(address: str) -> str:
    """A changed haproxy.cfg (from stdin): checked by the running HAProxy, then loaded."""
    return "\n".join([
        "set -eu",
        "umask 077",
        f"cat > {HOST_CONFIG_DIR}/haproxy.cfg.new",
        "if ! docker inspect haproxy >/dev/null 2>&1; then",
        f"  mv {HOST_CONFIG_DIR}/haproxy.cfg.new {HOST_CONFIG_DIR}/haproxy.cfg",
        "  exit 0",
        "fi",
        f"docker exec haproxy haproxy -c -q -f {MOUNTED_CONFIG_DIR}/haproxy.cfg.new",
        f"mv {HOST_CONFIG_DIR}/haproxy.cfg.new {HOST_CONFIG_DIR}/haproxy.cfg",
        f"docker exec haproxy cp {MOUNTED_CONFIG_DIR}/haproxy.cfg /etc/haproxy/haproxy.cfg",
        "docker kill -s USR2 haproxy >/dev/null",
        "for i in $(seq 1 30); do",
        f"  curl -sf -o /dev/null http://{address}:{PORTS['haproxy_stats']}/_alive && exit 0",
        "  sleep 1",
        "done",
        "echo 'haproxy did not answer after the reload' >&2",
        "exit 1",
    ]) + "\n"


@dataclass(frozen=True)
class Backend:
    name: str
    address: str


@dataclass(frozen=True)
class ProxiedService:
    """A section of haproxy.cfg that a tier registers."""

    name: str
    port: int
    backend_port: int
    servers: tuple[Backend, ...]
    mode: str = "http"
    health_path: str = "/"
    check_port: int | None = None
    # True for Galera: one active writer, the others `backup`, because concurrent
    # writers on different nodes make OpenStack's SELECT ... FOR UPDATE deadlock.
    single_writer: bool = False
    external: bool = True


def galera_section(members: Sequence[Any]) -> ProxiedService:
    return ProxiedService(
        name="mariadb",
        port=PORTS["mariadb"],
        backend_port=PORTS["mariadb"],
        servers=tuple(Backend(m.name, m.address) for m in members),
        mode="tcp",
        check_port=PORTS["galera_clustercheck"],
        single_writer=True,
        external=False,
    )


def haproxy_nofile(settings: Mapping[str, Any]) -> int:
    """File descriptors HAProxy needs: two per connection (client and server side)
    plus headroom for listeners, checks and the stats socket."""
    return 2 * int(settings["maxconn"]) + 1024


def priority(index: int, settings: Mapping[str, Any]) -> int:
    return max(1, int(settings["priority_base"]) - index * int(settings["priority_step"]))


def render_haproxy_cfg(node: Any, inv: Inventory, services: Sequence[ProxiedService], stats_password: str) -> str:
    return render(
        "haproxy/haproxy.cfg.j2",
        node=node,
        haproxy=inv.tier("haproxy"),
        ports=PORTS,
        vip=inv.internal_vip,
        external_vip=inv.external_vip,
        services=services,
        stats_password=stats_password,
    )


def render_keepalived_conf(node: Any, index: int, lb_hosts: Sequence[Any], inv: Inventory, auth_pass: str) -> str:
    return render(
        "keepalived/keepalived.conf.j2",
        node=node,
        keepalived=inv.tier("keepalived"),
        router_id=inv.vrrp_router_id,
        priority=priority(index, inv.tier("keepalived")),
        peers=[h for h in lb_hosts if h.name != node.name],
        # VRRP PASS authentication reads 8 characters at most.
        auth_pass=auth_pass[:8],
        vip=inv.internal_vip,
        prefixlen=inv.internal_prefixlen,
        external_vip=inv.external_vip,
        external_prefixlen=inv.external_network.prefixlen if inv.external_network else None,
    )


def render_check_haproxy(node: Any) -> str:
    return render("keepalived/check_haproxy.sh.j2", node=node, ports=PORTS)


@dataclass(frozen=True)
class LoadBalancerArgs:
    members: Sequence[HostNode]
    inventory: Inventory
    services: Sequence[ProxiedService]
    passwords: Passwords


class LoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:loadbalancer:LoadBalancer", name, None, opts)
        inv = args.inventory
        stats_password = args.passwords.password("haproxy_stats_password")
        vrrp_password = args.passwords.password("keepalived_password", length=8, special=False)
        lb_specs = [m.spec for m in args.members]
        self.haproxy: list[pulumi.Resource] = []
        self.keepalived: list[pulumi.Resource] = []

        def member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            node = host.spec
            index = lb_specs.index(node)
            cfg = stats_password.apply(lambda pw: render_haproxy_cfg(node, inv, args.services, pw))
            # One host at a time, config first: a config HAProxy rejects stops the update on
            # the first host, with every other host still serving the old one.
            config = command.remote.Command(
                f"{node.name}-haproxy-config",
                connection=host.connection,
                stdin=cfg,
                create=write_config_script(),
                update=reload_config_script(node.address),
                delete=f"rm -rf {HOST_CONFIG_DIR}",
                # stdin carries the stats password: keep it out of logs and state.
                logging="none",
                opts=pulumi.ResourceOptions(
                    parent=self,
                    # nonlocal_bind (host preparation) before HAProxy binds the VIP.
                    depends_on=[*waits_on, *([host.prepared] if host.prepared is not None else [])],
                    additional_secret_outputs=["stdout", "stderr"],
                ),
            )
            haproxy = service_container(
                host,
                KollaService(
                    name="haproxy",
                    image="haproxy",
                    command="haproxy -W -db -f /etc/haproxy/haproxy.cfg",
                    files=[KollaFile("haproxy.cfg", "/etc/haproxy/haproxy.cfg", "root", "0600", None,
                                     source=f"{MOUNTED_CONFIG_DIR}/haproxy.cfg")],
                    volumes=[("haproxy_socket", "/var/lib/kolla/haproxy")],
                    host_dirs=[(HOST_CONFIG_DIR, MOUNTED_CONFIG_DIR)],
                    ulimits=[("nofile", haproxy_nofile(inv.tier("haproxy")), haproxy_nofile(inv.tier("haproxy")))],
                    healthcheck=HealthCheck(
                        test=f"curl -sf -o /dev/null http://{node.address}:{PORTS['haproxy_stats']}/_alive"
                    ),
                ),
                parent=self,
                depends_on=[config],
            )
            conf = vrrp_password.apply(lambda pw: render_keepalived_conf(node, index, lb_specs, inv, pw))
            keepalived = service_container(
                host,
                KollaService(
                    name="keepalived",
                    image="keepalived",
                    command="keepalived --dont-fork --log-console --log-detail -f /etc/keepalived/keepalived.conf",
                    files=[
                        KollaFile("keepalived.conf", "/etc/keepalived/keepalived.conf", "root", "0600", conf),
                        KollaFile("check_haproxy", "/usr/local/bin/check_haproxy", "root", "0700",
                                  render_check_haproxy(node)),
                    ],
                    capabilities=KEEPALIVED_CAPS,
                    healthcheck=HealthCheck(test="pgrep -x keepalived >/dev/null"),
                ),
                parent=self,
                depends_on=[haproxy],
            )
            self.haproxy.append(haproxy)
            self.keepalived.append(keepalived)
            # The next host's config and containers wait until this host takes part in
            # VRRP again, so the VIP always has somewhere to go.
            return keepalived

        self.ready: pulumi.Resource = roll(args.members, member).ready
        self.internal_vip = inv.internal_vip
        self.external_vip = inv.external_vip
        self.register_outputs({"internal_vip": inv.internal_vip, "external_vip": inv.external_vip})
