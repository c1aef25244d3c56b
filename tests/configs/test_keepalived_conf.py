"""keepalived.conf as keepalived's own config test (`keepalived -t`) reads it, for every
load-balancer host of 3- and 5-node inventories."""
from __future__ import annotations

import os
import pathlib
import re

import pytest

from components.inventory import parse_inventory
from components.loadbalancer import render_check_haproxy, render_keepalived_conf
from tests.configs.daemon_support import run
from tests.unit.inventory_fixtures import make_config

EXTERNAL = {"external_vip": "203.0.113.10", "external_network": "203.0.113.0/24"}
CASES = [(n, ext) for n in (3, 5) for ext in (False, True)]
TRACK_SCRIPT = "/usr/local/bin/check_haproxy"


def real_interface() -> str:
    """keepalived checks that the VRRP interface exists; use one this machine has."""
    names = sorted(os.listdir("/sys/class/net"))
    return "eth0" if "eth0" in names else next(n for n in names if n != "lo")


def inventory(n_hosts: int, external: bool):
    raw, secret_keys = make_config(n_hosts, **(EXTERNAL if external else {}))
    for host in raw["hosts"]:
        host["interface"] = real_interface()
    return parse_inventory(raw, secret_keys)


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}nodes-{'ext' if e else 'noext'}" for n, e in CASES])
def rendered(request, tmp_path_factory):
    n_hosts, external = request.param
    inv = inventory(n_hosts, external)
    out = tmp_path_factory.mktemp(f"keepalived{n_hosts}{'e' if external else ''}")
    lb_hosts = inv.group("loadbalancer")
    confs = []
    for index, node in enumerate(lb_hosts):
        text = render_keepalived_conf(node, index, lb_hosts, inv, "vrrp-pass-longer-than-8")
        # The track script must exist (and, with enable_script_security, be root's
        # only): place the rendered one in a root-only folder and point the copy at it.
        folder = out / node.name
        folder.mkdir(mode=0o700)
        script = folder / "check_haproxy"
        script.write_text(render_check_haproxy(node))
        script.chmod(0o700)
        assert TRACK_SCRIPT in text
        path = folder / "keepalived.conf"
        path.write_text(text.replace(TRACK_SCRIPT, str(script)))
        confs.append((node, path, text))
    return inv, confs


def test_keepalived_config_test_passes_without_errors(rendered):
    _, confs = rendered
    for node, path, _ in confs:
        result = run(["keepalived", "--config-test", "-f", str(path)])
        output = (result.stdout + result.stderr).strip()
        assert result.returncode == 0, f"{node.name}: keepalived -t rejected {path} ({result.returncode}):\n{output}"
        assert output == "", f"{node.name}: keepalived -t complained:\n{output}"


def test_keepalived_config_test_rejects_a_broken_config(rendered, tmp_path):
    _, confs = rendered
    broken = tmp_path / "broken.conf"
    broken.write_text(confs[0][1].read_text().replace("nopreempt", "nopreemptt"))
    result = run(["keepalived", "--config-test", "-f", str(broken)])
    assert result.returncode != 0
    assert "nopreemptt" in result.stdout + result.stderr


def test_priorities_descend_with_host_order(rendered):
    inv, confs = rendered
    priorities = [int(re.search(r"^\s*priority (\d+)$", text, re.M).group(1)) for _, _, text in confs]
    assert len(priorities) == len(inv.group("loadbalancer"))
    assert all(a > b for a, b in zip(priorities, priorities[1:])), priorities
    assert all(1 <= p <= 255 for p in priorities)


def test_unicast_peers_are_the_other_hosts(rendered):
    inv, confs = rendered
    addresses = [h.address for h in inv.group("loadbalancer")]
    for node, _, text in confs:
        block = re.search(r"unicast_peer \{\n(.*?)\n\s*\}", text, re.S).group(1)
        peers = block.split()
        assert node.address not in peers
        assert sorted(peers) == sorted(a for a in addresses if a != node.address)
        assert re.search(rf"^\s*unicast_src_ip {re.escape(node.address)}$", text, re.M)


def test_vips_and_auth(rendered):
    inv, confs = rendered
    for node, _, text in confs:
        assert f"{inv.internal_vip}/{inv.internal_prefixlen} dev {node.interface}" in text
        if inv.external_vip:
            assert f"{inv.external_vip}/{inv.external_network.prefixlen} dev {node.external_interface}" in text
        else:
            assert "203.0.113" not in text
        auth = re.search(r"auth_pass (\S+)", text).group(1)
        assert auth == "vrrp-pas"  # keepalived reads 8 characters of a PASS
