"""RabbitMQ cluster: classic_config peer discovery, shared Erlang cookie, HA queues.

HA queues come in the two forms the world uses: quorum queues (default; Raft-replicated,
the only replicated queue type left in RabbitMQ 4.0) and the classic mirrored-queue
policy the HA spec describes (ha-mode all or exactly N, automatic sync; RabbitMQ 3.x).
Nodes start one at a time, each after the previous one reports running
(components/rolling.py).
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi

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
from components.passwords import Passwords
from components.rendering import rabbitmq_password_hash, render
from components.rolling import roll

IMAGE = "rabbitmq"
# The broker as PID 1's direct child under the rabbitmq user. Debian's rabbitmq-server
# wrapper, started as root, runs the server through `su`, which does not pass SIGTERM
# on: every stop (a rolling replacement, a destroy) waited the whole grace period and
# then SIGKILLed the broker (60 s per node, seen in the lab). setpriv execs, so the
# server's own TERM trap stops the node cleanly in about a second.
SERVER_COMMAND = ("setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "
                  "env HOME=/var/lib/rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server")
# The health check: a TCP connection to the node's AMQP listener, every 5 s. RabbitMQ
# opens that listener at the end of its boot (after joining its peers) and closes it
# whenever the rabbit application stops (a pause_minority partition, stop_app), so it
# answers what `rabbitmq-diagnostics check_running` answered, except for a frozen node
# (SIGSTOP), whose kernel still completes the TCP handshake; ops/tier_health.py's
# cluster_status still sees that one. The diagnostics tools start an Erlang VM per call
# (about half a CPU-second each): two every 15 s cost 0.07 cores per host, and a node
# that had finished booting could wait 15 s to be seen healthy, the last step before a
# rebooted host was back (lab, 2026-12-07). An AMQP handshake would tell more, but
# RabbitMQ logs a warning for every client that leaves before authenticating.
HEALTH_INTERVAL_S = 5


def health_probe(address: str) -> str:
    """The node takes AMQP connections."""
    return f"timeout 5 {tcp_probe(address, PORTS['rabbitmq'])}"


# Queues that must never be mirrored: server-named reply queues and fanouts are
# per-consumer and short-lived (the pattern kolla-ansible uses).
MIRROR_PATTERN = r"^(?!(amq\.)|(.*_fanout_)|(reply_)).*"


@dataclass(frozen=True)
class RabbitMQArgs:
    members: Sequence[HostNode]
    settings: Mapping[str, Any]
    passwords: Passwords
    users: Sequence[str]


def definitions(users: Mapping[str, str], admin_password: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The definitions document loaded at boot: users, vhost, permissions, policies."""
    everyone = {"admin": admin_password, **users}
    policies: list[dict[str, Any]] = []
    if settings["queue_type"] == "mirrored":
        count = settings["mirror_count"]
        mirror = {"ha-mode": "all"} if count == "all" else {"ha-mode": "exactly", "ha-params": count}
        policies.append(
            {
                "vhost": "/",
                "name": "ha-all" if count == "all" else f"ha-exactly-{count}",
                "pattern": MIRROR_PATTERN,
                "apply-to": "queues",
                "definition": {**mirror, "ha-sync-mode": "automatic"},
                "priority": 0,
            }
        )
    return {
        "users": [
            {
                "name": name,
                "password_hash": rabbitmq_password_hash(pw),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": "administrator" if name == "admin" else "",
            }
            for name, pw in everyone.items()
        ],
        "vhosts": [{"name": "/"}],
        "permissions": [
            {"user": name, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"} for name in everyone
        ],
        "policies": policies,
    }


def render_node_files(node: Any, members: Sequence[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, str]:
    ctx = dict(node=node, members=members, rabbitmq=settings, ports=PORTS, admin_password=secrets["admin_password"])
    return {
        "rabbitmq.conf": render("rabbitmq/rabbitmq.conf.j2", **ctx),
        "rabbitmq-env.conf": render("rabbitmq/rabbitmq-env.conf.j2", **ctx),
        "definitions.json": render(
            "rabbitmq/definitions.json.j2",
            definitions=definitions(secrets["users"], secrets["admin_password"], settings),
        ),
        "erlang.cookie": render("rabbitmq/erlang.cookie.j2", erlang_cookie=secrets["erlang_cookie"]),
        # The management API (internal address only): what operators and monitoring use.
        "enabled_plugins": render("rabbitmq/enabled_plugins.j2"),
    }


def transport_url(user: str, password: str, addresses: Sequence[str]) -> str:
    """oslo.messaging URL naming every node, so clients fail over without a proxy."""
    quoted = urllib.parse.quote(password, safe="")
    hosts = ",".join(f"{user}:{quoted}@{a}:{PORTS['rabbitmq']}" for a in addresses)
    return f"rabbit://{hosts}//"


_FILES = (
    ("rabbitmq.conf", "/etc/rabbitmq/rabbitmq.conf", "rabbitmq", "0600"),
    ("rabbitmq-env.conf", "/etc/rabbitmq/rabbitmq-env.conf", "rabbitmq", "0600"),
    ("definitions.json", "/etc/rabbitmq/definitions.json", "rabbitmq", "0600"),
    ("erlang.cookie", "/var/lib/rabbitmq/.erlang.cookie", "rabbitmq", "0400"),
    ("enabled_plugins", "/etc/rabbitmq/enabled_plugins", "rabbitmq", "0644"),
)


class RabbitMQCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: RabbitMQArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:rabbitmq:RabbitMQCluster", name, None, opts)
        members = [m.spec for m in args.members]
        self._passwords = {u: args.passwords.password(f"{u}_rabbitmq_password") for u in args.users}
        secrets = pulumi.Output.all(
            admin_password=args.passwords.password("rabbitmq_admin_password"),
            erlang_cookie=args.passwords.password("rabbitmq_erlang_cookie", length=40, special=False),
            users=pulumi.Output.all(**self._passwords) if self._passwords else {},
        )
        self.addresses = [m.address for m in members]
        self.containers: list[pulumi.Resource] = []

        def member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            rendered = secrets.apply(lambda s: render_node_files(host.spec, members, args.settings, s))
            files = [
                KollaFile(n, dest, owner, perm, rendered.apply(lambda r, n=n: r[n]))
                for n, dest, owner, perm in _FILES
            ]
            # The CLI (health check, rabbitmqctl) runs as root and needs the cookie too.
            files.append(KollaFile("erlang.cookie.root", "/root/.erlang.cookie", "root", "0400",
                                   rendered.apply(lambda r: r["erlang.cookie"])))
            node = service_container(
                host,
                KollaService(
                    name="rabbitmq",
                    image=IMAGE,
                    command=SERVER_COMMAND,
                    files=files,
                    volumes=[("rabbitmq", "/var/lib/rabbitmq")],
                    permissions=[{"path": "/var/lib/rabbitmq", "owner": "rabbitmq:rabbitmq", "recurse": True}],
                    hosts=[(m.name, m.address) for m in members],
                    healthcheck=HealthCheck(
                        test=health_probe(host.spec.address),
                        interval_s=HEALTH_INTERVAL_S,
                        timeout_s=10,
                        # Two minutes of failed checks before "unhealthy", as before.
                        retries=120 // HEALTH_INTERVAL_S,
                        start_period_s=30,
                    ),
                    wait_timeout_s=600,
                    stop_grace_s=60,
                    cpu_shares=INFRASTRUCTURE_CPU_SHARES,
                    # Read by ops/plan_guard.py: a queue type switch is not a rolling change.
                    labels={"kolla-ha.rabbitmq-queue-type": args.settings["queue_type"]},
                ),
                parent=self,
                # Node names resolve through /etc/hosts, written by the host's preparation.
                depends_on=[*waits_on, *([host.prepared] if host.prepared is not None else [])],
            )
            self.containers.append(node)
            return node

        self.ready: pulumi.Resource = roll(args.members, member).ready
        self.register_outputs({"addresses": self.addresses})

    def transport_url(self, user: str) -> pulumi.Output[str]:
        """The secret transport_url for one service user, listing every node."""
        return pulumi.Output.secret(self._passwords[user].apply(lambda pw: transport_url(user, pw, self.addresses)))
