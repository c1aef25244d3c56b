"""The HA spec's failure scenarios, each run under the workload and measured.

    python3 -m ops.ha_scenarios --stack-file Pulumi.dev.yaml --lab \\
        --target lab/.state/workload-dev.json --out runs/ha [--only power-vip,db-writer]

For every scenario: the workload runs, a baseline is taken, the fault is injected, held,
healed, and the faulted hosts are watched until they are back in every tier by
themselves; then the workload stops and the data-safety probes are checked (every
acknowledged row present, every confirmed message consumed). One JSON document per
scenario lands in --out; `python3 -m ops.ha_report` turns a run into the report.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from components.inventory import Host, Inventory
from ops.faults import FaultInjector, vip_holder_script
from ops.ha_metrics import probe_figures, vip_move_seconds, vip_moves
from ops.host_access import HostUnreachable, LabAddresses, PowerSwitch, run_over_ssh
from ops.stack_file import load_inventory
from ops.tier_health import wait_until_back
from ops.workload import AmqpProbe, DbProbe, Workload, WorkloadTarget

BASELINE_S = 15.0
SETTLE_S = 15.0
# The bound for "back by itself"; waiting longer only measures how late it is.
BACK_TARGET_S = 120.0
BACK_WAIT_S = 300.0
# The other bounds, which the report judges: how soon the VIP moves, and the
# downtime (first to last error) per scenario, in seconds and the probes it applies
# to; the API probes are the clients of an OpenStack API.
VIP_TARGET_S = 3.5
# where the VIP must move: its holder lost. After a full power loss there is no holder
# to move to; the VIP comes back with the first host.
VIP_SCENARIOS = ("haproxy-vip", "power-vip", "isolate-vip")
API_PROBES = ("token", "identity", "image", "placement")
DOWNTIME_TARGETS: dict[str, tuple[float, tuple[str, ...]]] = {
    "db-writer": (3.0, ("db", *API_PROBES)),
    "rabbitmq": (5.0, ("amqp",)),
    "haproxy-vip": (5.0, API_PROBES),
    "power-vip": (5.0, API_PROBES),
    "isolate-vip": (5.0, API_PROBES),
}

Inject = Callable[[FaultInjector], list[Host]]
Heal = Callable[[FaultInjector, list[Host]], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    inject: Inject
    heal: Heal
    hold_s: float
    target: str


def _no_heal(_: FaultInjector, __: list[Host]) -> None:
    """Crashed containers come back through Docker's restart policy: nothing to heal."""


def _targets(inj: FaultInjector, where: str) -> list[Host]:
    """`replica`: a control host that does not hold the VIP, so that only the named
    service is hit; otherwise the FaultInjector's host spec (@vip, @writer, names)."""
    if where == "replica":
        holder = inj.vip_holder().name
        return [next(h for h in inj.inventory.group("control") if h.name != holder)]
    return inj.resolve_hosts(where)


def _kill(service: str, where: str) -> Inject:
    def inject(inj: FaultInjector) -> list[Host]:
        hosts = _targets(inj, where)
        inj.kill(service, hosts)
        return hosts
    return inject


def _freeze(service: str, where: str) -> Inject:
    def inject(inj: FaultInjector) -> list[Host]:
        hosts = _targets(inj, where)
        inj.freeze(service, hosts)
        return hosts
    return inject


def _thaw(service: str) -> Heal:
    return lambda inj, hosts: inj.thaw(service, hosts)


def _quorum_loss(inj: FaultInjector) -> list[Host]:
    writer = inj.db_writer()
    other = next(h for h in inj.inventory.group("database") if h.name != writer.name)
    inj.stop("mariadb", [writer, other])
    return [writer, other]


def _power_off(where: str) -> Inject:
    def inject(inj: FaultInjector) -> list[Host]:
        hosts = inj.resolve_hosts(where) if where != "all" else list(inj.inventory.hosts)
        inj.power_off(hosts)
        return hosts
    return inject


