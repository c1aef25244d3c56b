"""MariaDB Galera: synchronous multi-master, used through HAProxy as a single writer.

First deploy: a one-shot step initialises the first node and leaves a marker so that
node's first start forms the cluster; the other nodes then join one at a time, each only
after the previous one is Synced (health check = galera_clustercheck). Then the first
node is restarted so no node keeps running as a bootstrapper, and root's password is
set from the stack's secret (which is how that secret rotates).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_command as command

from components.defaults import PORTS
from components.host import HostNode
from components.kolla import (
    INFRASTRUCTURE_CPU_SHARES,
    HealthCheck,
    KollaFile,
    KollaService,
    service_container,
    tcp_probe,
)
from components.lb_membership import lb_membership, stats_credentials
from components.one_shot import OneShot, one_shot_step
from components.passwords import Passwords
from components.rendering import render, sql_string
from components.rolling import roll

IMAGE = "mariadb-server"
DATA_VOLUME = ("mariadb", "/var/lib/mysql")
PERMISSIONS = ({"path": "/var/lib/mysql", "owner": "mysql:mysql", "recurse": True},)


@dataclass(frozen=True)
class GaleraArgs:
    members: Sequence[HostNode]
    settings: Mapping[str, Any]
    passwords: Passwords
    vip: str
    # Internal addresses of the HAProxy hosts, where a node is drained before it stops.
    loadbalancers: Sequence[str] = ()


def render_node_files(node: Any, members: Sequence[Any], settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, str]:
    """Every file a Galera node needs, by file name. Pure: used by tests and daemons."""
    ctx = dict(node=node, members=members, galera=settings, ports=PORTS, **secrets)
    return {
        "my.cnf": render("galera/my.cnf.j2", **ctx),
        "clustercheck.cnf": render("galera/clustercheck.cnf.j2", **ctx),
        "galera_clustercheck": render("galera/galera_clustercheck.py.j2", **ctx),
        "galera_start": render("galera/galera_start.sh.j2", **ctx),
        "galera_bootstrap": render("galera/galera_bootstrap.sh.j2", **ctx),
    }


_DESTS = {
    "my.cnf": ("/etc/mysql/my.cnf", "mysql", "0600"),
    "clustercheck.cnf": ("/etc/mysql/clustercheck.cnf", "root", "0600"),
    "galera_clustercheck": ("/usr/local/bin/galera_clustercheck", "root", "0700"),
    "galera_start": ("/usr/local/bin/galera_start", "root", "0700"),
    "galera_bootstrap": ("/usr/local/bin/galera_bootstrap", "root", "0700"),
}


def finish_bootstrap_script(container: str = "mariadb") -> str:
    """Restart the node only while it still runs as the bootstrapper of a new cluster.

    The check makes every run after the first one a no-op, whatever input changed (a
    new host address, a new SSH key): the writer is never restarted again.
    """
    return "\n".join([
        "set -eu",
        f"args=$(docker exec {container} cat /proc/1/cmdline 2>/dev/null | tr '\\0' ' ' || true)",
        'case "$args" in',
        "  *--wsrep-new-cluster*) ;;",
        f'  *) echo "kolla-ha: {container} runs as an ordinary Galera member; nothing to do"; exit 0 ;;',
        "esac",
        f"docker restart -t 120 {container} >/dev/null",
        "for i in $(seq 1 150); do",
        f"  s=$(docker inspect -f '{{{{.State.Health.Status}}}}' {container})",
        '  [ "$s" = healthy ] && exit 0',
        "  sleep 2",
        "done",
        f"echo '{container} did not become healthy after restart' >&2",
        "exit 1",
    ]) + "\n"


def root_password_sql(password: str) -> str:
    """SQL that sets root@'%' to the stack's password, run over the node's own socket
    (root@localhost authenticates by unix_socket, so it needs no old password)."""
    return f"ALTER USER 'root'@'%' IDENTIFIED BY {sql_string(password)};\n"


class GaleraCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: GaleraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:galera:GaleraCluster", name, None, opts)
        members = [m.spec for m in args.members]
        root_password = args.passwords.password("database_password")
        secrets = pulumi.Output.all(
            root_password=root_password,
            sst_password=args.passwords.password("galera_sst_password"),
            monitor_password=args.passwords.password("galera_monitor_password"),
        )
        first = args.members[0]
        credentials = stats_credentials(args.passwords.password("haproxy_stats_password"))
        self.containers: list[pulumi.Resource] = []
        self.clusterchecks: list[pulumi.Resource] = []

        def member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            rendered = secrets.apply(lambda s: render_node_files(host.spec, members, args.settings, s))

            def files(names: Sequence[str]) -> list[KollaFile]:
                return [
                    KollaFile(n, _DESTS[n][0], _DESTS[n][1], _DESTS[n][2], rendered.apply(lambda r, n=n: r[n]))
                    for n in names
                ]

            if host is first:
                bootstrap = one_shot_step(
                    host,
                    OneShot(
                        name="mariadb_bootstrap",
                        image=IMAGE,
                        command="/usr/local/bin/galera_bootstrap",
                        files=files(["my.cnf", "galera_bootstrap"]),
                        volumes=[DATA_VOLUME],
                        # No recursive chown: the script owns what it creates, and a
                        # re-run (a changed my.cnf) must not walk a live datadir.
                    ),
                    parent=self,
                    depends_on=waits_on,
                )
                waits_on = [bootstrap]
            node = service_container(
                host,
                KollaService(
                    name="mariadb",
                    image=IMAGE,
                    command="/usr/local/bin/galera_start",
                    files=files(["my.cnf", "clustercheck.cnf", "galera_clustercheck", "galera_start"]),
                    volumes=[DATA_VOLUME],
                    permissions=PERMISSIONS,
                    healthcheck=HealthCheck(
                        test="/usr/local/bin/galera_clustercheck >/dev/null",
                        interval_s=int(args.settings["health_interval"]),
                        retries=10,
                        # SST of a large database can take long; Docker only counts failures after this.
                        start_period_s=60,
                    ),
                    wait_timeout_s=900,
                    stop_grace_s=120,
                    cpu_shares=INFRASTRUCTURE_CPU_SHARES,
                ),
                parent=self,
                depends_on=waits_on,
            )
            clustercheck = service_container(
                host,
                KollaService(
                    name="mariadb_clustercheck",
                    image=IMAGE,
                    command=(f"/usr/local/bin/galera_clustercheck --serve {host.spec.address} "
                             f"{PORTS['galera_clustercheck']}"),
                    files=files(["clustercheck.cnf", "galera_clustercheck"]),
                    healthcheck=HealthCheck(test=tcp_probe(host.spec.address, PORTS["galera_clustercheck"])),
                    cpu_shares=INFRASTRUCTURE_CPU_SHARES,
                ),
                parent=self,
                depends_on=[node],
            )
            self.containers.append(node)
            self.clusterchecks.append(clustercheck)
            # Clients' connections leave a node (HAProxy drains it, oslo.db recycles its
            # pooled connections) before it stops. The next node is touched only once
            # this one is Synced, its cluster check answers and HAProxy may use it again.
            return lb_membership(host, "mariadb", node, args.loadbalancers, credentials,
                                 parent=self, after=[clustercheck])

        rollout = roll(args.members, member)
        last: pulumi.Resource = rollout.ready
        if len(args.members) > 1:
            # The first node started with --wsrep-new-cluster; once everybody has joined,
            # a plain restart makes it an ordinary member (it rejoins by IST).
            last = command.remote.Command(
                "galera-bootstrap-finish",
                connection=first.connection,
                create=finish_bootstrap_script(),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[last]),
            )
        # root@'%' is only for the deployment's own steps (db create): setting it here,
        # before any of them runs, is what rotates database_password without a client
        # noticing.
        self.ready: pulumi.Resource = command.remote.Command(
            "galera-root-password",
            connection=first.connection,
            create="docker exec -i mariadb mysql\n",
            stdin=pulumi.Output.secret(root_password.apply(root_password_sql)),
            logging="none",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[last],
                                        additional_secret_outputs=["stdout", "stderr"]),
        )
        self.address = pulumi.Output.from_input(f"{args.vip}:{PORTS['mariadb']}")
        self.register_outputs({"address": self.address, "members": [m.name for m in members]})
