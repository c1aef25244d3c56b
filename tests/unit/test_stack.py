"""components/stack.py and __main__.py under mocks: composition, exports, secrets, validation."""
from __future__ import annotations

import json
import urllib.parse

import pulumi
import pytest

from components.inventory import InventoryError
from components.kolla import INFRASTRUCTURE_CPU_SHARES
from components.passwords import ROTATION_RULES, rotation_problems, rotation_rule
from offline.program import RecordingMocks, is_secret, is_secret_input, resolve, run_program, unwrap
from tests.unit.inventory_fixtures import make_config
from tests.unit.layouts import accept_day2_keys, layout_run, quick_run
from tests.unit.program_checks import (
    COMMAND, CONTAINER, containers, group, input_sources, one_shots, passwords, plain_text, step_file, step_files,
    uploads,
)

OPERATOR_PASSWORD = "correct-horse-battery-staple"


def test_container_and_command_count_follows_the_groups(run):
    inv = run.namespace["inventory"]
    size = {g: len(inv.groups[g]) for g in ("control", "database", "messaging", "loadbalancer", "memcached", "storage")}
    expected = (
        2 * size["database"]  # mariadb + clustercheck per node
        + size["messaging"] + 2 * size["loadbalancer"] + size["memcached"]
        + 7 * size["control"]  # seven API services
        # cinder-api brings Ceph (a monitor and a manager per database host, an OSD per
        # storage host), cinder-scheduler on every control host, one cinder-volume
        + 2 * size["database"] + size["storage"] + size["control"] + 1
    )
    assert len(run.containers()) == expected
    commands = (
        1 + 2  # mariadb bootstrap step, galera-bootstrap-finish, galera-root-password
        + 6 * 2 + 5 + 1  # db_create + bootstrap for six services, register for five, credential migrate
        + 1  # ceph_setup
        + 3 * size["loadbalancer"]  # haproxy-config, keepalived-scripts, keepalived-config
        + 7 * size["control"] + size["database"]  # an lb-member per API replica and Galera node
        + len(set(inv.groups["loadbalancer"]) | set(inv.groups["messaging"]))  # host preparation
    )
    assert len(run.of_type(COMMAND)) == commands


def test_every_container_replaces_delete_first_and_on_healthcheck_changes(run):
    for reg in run.containers():
        assert reg.options is not None, reg.name
        assert reg.options.delete_before_replace is True, reg.name
        assert "healthcheck" in (reg.options.replace_on_changes or []), reg.name


def test_only_the_shared_infrastructure_tiers_get_the_higher_cpu_weight(run):
    """Under a boot storm the database, broker, load balancer and cache go first; every
    other container keeps Docker's default weight (cpu_shares unset)."""
    weights = {reg.inputs["name"]: reg.inputs.get("cpuShares") for reg in run.containers()}
    infrastructure = {"mariadb", "mariadb_clustercheck", "rabbitmq", "haproxy", "keepalived", "memcached"}
    assert {n for n, w in weights.items() if w} == infrastructure
    assert {weights[n] for n in infrastructure} == {INFRASTRUCTURE_CPU_SHARES}
    assert INFRASTRUCTURE_CPU_SHARES > 1024  # Docker's default weight


def test_on_options_sees_every_resource_once_and_only_in_its_own_run():
    seen: list[tuple[str, str, pulumi.ResourceOptions]] = []
    result = run_program(*make_config(3), on_options=lambda t, n, o: seen.append((t, n, o)))
    assert sorted((t, n) for t, n, _ in seen) == sorted((r.type, r.name) for r in result.registrations)
    assert all(isinstance(o, pulumi.ResourceOptions) for _, _, o in seen)
    mariadb = next(o for t, n, o in seen if n == "ctl2-mariadb")
    assert mariadb.delete_before_replace is True
    assert [d._name for d in mariadb.depends_on] == [  # pylint: disable=protected-access
        "ctl1-mariadb-lb-member", "ctl2-volume-mariadb"]
    count = len(seen)
    quick_run(*make_config(3))
    assert len(seen) == count, "a recorder leaked into the next run"


def test_exports(run):
    inv = run.namespace["inventory"]
    assert set(run.exports) == {"internal_vip", "external_vip", "endpoints", "memcached_servers",
                                "rabbitmq_nodes", "database", "transport_urls"}
    assert resolve(run.exports["internal_vip"]) == inv.internal_vip
    assert resolve(run.exports["rabbitmq_nodes"]) == [h.address for h in inv.group("messaging")]
    database = run.exports["database"]
    assert is_secret(database)
    value = resolve(database)
    assert value["host"] == inv.internal_vip and value["port"] == 3306 and value["password"] in passwords(run)
    urls = run.exports["transport_urls"]
    assert set(urls) == {"nova", "neutron", "cinder"}
    for user, url in urls.items():
        assert is_secret(url), user
        hosts = [urllib.parse.urlsplit(f"rabbit://{n}").hostname for n in resolve(url)[9:-2].split(",")]
        assert hosts == [h.address for h in inv.group("messaging")]