def _isolate(inj: FaultInjector) -> list[Host]:
    hosts = inj.resolve_hosts("@vip")
    inj.isolate(hosts)
    return hosts


def _lab_scale_out(inj: FaultInjector) -> list[Host]:
    """Scale the lab's dev stack out to a fourth control host (ctl4), as an operator's
    `pulumi up` would: through the offline executor, on the dev stack's own state."""
    from lab import Lab
    from lab.executor.run import read_stack_file, run_stack

    if not Lab(hosts=max(4, len(Lab.existing_hosts()))).up().healthy:
        raise RuntimeError("the lab's fourth host did not come up")
    values = read_stack_file("dev")
    values["hosts"].append({"name": "ctl4", "address": "10.199.0.14", "interface": values["hosts"][0]["interface"],
                            "ssh": dict(values["hosts"][0].get("ssh", {}))})
    for group in ("control", "memcached"):
        values["groups"][group] = list(values["groups"][group]) + ["ctl4"]
    run_stack("dev", values=values, log=lambda line: None)
    return []


def _lab_scale_in(_: FaultInjector, __: list[Host]) -> None:
    from lab.executor.run import run_stack

    run_stack("dev", log=lambda line: None)


def scenarios(inv: Inventory, lab: bool = False) -> list[Scenario]:
    """Every scenario of the HA spec that this stack can run, in the order of the report."""
    api = [s.replace("-", "_") for s in inv.enabled_services]
    found = [Scenario("baseline", "no fault (the workload alone)", lambda inj: [], _no_heal, 30.0,
                      "0 failed requests")]
    found += [Scenario(f"api-{s}", f"one {s} replica killed (not on the VIP holder)", _kill(s, "replica"),
                       _no_heal, 0.0, "at most the requests in flight at that replica fail; 0 after")
              for s in api]
    found += [
        Scenario("db-writer", "the active database writer killed", _kill("mariadb", "@writer"), _no_heal, 0.0,
                 "DB and API downtime <= 3 s; 0 acked rows lost"),
        Scenario("db-quorum", "the writer and one more database node stopped (quorum lost), then started",
                 _quorum_loss, lambda inj, hosts: inj.start("mariadb", hosts), 20.0,
                 "an outage while quorum is lost; 0 acked rows lost; back by itself after the start"),
        Scenario("rabbitmq", "the RabbitMQ node the publisher uses killed", _kill("rabbitmq", inv.group("messaging")[0].name),
                 _no_heal, 0.0, "0 confirmed messages lost; publishing resumes within 5 s"),
        Scenario("memcached", "memcached killed on one host", _kill("memcached", inv.group("memcached")[-1].name),
                 _no_heal, 0.0, "no API errors (a share of cache misses)"),
        Scenario("haproxy-vip", "HAProxy killed on the VIP holder", _kill("haproxy", "@vip"), _no_heal, 0.0,
                 "API downtime <= 5 s"),
        # Frozen, a process keeps its sockets: the kernel still accepts connections for it,
        # so nothing is refused and only a check that waits timeout_check in vain takes
        # it out (about fall x (inter + timeout_check)).
        Scenario("freeze-keystone", "one keystone replica frozen (SIGSTOP) for 30 s, then thawed (not on the VIP holder)",
                 _freeze("keystone", "replica"), _thaw("keystone"), 30.0,
                 "only requests sent to it before its checks take it out fail; 0 after"),
        Scenario("freeze-db-writer", "the active database writer frozen (SIGSTOP) for 30 s, then thawed",
                 _freeze("mariadb", "@writer"), _thaw("mariadb"), 30.0,
                 "a DB outage until its checks take it out; 0 acked rows lost; back by itself after the thaw"),
        Scenario("power-vip", "the VIP holder powered off for 30 s, then on", _power_off("@vip"),
                 lambda inj, hosts: inj.power_on(hosts), 30.0,
                 "API downtime <= 5 s; VIP moves within 3.5 s; back in every tier within 120 s"),
        Scenario("isolate-vip", "the VIP holder cut off the network for 40 s, then reconnected", _isolate,
                 lambda inj, hosts: inj.reconnect(hosts), 40.0,
                 "API downtime <= 5 s; VIP moves within 3.5 s; back in every tier within 120 s"),
        Scenario("power-all", "every host powered off, then on", _power_off("all"),
                 lambda inj, hosts: inj.power_on(hosts), 10.0,
                 "an outage; 0 acked rows and confirmed messages lost; every tier back by itself"),
    ]
    if lab:
        # Day-2 under load: in production this is the operator's own `pulumi up`.
        found.append(Scenario("scale-out-in", "a fourth control host added, then removed (two deployments)",
                              _lab_scale_out, _lab_scale_in, 0.0, "0 failed requests"))
    return found


