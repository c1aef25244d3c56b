"""MariaDB Galera: synchronous multi-master, used through HAProxy as a single writer.

First deploy: a one-shot container initialises the first node and leaves a marker so
that node's first start forms the cluster; the other nodes then join one at a time,
each only after the previous one is Synced (health check = galera_clustercheck).
Finally the first node is restarted so no node keeps running as a bootstrapper.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_command as command

from components.defaults import PORTS
from components.host import HostNode
from components.kolla import HealthCheck, KollaFile, KollaService, one_shot_container, service_container
from components.passwords import Passwords
from components.rendering import render

IMAGE = "mariadb-server"
DATA_VOLUME = ("mariadb", "/var/lib/mysql")
PERMISSIONS = ({"path": "/var/lib/mysql", "owner": "mysql:mysql", "recurse": True},)


@dataclass(frozen=True)
class GaleraArgs:
    members: Sequence[HostNode]
    settings: Mapping[str, Any]
    passwords: Passwords
    vip: str


def render_node_files(node: Any, members: Sequence[Any], settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, str]:
    """Every file a Galera node needs, by file name. Pure: used by tests and daemons."""
    ctx = dict(node=node, members=members, galera=settings, ports=PORTS, **secrets)
    return {
        "my.cnf": render("galera/my.cnf.j2", **ctx),
        "clustercheck.cnf": render("galera/clustercheck.cnf.j2", **ctx),
        "galera_clustercheck": render("galera/galera_clustercheck.sh.j2", **ctx),
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


def restart_when_healthy(container: str) -> str:
    """Shell that restarts a container and waits until Docker reports it healthy."""
    return (
        f"docker restart {container} >/dev/null && "
        "for i in $(seq 1 150); do "
        f"s=$(docker inspect -f '{{{{.State.Health.Status}}}}' {container}); "
        '[ "$s" = healthy ] && exit 0; sleep 2; done; '
        f"echo '{container} did not become healthy after restart' >&2; exit 1"
    )


class GaleraCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: GaleraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:galera:GaleraCluster", name, None, opts)
        members = [m.spec for m in args.members]
        secrets = pulumi.Output.all(
            root_password=args.passwords.password("database_password"),
            sst_password=args.passwords.password("galera_sst_password"),
            monitor_password=args.passwords.password("galera_monitor_password"),
        )
        self.containers: list[pulumi.Resource] = []
        self.clusterchecks: list[pulumi.Resource] = []
        checks: list[pulumi.Output[Any]] = []
        previous: pulumi.Resource | None = None
        for index, host in enumerate(args.members):
            rendered = secrets.apply(
                lambda s, node=host.spec: render_node_files(node, members, args.settings, s)
            )

            def files(names: Sequence[str], rendered: pulumi.Output[dict[str, str]] = rendered) -> list[KollaFile]:
                return [
                    KollaFile(n, _DESTS[n][0], _DESTS[n][1], _DESTS[n][2], rendered.apply(lambda r, n=n: r[n]))
                    for n in names
                ]

            waits_on: list[pulumi.Resource] = [previous] if previous else []
            gates: list[pulumi.Output[Any]] = []
            if index == 0:
                bootstrap = one_shot_container(
                    host,
                    KollaService(
                        name="mariadb_bootstrap",
                        image=IMAGE,
                        command="/usr/local/bin/galera_bootstrap",
                        files=files(["my.cnf", "galera_bootstrap"]),
                        volumes=[DATA_VOLUME],
                        permissions=PERMISSIONS,
                    ),
                    parent=self,
                )
                checks.append(bootstrap.checked_exit)  # type: ignore[attr-defined]
                gates.append(bootstrap.checked_exit)  # type: ignore[attr-defined]
                waits_on.append(bootstrap)
            check = HealthCheck(
                test="/usr/local/bin/galera_clustercheck >/dev/null",
                interval_s=int(args.settings["health_interval"]),
                retries=10,
                # SST of a large database can take long; Docker only counts failures after this.
                start_period_s=60,
            )
            node = service_container(
                host,
                KollaService(
                    name="mariadb",
                    image=IMAGE,
                    command="/usr/local/bin/galera_start",
                    files=files(["my.cnf", "clustercheck.cnf", "galera_clustercheck", "galera_start"]),
                    volumes=[DATA_VOLUME],
                    permissions=PERMISSIONS,
                    healthcheck=check,
                    wait_timeout_s=900,
                    stop_grace_s=120,
                ),
                parent=self,
                depends_on=waits_on,
                gates=gates,
            )
            clustercheck = service_container(
                host,
                KollaService(
                    name="mariadb_clustercheck",
                    image=IMAGE,
                    command=(
                        f"socat TCP-LISTEN:{PORTS['galera_clustercheck']},bind={host.spec.address},"
                        "reuseaddr,fork EXEC:/usr/local/bin/galera_clustercheck"
                    ),
                    files=files(["clustercheck.cnf", "galera_clustercheck"]),
                    healthcheck=HealthCheck(
                        test=f"bash -c '</dev/tcp/{host.spec.address}/{PORTS['galera_clustercheck']}'"
                    ),
                ),
                parent=self,
                depends_on=[node],
            )
            self.containers.append(node)
            self.clusterchecks.append(clustercheck)
            previous = node
        self.bootstrap_finished: pulumi.Resource | None = None
        if len(args.members) > 1:
            first = args.members[0]
            # The first node still runs with --wsrep-new-cluster; once everybody has
            # joined, a plain restart makes it an ordinary member (it rejoins by IST).
            self.bootstrap_finished = command.remote.Command(
                "galera-bootstrap-finish",
                connection=first.connection,
                create=restart_when_healthy("mariadb"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[previous]),
            )
        self.ready: list[pulumi.Resource] = [previous, *self.clusterchecks] + (
            [self.bootstrap_finished] if self.bootstrap_finished else []
        )
        self.address = pulumi.Output.from_input(f"{args.vip}:{PORTS['mariadb']}")
        self.register_outputs({"address": self.address, "members": [m.name for m in members], "checks": checks})
