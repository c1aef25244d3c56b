"""components/galera.py under mocks: nodes per database host, bootstrap and rolling join."""
from __future__ import annotations

import configparser

import subprocess

from components.galera import finish_bootstrap_script, root_password_sql
from offline.program import is_secret_input, resolve, unwrap
from tests.unit.layouts import layout_run, quick_run
from tests.unit.inventory_fixtures import make_config
from tests.unit.program_checks import (
    COMMAND, address, assert_kolla_container, assert_one_shot, changed_containers,
    containers, group, input_sources, one_shots, step_file, upload, uploads,
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
    found = one_shots(run, "mariadb_bootstrap")
    assert list(found) == [db[0]]
    assert_one_shot(run, found[db[0]], db[0], "mariadb-server")
    assert "/usr/local/bin/galera_bootstrap" in step_file(found[db[0]], "config.json")
    # the data volume by name, the volume resource waited for
    assert "--volume mariadb:/var/lib/mysql" in found[db[0]].inputs["create"]
    assert f"{db[0]}-volume-mariadb" in found[db[0]].depends_on()
    # the same my.cnf as the node it initialises
    assert step_file(found[db[0]], "my.cnf") == upload(containers(run, "mariadb")[db[0]], "my.cnf")


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
    checks = containers(run, "mariadb_clustercheck")
    assert nodes[db[0]].depends_on() == [f"{db[0]}-mariadb_bootstrap", f"{db[0]}-volume-mariadb"]
    # A joiner starts once the previous node is Synced, its cluster check answers and
    # HAProxy may send it connections again.
    for prev, host in zip(db, db[1:]):
        assert nodes[host].depends_on() == [f"{prev}-mariadb-lb-member", f"{host}-volume-mariadb"]
    for host, check in checks.items():
        assert check.depends_on() == [f"{host}-mariadb"]
        member = run.named(f"{host}-mariadb-lb-member")
        assert member.depends_on() == [f"{host}-mariadb_clustercheck"]
        assert input_sources(member)["triggers"] == {f"{host}-mariadb"}
    # Ordering only: no node's inputs come from the bootstrap step or another node.
    for node in nodes.values():
        assert not {src for srcs in input_sources(node).values() for src in srcs} & (
            {f"{h}-mariadb" for h in db} | {f"{db[0]}-mariadb_bootstrap"})


def test_every_node_is_drained_in_every_haproxy_before_it_stops(run):
    from components.lb_membership import drain_script, ready_script

    balancers = [address(run, h) for h in group(run, "loadbalancer")]
    for host in group(run, "database"):
        member = run.named(f"{host}-mariadb-lb-member")
        assert unwrap(member.inputs["connection"])["host"] == address(run, host)
        assert member.inputs["delete"] == drain_script(balancers, "mariadb", host)
        assert member.inputs["create"] == ready_script(balancers, "mariadb", host)
        assert is_secret_input(member.inputs["stdin"])


def test_bootstrap_finish_restarts_only_a_node_still_running_as_bootstrapper(run):
    db = group(run, "database")
    finish = run.named("galera-bootstrap-finish")
    assert finish.type == COMMAND
    assert finish.depends_on() == [f"{db[-1]}-mariadb-lb-member"]
    assert unwrap(finish.inputs["connection"])["host"] == address(run, db[0])
    # A changed input runs the same script again (no `update`): it must be a no-op then.
    assert "update" not in finish.inputs and "triggers" not in finish.inputs
    assert finish.inputs["create"] == finish_bootstrap_script()


def fake_docker(tmp_path, cmdline: str):
    """A `docker` on PATH that answers `exec ... cat /proc/1/cmdline` with `cmdline`
    (NUL-separated) and records every other call."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        "#!/bin/bash\n"
        f"echo \"$*\" >> {calls}\n"
        'case "$1" in\n'
        f"  exec) printf '{cmdline}' | tr ' ' '\\0' ;;\n"
        "  inspect) echo healthy ;;\n"
        "esac\n"
    )
    (bin_dir / "docker").chmod(0o755)
    return bin_dir, calls


def test_bootstrap_finish_script_restarts_a_bootstrapper_and_leaves_a_member_alone(tmp_path):
    import os

    for cmdline, restarted in [
        ("/usr/sbin/mariadbd --defaults-file=/etc/mysql/my.cnf --wsrep-new-cluster", True),
        ("/usr/sbin/mariadbd --defaults-file=/etc/mysql/my.cnf", False),
    ]:
        case = tmp_path / str(restarted)
        case.mkdir()
        bin_dir, calls = fake_docker(case, cmdline)
        done = subprocess.run(["bash", "-c", finish_bootstrap_script()], capture_output=True, text=True,
                              env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, check=False)
        assert done.returncode == 0, done.stderr
        assert ("restart -t 120 mariadb" in calls.read_text()) == restarted


def test_root_password_is_set_over_the_socket_after_the_cluster_formed(run):
    db = group(run, "database")
    root = run.named("galera-root-password")
    last = "galera-bootstrap-finish" if len(db) > 1 else f"{db[0]}-mariadb-lb-member"
    assert root.depends_on() == [last]
    assert unwrap(root.inputs["connection"])["host"] == address(run, db[0])
    assert root.inputs["create"] == "docker exec -i mariadb mysql\n"
    password = resolve(run.namespace["plane"].passwords.password("database_password"))
    assert is_secret_input(root.inputs["stdin"]) and unwrap(root.inputs["stdin"]) == root_password_sql(password)
    assert root.inputs["logging"] == "none"
    # the tier's single ready resource
    assert run.namespace["plane"].database.ready._name == "galera-root-password"  # pylint: disable=protected-access


def test_single_node_has_no_bootstrap_finish():
    raw, keys = make_config(3)
    raw["groups"]["database"] = ["ctl2"]
    result = quick_run(raw, keys)
    assert not [r for r in result.registrations if r.name == "galera-bootstrap-finish"]
    assert list(containers(result, "mariadb")) == ["ctl2"]
    assert list(one_shots(result, "mariadb_bootstrap")) == ["ctl2"]
    assert result.named("galera-root-password").depends_on() == ["ctl2-mariadb-lb-member"]


def test_gcache_change_touches_only_mariadb_uploads_and_re_runs_the_bootstrap_step():
    before = layout_run("3-hosts")
    raw, keys = make_config(3, galera={"gcache_size": "4G"})
    after = quick_run(raw, keys)
    changed = changed_containers(before, after)
    assert changed == {f"ctl{i}-mariadb" for i in (1, 2, 3)}
    for name in changed:
        b = next(r for r in before.containers() if r.name == name)
        a = next(r for r in after.containers() if r.name == name)
        assert {k for k in a.inputs if a.inputs[k] != b.inputs[k]} == {"uploads"}
        assert "4G" in upload(a, "my.cnf") and "4G" not in upload(b, "my.cnf")
    # The bootstrap step reads my.cnf: it runs again (an update), and finds the datadir
    # initialised (see tests/configs/test_galera_daemon.py).
    b, a = one_shots(before, "mariadb_bootstrap")["ctl1"], one_shots(after, "mariadb_bootstrap")["ctl1"]
    assert unwrap(a.inputs["stdin"]) != unwrap(b.inputs["stdin"]) and a.inputs["create"] == b.inputs["create"]
    assert unwrap(after.named("galera-bootstrap-finish").inputs) == unwrap(before.named("galera-bootstrap-finish").inputs)
