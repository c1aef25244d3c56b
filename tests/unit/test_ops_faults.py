"""The fault injector's pure parts: scripts, HAProxy's writer, tier-health rules, figures."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from components.inventory import parse_inventory
from ops.faults import active_writer, isolate_script, kill_script, reconnect_script, signal_all_script
from ops.ha_metrics import probe_figures, vip_move_seconds, vip_moves
from ops.host_access import LabAddresses, PowerSwitch, fib_has_local
from ops.tier_health import read_probe
from ops.workload import Sample
from tests.unit.inventory_fixtures import make_config

STATS = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck
mariadb,FRONTEND,,,0,1,4000,3,0,0,0,0,0,,,,,OPEN,,,
mariadb,ctl1,0,0,0,1,,3,0,0,,0,,0,0,0,0,{s1},1,1,0
mariadb,ctl2,0,0,0,0,,0,0,0,,0,,0,0,0,0,{s2},1,0,1
mariadb,ctl3,0,0,0,0,,0,0,0,,0,,0,0,0,0,{s3},1,0,1
mariadb,BACKEND,0,0,0,1,400,3,0,0,0,0,,0,0,0,0,UP,1,1,2
keystone,ctl1,0,0,0,1,,3,0,0,,0,,0,0,0,0,UP,1,1,0
"""


def inventory():
    raw, keys = make_config(3)
    return parse_inventory(raw, keys)


@pytest.mark.parametrize(("statuses", "writer"), [
    (("UP", "UP", "UP"), "ctl1"),
    (("DOWN", "UP", "UP"), "ctl2"),            # HAProxy's first backup takes over
    (("DOWN", "DOWN", "UP 1/2"), "ctl3"),
    (("DOWN", "DOWN", "DOWN"), None),
    (("MAINT", "UP", "UP"), "ctl2"),
])
def test_active_writer_follows_haproxys_backup_rule(statuses, writer) -> None:
    csv = STATS.format(s1=statuses[0], s2=statuses[1], s3=statuses[2])
    assert active_writer(csv) == writer


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash")
@pytest.mark.parametrize("script", [kill_script("keystone"), signal_all_script("mariadb", "STOP"),
                                    isolate_script(None), isolate_script(40), reconnect_script()])
def test_fault_scripts_are_valid_bash(script: str) -> None:
    assert subprocess.run(["bash", "-n", "-c", script], check=False).returncode == 0


def test_isolation_drops_frames_below_ip_except_loopback_and_can_heal_itself() -> None:
    timed = isolate_script(40)
    # netdev hooks: ARP and packet-socket frames (keepalived's gratuitous ARP) too
    assert "hook ingress" in timed and "hook egress" in timed and "netdev" in timed
    assert "grep -v '^lo$'" in timed
    assert "sleep 40" in timed and "nohup" in timed
    assert "sleep" not in isolate_script(None)


