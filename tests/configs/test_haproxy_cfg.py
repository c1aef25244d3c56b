"""haproxy.cfg as HAProxy itself reads it (`haproxy -c`), for 3 and 5 nodes, with and
without an external VIP and every catalogue service enabled."""
from __future__ import annotations

import pathlib

import pytest

from components.catalog import CATALOG
from components.defaults import PORTS
from components.inventory import Inventory, parse_inventory
from components.loadbalancer import render_haproxy_cfg
from components.stack import proxied_services
from tests.configs.daemon_support import run
from tests.unit.inventory_fixtures import make_config

EXTERNAL = {"external_vip": "203.0.113.10", "external_network": "203.0.113.0/24"}
CASES = [(n, ext) for n in (3, 5) for ext in (False, True)]


def inventory(n_hosts: int, external: bool) -> Inventory:
    raw, secret_keys = make_config(n_hosts, enabled_services=list(CATALOG), **(EXTERNAL if external else {}))
    return parse_inventory(raw, secret_keys)


def sections(cfg: str) -> dict[str, list[str]]:
    """`listen NAME` (and global/defaults) -> its stripped body lines."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in cfg.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            words = line.split()
            current = found.setdefault(words[1] if words[0] == "listen" else words[0], [])
        else:
            assert current is not None, f"directive outside any section: {line!r}"
            current.append(line.strip())
    return found


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}nodes-{'ext' if e else 'noext'}" for n, e in CASES])
def rendered(request, tmp_path_factory):
    n_hosts, external = request.param
    inv = inventory(n_hosts, external)
    out = tmp_path_factory.mktemp(f"haproxy{n_hosts}{'e' if external else ''}")
    cfgs = []
    for node in inv.group("loadbalancer"):
        text = render_haproxy_cfg(node, inv, proxied_services(inv), "st4ts-pw.x")
        path = out / f"haproxy-{node.name}.cfg"
        path.write_text(text)
        cfgs.append((node, path, text))
    return inv, cfgs


def test_haproxy_accepts_every_nodes_config(rendered):
    _, cfgs = rendered
    for node, path, _ in cfgs:
        result = run(["haproxy", "-c", "-f", str(path)])
        assert result.returncode == 0, f"{node.name}: haproxy -c rejected {path}:\n{result.stdout}{result.stderr}"
        for level in ("[ALERT]", "[WARNING]"):
            assert level not in result.stdout + result.stderr, f"{node.name}:\n{result.stdout}{result.stderr}"


def test_haproxy_check_rejects_a_broken_config(rendered, tmp_path):
    """The checker itself catches mistakes: one misspelt directive fails the check."""
    _, cfgs = rendered
    broken = tmp_path / "broken.cfg"
    broken.write_text(cfgs[0][2].replace("option httpchk GET", "option httpchek GET", 1))
    assert run(["haproxy", "-c", "-f", str(broken)]).returncode != 0


def test_mariadb_has_exactly_one_writer(rendered):
    inv, cfgs = rendered
    database = inv.group("database")
    for _, _, text in cfgs:
        body = sections(text)["mariadb"]
        servers = [line.split() for line in body if line.startswith("server ")]
        assert [s[1] for s in servers] == [h.name for h in database]
        writers = [s for s in servers if "backup" not in s]
        assert len(writers) == 1, f"mariadb must have one active server, got {writers}"
        assert writers[0][1] == database[0].name
        for s in servers:
            assert s[2] == f"{inv.host(s[1]).address}:{PORTS['mariadb']}"
            assert s[s.index("port") + 1] == str(PORTS["galera_clustercheck"])
        # Sessions to a node marked down are cut; when the first node returns, the
        # backups' sessions are cut: never two writers at once.
        assert all("on-marked-down" in s and s[s.index("on-marked-down") + 1] == "shutdown-sessions"
                   for s in servers)
        assert writers[0][writers[0].index("on-marked-up") + 1] == "shutdown-backup-sessions"
        assert not any("on-marked-up" in s for s in servers if s is not writers[0])
        assert "mode tcp" in body
        assert f"bind {inv.internal_vip}:{PORTS['mariadb']}" in body
        # the database never listens on the external VIP
        assert [b for b in body if b.startswith("bind ")] == [f"bind {inv.internal_vip}:{PORTS['mariadb']}"]


def test_http_sections_check_the_catalogue_health_path(rendered):
    inv, cfgs = rendered
    for _, _, text in cfgs:
        found = sections(text)
        for spec in CATALOG.values():
            body = found[spec.container]
            assert "mode http" in body
            assert f"option httpchk GET {spec.health_path}" in body
            servers = [line.split() for line in body if line.startswith("server ")]
            assert [s[1] for s in servers] == [h.name for h in inv.group(spec.group)]
            assert all(s[2] == f"{inv.host(s[1]).address}:{spec.port}" for s in servers)
            assert not any("backup" in s for s in servers), f"{spec.name}: APIs are active/active"
            binds = sorted(b for b in body if b.startswith("bind "))
            expected = [f"bind {inv.internal_vip}:{spec.port}"]
            if inv.external_vip:
                expected.append(f"bind {inv.external_vip}:{spec.port}")
            assert binds == sorted(expected)


def test_stats_bound_to_the_node_address_only(rendered):
    inv, cfgs = rendered
    for node, _, text in cfgs:
        body = sections(text)["stats"]
        assert [b for b in body if b.startswith("bind ")] == [f"bind {node.address}:{PORTS['haproxy_stats']}"]
        assert "monitor-uri /_alive" in body
        assert not any(line.startswith("bind ") and inv.internal_vip in line for line in body)