def test_no_password_in_plain_inputs_or_plain_exports(run):
    secrets = passwords(run)
    assert OPERATOR_PASSWORD in secrets and len(secrets) > 10
    for reg in run.registrations:
        text = plain_text(reg.inputs)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{reg.name}: a password in a plain input"
    for name, value in run.exports.items():
        if name in ("database", "transport_urls"):
            continue
        assert not is_secret(value), name
        text = json.dumps(resolve(value))
        assert not [s for s in secrets if s in text], f"export {name} holds a password"


def test_labels_envs_and_commands_never_hold_a_password(run):
    secrets = passwords(run)
    for reg in run.containers():
        inputs = unwrap(reg.inputs)
        text = json.dumps([inputs.get("labels"), inputs.get("envs"), inputs.get("command"),
                           inputs.get("entrypoints"), inputs.get("healthcheck"),
                           json.loads(uploads(reg)["/var/lib/kolla/config_files/config.json"])["command"]])
        assert not [s for s in secrets if s in text], reg.name
    # Commands: the scripts are argv of the remote shell; secrets go on stdin only.
    for reg in run.of_type(COMMAND):
        inputs = unwrap(reg.inputs)
        text = json.dumps([inputs.get(k) for k in ("create", "update", "delete", "environment", "triggers")])
        assert not [s for s in secrets if s in text], reg.name
        stdin = inputs.get("stdin") or ""
        if any(s in stdin or s in json.dumps(step_files(reg) if reg.name.endswith(STEP_SUFFIXES) else "")
               for s in secrets):
            assert is_secret_input(reg.inputs["stdin"]), f"{reg.name}: a password on a plain stdin"
            assert reg.inputs["logging"] == "none", reg.name


STEP_SUFFIXES = ("_db_create", "_bootstrap", "_register", "_migrate", "_setup", "_store_container")


def test_uploads_holding_a_password_are_secret(run):
    secrets = passwords(run)
    holding = []
    for reg in run.containers():
        content = json.dumps(unwrap(reg.inputs["uploads"]))
        if any(s in content for s in secrets):
            holding.append(reg.name)
            assert is_secret_input(reg.inputs["uploads"]), f"{reg.name}: password in a plain upload"
    expected_services = {"mariadb", "mariadb_clustercheck", "rabbitmq",
                         "keystone", "glance_api", "nova_api", "horizon"}
    # haproxy.cfg (stats password) and keepalived.conf (VRRP password) reach the hosts as
    # the stdin of a command instead
    for reg in run.of_type("command:remote:Command"):
        if reg.name.endswith(("-haproxy-config", "-keepalived-config")):
            assert is_secret_input(reg.inputs["stdin"]), reg.name
    assert {n.split("-", 1)[1] for n in holding} >= expected_services
    # memcached has no password, and its uploads are plain: the check tells them apart
    for reg in containers(run, "memcached").values():
        assert reg.name not in holding and not is_secret_input(reg.inputs["uploads"])


@pytest.mark.parametrize(
    "breakage",
    [
        lambda raw: raw["groups"].update(database=["ctl1", "ctl2"]),
        lambda raw: raw.pop("keystone_admin_password"),
        lambda raw: raw.update(memcached={"memory": 10}),
        lambda raw: raw.update(internal_vip="10.0.0.11"),
        lambda raw: raw["groups"].update(control=["ctl9"]),
    ],
    ids=["even-database", "no-admin-password", "unknown-tier-key", "vip-is-a-host", "unknown-host"],
)
def test_invalid_config_raises_before_any_resource(breakage):
    raw, _ = make_config(3)
    breakage(raw)
    keys = frozenset(k for k in raw if k.endswith("_password"))
    mocks = RecordingMocks()
    with pytest.raises(InventoryError) as excinfo:
        run_program(raw, keys, mocks=mocks)
    assert excinfo.value.problems
    assert mocks.registrations == [], [r.name for r in mocks.registrations]