@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("unshare") is None, reason="nft, unshare")
def test_isolation_and_reconnect_on_a_real_interface() -> None:
    # In a namespace of its own with a veth pair: the rules load, and go again.
    script = (f"ip link add d0 type veth peer name d1 && ip link set d0 up && {{ {isolate_script(None)}; }} "
              "&& nft list table netdev kolla_ha_isolate && "
              f"{{ {reconnect_script()}; }} && ! nft list table netdev kolla_ha_isolate 2>/dev/null")
    done = subprocess.run(["unshare", "--net", "bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert 'device "d0"' in done.stdout and "policy drop" in done.stdout


def test_power_switch_lab_and_commands_quote_the_host() -> None:
    inv = inventory()
    host = inv.host("ctl1")
    assert list(PowerSwitch(True)._command(None, host, "off")) == ["docker", "kill", "kolla-ha-lab-ctl1"]
    argv = PowerSwitch(False, "ipmitool -H {name}-bmc power off")._command("ipmitool -H {name}-bmc power off",
                                                                           host, "off")
    assert argv[-1] == "ipmitool -H ctl1-bmc power off"
    with pytest.raises(ValueError, match="--power-on-cmd"):
        PowerSwitch(False)._command(None, host, "on")


def _probe_output(galera_state: str = "Synced", size: str = "3", running: str = '"rabbit@ctl1","rabbit@ctl2","rabbit@ctl3"',
                  keepalived: str = "State=BACKUP", health: str = "healthy",
                  state_uuid: str = "9b77f992-e862-11f1-b9e2-1287b67d5f0d", haproxy: str = "running healthy",
                  why: str = "", rabbit: str = "") -> str:
    return "\n".join([
        f"container\t/mariadb running {health} unless-stopped",
        "container\t/keystone_bootstrap exited none no",
        f"container\t/haproxy {haproxy} unless-stopped",
        f"galera\twsrep_cluster_size\t{size}",
        "galera\twsrep_cluster_status\tPrimary",
        f"galera\twsrep_local_state_comment\t{galera_state}",
        f"galera\twsrep_cluster_state_uuid\t{state_uuid}",
        "rabbitmq\t" + (rabbit or f'{{"running_nodes": [{running}]}}'),
        f"keepalived\t{keepalived}",
        *([f"keepalived-why\t{why}"] if why else []),
    ])


@pytest.mark.parametrize(("output", "wrong"), [
    (_probe_output(), []),
    (_probe_output(galera_state="Joined"), ["galera"]),
    (_probe_output(size="2"), ["galera"]),
    (_probe_output(state_uuid="00000000-0000-0000-0000-000000000000"), ["no state UUID"]),
    (_probe_output(running='"rabbit@ctl1"'), ["rabbitmq"]),
    # While a container starts, the tiers' own questions are not asked (nor judged).
    ("container\t/mariadb running starting unless-stopped\ndeferred\tasked again once ...", ["mariadb is starting"]),
    (_probe_output(keepalived="State=FAULT"), ["keepalived"]),
    (_probe_output(keepalived="State=FAULT", why="Status = BAD check_haproxy by hand: exit 7"),
     ["keepalived: State=FAULT (Status = BAD check_haproxy by hand: exit 7)"]),
    # A stopped service is down even though it exited cleanly; a one-shot is not.
    (_probe_output(haproxy="exited none"), ["haproxy is exited"]),
    (_probe_output(health="starting"), ["mariadb is starting"]),
    ("", ["no kolla-ha container", "galera", "rabbitmq", "keepalived"]),
])
def test_tier_health_rules(output: str, wrong: list[str]) -> None:
    inv = inventory()
    found = read_probe(output, inv.host("ctl2"), inv)
    assert len(found) == len(wrong), found
    for problem, expected in zip(found, wrong):
        assert expected in problem


def test_probe_figures_downtime_and_latency_windows() -> None:
    samples = [Sample("token", "issue", t, t + 0.1, True) for t in (0.0, 1.0, 2.0)]
    samples += [Sample("token", "issue", 10.0, 10.5, False, "ConnectFailure: x"),
                Sample("token", "issue", 11.0, 13.0, False, "HTTP 503"),
                Sample("token", "issue", 14.0, 14.2, True), Sample("token", "issue", 30.0, 30.3, True)]
    f = probe_figures("token", samples, fault_at=5.0, recovered_at=20.0)
    assert (f.ok, f.failed, f.downtime_s) == (5, 2, 3.0)
    assert f.p50_before_ms == pytest.approx(100.0)
    assert f.p50_during_ms == pytest.approx(200.0) and f.p50_after_ms == pytest.approx(300.0)
    assert f.first_error.startswith("ConnectFailure")
    quiet = probe_figures("token", samples[:3], 5.0, 20.0)
    assert quiet.downtime_s == 0 and quiet.p50_during_ms is None


def test_vip_moves_and_move_time() -> None:
    seen = [(0.0, "ctl1"), (1.0, "ctl1"), (2.0, None), (3.5, "ctl2"), (9.0, "ctl2")]
    assert [(m.source, m.target) for m in vip_moves(seen)] == [("ctl1", None), (None, "ctl2")]
    assert vip_move_seconds(seen, fault_at=1.5) == 2.0
    assert vip_move_seconds(seen[:3], fault_at=1.5) is None
    # An isolated holder keeps the VIP on its side: a second holder is the move.
    split = [(0.0, "ctl1"), (1.0, "ctl1"), (3.0, "ctl1+ctl2"), (50.0, "ctl1")]
    assert vip_move_seconds(split, fault_at=0.5) == 2.5
    assert [(m.source, m.target) for m in vip_moves(split)] == [("ctl1", "ctl1+ctl2"), ("ctl1+ctl2", "ctl1")]


def test_an_action_records_when_it_began_and_when_it_was_done() -> None:
    """The VIP-move figure counts from the first fault action's start: the scenario's own
    start would add the seconds spent finding the VIP holder over SSH."""
    import time

    from ops.faults import FaultInjector
    from ops.host_access import ScriptResult

    class SlowShell(FaultInjector):
        def _shell(self, host, script):  # type: ignore[no-untyped-def]
            time.sleep(0.2)
            return ScriptResult(0, "killed", "")

    logged = []
    inj = SlowShell(inventory(), lab=True, power=PowerSwitch(True), log=logged.append)
    inj.kill("keystone", [inj.inventory.host("ctl2")])
    (action,) = inj.actions
    assert action.at - action.started >= 0.2 and (action.fault, action.host, action.detail) == (
        "kill", "ctl2", "killed")
    assert logged == [action]


class RecordingInjector:
    """The FaultInjector's targeting and fault calls, recorded instead of done."""

    def __init__(self, inventory, vip: str, writer: str) -> None:
        self.inventory, self.vip, self.writer = inventory, vip, writer
        self.calls: list[tuple[str, str, list[str]]] = []

    def vip_holder(self):
        return self.inventory.host(self.vip)

    def resolve_hosts(self, spec: str):
        return [self.inventory.host({"@vip": self.vip, "@writer": self.writer}.get(spec, spec))]

    def __getattr__(self, fault: str):
        return lambda service, hosts: self.calls.append((fault, service, [h.name for h in hosts]))


@pytest.mark.parametrize(("name", "service", "hit"), [
    ("freeze-keystone", "keystone", "ctl1"),     # a replica, never the VIP holder's
    ("freeze-db-writer", "mariadb", "ctl3"),     # whoever HAProxy writes to now
    ("api-keystone", "keystone", "ctl1"),
])
def test_a_scenario_faults_its_target_and_heals_the_same_host(name: str, service: str, hit: str) -> None:
    from ops.ha_scenarios import scenarios

    inv = inventory()
    injector = RecordingInjector(inv, vip="ctl2", writer="ctl3")
    scenario = next(s for s in scenarios(inv) if s.name == name)
    hosts = scenario.inject(injector)
    scenario.heal(injector, hosts)
    fault = "kill" if name.startswith("api-") else "freeze"
    heal = [] if fault == "kill" else [("thaw", service, [hit])]
    assert injector.calls == [(fault, service, [hit]), *heal]


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.199.0.0/24 2 0 2
        +-- 10.199.0.0/28 2 0 2
           |-- 10.199.0.0
              /24 link UNICAST
           |-- 10.199.0.11
              /32 host LOCAL
        |-- 10.199.0.250
           /32 host LOCAL
        |-- 10.199.0.255
           /32 link BROADCAST
"""


def test_the_lab_vip_monitor_reads_local_addresses_from_the_fib() -> None:
    lines = FIB_TRIE.splitlines()
    assert fib_has_local(lines, "10.199.0.250") and fib_has_local(lines, "10.199.0.11")
    # A route or a broadcast address is not an address of the host's own.
    assert not fib_has_local(lines, "10.199.0.0") and not fib_has_local(lines, "10.199.0.255")
    assert not fib_has_local(lines, "10.199.0.12")


def test_lab_addresses_read_a_live_namespace_and_ask_again_for_a_new_pid(monkeypatch) -> None:
    """This process's own network namespace stands in for a simulated host's: loopback
    is its own address, a documentation address is not; a pid gone (a power-off) makes
    it ask Docker for the host's pid again, and a host that is off holds nothing."""
    import os

    import ops.host_access as host_access

    host = inventory().host("ctl1")
    answers = [os.getpid()]
    monkeypatch.setattr(host_access, "lab_host_pid", lambda h, timeout=60: answers[0])
    addresses = LabAddresses()
    assert addresses.holds(host, "127.0.0.1") and not addresses.holds(host, "192.0.2.1")
    addresses._pids["ctl1"] = 2**22 + 1  # above any pid_max: the old pid is gone
    assert addresses.holds(host, "127.0.0.1") and addresses._pids["ctl1"] == os.getpid()
    answers[0] = None  # powered off: Docker reports no pid
    addresses._pids["ctl1"] = 2**22 + 1
    assert not addresses.holds(host, "127.0.0.1") and "ctl1" not in addresses._pids


@pytest.mark.parametrize(("inspected", "deferred"), [
    ("/mariadb running healthy unless-stopped\n/keystone_bootstrap exited none no", False),
    ("/mariadb running starting unless-stopped\n/keystone_bootstrap exited none no", True),
    ("/mariadb restarting none unless-stopped", True),
    ("/haproxy exited none unless-stopped", True),
    ("/keepalived running none unless-stopped", False),
])
def test_the_probe_asks_the_tiers_only_once_every_container_is_ready(tmp_path, inspected: str,
                                                                     deferred: bool) -> None:
    """The probe's shell rule for "ready" agrees with read_probe's: it defers exactly when
    read_probe finds a container problem. Docker is stood in for by a script that answers
    `ps` and `inspect` and records anything else it is asked."""
    from ops.tier_health import _PROBE

    asked = tmp_path / "asked"
    lines = "\n".join(f"container\t{line}" for line in inspected.splitlines())
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/bash\n"
                      f'case "$1" in ps) echo abc ;; inspect) printf "{lines}\\n" ;; *) echo "$@" >> {asked} ;; esac\n')
    docker.chmod(0o755)
    done = subprocess.run(["bash", "-c", _PROBE], capture_output=True, text=True, check=False,
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert ("deferred\t" in done.stdout) is deferred
    assert asked.exists() is not deferred
    inv = inventory()
    assert bool([p for p in read_probe(done.stdout, inv.host("ctl2"), inv) if " is " in p]) is deferred