class VipMonitor(threading.Thread):
    """Which load-balancer hosts hold the VIP, five times a second.

    Every host is asked at once, and an observation is stamped when the last answer is
    in: a move is then never seen earlier than it happened, and late by at most one
    round (the slowest host's answer plus the pause)."""

    PAUSE_S = 0.2

    def __init__(self, inv: Inventory, lab: bool) -> None:
        super().__init__(daemon=True, name="vip-monitor")
        self.inv, self.lab = inv, lab
        self.halt = threading.Event()
        self.observations: list[tuple[float, str | None]] = []
        self.lab_addresses = LabAddresses()
        self.pool = ThreadPoolExecutor(max_workers=len(inv.group("loadbalancer")), thread_name_prefix="vip")

    def holds(self, host: Host) -> bool:
        if self.lab:
            return self.lab_addresses.holds(host, self.inv.internal_vip)
        try:
            result = run_over_ssh(host, vip_holder_script(self.inv.internal_vip), 5)
        except (HostUnreachable, OSError):
            return False
        return result.stdout.strip() == "yes"

    def holder(self) -> str | None:
        """Who holds the VIP: a host name, several joined by `+` (a host cut off the
        network keeps the VIP on its side while another takes it), or None."""
        hosts = self.inv.group("loadbalancer")
        answers = list(self.pool.map(self.holds, hosts))
        return "+".join(h.name for h, yes in zip(hosts, answers) if yes) or None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                holder = self.holder()
                self.observations.append((time.time(), holder))
                self.halt.wait(self.PAUSE_S)
        finally:
            self.pool.shutdown(wait=False)


