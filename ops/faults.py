"""Fault injection for a kolla-ha cloud, the way os-faults serves Rally.

    python3 -m ops.faults --stack-file Pulumi.dev.yaml --lab kill keystone --hosts ctl1
    python3 -m ops.faults --stack-file Pulumi.prod.yaml \\
        --power-off-cmd 'ipmitool -H {name}-bmc chassis power off' \\
        --power-on-cmd 'ipmitool -H {name}-bmc chassis power on' power-off --hosts @vip

Every fault has its heal:

| fault                         | what happens                                       | heal        |
|-------------------------------|----------------------------------------------------|-------------|
| kill SERVICE                  | SIGKILL to the container's main process: a crash;  | (restarts   |
|                               | Docker's restart policy brings it back             | by itself)  |
| stop SERVICE                  | `docker kill`: down until healed (Docker treats it | start       |
|                               | as a manual stop and does not restart it)          |             |
| freeze SERVICE                | SIGSTOP to every process of the container          | thaw        |
| power-off                     | the host loses power (lab: the simulated host is   | power-on    |
|                               | killed; production: --power-off-cmd)               |             |
| isolate [--for S]             | every packet in or out of the host dropped in its  | reconnect   |
|                               | own network namespace, interfaces left in place    | (or --for)  |

Hosts: `--hosts ctl1,ctl2`, or `@vip` (the host holding the internal VIP now) and
`@writer` (the Galera node HAProxy sends writes to now). Each action is printed with a
UTC timestamp; `--json` prints one JSON object per action instead (for the scenario
runner's timeline).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from components.inventory import Host, Inventory
from ops.host_access import (
    HostUnreachable, PowerSwitch, ScriptResult, run_on_lab_console, run_over_ssh,
)
from ops.stack_file import load_inventory

# The nftables table that isolates a host (netdev family: one ingress and one egress
# chain per interface).
ISOLATION_TABLE = "kolla_ha_isolate"
STATS_SOCKET = "/var/lib/kolla/haproxy/haproxy.sock"


@dataclass(frozen=True)
class Action:
    at: float  # time.time() when the action had completed
    fault: str
    host: str
    target: str
    detail: str
    # when the action began: the fault takes effect somewhere between the two
    started: float = 0.0

    def line(self) -> str:
        stamp = dt.datetime.fromtimestamp(self.at, dt.timezone.utc).isoformat(timespec="milliseconds")
        return f"{stamp} {self.fault:10s} {self.host:8s} {self.target:14s} {self.detail}"


def _pids_script(container: str) -> str:
    # Host pids of every process in the container (docker top runs ps on the host).
    return f"docker top {container} -eo pid | tail -n +2"


def kill_script(container: str) -> str:
    """SIGKILL to the container's main process, from the host: a crash, not a stop.
    (From inside the container PID 1 ignores SIGKILL; `docker kill` counts as a manual
    stop, after which Docker never restarts the container.)"""
    return "\n".join([
        "set -eu",
        f"pid=$(docker inspect -f '{{{{.State.Pid}}}}' {container})",
        '[ "$pid" -gt 0 ] || { echo "not running"; exit 3; }',
        'kill -9 "$pid"',
        'echo "pid $pid killed"',
    ])


def signal_all_script(container: str, signal: str) -> str:
    return "\n".join([
        "set -eu",
        f"pids=$({_pids_script(container)})",
        '[ -n "$pids" ] || { echo "not running"; exit 3; }',
        f"kill -{signal} $pids",
        'echo "pids" $pids',
    ])


def isolate_script(seconds: float | None) -> str:
    """Drop every frame in and out of each of the host's network interfaces (loopback
    excepted), interfaces left up: a switch that stopped forwarding to this host.

    nftables' netdev hooks, not iptables: iptables never sees ARP, nor the frames
    keepalived sends through packet sockets (gratuitous ARP). An isolated VIP holder
    that still answered ARP for the VIP would pull clients back to itself (seen in the
    lab with iptables: 30 s client timeouts while another host held the VIP). With
    `seconds`, a timer on the host itself undoes it (the only way back when the network
    is the tool's only path).
    """
    lines = [
        "set -eu",
        f"nft delete table netdev {ISOLATION_TABLE} 2>/dev/null || true",
        "devices=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v '^lo$')",
        "{",
        f"  echo 'table netdev {ISOLATION_TABLE} {{'",
        "  for dev in $devices; do",
        "    name=$(printf '%s' \"$dev\" | tr -c 'A-Za-z0-9_\\n' '_')",
        "    echo \"  chain in_$name { type filter hook ingress device \\\"$dev\\\" priority -500; policy drop; }\"",
        "    echo \"  chain out_$name { type filter hook egress device \\\"$dev\\\" priority -500; policy drop; }\"",
        "  done",
        "  echo '}'",
        "} | nft -f -",
    ]
    if seconds is not None:
        lines.insert(1, f"nohup bash -c {_quote('sleep ' + str(int(seconds)) + '; ' + reconnect_script())} "
                        ">/dev/null 2>&1 &")
    lines.append('echo "isolated:" $devices')
    return "\n".join(lines)


def reconnect_script() -> str:
    return f"nft delete table netdev {ISOLATION_TABLE} 2>/dev/null; echo reconnected"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def vip_holder_script(vip: str) -> str:
    return f"ip -4 -o addr show | grep -q ' {vip}/' && echo yes || echo no"


def stats_script() -> str:
    """HAProxy's CSV stats through its admin socket, from inside the container (root on
    the host may; no password needed, nothing leaves the host)."""
    probe = ("import socket;s=socket.socket(socket.AF_UNIX);"
             f"s.connect('{STATS_SOCKET}');s.sendall(b'show stat\\n');"
             "import sys;d=b''\n"
             "while True:\n c=s.recv(65536)\n if not c: break\n d+=c\n"
             "sys.stdout.write(d.decode())")
    return f"docker exec haproxy python3 -c {_quote(probe)}"


def active_writer(stats_csv: str) -> str | None:
    """The Galera node HAProxy sends database traffic to: the first UP active server,
    else the first UP backup (HAProxy's own rule without `allbackups`)."""
    header: list[str] = []
    active: list[str] = []
    backup: list[str] = []
    for line in stats_csv.splitlines():
        if line.startswith("# "):
            header = line[2:].split(",")
            continue
        if not line or not header:
            continue
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") != "mariadb" or row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        if not row.get("status", "").startswith("UP"):
            continue
        (backup if row.get("bck") == "1" else active).append(row["svname"])
    return (active or backup or [None])[0]


@dataclass
class FaultInjector:
    inventory: Inventory
    lab: bool
    power: PowerSwitch
    log: Callable[[Action], None] = lambda action: print(action.line(), flush=True)
    actions: list[Action] = field(default_factory=list)

    # -- targets ----------------------------------------------------------------------
    def resolve_hosts(self, spec: str) -> list[Host]:
        hosts: list[Host] = []
        for item in [s.strip() for s in spec.split(",") if s.strip()]:
            if item == "@vip":
                hosts.append(self.vip_holder())
            elif item == "@writer":
                hosts.append(self.db_writer())
            else:
                try:
                    hosts.append(self.inventory.host(item))
                except StopIteration:
                    raise ValueError(f"--hosts: {item!r} is not a host of the stack "
                                     f"({', '.join(h.name for h in self.inventory.hosts)})") from None
        return hosts

    def vip_holder(self) -> Host:
        for host in self.inventory.group("loadbalancer"):
            try:
                if self._shell(host, vip_holder_script(self.inventory.internal_vip)).stdout.strip() == "yes":
                    return host
            except HostUnreachable:
                continue
        raise RuntimeError(f"no load-balancer host holds {self.inventory.internal_vip}")

    def db_writer(self) -> Host:
        holder = self.vip_holder()
        writer = active_writer(self._shell(holder, stats_script()).stdout)
        if writer is None:
            raise RuntimeError(f"HAProxy on {holder.name} has no mariadb server UP")
        return self.inventory.host(writer)

    # -- faults and heals -------------------------------------------------------------
    def kill(self, service: str, hosts: Sequence[Host]) -> None:
        for host in hosts:
            self._do("kill", host, service, lambda: self._shell(host, kill_script(service)))

    def stop(self, service: str, hosts: Sequence[Host]) -> None:
        for host in hosts:
            self._do("stop", host, service, lambda: self._shell(host, f"docker kill {service}"))

    def start(self, service: str, hosts: Sequence[Host]) -> None:
        for host in hosts:
            self._do("start", host, service, lambda: self._shell(host, f"docker start {service}"))

    def freeze(self, service: str, hosts: Sequence[Host]) -> None:
        for host in hosts:
            self._do("freeze", host, service, lambda: self._shell(host, signal_all_script(service, "STOP")))

    def thaw(self, service: str, hosts: Sequence[Host]) -> None:
        for host in hosts:
            self._do("thaw", host, service, lambda: self._shell(host, signal_all_script(service, "CONT")))

    def power_off(self, hosts: Sequence[Host]) -> None:
        for host in hosts:
            self._do("power-off", host, "host", lambda: self.power.off(host))

    def power_on(self, hosts: Sequence[Host]) -> None:
        for host in hosts:
            self._do("power-on", host, "host", lambda: self.power.on(host))

    def isolate(self, hosts: Sequence[Host], seconds: float | None = None) -> None:
        if seconds is None and not self.lab:
            raise ValueError("isolate: pass --for SECONDS; over SSH the host must heal itself, since "
                             "the tool loses its only way in")
        for host in hosts:
            self._do("isolate", host, "network", lambda: self._console(host, isolate_script(seconds)))

    def reconnect(self, hosts: Sequence[Host]) -> None:
        for host in hosts:
            self._do("reconnect", host, "network", lambda: self._console(host, reconnect_script()))

    # -- plumbing ---------------------------------------------------------------------
    def _shell(self, host: Host, script: str) -> ScriptResult:
        return run_over_ssh(host, script)

    def _console(self, host: Host, script: str) -> ScriptResult:
        # Isolation must be undone while the host is unreachable over the network.
        return run_on_lab_console(host, script) if self.lab else run_over_ssh(host, script)

    def _do(self, fault: str, host: Host, target: str, act: Callable[[], ScriptResult]) -> None:
        """Run `act` and record it, with when it began and when it was done."""
        started = time.time()
        result = act()
        detail = (result.stdout.strip() or result.stderr.strip() or "done").splitlines()[-1][:200]
        if result.returncode != 0:
            detail = f"FAILED ({result.returncode}): {detail}"
        action = Action(time.time(), fault, host.name, target, detail, started)
        self.actions.append(action)
        self.log(action)
        if result.returncode != 0:
            raise RuntimeError(action.line())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m ops.faults", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--stack-file", required=True)
    parser.add_argument("--lab", action="store_true",
                        help="the local lab: power and console through the outer Docker engine")
    parser.add_argument("--power-off-cmd")
    parser.add_argument("--power-on-cmd")
    parser.add_argument("--json", action="store_true", help="one JSON object per action")
    sub = parser.add_subparsers(dest="fault", required=True)
    for name in ("kill", "stop", "start", "freeze", "thaw"):
        p = sub.add_parser(name)
        p.add_argument("service", help="container name: keystone, mariadb, rabbitmq, haproxy, ...")
        p.add_argument("--hosts", required=True)
    for name in ("power-off", "power-on", "reconnect", "where"):
        sub.add_parser(name).add_argument("--hosts", default="")
    isolate = sub.add_parser("isolate")
    isolate.add_argument("--hosts", required=True)
    isolate.add_argument("--for", dest="seconds", type=float, default=None)
    args = parser.parse_args(argv)

    def log(action: Action) -> None:
        print(json.dumps(action.__dict__) if args.json else action.line(), flush=True)

    injector = FaultInjector(load_inventory(args.stack_file), args.lab,
                             PowerSwitch(args.lab, args.power_off_cmd, args.power_on_cmd), log)
    try:
        if args.fault == "where":
            print(f"VIP {injector.inventory.internal_vip} on {injector.vip_holder().name}; "
                  f"database writer {injector.db_writer().name}")
            return 0
        hosts = injector.resolve_hosts(args.hosts)
        if not hosts:
            parser.error("--hosts: name at least one host")
        if args.fault in ("kill", "stop", "start", "freeze", "thaw"):
            getattr(injector, args.fault)(args.service, hosts)
        elif args.fault == "isolate":
            injector.isolate(hosts, args.seconds)
        else:
            getattr(injector, args.fault.replace("-", "_"))(hosts)
    except (RuntimeError, ValueError, HostUnreachable) as err:
        print(f"ops.faults: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
