"""keepalived.conf as keepalived's own config test (`keepalived -t`) reads it, for every
load-balancer host of 3- and 5-node inventories."""
from __future__ import annotations

import os
import pathlib
import re
import socket
import subprocess

import pytest

from components.inventory import parse_inventory
from components.host_config import install_files_script
from components.loadbalancer import KEEPALIVED_CONFIG, check_peers_script, render_keepalived_conf, track_scripts
from tests.configs.daemon_support import run
from tests.unit.inventory_fixtures import make_config

EXTERNAL = {"external_vip": "203.0.113.10", "external_network": "203.0.113.0/24"}
CASES = [(n, ext) for n in (3, 5) for ext in (False, True)]
SCRIPTS_DIR = KEEPALIVED_CONFIG.mounted_dir + "/"


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
        # The track scripts must exist (and, with enable_script_security, be root's
        # only): write them as the program does, into a root-only folder in place of the
        # host's, and point the copy of the config at it.
        folder = out / node.name
        script = install_files_script(KEEPALIVED_CONFIG, track_scripts(node))
        subprocess.run(["bash", "-c", script.replace(KEEPALIVED_CONFIG.host_dir, str(folder))], check=True)
        for name in track_scripts(node):
            assert f'script "{SCRIPTS_DIR}{name}' in text
            assert oct((folder / name).stat().st_mode & 0o777) == "0o700"
        path = folder / "keepalived.conf"
        path.write_text(text.replace(SCRIPTS_DIR, f"{folder}/"))
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


def _check_peers(tmp_path: pathlib.Path, port: int, *peers: str) -> subprocess.CompletedProcess:
    script = tmp_path / "check_peers"
    script.write_text(check_peers_script())
    script.chmod(0o700)
    # keepalived kills a track script after its `timeout` (3 s) and counts a failure.
    return subprocess.run([str(script), str(port), *peers], capture_output=True, text=True, timeout=3)


def test_check_peers_passes_while_any_peer_accepts(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # 127.0.0.2 refuses that port: one peer down, the other up.
        assert _check_peers(tmp_path, port, "127.0.0.2", "127.0.0.1").returncode == 0
        assert _check_peers(tmp_path, port, "127.0.0.1").returncode == 0
    assert _check_peers(tmp_path, port, "127.0.0.1", "127.0.0.2").returncode == 1


def test_check_peers_fails_within_keepalived_timeout_when_no_peer_answers(tmp_path):
    """A peer whose SYNs go unanswered (here: a full accept queue) would block a connect
    for minutes; every peer gets a second, all at once."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        # Fill the queue: from now on the kernel drops this port's SYNs.
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        try:
            result = _check_peers(tmp_path, port, "127.0.0.1", "127.0.0.1", "127.0.0.1")
        finally:
            for filler in fillers:
                filler.close()
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