def test_secret_operator_password_reaches_the_program_only_as_a_secret():
    raw, keys = make_config(3)
    assert "keystone_admin_password" in keys
    result = quick_run(raw, keys)
    given = result.namespace["plane"].passwords.password("keystone_admin_password")
    assert is_secret(given) and resolve(given) == OPERATOR_PASSWORD
    register = result.named(f"{group(result, 'control')[0]}-glance_register")
    assert is_secret_input(register.inputs["stdin"])
    # in the step's root-only clouds.yaml, never in its script (whose shell exports nothing secret)
    assert OPERATOR_PASSWORD in step_file(register, "clouds.yaml")
    assert OPERATOR_PASSWORD not in step_file(register, "register.sh")
    assert all(r.type != CONTAINER or OPERATOR_PASSWORD not in plain_text(r.inputs) for r in result.registrations)


def delete_before_replace_resources(run) -> set[str]:
    """What the engine replaces delete-before-replace: containers and explicitly named
    volumes (pulumi-docker), and whatever the program marks so."""
    return {
        reg.name for reg in run.registrations
        if reg.type in (CONTAINER, "docker:index/volume:Volume", "docker:index/network:Network")
        or (reg.options is not None and reg.options.delete_before_replace)
    }


def test_no_input_comes_from_a_delete_before_replace_resource_but_the_lb_member_triggers(run):
    """Replacing a delete-before-replace resource first deletes every resource with an
    input from it whose diff then says replace (PULUMI-ENGINE.md §3b). The one wanted
    case: an lb-member command is deleted, draining its replica, before its container."""
    dbr = delete_before_replace_resources(run)
    assert {r.name for r in run.containers()} <= dbr
    found = []
    for reg in run.registrations:
        for key, sources in input_sources(reg).items():
            for source in sources & dbr:
                found.append((reg.name, key, source))
    members = {(m.name, "triggers", m.name[: -len("-lb-member")]) for m in run.of_type(COMMAND)
               if m.name.endswith("-lb-member")}
    assert set(found) == members and len(found) == len(members)


def test_no_container_input_comes_from_a_command():
    """Containers take nothing from a step's output: a step re-run (or failing) never
    touches the replicas' inputs, and they wait for it by depends_on alone."""
    run = layout_run("3-hosts")
    commands = {r.name for r in run.of_type(COMMAND)}
    for reg in run.containers():
        assert not {s for srcs in input_sources(reg).values() for s in srcs} & commands, reg.name
        assert not [label for label in unwrap(reg.inputs["labels"]) if label["label"] == "kolla-ha.gate"]


def test_no_connection_names_an_ssh_agent_socket(run):
    """pulumi-command reads SSH_AUTH_SOCK itself; a path in the inputs would differ with
    every login and re-run every command."""
    for reg in run.of_type(COMMAND):
        assert "agentSocketPath" not in unwrap(reg.inputs["connection"]), reg.name


def test_a_second_run_of_the_same_config_changes_no_input():
    """Byte-identical inputs (the steps' tar archives included): an unchanged stack
    re-runs no step and replaces nothing."""
    first, second = layout_run("3-hosts"), quick_run(*make_config(3))
    a = {r.name: unwrap(r.inputs) for r in first.registrations}
    b = {r.name: unwrap(r.inputs) for r in second.registrations}
    assert a.keys() == b.keys()
    assert [n for n in a if a[n] != b[n]] == []


def test_one_shot_steps_send_their_files_on_a_secret_stdin_only(run):
    first = group(run, "control")[0]
    steps = [r for r in run.of_type(COMMAND) if r.name.endswith(STEP_SUFFIXES)]
    assert len(steps) == 1 + 6 * 2 + 5 + 1 + 1  # with ceph_setup
    secrets = passwords(run)
    for reg in steps:
        assert is_secret_input(reg.inputs["stdin"]), reg.name
        assert set(reg.options.additional_secret_outputs or []) >= {"stdout", "stderr"}
        assert not [s for s in secrets if s in reg.inputs["create"]], reg.name
    register = one_shots(run, "glance_register")[first]
    assert resolve(run.namespace["plane"].passwords.password("glance_keystone_password")) in step_file(
        register, "register.sh")


def rotated(monkeypatch, rotations):
    accept_day2_keys(monkeypatch)
    raw, keys = make_config(3, enabled_services=["keystone", "glance-api"])
    raw["passwords"] = {"rotations": rotations}
    return quick_run(raw, keys)


