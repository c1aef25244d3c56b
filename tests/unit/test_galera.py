"""components/galera.py under mocks: nodes per database host, bootstrap and rolling join."""
from __future__ import annotations

import configparser

from offline.program import unwrap
from tests.unit.layouts import layout_run, quick_run
from tests.unit.inventory_fixtures import make_config
from tests.unit.program_checks import (
    COMMAND, address, assert_kolla_container, assert_rolling_chain, changed_containers, containers, group,
    upload, uploads,
)


def test_mariadb_and_clustercheck_on_every_database_host_only(run):
    db = group(run, "database")
    for service in ("mariadb", "mariadb_clustercheck"):
        found = containers(run, service)
        assert sorted(found) == sorted(db)
        for host, reg in found.items():
            assert_kolla_container(run, reg, host, "mariadb-server")


def test_bootstrap_runs_once_on_the_first_database_host(run):
    db = group(run, "database")
    found = containers(run, "mariadb_bootstrap")
    assert list(found) == [db[0]]
    assert_kolla_container(run, found[db[0]], db[0], "mariadb-server", long_running=False)
    assert upload(found[db[0]], "config.json")
    assert "/usr/local/bin/galera_bootstrap" in upload(found[db[0]], "config.json")


def test_mariadb_config_lists_every_member_and_its_own_address(run):
    db = group(run, "database")
    for host, reg in containers(run, "mariadb").items():
        files = uploads(reg)
        assert {f.rsplit("/", 1)[-1] for f in files} >= {
            "config.json", "my.cnf", "clustercheck.cnf", "galera_clustercheck", "galera_start"}
        mycnf = upload(reg, "my.cnf")
        for member in db:
            assert address(run, member) in mycnf, f"{host} my.cnf misses {member}"
        parser = configparser.ConfigParser(interpolation=None, strict=False, allow_no_value=True)
        parser.read_string(mycnf)
        values = {k: v for s in parser.sections() for k, v in parser[s].items()}
        assert values.get("wsrep_node_address", "").startswith(address(run, host))
        assert values.get("bind-address", values.get("bind_address")) == address(run, host)


def test_data_volume_is_named_and_on_the_host(run):
    for host, reg in containers(run, "mariadb").items():
        assert reg.inputs["volumes"] == [{"containerPath": "/var/lib/mysql", "volumeName": "mariadb"}]
        vol = run.named(f"{host}-volume-mariadb")
        assert vol.provider == reg.provider


def test_first_node_waits_for_bootstrap_and_joiners_roll_one_by_one(run):
    db = group(run, "database")
    nodes = containers(run, "mariadb")
    assert f"{db[0]}-mariadb_bootstrap" in nodes[db[0]].depends_on()
    assert_rolling_chain(run, "mariadb", db)
    # joiners do not wait for the bootstrap container again: only the first node does
    for host in db[1:]:
        assert nodes[host].depends_on() == [f"{db[db.index(host) - 1]}-mariadb"]
    for host, check in containers(run, "mariadb_clustercheck").items():
        assert f"{host}-mariadb" in check.depends_on()


def test_bootstrap_finish_restarts_the_first_node_after_the_last_joined(run):
    db = group(run, "database")
    finish = run.named("galera-bootstrap-finish")
    assert finish.type == COMMAND
    assert finish.depends_on() == [f"{db[-1]}-mariadb"]
    assert unwrap(finish.inputs["connection"])["host"] == address(run, db[0])
    assert "docker restart mariadb" in finish.inputs["create"]


def test_single_node_has_no_bootstrap_finish():
    raw, keys = make_config(3)
    raw["groups"]["database"] = ["ctl2"]
    result = quick_run(raw, keys)
    assert not [r for r in result.registrations if r.name == "galera-bootstrap-finish"]
    assert list(containers(result, "mariadb")) == ["ctl2"]
    assert list(containers(result, "mariadb_bootstrap")) == ["ctl2"]


def test_gcache_change_touches_only_mariadb_uploads():
    before = layout_run("3-hosts")
    raw, keys = make_config(3, galera={"gcache_size": "4G"})
    after = quick_run(raw, keys)
    changed = changed_containers(before, after)
    assert changed == {f"ctl{i}-mariadb" for i in (1, 2, 3)} | {"ctl1-mariadb_bootstrap"}
    for name in changed:
        b = next(r for r in before.containers() if r.name == name)
        a = next(r for r in after.containers() if r.name == name)
        assert {k for k in a.inputs if a.inputs[k] != b.inputs[k]} == {"uploads"}
        assert "4G" in upload(a, "my.cnf") and "4G" not in upload(b, "my.cnf")
