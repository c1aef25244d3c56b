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
from components.host_config import (
    ReloadableConfig, delete_script, install_files_script, reload_script, write_script,
)
from components.inventory import Inventory
from components.kolla import INFRASTRUCTURE_CPU_SHARES, HealthCheck, KollaFile, KollaService, service_container
from components.passwords import Passwords
from components.rendering import CONFIGS, render
from components.rolling import roll

# Kernel capabilities keepalived needs for VRRP: raw sockets and adding the VIP.
KEEPALIVED_CAPS = ("NET_ADMIN", "NET_BROADCAST", "NET_RAW")


def haproxy_config(address: str) -> ReloadableConfig:
    # HAProxy's master process loads a new config hitlessly on SIGUSR2.
    return ReloadableConfig(
        container="haproxy",
        file="haproxy.cfg",
        dest="/etc/haproxy/haproxy.cfg",
        check="haproxy -c -q -f {path}",
        signal="USR2",
        alive=f"curl -sf -o /dev/null http://{address}:{PORTS['haproxy_stats']}/_alive",
    )


# keepalived re-reads its config on SIGHUP and keeps the VRRP state of an instance
# whose name is unchanged: the VIP holder keeps the VIP through the reload.
KEEPALIVED_CONFIG = ReloadableConfig(
    container="keepalived",
    file="keepalived.conf",
    dest="/etc/keepalived/keepalived.conf",
    check="keepalived --config-test -f {path}",
    signal="HUP",
    alive="docker exec keepalived pgrep -x keepalived >/dev/null",
)


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


def isolated_drop(lb_count: int, settings: Mapping[str, Any]) -> int:
    """How far check_peers lowers the priority of a host that reaches no peer: below the
    lowest peer's, so whoever took the VIP keeps it at the reconnect. keepalived's
    weights stop at 253 (the inventory keeps every priority at 1 or more, so this
    reaches below the lowest one unless that one is 1)."""
    return min(253, (lb_count - 1) * int(settings["priority_step"]) + 1)


def render_keepalived_conf(node: Any, index: int, lb_hosts: Sequence[Any], inv: Inventory, auth_pass: str) -> str:
    settings = inv.tier("keepalived")
    return render(
        "keepalived/keepalived.conf.j2",
        node=node,
        keepalived=settings,
        ports=PORTS,
        router_id=inv.vrrp_router_id,
        priority=priority(index, settings),
        isolated_drop=isolated_drop(len(lb_hosts), settings),
        peers=[h for h in lb_hosts if h.name != node.name],
        scripts_dir=KEEPALIVED_CONFIG.mounted_dir,
        # VRRP PASS authentication reads 8 characters at most.
        auth_pass=auth_pass[:8],
        vip=inv.internal_vip,
        prefixlen=inv.internal_prefixlen,
        external_vip=inv.external_vip,
        external_prefixlen=inv.external_network.prefixlen if inv.external_network else None,
    )


def render_check_haproxy(node: Any) -> str:
    return render("keepalived/check_haproxy.sh.j2", node=node, ports=PORTS)


def check_peers_script() -> str:
    """The same on every host: the peers come as arguments from keepalived.conf, which
    reloads in place when the loadbalancer group changes."""
    return (CONFIGS / "keepalived" / "check_peers.sh").read_text()


def track_scripts(node: Any) -> dict[str, str]:
    """keepalived's track scripts, by file name in KEEPALIVED_CONFIG's folder."""
    return {"check_haproxy": render_check_haproxy(node), "check_peers": check_peers_script()}


def track_scripts_command(host: HostNode, parent: pulumi.Resource,
                          depends_on: list[pulumi.Resource]) -> command.remote.Command:
    """`<host>-keepalived-scripts`: the track scripts in the host folder, rewritten in place
    when they change (the update of a Command runs its new `create`)."""
    scripts = track_scripts(host.spec)
    return command.remote.Command(
        f"{host.spec.name}-keepalived-scripts",
        connection=host.connection,
        create=install_files_script(KEEPALIVED_CONFIG, scripts),
        delete="".join(f"rm -f {KEEPALIVED_CONFIG.host_dir}/{name}\n" for name in scripts),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )


def config_command(host: HostNode, cfg: ReloadableConfig, text: pulumi.Input[str], parent: pulumi.Resource,
                   depends_on: list[pulumi.Resource]) -> command.remote.Command:
    """`<host>-<container>-config`: writes the file on create, checks and reloads it on update."""
    return command.remote.Command(
        f"{host.spec.name}-{cfg.container}-config",
        connection=host.connection,
        stdin=text,
        create=write_script(cfg),
        update=reload_script(cfg),
        delete=delete_script(cfg),
        # stdin carries a password (stats, VRRP): keep it out of logs and state.
        logging="none",
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=depends_on,
            additional_secret_outputs=["stdout", "stderr"],
        ),
    )


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
            hap = haproxy_config(node.address)
            cfg = stats_password.apply(lambda pw: render_haproxy_cfg(node, inv, args.services, pw))
            # One host at a time, config first: a config HAProxy rejects stops the update on
            # the first host, with every other host still serving the old one.
            # nonlocal_bind (host preparation) comes before HAProxy binds the VIP.
            config = config_command(host, hap, cfg, self,
                                    [*waits_on, *([host.prepared] if host.prepared is not None else [])])
            haproxy = service_container(
                host,
                KollaService(
                    name="haproxy",
                    image="haproxy",
                    command="haproxy -W -db -f /etc/haproxy/haproxy.cfg",
                    files=[KollaFile("haproxy.cfg", hap.dest, "root", "0600", None, source=hap.source)],
                    volumes=[("haproxy_socket", "/var/lib/kolla/haproxy")],
                    host_dirs=[(hap.host_dir, hap.mounted_dir)],
                    ulimits=[("nofile", haproxy_nofile(inv.tier("haproxy")), haproxy_nofile(inv.tier("haproxy")))],
                    healthcheck=HealthCheck(
                        test=f"curl -sf -o /dev/null http://{node.address}:{PORTS['haproxy_stats']}/_alive"
                    ),
                    cpu_shares=INFRASTRUCTURE_CPU_SHARES,
                ),
                parent=self,
                depends_on=[config],
            )
            conf = vrrp_password.apply(lambda pw: render_keepalived_conf(node, index, lb_specs, inv, pw))
            scripts = track_scripts_command(host, self, [haproxy])
            kconfig = config_command(host, KEEPALIVED_CONFIG, conf, self, [scripts])
            keepalived = service_container(
                host,
                KollaService(
                    name="keepalived",
                    image="keepalived",
                    command="keepalived --dont-fork --log-console --log-detail -f /etc/keepalived/keepalived.conf",
                    files=[
                        KollaFile("keepalived.conf", KEEPALIVED_CONFIG.dest, "root", "0600", None,
                                  source=KEEPALIVED_CONFIG.source),
                    ],
                    host_dirs=[(KEEPALIVED_CONFIG.host_dir, KEEPALIVED_CONFIG.mounted_dir)],
                    capabilities=KEEPALIVED_CAPS,
                    healthcheck=HealthCheck(test="pgrep -x keepalived >/dev/null"),
                    cpu_shares=INFRASTRUCTURE_CPU_SHARES,
                ),
                parent=self,
                depends_on=[kconfig],
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