def test_a_database_password_rotation_moves_the_replicas_to_a_new_user(monkeypatch):
    before = rotated(monkeypatch, {})
    after = rotated(monkeypatch, {"glance_database_password": 1})
    later = rotated(monkeypatch, {"glance_database_password": 2})
    store = lambda r: r.namespace["plane"].passwords  # noqa: E731
    old, new = (resolve(store(r).password("glance_database_password")) for r in (before, after))
    assert old != new
    generated = after.named("glance_database_password")
    assert generated.inputs["keepers"] == {"rotation": "1"}
    assert "keepers" not in before.named("glance_database_password").inputs
    for reg in containers(after, "glance_api").values():
        assert f"mysql+pymysql://glance_r1:{new}@" in uploads(reg)["/var/lib/kolla/config_files/glance-api.conf"]
    create = step_file(one_shots(after, "glance_db_create")["ctl1"], "db_create.sh")
    assert "CREATE USER IF NOT EXISTS 'glance_r1'@'%'" in create
    # the previous user (still used by replicas not yet rolled) is kept, older ones dropped
    assert "AND User NOT IN ('glance_r1', 'glance')" in create
    assert "AND User NOT IN ('glance_r2', 'glance_r1')" in step_file(
        one_shots(later, "glance_db_create")["ctl1"], "db_create.sh")
    # The db_create step runs before the replicas roll, so the new user exists first.
    assert containers(after, "glance_api")["ctl1"].depends_on()[0] == "ctl1-glance_bootstrap"
    # other services and their users are untouched
    assert [u for r in containers(after, "keystone").values()
            for u in [uploads(r)["/var/lib/kolla/config_files/keystone.conf"]]
            if "mysql+pymysql://keystone:" not in u] == []


def test_the_root_password_rotation_is_applied_over_the_socket_before_any_step(monkeypatch):
    before = rotated(monkeypatch, {})
    after = rotated(monkeypatch, {"database_password": 1})
    assert unwrap(after.named("galera-root-password").inputs["stdin"]) != unwrap(
        before.named("galera-root-password").inputs["stdin"])
    assert one_shots(after, "glance_db_create")["ctl1"].depends_on()[0] == "galera-root-password"
    new = resolve(after.namespace["plane"].passwords.password("database_password"))
    assert f"password = {new}" in step_file(one_shots(after, "glance_db_create")["ctl1"], "db_root.cnf")
    # MariaDB's own files and containers do not hold root's password: nothing restarts
    assert {r.name for r in after.containers()} == {r.name for r in before.containers()}
    assert [n for n in ("ctl1-mariadb", "ctl2-mariadb", "ctl3-mariadb")
            if unwrap(after.named(n).inputs) != unwrap(before.named(n).inputs)] == []


def test_rotation_counters_are_refused_where_no_rolling_rotation_is_safe():
    assert rotation_problems({"glance_database_password": 1, "database_password": 2}) == []
    problems = rotation_problems({
        "rabbitmq_erlang_cookie": 1, "swift_hash_path_suffix": 1, "galera_monitor_password": 1,
        "glance_databse_password": 1, "memcache_secret_key": -1, "keystone_admin_password": 1,
    })
    assert len(problems) == 6
    assert any("rabbitmq_erlang_cookie" in p and "same cookie" in p for p in problems)
    assert any("glance_databse_password" in p and "check the spelling" in p for p in problems)
    assert any("memcache_secret_key" in p and "whole number" in p for p in problems)
    for rule in ROTATION_RULES:
        assert rule.safety in ("hitless", "disruptive", "refused") and rule.effect
    assert rotation_rule("nova_keystone_password").safety == "disruptive"
    assert rotation_rule("database_password").safety == "hitless"


def test_a_refused_rotation_stops_the_program_before_any_resource(monkeypatch):
    accept_day2_keys(monkeypatch)
    raw, keys = make_config(3)
    raw["passwords"] = {"rotations": {"keepalived_password": 1}}
    mocks = RecordingMocks()
    with pytest.raises(InventoryError, match="keepalived_password"):
        run_program(raw, keys, mocks=mocks)
    assert mocks.registrations == []


def test_removing_the_first_host_moves_the_steps_and_restarts_no_writer():
    """Scale-in of a live host: the steps move to the next host of their group (and find
    their work done), the writer's finishing command does nothing new, and what no
    longer lists the host is all that changes."""
    before = layout_run("5-hosts")
    raw, keys = make_config(5)
    raw["hosts"] = raw["hosts"][1:]
    for g in raw["groups"]:
        raw["groups"][g] = [h for h in raw["groups"][g] if h != "ctl1"]
    raw["groups"]["database"] = ["ctl2", "ctl3", "ctl4"]
    after = quick_run(raw, keys)
    assert set(one_shots(after, "mariadb_bootstrap")) == {"ctl2"}
    assert set(one_shots(after, "keystone_bootstrap")) == {"ctl2"}
    finish_before, finish_after = before.named("galera-bootstrap-finish"), after.named("galera-bootstrap-finish")
    assert finish_after.inputs["create"] == finish_before.inputs["create"]
    assert unwrap(finish_after.inputs["connection"])["host"] == "10.0.0.12"
    # nothing of ctl1 is declared any more: Pulumi deletes it after the rest is done
    assert not [r.name for r in after.registrations if r.name.startswith("ctl1-")]
