"""components/loadbalancer.py under mocks: HAProxy + keepalived per loadbalancer host."""
from __future__ import annotations

import json
import re

from components.defaults import PORTS
from components.host_config import signal_script
from components.inventory import parse_inventory
from components.loadbalancer import check_peers_script, isolated_drop, priority, render_keepalived_conf
from offline.program import is_secret_input, unwrap

from tests.unit.inventory_fixtures import make_config
from tests.unit.program_checks import (
    address, assert_kolla_container, containers, group, haproxy_cfg,
)


def test_haproxy_and_keepalived_on_every_loadbalancer_host_only(run):
    lb = group(run, "loadbalancer")
    for service in ("haproxy", "keepalived"):
        found = containers(run, service)
        assert sorted(found) == sorted(lb)
        for host, reg in found.items():
            assert_kolla_container(run, reg, host, service)


def test_keepalived_has_only_the_vrrp_capabilities(run):
    for reg in containers(run, "keepalived").values():
        assert sorted(reg.inputs["capabilities"]["adds"]) == ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]
    for reg in containers(run, "haproxy").values():
        assert not reg.inputs.get("capabilities")


def test_rolling_order_config_haproxy_keepalived_host_by_host(run):
    lb = group(run, "loadbalancer")
    haproxy, keepalived = containers(run, "haproxy"), containers(run, "keepalived")
    for i, host in enumerate(lb):
        assert keepalived[host].depends_on() == [f"{host}-keepalived-config"]
        assert run.named(f"{host}-keepalived-config").depends_on() == [f"{host}-keepalived-scripts"]
        assert run.named(f"{host}-keepalived-scripts").depends_on() == [f"{host}-haproxy"]
        assert haproxy[host].depends_on() == [f"{host}-haproxy-config", f"{host}-volume-haproxy_socket"]
        # The host's haproxy.cfg is written (or reloaded) once the previous host takes
        # part in VRRP again, and after the host preparation (nonlocal_bind, before
        # HAProxy binds the VIP): a bad config is caught on the first host.
        previous = [f"{lb[i - 1]}-keepalived"] if i else []
        assert run.named(f"{host}-haproxy-config").depends_on() == previous + [f"{host}-prepare"]
    assert run.namespace["plane"].loadbalancer.ready._name == f"{lb[-1]}-keepalived"  # pylint: disable=protected-access


def test_haproxy_proxies_the_database_single_writer_and_every_api(run):
    db = group(run, "database")
    control = group(run, "control")
    vip = run.namespace["inventory"].internal_vip
    for host in containers(run, "haproxy"):
        cfg = haproxy_cfg(run, host)
        assert f"{vip}:3306" in cfg
        servers = re.findall(r"^\s*server\s+(\S+)\s+(\S+)(.*)$", cfg, re.M)
        db_servers = [s for s in servers if s[1].endswith(":3306")]
        assert [s[1] for s in db_servers] == [f"{address(run, h)}:3306" for h in db]
        # one writer: all but the first are backups
        assert "backup" not in db_servers[0][2].split()
        assert all("backup" in s[2].split() for s in db_servers[1:])
        for port in (5000, 9292, 8778, 8774, 9696, 8776):
            assert f"{vip}:{port}" in cfg
            assert sorted(s[1] for s in servers if s[1].endswith(f":{port}")) == sorted(
                f"{address(run, h)}:{port}" for h in control)


def test_keepalived_priorities_fall_along_the_group_and_peers_are_the_others(run):
    lb = group(run, "loadbalancer")
    vip = run.namespace["inventory"].internal_vip
    priorities = []
    for host in lb:
        conf = unwrap(run.named(f"{host}-keepalived-config").inputs["stdin"])
        priorities.append(int(re.search(r"^\s*priority\s+(\d+)", conf, re.M).group(1)))
        assert re.search(rf"^\s*{re.escape(vip)}/24 dev eth0", conf, re.M)
        assert re.search(r"^\s*unicast_src_ip\s+(\S+)", conf, re.M).group(1) == address(run, host)
        peers = re.search(r"unicast_peer\s*{([^}]*)}", conf).group(1).split()
        assert sorted(peers) == sorted(address(run, o) for o in lb if o != host)
    assert priorities == sorted(priorities, reverse=True) and len(set(priorities)) == len(lb)


def test_haproxy_config_changes_reload_in_place_instead_of_replacing(run):
    """A new haproxy.cfg is checked by the running HAProxy, then loaded by its master
    (SIGUSR2); the container's own inputs do not contain the config at all."""
    for host, reg in containers(run, "haproxy").items():
        command = run.named(f"{host}-haproxy-config")
        update = command.inputs["update"]
        assert update.index("haproxy -c -q -f") < update.index(signal_script("haproxy", "USR2"))
        assert "docker kill" not in update  # see signal_script: Docker would never restart it
        assert "set -eu" in update  # a failed check stops before the reload
        assert "global" not in json.dumps(unwrap(reg.inputs.get("uploads")))
        assert is_secret_input(command.inputs["stdin"])