def run_scenario(scenario: Scenario, inj: FaultInjector, target: WorkloadTarget, probes: Sequence[str],
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    inv = inj.inventory
    workload = Workload(target, tuple(probes))
    workload.start()
    monitor = VipMonitor(inv, inj.lab)
    monitor.start()
    time.sleep(BASELINE_S)
    first_action = len(inj.actions)
    fault_at = time.time()
    log(f"{scenario.name}: {scenario.title}")
    hosts = scenario.inject(inj)
    time.sleep(scenario.hold_s)
    heal_at = time.time()
    # The fault took effect once its first action began, not when the scenario started
    # (finding the VIP holder or the writer takes a second or two of SSH first).
    faulted = inj.actions[first_action:]
    effective_at = faulted[0].started if faulted else fault_at
    scenario.heal(inj, hosts)
    back: dict[str, float | None] = {}
    still_wrong: dict[str, list[str]] = {}
    # What each host still lacked, stamped from the heal, each time that changed: the
    # last thing to clear is what its way back waited for.
    way_back: dict[str, list[tuple[float, list[str]]]] = {}

    def watch(host: Host) -> None:
        seen = way_back.setdefault(host.name, [])

        def look(wrong: list[str]) -> None:
            if not seen or seen[-1][1] != wrong:
                seen.append((round(time.time() - heal_at, 1), wrong))

        seconds, wrong = wait_until_back(host, inv, BACK_WAIT_S, on_look=look)
        # Measured from the heal (for a crash, the fault: nothing is healed), each host
        # watched on its own, so no host's figure includes the wait for another.
        back[host.name] = None if seconds is None else round(time.time() - heal_at, 1)
        if wrong:
            still_wrong[host.name] = wrong

    if hosts:
        with ThreadPoolExecutor(max_workers=len(hosts), thread_name_prefix="back") as pool:
            list(pool.map(watch, hosts))
    recovered_at = time.time()
    time.sleep(SETTLE_S)
    workload.stop()
    monitor.halt.set()
    monitor.join()
    lost_rows = workload.probe("db").lost() if "db" in probes else []  # type: ignore[attr-defined]
    lost_messages = workload.probe("amqp").lost() if "amqp" in probes else []  # type: ignore[attr-defined]
    samples = workload.recorder.samples
    db_probe = workload.probe("db") if "db" in probes else None
    amqp_probe = workload.probe("amqp") if "amqp" in probes else None
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "target": scenario.target,
        "hosts": [h.name for h in hosts],
        "fault_at": fault_at,
        "heal_at": heal_at,
        "recovered_at": recovered_at,
        "back_s": back,
        "back_within_target": all(v is not None and v <= BACK_TARGET_S for v in back.values()),
        "still_wrong": still_wrong,
        "way_back": way_back,
        "probes": {p: dataclasses.asdict(probe_figures(p, samples, fault_at, recovered_at)) for p in probes},
        "vip_moves": [dataclasses.asdict(m) for m in vip_moves(monitor.observations)],
        "fault_effective_at": effective_at,
        # From the first fault action's start: an upper bound of the real move.
        "vip_move_s": vip_move_seconds(monitor.observations, effective_at),
        "acked_rows": len(db_probe.acked) if isinstance(db_probe, DbProbe) else 0,
        "acked_rows_lost": len(lost_rows),
        "confirmed_messages": len(amqp_probe.confirmed) if isinstance(amqp_probe, AmqpProbe) else 0,
        "confirmed_messages_lost": len(lost_messages),
        "actions": [dataclasses.asdict(a) for a in inj.actions[first_action:]],
        "samples": [dataclasses.asdict(s) for s in samples],
        "vip_observations": monitor.observations,
    }


def load_target(path: Path) -> WorkloadTarget:
    data = json.loads(path.read_text())
    data["amqp_hosts"] = tuple(data["amqp_hosts"])
    return WorkloadTarget(**data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m ops.ha_scenarios", description=__doc__.splitlines()[0])
    parser.add_argument("--stack-file", required=True)
    parser.add_argument("--lab", action="store_true")
    parser.add_argument("--power-off-cmd")
    parser.add_argument("--power-on-cmd")
    parser.add_argument("--target", required=True, type=Path,
                        help="JSON file (mode 0600) with the workload's endpoints and credentials")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--probes", default="token,identity,image,placement,db,amqp")
    args = parser.parse_args(argv)
    inv = load_inventory(args.stack_file)
    inj = FaultInjector(inv, args.lab, PowerSwitch(args.lab, args.power_off_cmd, args.power_on_cmd))
    known = scenarios(inv, args.lab)
    chosen = [s for s in known if not args.only or s.name in args.only.split(",")]
    if not chosen:
        parser.error(f"--only: no such scenario; known: {', '.join(s.name for s in known)}")
    args.out.mkdir(parents=True, exist_ok=True)
    target = load_target(args.target)
    for scenario in chosen:
        result = run_scenario(scenario, inj, target, args.probes.split(","))
        (args.out / f"{scenario.name}.json").write_text(json.dumps(result))
        figures = ", ".join(f"{p} {f['failed']} failed/{f['downtime_s']}s" for p, f in result["probes"].items())
        print(f"{scenario.name}: {figures}; back {result['back_s']}; lost rows {result['acked_rows_lost']}, "
              f"messages {result['confirmed_messages_lost']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