def test_keepalived_config_changes_reload_in_place_instead_of_replacing(run):
    """keepalived.conf comes from the host like haproxy.cfg: checked by the running
    keepalived (`--config-test`), then loaded on SIGHUP; the container's inputs hold no
    config, so a VRRP tunable never replaces the container on the VIP holder."""
    for host, reg in containers(run, "keepalived").items():
        command = run.named(f"{host}-keepalived-config")
        update = command.inputs["update"]
        assert update.index("keepalived --config-test -f") < update.index(signal_script("keepalived", "HUP"))
        assert "docker kill" not in update
        assert "set -eu" in update
        assert "vrrp_instance" in unwrap(command.inputs["stdin"])
        assert "vrrp_instance" not in json.dumps(unwrap(reg.inputs.get("uploads")))
        assert is_secret_input(command.inputs["stdin"])
        mounts = {v["containerPath"]: v for v in unwrap(reg.inputs["volumes"])}
        assert mounts["/var/lib/kolla/keepalived-config"]["hostPath"] == "/etc/kolla-ha/keepalived"
        assert mounts["/var/lib/kolla/keepalived-config"]["readOnly"] is True


def _priority_and_drop(conf: str) -> tuple[int, int]:
    priority = int(re.search(r"^\s*priority\s+(\d+)", conf, re.M).group(1))
    drop = re.search(r"vrrp_script check_peers \{[^}]*^\s*weight -(\d+)$", conf, re.M | re.S)
    return priority, int(drop.group(1)) if drop else 0


def test_a_host_that_reaches_no_peer_drops_below_every_peer(run):
    """check_peers (tracked, negative weight) takes a host cut off the others below the
    lowest of them: at the reconnect the host that took the VIP keeps it."""
    lb = group(run, "loadbalancer")
    confs = {host: unwrap(run.named(f"{host}-keepalived-config").inputs["stdin"]) for host in lb}
    priorities = {host: _priority_and_drop(conf) for host, conf in confs.items()}
    for host, conf in confs.items():
        priority, drop = priorities[host]
        assert drop > 0
        assert all(priority - drop < p for other, (p, _) in priorities.items() if other != host)
        track = re.search(r"track_script \{([^}]*)\}", conf).group(1).split()
        assert track == ["check_haproxy", "check_peers"]
        args = re.search(r'script "/var/lib/kolla/keepalived-config/check_peers ([^"]*)"', conf).group(1).split()
        assert args == [str(PORTS["haproxy_stats"]), *(address(run, o) for o in lb if o != host)]


def test_track_scripts_are_written_to_the_host_folder_before_the_config_names_them(run):
    """keepalived.conf names scripts in the mounted host folder, written there by
    `<host>-keepalived-scripts` before the running keepalived checks the config: a new or
    changed script never replaces the container. check_peers is the same on every host;
    its peers are keepalived.conf's arguments."""
    for host, reg in containers(run, "keepalived").items():
        conf = unwrap(run.named(f"{host}-keepalived-config").inputs["stdin"])
        named = re.findall(r'^\s*script "([^ "]+)', conf, re.M)
        assert named == ["/var/lib/kolla/keepalived-config/check_haproxy",
                         "/var/lib/kolla/keepalived-config/check_peers"]
        create = run.named(f"{host}-keepalived-scripts").inputs["create"]
        for name in ("check_haproxy", "check_peers"):
            assert f"mv /etc/kolla-ha/keepalived/{name}.new /etc/kolla-ha/keepalived/{name}" in create
        assert check_peers_script().rstrip("\n") in create
        assert "10.0.0" not in check_peers_script()
        assert "check_" not in json.dumps(unwrap(reg.inputs.get("uploads")))


def test_isolated_drop_stays_within_keepalived_weights_and_below_the_lowest_peer():
    for n_hosts, base, step in ((2, 250, 10), (3, 250, 10), (5, 250, 60), (3, 254, 126), (9, 200, 20)):
        settings = {"priority_base": base, "priority_step": step}
        drop = isolated_drop(n_hosts, settings)
        assert 1 <= drop <= 253
        lowest = priority(n_hosts - 1, settings)
        # Clamped at 1 by keepalived; a tie at 1 would be broken by address, so only
        # the lowest being 1 itself leaves no room.
        assert max(1, priority(0, settings) - drop) < lowest or lowest == 1


def test_a_single_load_balancer_has_no_peer_script():
    raw, secret_keys = make_config(3, groups={**make_config(3)[0]["groups"], "loadbalancer": ["ctl1"]})
    inv = parse_inventory(raw, secret_keys)
    lb = inv.group("loadbalancer")
    conf = render_keepalived_conf(lb[0], 0, lb, inv, "vrrp-pass")
    assert "check_peers" not in conf
    assert "unicast_peer" in conf
